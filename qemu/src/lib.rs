//! Host side of capmon, grouped by what it serves:
//!
//! - [`run`]: capmon-run, running capmon under QEMU (board builds, boots, the boot-test
//!   harness, benchmarks and their figures);
//! - [`tools`]: capmon-tool, host tools that need no QEMU (manifests and bundles, capability
//!   audits and vectors, the Morello FIP);
//! - shared by both: [`process`] (every child process under a time limit), [`workspace`]
//!   (where things are on disk), [`elf_file`] (ELF images, on the `elf` crate) and
//!   [`progress`] (progress bars, quiet off a terminal and under CI).
//!
//! Dependencies point one way: `run` uses `tools` (a board image embeds a manifest's bundle),
//! both use the shared modules, and the shared modules use neither.

pub mod elf_file;
pub mod process;
pub mod progress;
pub mod run;
pub mod tools;
pub mod workspace;
