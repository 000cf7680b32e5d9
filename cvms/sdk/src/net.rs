//! The network hostcalls: whole Ethernet frames on the cVM's network grant, to and from its own
//! MAC address. The monitor delivers a cVM the frames addressed to its MAC and broadcasts, and
//! sends only frames whose source is that MAC.
//!
//! Every call returns [`Error::Denied`] for a cVM whose manifest grants no network interface.

use capmon_abi::{Error, Hostcall, NetInfo, NET_MAX_FRAME};

use crate::{check, hostcall};

/// The longest frame, as a buffer length: a receive buffer this long takes any frame.
pub const MAX_FRAME: usize = 1514;
const _: () = assert!(MAX_FRAME as u64 == NET_MAX_FRAME);

/// The grant: this cVM's MAC address, link state and MTU.
pub fn info() -> Result<NetInfo, Error> {
    let mut bytes = [0u8; NetInfo::SIZE];
    // SAFETY: the monitor writes at most `NetInfo::SIZE` bytes at `bytes`, a local array of
    // that size.
    check(unsafe {
        hostcall(
            Hostcall::NetInfo,
            [bytes.as_mut_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0],
        )
    })?;
    Ok(NetInfo::from_bytes(&bytes))
}

/// Queues `frame` (an Ethernet header and payload, no checksum) for sending. [`Error::Again`]
/// when the transmit queue is full: the frame was not taken; wait a little and send again.
pub fn send(frame: &[u8]) -> Result<(), Error> {
    // SAFETY: NetSend only reads the caller's memory, so no Rust object can be changed.
    check(unsafe {
        hostcall(
            Hostcall::NetSend,
            [frame.as_ptr() as u64, frame.len() as u64, 0, 0, 0, 0],
        )
    })
    .map(|_| ())
}

/// Takes the oldest frame waiting for this cVM into `buf` and returns its length; `Ok(None)`
/// when none is waiting (never blocks). [`Error::Invalid`] when `buf` is shorter than the
/// frame (it stays queued; a [`MAX_FRAME`]-byte buffer always suffices).
pub fn recv(buf: &mut [u8]) -> Result<Option<usize>, Error> {
    // SAFETY: the monitor writes at most `buf.len()` bytes at `buf`, which is exclusively
    // borrowed and valid for writes of that length.
    let result = check(unsafe {
        hostcall(
            Hostcall::NetRecv,
            [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
        )
    });
    match result {
        Ok(n) => Ok(Some(usize::try_from(n).unwrap_or(0).min(buf.len()))),
        Err(Error::Again) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sleeps until a frame is waiting for this cVM or `timeout_ns` has passed; returns how many
/// frames are waiting (0: the time ran out). Other cVMs run meanwhile.
pub fn wait_ns(timeout_ns: u64) -> Result<u64, Error> {
    // SAFETY: NetWait takes no pointer.
    check(unsafe { hostcall(Hostcall::NetWait, [timeout_ns, 0, 0, 0, 0, 0]) })
}
