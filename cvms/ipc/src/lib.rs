//! What the ipc demo's cVMs agree on: the layout of the `mailbox` object (producer → consumers)
//! and of `acks` (consumer → producer), both CP_File shared objects read and written directly.
//!
//! `mailbox` (monitor buffer): `seq: u64` at 0, `len: u64` at 8, the message at 16. The
//! producer writes the message and its length first, then `seq`. `acks`: the last `seq` the
//! consumer has read, at 0.
#![no_std]

use capmon_sdk::share::CpFile;
use capmon_sdk::Error;

/// Where the sequence number is.
pub const SEQ: u64 = 0;
/// Where the message length is.
pub const LEN: u64 = 8;
/// Where the message starts.
pub const TEXT: u64 = 16;
/// Messages the producer sends before the run-time export.
pub const MESSAGES: u64 = 8;
/// `seq` that says "the run-time object `live` is exported now".
pub const LIVE_EXPORTED: u64 = MESSAGES + 1;
/// `seq` that says "`live` is revoked; done".
pub const DONE: u64 = MESSAGES + 2;
/// What the producer puts in `live`.
pub const LIVE_TEXT: &[u8] = b"live: 64 bytes of the producer's own stack, exported at run time";

/// Reads the u64 at `offset` of `file`.
pub fn get(file: &CpFile, offset: u64) -> Result<u64, Error> {
    let mut b = [0u8; 8];
    file.read(offset, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Writes the u64 `value` at `offset` of `file`.
pub fn put(file: &CpFile, offset: u64, value: u64) -> Result<(), Error> {
    file.write(offset, &value.to_le_bytes())
}

/// Waits (yielding) until the u64 at `offset` of `file` is at least `value`; gives up after
/// `rounds` yields.
pub fn wait_for(file: &CpFile, offset: u64, value: u64, rounds: u32) -> Result<u64, Error> {
    for _ in 0..rounds {
        let now = get(file, offset)?;
        if now >= value {
            return Ok(now);
        }
        capmon_sdk::sleep(core::time::Duration::from_millis(1));
    }
    Err(Error::Again)
}

/// Imports `name`, retrying while its exporter has not exported it yet (`Again`).
pub fn import_when_ready(name: &str, slot: u64, rounds: u32) -> Result<CpFile, Error> {
    for _ in 0..rounds {
        match capmon_sdk::share::import(name, slot) {
            Err(Error::Again) => capmon_sdk::sleep(core::time::Duration::from_millis(1)),
            other => return other,
        }
    }
    Err(Error::Again)
}

/// The stream demo's and benchmark's byte `i`: not periodic in any power of two, so a
/// dropped, repeated or reordered byte changes the checksum.
pub fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i / 251) ^ (i >> 11)).to_le_bytes()[0]
}

/// A mebibyte: what the copy benchmarks move.
pub const MIB: usize = 1 << 20;

/// Two 1 MiB buffers of a benchmark cVM (each binary has its own static of it).
#[repr(C, align(64))]
pub struct Buffers {
    pub a: [u8; MIB],
    pub b: [u8; MIB],
}

impl Buffers {
    pub const ZERO: Buffers = Buffers {
        a: [0; MIB],
        b: [0; MIB],
    };
}

/// The bytes of a `static mut` stream ring (`capmon_sdk::stream::Ring`), borrowed for the
/// rest of the program: each ring must be taken once, by one role.
#[macro_export]
macro_rules! take_ring {
    ($r:ident) => {
        // SAFETY: each ring is taken once, by the one role that uses it; nothing else refers
        // to it.
        unsafe { &mut (&mut (*core::ptr::addr_of_mut!($r)).0)[..] }
    };
}
