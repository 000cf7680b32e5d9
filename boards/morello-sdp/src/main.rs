//! capmon board: Arm Morello System Development Platform, as TF-A's BL33.
#![no_std]
#![no_main]

use capmon::boot::{Board, DtbSource, EarlyConsole, PowerOffFallback};
use capmon::platform::PsciMethod;

/// TF-A loads BL33 at the CSS non-secure image base and enters it at EL2 with x0 =
/// NT_FW_CONFIG and x1 = HW_CONFIG. TF-A has already set up the AP UART0 (PL011).
static BOARD: Board = Board {
    name: "morello-sdp",
    early_console: EarlyConsole::Pl011 { base: 0x2a40_0000 },
    dtb: DtbSource::TfA,
    power_off_fallback: PowerOffFallback::Psci(PsciMethod::Smc),
};

capmon::board!(BOARD);
