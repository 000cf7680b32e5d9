//! cVMs: manifest, planning, images, audit, hostcalls, scheduling and the run loop.

pub mod audit;
pub mod event;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fakes;
pub mod grant;
pub mod hostcall;
pub mod image;
pub mod manifest;
pub mod nest;
pub mod net_grant;
pub mod plan;
pub mod sched;
pub mod start;
#[cfg(target_os = "none")]
pub mod run;
