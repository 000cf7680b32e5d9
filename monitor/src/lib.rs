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

pub mod addr;
pub mod arch;
pub mod cap;
pub mod fixed;
pub mod platform;
