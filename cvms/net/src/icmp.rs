//! ICMP echo ("ping") from the client's side: build a request into an ICMP socket bound to an
//! identifier, and pick the matching replies out of it. Answering pings needs nothing here:
//! the interface does it (smoltcp's `auto-icmp-echo-reply`).

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::icmp;
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, Ipv4Address};

use crate::payload;

/// Bytes of data in each echo request: a probe payload (`crate::payload`) cut to this length,
/// the size of a classic `ping`'s.
pub const ECHO_DATA_LEN: usize = 56;

/// Queues echo request `seq` with `data` to `to`, from a socket bound to
/// `icmp::Endpoint::Ident(ident)`.
pub fn send_echo_request(
    socket: &mut icmp::Socket,
    to: Ipv4Address,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Result<(), icmp::SendError> {
    let request = Icmpv4Repr::EchoRequest {
        ident,
        seq_no: seq,
        data,
    };
    let buf = socket.send(request.buffer_len(), IpAddress::Ipv4(to))?;
    request.emit(
        &mut Icmpv4Packet::new_unchecked(buf),
        &ChecksumCapabilities::default(),
    );
    Ok(())
}

/// An echo reply for this client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    pub from: IpAddress,
    pub seq: u16,
    /// Whether its data is request `seq`'s: the first [`ECHO_DATA_LEN`] bytes of probe `seq`.
    pub data_matches: bool,
}

/// The next echo reply with identifier `ident` waiting in `socket`; other ICMP messages (and
/// malformed ones) are skipped. `None` when no such reply is waiting.
pub fn take_echo_reply(socket: &mut icmp::Socket, ident: u16) -> Option<EchoReply> {
    while let Ok((bytes, from)) = socket.recv() {
        let Ok(packet) = Icmpv4Packet::new_checked(bytes) else {
            continue;
        };
        let Ok(repr) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()) else {
            continue;
        };
        if let Icmpv4Repr::EchoReply {
            ident: got,
            seq_no,
            data,
        } = repr
        {
            if got == ident {
                let expected = payload::payload(u32::from(seq_no));
                return Some(EchoReply {
                    from,
                    seq: seq_no,
                    data_matches: data == &expected[..ECHO_DATA_LEN],
                });
            }
        }
    }
    None
}
