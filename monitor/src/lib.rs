//! capmon: a freestanding monitor that runs capability VMs (cVMs) on CHERI hardware.
//!
//! This crate is the whole monitor as a library. Board crates (`boards/*`) are thin binaries
//! that describe a board and call [`boot::boot`]. Everything that does not touch hardware
//! (device-tree discovery, the capability model, planning, checks) builds for the host too and
//! is unit-tested there with `cargo test`; the bare-metal backends live under
//! `arch::{aarch64, riscv64}` and compile only for `target_os = "none"`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;
// The fuzz targets' `arbitrary` derives name `::std` (host only).
#[cfg(all(feature = "fuzzing", not(test)))]
extern crate std;

pub mod addr;
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
pub mod bootargs;
pub mod cap;
#[macro_use]
pub mod console;
pub mod cvm;
pub mod disk_bundle;
pub mod drivers;
pub mod fixed;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod heap;
#[cfg(all(target_os = "none", not(test)))]
mod panic;
pub mod platform;
pub mod smp;
#[cfg(test)]
mod testing;

/// Defines a board's entry: `capmon::board!(BOARD)` in a board crate's `main.rs` makes the
/// symbol the arch entry code calls, handing the board description and the cVM bundle its
/// build script embedded (`OUT_DIR/bundle.dtb`, possibly empty) to [`boot::boot`].
#[macro_export]
macro_rules! board {
    ($board:path) => {
        /// The bundle, 8-byte aligned as the device-tree reader wants its blobs.
        static CAPMON_BUNDLE: &$crate::Aligned<[u8]> =
            &$crate::Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/bundle.dtb")));

        #[no_mangle]
        extern "C" fn capmon_main(a0: u64, a1: u64, a2: u64, a3: u64) -> ! {
            $crate::boot::boot(&$board, &CAPMON_BUNDLE.0, [a0, a1, a2, a3])
        }
    };
}

/// Aligns embedded data (the cVM bundle) to 8 bytes.
#[repr(C, align(8))]
pub struct Aligned<T: ?Sized>(pub T);
