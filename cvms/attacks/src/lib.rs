//! What the attack cVMs share: where the monitor lives, and the lines every attack prints.
//!
//! Each attack (`src/bin/<name>.rs`) tries exactly one thing its capabilities must not allow
//! and must be stopped by the monitor (a `cvm <name> fault: ...` line). It first prints
//! `<name>: trying <what>`; if the attempt unexpectedly works it prints
//! `<name>: ATTACK SUCCEEDED` and exits 0, so a board without isolation (stock QEMU) shows
//! exactly which protections are missing rather than just faulting somewhere else.
#![no_std]

use capmon_sdk::println;

/// Where capmon's own image starts: the link base of the QEMU `virt` boards
/// (`link-base` in `boards/qemu-aarch64/Cargo.toml` and `boards/qemu-morello/Cargo.toml`,
/// RAM + 2 MiB).
#[cfg(target_arch = "aarch64")]
pub const MONITOR_IMAGE: u64 = 0x4020_0000;

/// Where capmon's own image starts: the link base of the QEMU `virt` boards
/// (`link-base` in `boards/qemu-riscv64/Cargo.toml` and `boards/qemu-riscv64cheri/Cargo.toml`,
/// the start of RAM, where `-bios none` jumps).
#[cfg(target_arch = "riscv64")]
pub const MONITOR_IMAGE: u64 = 0x8000_0000;

/// On other architectures (host builds) there is no monitor; an address no process maps.
#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
pub const MONITOR_IMAGE: u64 = 0x10;

/// Prints `<name>: trying <what>`.
pub fn trying(name: &str, what: core::fmt::Arguments<'_>) {
    println!("{name}: trying {what}");
}

/// The attempt worked: says so and exits 0 (the monitor counts it as a normal exit; the
/// tests look for this line).
pub fn succeeded(name: &str) -> ! {
    println!("{name}: ATTACK SUCCEEDED");
    capmon_sdk::exit(0)
}
