//! Sharing between cVMs: CP_File, CP_Call and CP_Stream (`docs/architecture.md`,
//! "Sharing and revocation").
//!
//! - [`spec`]: the manifest's `files { … }` node.
//! - [`calls`]: the manifest's `calls { … }` node and CP_Call's exports and imports.
//! - [`grants`]: the sharing state as plain data: who may import what, run-time exports,
//!   revocation and teardown decisions, the share pool's layout, PMP ranges.
//! - [`sweep`]: which capability slots a revocation clears.
//! - [`call`]: the sharing hostcalls' argument checks.
//! - [`stream`]: CP_Stream — the `streams { … }` node, each stream carried by a run-time
//!   object of its receiver; the streams' state (rings, `cp_poll`, wake-ups) as plain data;
//!   `stream_live` (bare metal) applies it.
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
pub mod stream;
#[cfg(target_os = "none")]
pub mod stream_live;
pub mod sweep;
