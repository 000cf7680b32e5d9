//! `pure-forged`: an attack. A pure cVM hands `console_write` five bad buffer capabilities
//! for the 16-byte string `victim`, one after the other, and must see each refused with
//! `Fault` (the monitor logs why, naming the cVM) while it goes on:
//!
//! | attempt | the capability in arg0 |
//! |---|---|
//! | forged | an integer address (untagged) |
//! | widened (Morello) | set-bounds to 16 bytes on a 4-byte capability: the tag is cleared |
//! | untagged (CHERI-RISC-V) | a good capability with its tag cleared |
//! | no Load | exact bounds over the string, Load removed |
//! | too short | exact bounds over 4 of the 16 bytes |
//! | not its memory | its own code (from PCC): tagged, Load, covering, but not a buffer it owns |
//!
//! Each prints `pure-forged: <attempt>: refused (Fault)`; one that is accepted prints
//! `pure-forged: ATTACK SUCCEEDED: <attempt>`. It exits with the number accepted (0).
#![cfg_attr(target_os = "none", no_std, no_main)]

/// Morello: after a hostcall, prints `$ok` if it answered `Fault` (-1), else `$bad` and counts
/// one more failure in x20.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
macro_rules! expect_fault {
    ($ok:literal, $bad:literal) => {
        concat!(
            "cmn x0, #1\n",
            "b.eq ",
            $ok,
            "_refused\n",
            cvm_pure::morello_say!($bad),
            "add x20, x20, #1\n",
            "b ",
            $ok,
            "_done\n",
            $ok,
            "_refused:\n",
            cvm_pure::morello_say!($ok),
            $ok,
            "_done:\n",
        )
    };
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!("victim", "0123456789abcdef"),
    cvm_pure::text!("forged", "pure-forged: forged: refused (Fault)\\n"),
    cvm_pure::text!("forged_bad", "pure-forged: ATTACK SUCCEEDED: forged\\n"),
    cvm_pure::text!("widened", "pure-forged: widened: refused (Fault)\\n"),
    cvm_pure::text!("widened_bad", "pure-forged: ATTACK SUCCEEDED: widened\\n"),
    cvm_pure::text!("no_load", "pure-forged: no Load: refused (Fault)\\n"),
    cvm_pure::text!("no_load_bad", "pure-forged: ATTACK SUCCEEDED: no Load\\n"),
    cvm_pure::text!("too_short", "pure-forged: too short: refused (Fault)\\n"),
    cvm_pure::text!(
        "too_short_bad",
        "pure-forged: ATTACK SUCCEEDED: too short\\n"
    ),
    cvm_pure::text!(
        "not_owned",
        "pure-forged: not its memory: refused (Fault)\\n"
    ),
    cvm_pure::text!(
        "not_owned_bad",
        "pure-forged: ATTACK SUCCEEDED: not its memory\\n"
    ),
    cvm_pure::entry!(),
    "mov x20, #0",
    // Forged: the string's address as an integer.
    "adr x9, victim",
    "mov x0, x9",
    "mov x1, #16",
    "mov x8, #0",
    "svc #0",
    expect_fault!("forged", "forged_bad"),
    // Widened: 4 bytes, then set-bounds to 16 (beyond its parent: untagged).
    "adr x9, victim",
    ".inst 0xc2c94040", // scvalue c0, c2, x9
    "mov x10, #4",
    ".inst 0xc2ca2000", // scbndse c0, c0, x10
    "mov x10, #16",
    ".inst 0xc2ca0000", // scbnds c0, c0, x10
    "mov x1, #16",
    "mov x8, #0",
    "svc #0",
    expect_fault!("widened", "widened_bad"),
    // No Load: exact bounds over the string, Load removed.
    "adr x9, victim",
    ".inst 0xc2c94040", // scvalue c0, c2, x9
    "mov x1, #16",
    ".inst 0xc2c12000", // scbndse c0, c0, x1
    ".inst 0xc2c69000", // clrperm c0, c0, r
    "mov x8, #0",
    "svc #0",
    expect_fault!("no_load", "no_load_bad"),
    // Too short: 4 bytes of bounds for a 16-byte write.
    "adr x9, victim",
    ".inst 0xc2c94040", // scvalue c0, c2, x9
    "mov x10, #4",
    ".inst 0xc2ca2000", // scbndse c0, c0, x10
    "mov x1, #16",
    "mov x8, #0",
    "svc #0",
    expect_fault!("too_short", "too_short_bad"),
    // Not its memory: its own code, from PCC (C64 `adr` makes a capability).
    "adr x0, _start",
    "mov x1, #4",
    "mov x8, #0",
    "svc #0",
    expect_fault!("not_owned", "not_owned_bad"),
    "mov x0, x20",
    "mov x8, #2",
    "svc #0",
    "udf #0",
    cvm_pure::end!(),
);

