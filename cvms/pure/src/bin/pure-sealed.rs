//! `pure-sealed`: an attack. A pure cVM hands `console_write` a sealed capability (a sentry
//! over its own code) as its buffer. The monitor must refuse it with `Fault` without reading
//! anything, log why (`cvm pure-sealed: hostcall 0 refused: its buffer capability (arg0) is
//! sealed`), and let the cVM go on:
//!
//! ```text
//! [pure-sealed] pure-sealed: a sealed buffer capability was refused (Fault)
//! ```
//!
//! then exit 0. Any other answer prints `pure-sealed: ATTACK SUCCEEDED` and exits 1.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "sealed_ok",
        "pure-sealed: a sealed buffer capability was refused (Fault)\\n"
    ),
    cvm_pure::text!("sealed_bad", "pure-sealed: ATTACK SUCCEEDED\\n"),
    cvm_pure::entry!(),
    "adr x0, _start",   // C64: c0 = a capability to its own code, from PCC
    ".inst 0xc2c33000", // seal c0, c0, rb: a sentry (sealed)
    "mov x1, #4",
    "mov x8, #0",
    "svc #0",
    "cmn x0, #1", // Fault is -1
    "b.eq sealed_refused",
    cvm_pure::morello_say!("sealed_bad"),
    cvm_pure::morello_exit!(1),
    "sealed_refused:",
    cvm_pure::morello_say!("sealed_ok"),
    cvm_pure::morello_exit!(0),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "sealed_ok",
        "pure-sealed: a sealed buffer capability was refused (Fault)\\n"
    ),
    cvm_pure::text!("sealed_bad", "pure-sealed: ATTACK SUCCEEDED\\n"),
    cvm_pure::riscv_entry!(),
    "auipc a0, 0",      // capability mode: AUIPCC, ca0 = a capability to its own code
    ".word 0xff15055b", // csealentry ca0, ca0: a sentry (sealed)
    "li a1, 4",
    "li a7, 0",
    "ecall",
    "li t0, -1", // Fault is -1
    "beq a0, t0, sealed_refused",
    cvm_pure::riscv_say!("sealed_bad"),
    cvm_pure::riscv_exit!(1),
    "sealed_refused:",
    cvm_pure::riscv_say!("sealed_ok"),
    cvm_pure::riscv_exit!(0),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
