//! The echo server's step: take the oldest waiting datagram and queue the same bytes back to
//! its sender.

use smoltcp::socket::udp;
use smoltcp::wire::IpEndpoint;

/// Buffer for one datagram being echoed: no UDP payload in a 1500-byte IPv4 packet is longer
/// (and without IP fragmentation nothing longer arrives).
pub const ECHO_BUFFER: usize = capmon_sdk::NET_MTU as usize;

/// What [`echo_one`] did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// `len` bytes were queued back to `to`.
    Sent { len: usize, to: IpEndpoint },
    /// The datagram was lost: longer than [`ECHO_BUFFER`] (`to` unknown then), or the reply
    /// did not fit the transmit buffer.
    Dropped {
        to: Option<IpEndpoint>,
        why: &'static str,
    },
}

/// Echoes the oldest waiting datagram; `None` when none is waiting, or while the transmit
/// buffer has no free slot (the datagram then stays waiting until the stack sends some).
pub fn echo_one(socket: &mut udp::Socket, scratch: &mut [u8; ECHO_BUFFER]) -> Option<Echo> {
    if !socket.can_recv() || !socket.can_send() {
        return None;
    }
    let (len, meta) = match socket.recv_slice(scratch) {
        Ok(got) => got,
        Err(udp::RecvError::Exhausted) => return None,
        Err(udp::RecvError::Truncated) => {
            return Some(Echo::Dropped {
                to: None,
                why: "longer than a 1500-byte packet's payload",
            })
        }
    };
    let to = meta.endpoint;
    Some(match socket.send_slice(&scratch[..len], to) {
        Ok(()) => Echo::Sent { len, to },
        Err(udp::SendError::BufferFull) => Echo::Dropped {
            to: Some(to),
            why: "the transmit buffer is full",
        },
        Err(udp::SendError::Unaddressable) => Echo::Dropped {
            to: Some(to),
            why: "the sender's address cannot be answered",
        },
    })
}
