//! Sharing between cVMs: CP_File and CP_Call (`docs/architecture.md`, "Sharing and
//! revocation"; CP_Stream is designed there).
//!
//! - [`spec`]: the manifest's `files { … }` node.
//! - [`calls`]: the manifest's `calls { … }` node and CP_Call's exports and imports.
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
pub mod calls;
pub mod grants;
#[cfg(target_os = "none")]
pub mod live;
pub mod spec;
pub mod sweep;