/// CHERI-RISC-V: as the Morello macro, counting in s2.
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
macro_rules! expect_fault {
    ($ok:literal, $bad:literal) => {
        concat!(
            "li t0, -1\n",
            "beq a0, t0, ",
            $ok,
            "_refused\n",
            cvm_pure::riscv_say!($bad),
            "addi s2, s2, 1\n",
            "j ",
            $ok,
            "_done\n",
            $ok,
            "_refused:\n",
            cvm_pure::riscv_say!($ok),
            $ok,
            "_done:\n",
        )
    };
}

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!("victim", "0123456789abcdef"),
    cvm_pure::text!("forged", "pure-forged: forged: refused (Fault)\\n"),
    cvm_pure::text!("forged_bad", "pure-forged: ATTACK SUCCEEDED: forged\\n"),
    cvm_pure::text!("untagged", "pure-forged: untagged: refused (Fault)\\n"),
    cvm_pure::text!("untagged_bad", "pure-forged: ATTACK SUCCEEDED: untagged\\n"),
    cvm_pure::text!("no_load", "pure-forged: no Load: refused (Fault)\\n"),
    cvm_pure::text!("no_load_bad", "pure-forged: ATTACK SUCCEEDED: no Load\\n"),
    cvm_pure::text!("too_short", "pure-forged: too short: refused (Fault)\\n"),
    cvm_pure::text!(
        "too_short_bad",
        "pure-forged: ATTACK SUCCEEDED: too short\\n"
    ),
    cvm_pure::text!(
        "not_owned",
        "pure-forged: not its memory: refused (Fault)\\n"
    ),
    cvm_pure::text!(
        "not_owned_bad",
        "pure-forged: ATTACK SUCCEEDED: not its memory\\n"
    ),
    cvm_pure::riscv_entry!(),
    "li s2, 0",
    // Forged: the string's address as an integer.
    "lla a1, victim",
    "mv a0, a1",
    "li a1, 16",
    "li a7, 0",
    "ecall",
    expect_fault!("forged", "forged_bad"),
    // Untagged: a good capability over the string, its tag cleared.
    "lla a1, victim",
    ".word 0x20b6055b", // csetaddr ca0, ca2, a1
    "li a1, 16",
    ".word 0x12b5055b", // csetboundsexact ca0, ca0, a1
    ".word 0xfeb5055b", // ccleartag ca0, ca0
    "li a7, 0",
    "ecall",
    expect_fault!("untagged", "untagged_bad"),
    // No Load: exact bounds over the string, every permission but Load (bit 2) kept.
    "lla a1, victim",
    ".word 0x20b6055b", // csetaddr ca0, ca2, a1
    "li a1, 16",
    ".word 0x12b5055b", // csetboundsexact ca0, ca0, a1
    "li t0, -5",
    ".word 0x1a55055b", // candperm ca0, ca0, t0
    "li a7, 0",
    "ecall",
    expect_fault!("no_load", "no_load_bad"),
    // Too short: 4 bytes of bounds for a 16-byte write.
    "lla a1, victim",
    ".word 0x20b6055b", // csetaddr ca0, ca2, a1
    "li t1, 4",
    ".word 0x1265055b", // csetboundsexact ca0, ca0, t1
    "li a1, 16",
    "li a7, 0",
    "ecall",
    expect_fault!("too_short", "too_short_bad"),
    // Not its memory: its own code (AUIPCC in capability mode).
    "auipc a0, 0",
    "li a1, 4",
    "li a7, 0",
    "ecall",
    expect_fault!("not_owned", "not_owned_bad"),
    "mv a0, s2",
    "li a7, 2",
    "ecall",
    "unimp",
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
