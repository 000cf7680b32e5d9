//! cVMs: manifest, planning, images, audit, hostcalls, scheduling and the run loop.

pub mod audit;
pub mod event;
pub mod hostcall;
pub mod image;
pub mod manifest;
pub mod plan;
pub mod sched;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod run;
