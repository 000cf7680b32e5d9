//! capmon-tool: host tools that need no QEMU, one subcommand each ([`cli`]): manifest checks,
//! bundles and capability audits ([`manifest`], with errors mapped to source lines by
//! [`source_lines`]), capability test vectors ([`vectors`]) and the
//! Morello SDP firmware package ([`fip`]), and new cVM projects outside the repository
//! ([`new_project`]).

pub mod cli;
pub mod fip;
pub mod manifest;
pub mod new_project;
pub mod source_lines;
pub mod vectors;
