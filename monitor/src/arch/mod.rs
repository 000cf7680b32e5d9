//! Architecture backends. `insn` (raw CHERI instruction encoders), `syndrome` (fault
//! decoding) and `page_table` (the aarch64 page-table builder) build everywhere so they are
//! unit-tested on the host; the backends themselves build only for bare metal and are reached
//! through `arch::current`. The DMA cache-maintenance calls below are the one interface
//! drivers use on every target (no-ops in host tests).

pub mod fp_run;
pub mod insn;
pub mod page_table;
pub mod syndrome;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod aarch64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use aarch64 as current;

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub mod riscv64;
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub use riscv64 as current;

/// Before a device reads `buffer` (driver-to-device DMA): makes the CPU's writes visible to it
/// (aarch64: clean to the point of coherency; RISC-V: a fence).
pub fn dma_clean(buffer: *const [u8]) {
    #[cfg(target_os = "none")]
    current::dma_clean(buffer);
    #[cfg(not(target_os = "none"))]
    let _ = buffer;
}

/// Before a device writes `buffer` and again after it has (device-to-driver DMA): makes sure
/// the CPU reads what the device wrote (aarch64: clean and invalidate to the point of
/// coherency; RISC-V: a fence).
pub fn dma_invalidate(buffer: *const [u8]) {
    #[cfg(target_os = "none")]
    current::dma_invalidate(buffer);
    #[cfg(not(target_os = "none"))]
    let _ = buffer;
}
