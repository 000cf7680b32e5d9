//! capmon-tool: host tools that need no QEMU, one subcommand each ([`cli`]): manifest checks,
//! bundles and capability audits ([`manifest`]), capability test vectors ([`vectors`]) and the
//! Morello SDP firmware package ([`fip`]).

pub mod cli;
pub mod fip;
pub mod manifest;
pub mod vectors;
