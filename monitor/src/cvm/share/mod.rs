//! Sharing between cVMs (CP_File; CP_Call and CP_Stream are designed in
//! `docs/architecture.md`, "Sharing and revocation").
//!
//! - [`spec`]: the manifest's `files { … }` node.
//! - [`grants`]: the sharing state as plain data: who may import what, run-time exports,
//!   revocation and teardown decisions, the share pool's layout, PMP ranges.
//! - [`sweep`]: which capability slots a revocation clears.
//! - [`call`]: the sharing hostcalls' argument checks.
//! - `live` (bare metal): the state the run loop holds, and the arch calls that derive, store
//!   and clear capabilities.
//!
//! The revocation design, in one line: imported capabilities are local (no Global), the only
//! capability any cVM holds with StoreLocalCap is its capability store, so imports can only be
//! in registers (saved contexts) and capability stores, which the sweep visits all of.

pub mod call;
pub mod grants;
#[cfg(target_os = "none")]
pub mod live;
pub mod spec;
pub mod stream;
#[cfg(target_os = "none")]
pub mod stream_live;
pub mod sweep;
