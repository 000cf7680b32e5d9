//! Hostcall dispatch: decode the number, check every pointer and length against the caller's
//! own memory, then act. Pure logic over the [`Guest`] interface, so every check is unit-tested
//! on the host with a fake cVM.

use core::ops::Range;

use capmon_abi::{Error, Hostcall, WhoAmI, NAME_MAX};

/// Longest single console write or read; larger requests are cut (the result says how much
/// was done), so a cVM can't make the monitor copy gigabytes in one call.
pub const MAX_TRANSFER: u64 = 4096;

/// Checks that `[ptr, ptr + len)` lies inside `memory`; returns it as a range.
/// Overflowing, out-of-bounds and partially-inside ranges are all `Error::Fault`.
pub fn check_buffer(memory: &Range<u64>, ptr: u64, len: u64) -> Result<Range<u64>, Error> {
    let end = ptr.checked_add(len).ok_or(Error::Fault)?;
    if ptr < memory.start || end > memory.end {
        return Err(Error::Fault);
    }
    Ok(ptr..end)
}

/// What the monitor must do after a hostcall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Put this value in the result register and resume the cVM.
    Return(u64),
    /// The cVM ended with this exit code.
    Exit(i64),
    /// Resume later: the rest of the slice goes to another cVM (result 0).
    Yield,
    /// Not runnable until this many nanoseconds have passed (result 0).
    Sleep(u64),
}

/// The calling cVM, as dispatch sees it. The real one is backed by the cVM's region; tests use
/// a vector.
pub trait Guest {
    /// The bytes the cVM may hand to hostcalls: its data capability's bounds.
    fn memory(&self) -> Range<u64>;
    /// Copies out of checked guest memory.
    fn read(&self, range: Range<u64>, out: &mut [u8]);
    /// Copies into checked guest memory.
    fn write(&mut self, at: u64, bytes: &[u8]);
    fn console_write(&mut self, bytes: &[u8]);
    /// Takes up to `out.len()` bytes of pending console input.
    fn console_read(&mut self, out: &mut [u8]) -> usize;
    fn identity(&self) -> WhoAmI;
    /// Nanoseconds since boot.
    fn now_ns(&self) -> u64;
}

/// Runs hostcall `number` with `args` for `guest`.
pub fn dispatch(guest: &mut impl Guest, number: u64, args: [u64; 6]) -> Outcome {
    let result = match Hostcall::from_number(number) {
        None => Err(Error::NoSys),
        Some(Hostcall::ConsoleWrite) => console_write(guest, args[0], args[1]),
        Some(Hostcall::ConsoleRead) => console_read(guest, args[0], args[1]),
        Some(Hostcall::Exit) => return Outcome::Exit(args[0] as i64),
        Some(Hostcall::Yield) => return Outcome::Yield,
        Some(Hostcall::ClockNs) => Ok(guest.now_ns()),
        Some(Hostcall::SleepNs) => return Outcome::Sleep(args[0]),
        Some(Hostcall::WhoAmI) => whoami(guest, args[0], args[1]),
    };
    Outcome::Return(match result {
        Ok(value) => value,
        Err(e) => e.to_result(),
    })
}

fn console_write(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    let range = check_buffer(&guest.memory(), ptr, len)?;
    let len = len.min(MAX_TRANSFER);
    let mut bytes = [0u8; MAX_TRANSFER as usize];
    let bytes = &mut bytes[..len as usize];
    guest.read(range.start..range.start + len, bytes);
    guest.console_write(bytes);
    Ok(len)
}

fn console_read(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    check_buffer(&guest.memory(), ptr, len)?;
    let mut bytes = [0u8; MAX_TRANSFER as usize];
    let n = guest.console_read(&mut bytes[..len.min(MAX_TRANSFER) as usize]);
    guest.write(ptr, &bytes[..n]);
    Ok(n as u64)
}

