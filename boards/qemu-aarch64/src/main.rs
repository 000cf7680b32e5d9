//! capmon board: QEMU virt with stock qemu-system-aarch64 (no capabilities).
#![no_std]
#![no_main]

use capmon::boot::{Board, DtbSource, EarlyConsole, PowerOffFallback};
use capmon::platform::PsciMethod;

/// QEMU's ELF loader puts the device tree at RAM base when the image starts 1 MiB or more
/// above it (capmon links at RAM + 2 MiB) and passes no pointer, so capmon probes there.
static BOARD: Board = Board {
    name: "qemu-aarch64",
    early_console: EarlyConsole::Pl011 { base: 0x0900_0000 },
    dtb: DtbSource::Probe { addr: 0x4000_0000 },
    power_off_fallback: PowerOffFallback::Psci(PsciMethod::Smc),
};

capmon::board!(BOARD);
