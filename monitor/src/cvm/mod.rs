//! cVMs: manifest, planning, images, audit, hostcalls, scheduling and the run loop.

pub mod audit;
pub mod cap_args;
pub mod cap_relocs;
pub mod event;
pub mod expect;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fakes;
pub mod grant;
pub mod hostcall;
pub mod image;
pub mod manifest;
pub mod nest;
pub mod net_grant;
pub mod plan;
pub mod pure;
#[cfg(target_os = "none")]
pub mod run;
pub mod sched;
pub mod share;
pub mod start;
