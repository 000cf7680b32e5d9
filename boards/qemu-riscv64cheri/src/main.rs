//! capmon board: QEMU virt with CHERI qemu-system-riscv64cheri -bios none.
#![no_std]
#![no_main]

use capmon::boot::{Board, DtbSource, EarlyConsole, PowerOffFallback};

/// As qemu-riscv64: entered at 0x80000000 with a1 = the device tree.
static BOARD: Board = Board {
    name: "qemu-riscv64cheri",
    early_console: EarlyConsole::Ns16550 {
        base: 0x1000_0000,
        reg_shift: 0,
    },
    dtb: DtbSource::Register { index: 1 },
    power_off_fallback: PowerOffFallback::SifiveTest { base: 0x10_0000 },
};

capmon::board!(BOARD);
