//! Architecture backends. `insn` (raw CHERI instruction encoders) and `syndrome` (fault
//! decoding) build everywhere so they are unit-tested on the host; the backends themselves
//! build only for bare metal and are reached through `arch::current`.

pub mod insn;
pub mod syndrome;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod aarch64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use aarch64 as current;

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub mod riscv64;
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub use riscv64 as current;
