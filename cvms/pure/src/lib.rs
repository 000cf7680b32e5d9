//! What the pure-capability cVMs share: the assembly pieces every one of them uses, as macros
//! that expand to string literals for `global_asm!`.
//!
//! A pure cVM (manifest `abi = "purecap"`) starts in capability mode (C64 on Morello,
//! capability encoding mode on CHERI-RISC-V) with a null DDC, so no Rust code (which is
//! compiled cap-unaware) can run in it: these programs are assembly. The entry registers
//! (`cvms/sdk/README.md`, "Pure-capability cVMs"):
//!
//! | Morello | CHERI-RISC-V | holds |
//! |---|---|---|
//! | c0 | ca0 | argc (an integer) |
//! | c1 | ca1 | the argument strings, NUL-separated, name first (Load only) |
//! | c2 | ca2 | globals and heap, from the first page after the code (Load, Store, LoadCap, StoreCap) |
//! | c3 | ca3 | null (the capability store, later) |
//! | CSP | csp | the stack |
//!
//! Upstream LLVM assembles no CHERI instruction, so each one is a raw word (`.inst` /
//! `.word`) with its mnemonic in the Rust comment beside it; `tests/encodings.rs` finds every
//! such word in `src/` and checks it against the monitor's tested encoders
//! (`monitor/src/arch/insn`). Ordinary instructions keep their assembler spelling: an integer
//! instruction writes the integer view of a register (and clears its tag), which is how these
//! programs make integers such as lengths and hostcall numbers.
//!
//! Strings live in `.rodata` (the first page after the code, so inside the data capability),
//! each with a `<label>_len` symbol; [`text!`] defines them, and they must come before the code
//! that prints them (the assembler then knows each length).
#![no_std]

/// Hostcall numbers and results the assembly spells as literals (checked in the tests).
pub const CONSOLE_WRITE: u64 = 0;
pub const EXIT: u64 = 2;
pub const DISK_READ: u64 = 8;
/// `Error::Fault` as a result register (−1).
pub const FAULT_RESULT: i64 = -1;

/// `__cap_relocs` permission flags (`cap-relocs`; checked against the monitor's loader).
pub const CAP_RELOC_FUNCTION: u64 = 1 << 63;
pub const CAP_RELOC_READ_ONLY: u64 = 1 << 62;
/// Permission bits as GCPERM (Morello) and CGetPerm (CHERI-RISC-V) report them, and the
/// object type of a sentry as GCTYPE / CGetType (sign-extended) report it (checked against
/// the monitor's capability model).
pub const MORELLO_PERM_LOAD: u64 = 1 << 17;
pub const MORELLO_PERM_STORE: u64 = 1 << 16;
pub const MORELLO_PERM_EXECUTE: u64 = 1 << 15;
pub const MORELLO_SENTRY_OTYPE: u64 = 1;
pub const RISCV_PERM_LOAD: u64 = 1 << 2;
pub const RISCV_PERM_STORE: u64 = 1 << 3;
pub const RISCV_PERM_EXECUTE: u64 = 1 << 1;
pub const RISCV_SENTRY_OTYPE: i64 = -2;

/// Defines the string `$text` (assembler escapes, e.g. `\\n`) at `$label` in `.rodata`, and
/// `$label_len`, its length.
#[macro_export]
macro_rules! text {
    ($label:literal, $text:literal) => {
        concat!(
            ".pushsection .rodata.pure, \"a\"\n",
            $label,
            ": .ascii \"",
            $text,
            "\"\n",
            ".set ",
            $label,
            "_len, . - ",
            $label,
            "\n",
            ".popsection\n",
        )
    };
}

/// The start of `_start` in `.text.entry` (first in the image, as `cvm.ld` wants).
#[macro_export]
macro_rules! entry {
    () => {
        concat!(
            ".pushsection .text.entry, \"ax\"\n",
            ".global _start\n",
            "_start:\n"
        )
    };
}

/// The end of `_start`.
#[macro_export]
macro_rules! end {
    () => {
        ".popsection\n"
    };
}

/// [`entry!`] on RISC-V, without compressed instructions: some compressed encodings change
/// meaning in capability mode (`c.addi16sp` becomes a capability increment of csp, ...).
#[macro_export]
macro_rules! riscv_entry {
    () => {
        concat!($crate::entry!(), ".option push\n", ".option norvc\n")
    };
}

/// [`end!`] on RISC-V.
#[macro_export]
macro_rules! riscv_end {
    () => {
        concat!(".option pop\n", $crate::end!())
    };
}

/// Morello: `console_write` of the string at `$label`, through a capability derived from the
/// data capability c2 by set-address and exact set-bounds, Load only. Uses c0, c1, c8, c9.
/// `adr` in C64 writes c9 from PCC; only its address (x9) is used.
#[macro_export]
macro_rules! morello_say {
    ($label:literal) => {
        concat!(
            "adr x9, ",
            $label,
            "\n",
            ".inst 0xc2c94040\n", // scvalue c0, c2, x9
            "mov x1, #",
            $label,
            "_len\n",
            ".inst 0xc2c12000\n", // scbndse c0, c0, x1
            ".inst 0xc2c65000\n", // clrperm c0, c0, w
            "mov x8, #0\n",
            "svc #0\n",
        )
    };
}

/// Morello: `exit($code)`.
#[macro_export]
macro_rules! morello_exit {
    ($code:literal) => {
        concat!(
            "mov x0, #",
            $code,
            "\n",
            "mov x8, #2\n",
            "svc #0\n",
            "udf #0\n"
        )
    };
}

/// CHERI-RISC-V: `console_write` of the string at `$label`, through a capability derived from
/// the data capability ca2 by set-address and exact set-bounds. Uses ca0, ca1, a7. `lla`'s
/// `auipc` is AUIPCC in capability mode, but the `addi` after it makes a1 an integer (the
/// string's address).
#[macro_export]
macro_rules! riscv_say {
    ($label:literal) => {
        concat!(
            "lla a1, ",
            $label,
            "\n",
            ".word 0x20b6055b\n", // csetaddr ca0, ca2, a1
            "li a1, ",
            $label,
            "_len\n",
            ".word 0x12b5055b\n", // csetboundsexact ca0, ca0, a1
            "li a7, 0\n",
            "ecall\n",
        )
    };
}

/// CHERI-RISC-V: `exit($code)`.
#[macro_export]
macro_rules! riscv_exit {
    ($code:literal) => {
        concat!("li a0, ", $code, "\n", "li a7, 2\n", "ecall\n", "unimp\n")
    };
}

/// Never runs: no Rust code runs in a pure cVM. A `no_std` binary needs one.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
