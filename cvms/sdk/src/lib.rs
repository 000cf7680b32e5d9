//! The capmon cVM SDK: what a cap-unaware Rust cVM needs to run under capmon.
//!
//! - safe wrappers for every hostcall of [`capmon_abi`] ([`console_write`], [`read`],
//!   [`exit`], [`yield_now`], [`clock_ns`], [`sleep`], [`whoami`], the [`disk`] and [`net`]
//!   calls, and [`share`]: CP_File shared objects read and written directly through
//!   capabilities)
//!   over the raw [`hostcall`];
//! - [`print!`] and [`println!`] on the console;
//! - the entry point (`_start`, first in `.text`), which hands `argc`/`argv` to the function
//!   named with [`main!`] as an [`Args`] iterator and exits with its return value;
//! - a panic handler that prints `panic: <message>` and exits with code 101.
//!
//! A cVM crate is `#![no_std]`/`#![no_main]` on the target, links with `cvm.ld` through the
//! shared build script `build-cvm.rs`, and is compiled with `-C relocation-model=pie`
//! (`capmon-run` does all of that; see `cvms/sdk/README.md`). On the host (any target with an
//! OS) the same code builds as an ordinary program whose "hostcalls" are done with std.
#![no_std]

#[cfg(not(target_os = "none"))]
extern crate std;

pub mod call;
pub mod disk;
mod entry;
pub mod nest;
pub mod net;
mod print;
pub mod share;
pub mod stream;
mod sys;

use core::time::Duration;

pub use capmon_abi::{
    ChildEvent, ChildEventKind, ChildInfo, Error, Hostcall, NetInfo, WhoAmI, DISK_MAX_SECTORS,
    NAME_MAX, NET_MAX_FRAME, NET_MIN_FRAME, NET_MTU, SECTOR_SIZE,
};
#[cfg(not(target_os = "none"))]
#[doc(hidden)]
pub use entry::__host_main;
pub use entry::Args;
pub use entry::{cap_tag_bit, entry_registers, words as entry_words, EntryRegisters};
#[doc(hidden)]
pub use print::{__print, __print_line};
pub use sys::hostcall;

/// Decodes a result register: the value, or the error a negative result carries.
fn check(result: u64) -> Result<u64, Error> {
    Error::check(result)
}

/// Writes `bytes` to the console in one hostcall. The monitor may take fewer bytes than
/// offered (at most 4096 per call); returns how many it took.
pub fn console_write(bytes: &[u8]) -> Result<usize, Error> {
    let n = console_write_raw(bytes.as_ptr() as u64, bytes.len() as u64)?;
    Ok(usize::try_from(n).unwrap_or(bytes.len()).min(bytes.len()))
}

/// Writes all of `bytes` to the console, in as many hostcalls as needed.
pub fn console_write_all(mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        match console_write(bytes)? {
            // A monitor that takes nothing would loop forever; report it instead.
            0 => return Err(Error::Again),
            n => bytes = &bytes[n..],
        }
    }
    Ok(())
}

/// `console_write` with any address and length, for code that wants to see the monitor's
/// pointer checks at work. Safe: the monitor only reads, and only inside the cVM's region.
pub fn console_write_raw(ptr: u64, len: u64) -> Result<u64, Error> {
    // SAFETY: ConsoleWrite only reads the caller's memory, so no Rust object can be changed.
    check(unsafe { hostcall(Hostcall::ConsoleWrite, [ptr, len, 0, 0, 0, 0]) })
}

