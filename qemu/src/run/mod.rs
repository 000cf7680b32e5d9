//! capmon-run: builds capmon board images and boots, debugs, tests and benchmarks them under
//! QEMU.
//!
//! [`cli`] is the command line; [`boards`] says how each board is built and booted; [`build`]
//! and [`cvm_build`] make board images with a manifest's cVMs; [`qemu`] runs QEMU against an
//! [`expect`] script; [`tests`] is the table of boot tests and [`suite`] their harness;
//! [`bench`] measures the figures and [`plot`] draws them; [`dtb`] edits device trees for
//! tests that boot a modified one; [`initrd`] builds a bundle from any manifest and prebuilt
//! images and hands it to the one image without a bundle as an initrd.

pub mod bench;
pub mod bench_share;
pub mod bench_smp;
pub mod boards;
pub mod build;
pub mod cli;
pub mod cvm_build;
pub mod dtb;
pub mod expect;
pub mod initrd;
pub mod plot;
pub mod qemu;
pub mod suite;
pub mod tests;
