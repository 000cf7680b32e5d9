//! Host side of capmon: the QEMU boot runner and host tools.

pub mod bench;
pub mod bench_share;
pub mod boards;
pub mod cli;
pub mod cvm_build;
pub mod dtb;
pub mod elf;
pub mod expect;
pub mod fip;
pub mod manifest;
pub mod runner;
pub mod suite;
pub mod tests;
pub mod vectors;
