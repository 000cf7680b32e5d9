//! capmon board: QEMU virt with stock qemu-system-riscv64 -bios none (no capabilities).
#![no_std]
#![no_main]

use capmon::boot::{Board, DtbSource, EarlyConsole, PowerOffFallback};

/// QEMU's reset stub jumps to 0x80000000 (not the ELF entry) with a1 = the device tree.
static BOARD: Board = Board {
    name: "qemu-riscv64",
    early_console: EarlyConsole::Ns16550 {
        base: 0x1000_0000,
        reg_shift: 0,
    },
    dtb: DtbSource::Register { index: 1 },
    power_off_fallback: PowerOffFallback::SifiveTest { base: 0x10_0000 },
};

capmon::board!(BOARD);
