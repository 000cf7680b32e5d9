//! capmon board: QEMU virt with CHERI qemu-system-morello -cpu morello.
#![no_std]
#![no_main]

use capmon::boot::{Board, DtbSource, EarlyConsole, PowerOffFallback};
use capmon::platform::PsciMethod;

/// As qemu-aarch64: the device tree is at RAM base, 2 MiB below the image.
static BOARD: Board = Board {
    name: "qemu-morello",
    early_console: EarlyConsole::Pl011 { base: 0x0900_0000 },
    dtb: DtbSource::Probe { addr: 0x4000_0000 },
    power_off_fallback: PowerOffFallback::Psci(PsciMethod::Smc),
};

capmon::board!(BOARD);