/// Copies console input that arrived while this cVM had the input focus into `buf`; returns
/// how many bytes, 0 when none is waiting. Never blocks.
pub fn read(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: the monitor writes at most `buf.len()` bytes at `buf`, which is exclusively
    // borrowed and valid for writes of that length.
    let n = check(unsafe {
        hostcall(
            Hostcall::ConsoleRead,
            [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
        )
    })?;
    Ok(usize::try_from(n).unwrap_or(0).min(buf.len()))
}

/// Ends the cVM with `code` (0 is success).
pub fn exit(code: i32) -> ! {
    // Sign-extended, so a negative code reaches the monitor as the same i64.
    let code = i64::from(code) as u64;
    // SAFETY: Exit takes no pointer.
    unsafe { hostcall(Hostcall::Exit, [code, 0, 0, 0, 0, 0]) };
    // The monitor never resumes an exited cVM; if it did, spinning is the safe answer.
    loop {
        core::hint::spin_loop();
    }
}

/// Gives the rest of this time slice to the next runnable cVM.
pub fn yield_now() {
    // SAFETY: Yield takes no pointer.
    unsafe { hostcall(Hostcall::Yield, [0; 6]) };
}

/// Monotonic nanoseconds since the monitor booted.
pub fn clock_ns() -> u64 {
    // SAFETY: ClockNs takes no pointer.
    unsafe { hostcall(Hostcall::ClockNs, [0; 6]) }
}

/// Monotonic time since the monitor booted.
pub fn clock() -> Duration {
    Duration::from_nanos(clock_ns())
}

/// Not runnable for at least `ns` nanoseconds.
pub fn sleep_ns(ns: u64) {
    // SAFETY: SleepNs takes no pointer.
    unsafe { hostcall(Hostcall::SleepNs, [ns, 0, 0, 0, 0, 0]) };
}

/// Not runnable for at least `d` (saturating at about 584 years).
pub fn sleep(d: Duration) {
    sleep_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
}

/// Who this cVM is: its manifest index, name and region.
pub fn whoami() -> WhoAmI {
    let mut me = WhoAmI {
        id: 0,
        region_base: 0,
        region_size: 0,
        name: [0; NAME_MAX],
    };
    let size = core::mem::size_of::<WhoAmI>() as u64;
    // SAFETY: `me` is a local, valid for writes of its own size; WhoAmI is plain integers, so
    // any bytes the monitor writes are a valid value.
    let result = unsafe { hostcall(Hostcall::WhoAmI, [&raw mut me as u64, size, 0, 0, 0, 0]) };
    if let Err(e) = check(result) {
        panic!("whoami failed: {e:?}");
    }
    me
}

/// Convenience views of a [`WhoAmI`] record.
pub trait WhoAmIExt {
    /// The name, up to the first NUL (`?` if it is not UTF-8).
    fn name_str(&self) -> &str;
    /// One past the last byte of the region.
    fn region_end(&self) -> u64;
}

impl WhoAmIExt for WhoAmI {
    fn name_str(&self) -> &str {
        let len = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }

    fn region_end(&self) -> u64 {
        self.region_base.wrapping_add(self.region_size)
    }
}

/// Prints to the console. Each call is one hostcall when the text fits 256 bytes, so a line
/// printed with one `print!`/`println!` is not interleaved with other cVMs' output.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::__print(::core::format_args!($($arg)*))
    };
}

/// Prints a line to the console (see [`print!`]).
#[macro_export]
macro_rules! println {
    () => {
        $crate::__print_line(::core::format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::__print_line(::core::format_args!($($arg)*))
    };
}

/// Names the cVM's main function: `capmon_sdk::main!(my_main);` with
/// `fn my_main(args: capmon_sdk::Args) -> i32`. The SDK's entry point calls it with the
/// arguments from the manifest (argv\[0\] is the cVM's name) and exits with what it returns.
#[macro_export]
macro_rules! main {
    ($main:path) => {
        /// Called by the SDK's entry point (`capmon_sdk_start`).
        #[cfg(target_os = "none")]
        #[no_mangle]
        pub extern "Rust" fn capmon_sdk_main(args: $crate::Args) -> i32 {
            let main: fn($crate::Args) -> i32 = $main;
            main(args)
        }

        /// On the host: a normal program with the process's arguments.
        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::__host_main($main)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whoami_views() {
        let mut me = WhoAmI {
            id: 3,
            region_base: 0x4100_0000,
            region_size: 0x10_0000,
            name: [0; NAME_MAX],
        };
        me.name[..5].copy_from_slice(b"hello");
        assert_eq!(me.name_str(), "hello");
        assert_eq!(me.region_end(), 0x4110_0000);
        me.name = [b'x'; NAME_MAX];
        assert_eq!(me.name_str().len(), NAME_MAX);
        me.name[0] = 0xff;
        assert_eq!(me.name_str(), "?");
    }

    #[test]
    fn host_backend_answers_like_the_monitor() {
        assert_eq!(console_write(b""), Ok(0));
        assert_eq!(read(&mut [0u8; 8]), Ok(0));
        let before = clock_ns();
        sleep(Duration::from_millis(2));
        assert!(clock_ns() - before >= 2_000_000);
        assert_eq!(whoami().name_str(), "host");
    }
}