fn whoami(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    const SIZE: u64 = core::mem::size_of::<WhoAmI>() as u64;
    if len < SIZE {
        return Err(Error::Invalid);
    }
    check_buffer(&guest.memory(), ptr, SIZE)?;
    let who = guest.identity();
    let mut bytes = [0u8; SIZE as usize];
    bytes[0..8].copy_from_slice(&who.id.to_le_bytes());
    bytes[8..16].copy_from_slice(&who.region_base.to_le_bytes());
    bytes[16..24].copy_from_slice(&who.region_size.to_le_bytes());
    bytes[24..24 + NAME_MAX].copy_from_slice(&who.name);
    guest.write(ptr, &bytes);
    Ok(SIZE)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A cVM whose data memory is `[0x1000, 0x1000 + bytes.len())`.
    struct Fake {
        bytes: Vec<u8>,
        printed: Vec<u8>,
        input: Vec<u8>,
    }
    const BASE: u64 = 0x1000;

    impl Guest for Fake {
        fn memory(&self) -> Range<u64> {
            BASE..BASE + self.bytes.len() as u64
        }
        fn read(&self, range: Range<u64>, out: &mut [u8]) {
            let (s, e) = ((range.start - BASE) as usize, (range.end - BASE) as usize);
            out.copy_from_slice(&self.bytes[s..e]);
        }
        fn write(&mut self, at: u64, bytes: &[u8]) {
            let s = (at - BASE) as usize;
            self.bytes[s..s + bytes.len()].copy_from_slice(bytes);
        }
        fn console_write(&mut self, bytes: &[u8]) {
            self.printed.extend_from_slice(bytes);
        }
        fn console_read(&mut self, out: &mut [u8]) -> usize {
            let n = out.len().min(self.input.len());
            out[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            n
        }
        fn identity(&self) -> WhoAmI {
            let mut name = [0; NAME_MAX];
            name[..5].copy_from_slice(b"hello");
            WhoAmI { id: 3, region_base: 0x1000, region_size: 0x100, name }
        }
        fn now_ns(&self) -> u64 {
            77
        }
    }

    fn fake() -> Fake {
        let mut bytes = std::vec![0u8; 0x100];
        bytes[0x10..0x15].copy_from_slice(b"hi!\n\0");
        Fake { bytes, printed: Vec::new(), input: b"typed".to_vec() }
    }

    fn call(f: &mut Fake, h: Hostcall, a0: u64, a1: u64) -> Outcome {
        dispatch(f, h as u64, [a0, a1, 0, 0, 0, 0])
    }

    #[test]
    fn write_inside_bounds_prints() {
        let mut f = fake();
        assert_eq!(call(&mut f, Hostcall::ConsoleWrite, BASE + 0x10, 4), Outcome::Return(4));
        assert_eq!(f.printed, b"hi!\n");
    }

    #[test]
    fn wild_pointers_and_lengths_fault_and_touch_nothing() {
        let fault = Outcome::Return(Error::Fault.to_result());
        let mut f = fake();
        for (ptr, len) in [
            (0x40200000, 4),          // the monitor's image
            (BASE - 1, 4),            // one byte before
            (BASE + 0xfe, 4),         // runs off the end
            (BASE, u64::MAX),         // overflow
            (u64::MAX - 1, 4),        // wraps
            (0, 0x2000),              // covers the region from below
        ] {
            assert_eq!(call(&mut f, Hostcall::ConsoleWrite, ptr, len), fault, "write {ptr:#x}+{len:#x}");
            assert_eq!(call(&mut f, Hostcall::ConsoleRead, ptr, len), fault, "read {ptr:#x}+{len:#x}");
        }
        for ptr in [0x40200000, BASE - 1, BASE + 0xf0, u64::MAX - 1] {
            assert_eq!(call(&mut f, Hostcall::WhoAmI, ptr, 4096), fault, "whoami {ptr:#x}");
        }
        assert!(f.printed.is_empty());
        assert_eq!(f.input, b"typed", "a refused read consumes no input");
    }

    #[test]
    fn long_writes_are_cut_not_refused() {
        let mut f = Fake { bytes: std::vec![b'x'; 3 * MAX_TRANSFER as usize], printed: Vec::new(), input: Vec::new() };
        let r = call(&mut f, Hostcall::ConsoleWrite, BASE, 2 * MAX_TRANSFER);
        assert_eq!(r, Outcome::Return(MAX_TRANSFER));
        assert_eq!(f.printed.len(), MAX_TRANSFER as usize);
    }

    #[test]
    fn read_copies_pending_input() {
        let mut f = fake();
        assert_eq!(call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 3), Outcome::Return(3));
        assert_eq!(&f.bytes[0x40..0x43], b"typ");
        assert_eq!(call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 16), Outcome::Return(2));
        assert_eq!(call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 16), Outcome::Return(0));
    }

    #[test]
    fn whoami_fills_the_record() {
        let mut f = fake();
        let size = core::mem::size_of::<WhoAmI>() as u64;
        assert_eq!(call(&mut f, Hostcall::WhoAmI, BASE + 0x80, size), Outcome::Return(size));
        assert_eq!(u64::from_le_bytes(f.bytes[0x80..0x88].try_into().unwrap()), 3);
        assert_eq!(&f.bytes[0x80 + 24..0x80 + 29], b"hello");
        assert_eq!(call(&mut f, Hostcall::WhoAmI, BASE + 0x80, size - 1), Outcome::Return(Error::Invalid.to_result()));
    }

    #[test]
    fn control_calls_and_unknown_numbers() {
        let mut f = fake();
        assert_eq!(call(&mut f, Hostcall::Exit, (-3i64) as u64, 0), Outcome::Exit(-3));
        assert_eq!(call(&mut f, Hostcall::Yield, 0, 0), Outcome::Yield);
        assert_eq!(call(&mut f, Hostcall::SleepNs, 5_000, 0), Outcome::Sleep(5_000));
        assert_eq!(call(&mut f, Hostcall::ClockNs, 0, 0), Outcome::Return(77));
        assert_eq!(dispatch(&mut f, 999, [0; 6]), Outcome::Return(Error::NoSys.to_result()));
    }

    #[test]
    fn check_buffer_edges() {
        let m = 0x1000..0x2000;
        assert_eq!(check_buffer(&m, 0x1000, 0x1000), Ok(0x1000..0x2000));
        assert_eq!(check_buffer(&m, 0x2000, 0), Ok(0x2000..0x2000));
        assert_eq!(check_buffer(&m, 0x1fff, 2), Err(Error::Fault));
        assert_eq!(check_buffer(&m, 0xfff, 1), Err(Error::Fault));
    }
}
