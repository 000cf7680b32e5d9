//! cVMs: manifest, planning, images, audit, hostcalls, scheduling and the run loop.

pub mod hostcall;
pub mod image;
pub mod sched;
