//! The capmon hostcall ABI, shared by the monitor and the cVM SDK so the two cannot disagree.
//!
//! A cVM calls the monitor with `svc #0` (aarch64) or `ecall` (riscv64):
//!
//! | register (aarch64 / riscv64) | on entry | on return |
//! |---|---|---|
//! | `x8` / `a7` | hostcall number ([`Hostcall`]) | preserved |
//! | `x0`..`x5` / `a0`..`a5` | arguments | `x0`/`a0`: result (≥ 0) or a negative [`Error`] code; the other argument registers are preserved |
//!
//! Every other register is preserved. Pointers are addresses in the cVM's own data region;
//! the monitor checks each pointer and length against the caller's bounds before touching
//! memory and returns [`Error::Fault`] for anything outside.
//!
//! On entry to a cVM, `x0`/`a0` = argc and `x1`/`a1` = argv: an array of `argc` pointers to
//! NUL-terminated strings followed by a null pointer, at the top of the cVM's stack.
#![no_std]

/// Hostcall numbers. The numbering is stable: new calls get new numbers.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostcall {
    /// `write(buf, len) -> written`: writes bytes to the console, prefixed per line by the
    /// cVM's console label.
    ConsoleWrite = 0,
    /// `read(buf, len) -> read`: copies up to `len` bytes of console input that arrived
    /// while this cVM had the input focus; 0 when none is waiting (never blocks).
    ConsoleRead = 1,
    /// `exit(code) -> !`: ends the cVM. 0 is success; anything else is reported as failure.
    Exit = 2,
    /// `yield() -> 0`: gives the rest of this time slice to the next runnable cVM.
    Yield = 3,
    /// `clock() -> ns`: monotonic nanoseconds since the monitor booted.
    ClockNs = 4,
    /// `sleep(ns) -> 0`: not runnable for at least `ns` nanoseconds.
    SleepNs = 5,
    /// `whoami(buf, len) -> size`: fills a [`WhoAmI`] record (`len` ≥ its size).
    WhoAmI = 6,
    /// `disk_capacity() -> sectors`: the size of the caller's disk grant, in [`SECTOR_SIZE`]
    /// sectors. [`Error::Denied`] without a grant.
    DiskCapacity = 7,
    /// `disk_read(sector, buf, count) -> count`: reads `count` sectors starting at grant-relative
    /// `sector` into `buf` (`count * SECTOR_SIZE` bytes). At most [`DISK_MAX_SECTORS`] are read
    /// per call; the result says how many. [`Error::Denied`] without a grant,
    /// [`Error::Invalid`] for sectors outside it, [`Error::Fault`] for a bad buffer,
    /// [`Error::Io`] when the device failed.
    DiskRead = 8,
    /// `disk_write(sector, buf, count) -> count`: like `disk_read`, the other way;
    /// [`Error::Denied`] also on a read-only grant.
    DiskWrite = 9,
    /// `disk_flush() -> 0`: returns once every write completed so far is on stable storage.
    /// [`Error::Denied`] without a grant or on a read-only one.
    DiskFlush = 10,
}

impl Hostcall {
    /// Decodes a hostcall number; `None` for numbers this monitor does not know.
    pub const fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            0 => Hostcall::ConsoleWrite,
            1 => Hostcall::ConsoleRead,
            2 => Hostcall::Exit,
            3 => Hostcall::Yield,
            4 => Hostcall::ClockNs,
            5 => Hostcall::SleepNs,
            6 => Hostcall::WhoAmI,
            7 => Hostcall::DiskCapacity,
            8 => Hostcall::DiskRead,
            9 => Hostcall::DiskWrite,
            10 => Hostcall::DiskFlush,
            _ => return None,
        })
    }
}

/// Error codes, returned negated in the result register.
#[repr(i64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A pointer or length reaches outside the caller's own memory.
    Fault = 1,
    /// No such hostcall.
    NoSys = 2,
    /// An argument is out of range.
    Invalid = 3,
    /// The caller has no grant for this resource.
    Denied = 4,
    /// Nothing to do now; try again later.
    Again = 5,
    /// The device behind a grant failed the request, or was disabled for misbehaving.
    Io = 6,
}

impl Error {
    /// The value placed in the result register.
    pub const fn to_result(self) -> u64 {
        (-(self as i64)) as u64
    }
    /// Decodes a result register: `Ok(value)` or the error it carries.
    pub const fn check(result: u64) -> Result<u64, Error> {
        Err(match result as i64 {
            -1 => Error::Fault,
            -2 => Error::NoSys,
            -3 => Error::Invalid,
            -4 => Error::Denied,
            -5 => Error::Again,
            -6 => Error::Io,
            _ => return Ok(result),
        })
    }
}

/// Bytes per disk sector: every disk hostcall counts in sectors of this size.
pub const SECTOR_SIZE: u64 = 512;
/// Most sectors one `disk_read`/`disk_write` moves (64 KiB); larger requests are cut and the
/// result says how many sectors were done, so one call can't hold the monitor for long.
pub const DISK_MAX_SECTORS: u64 = 128;

/// Longest cVM name, in bytes.
pub const NAME_MAX: usize = 32;

/// What `whoami` returns. Plain integers, little-endian, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhoAmI {
    /// The cVM's index in the manifest.
    pub id: u64,
    /// Its region: every byte it may touch lies in `[region_base, region_base + region_size)`.
    pub region_base: u64,
    pub region_size: u64,
    /// The name, NUL-padded.
    pub name: [u8; NAME_MAX],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_the_result_register() {
        for e in [Error::Fault, Error::NoSys, Error::Invalid, Error::Denied, Error::Again, Error::Io] {
            assert_eq!(Error::check(e.to_result()), Err(e));
        }
        assert_eq!(Error::check(42), Ok(42));
    }

    #[test]
    fn numbers_decode() {
        for n in 0..11 {
            assert_eq!(Hostcall::from_number(n).map(|h| h as u64), Some(n));
        }
        assert_eq!(Hostcall::from_number(11), None);
    }
}
