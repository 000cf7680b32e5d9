//! `null-ddc`: shows that a pure cVM's DDC is null. It says what it is about to do, then loads
//! from an integer address inside its own data, through DDC:
//!
//! ```text
//! [null-ddc] null-ddc: loading my own data through an integer address (DDC is null)
//! cvm null-ddc fault: capability tag fault at pc …, …, capability DDC tag=0 …
//! ```
//!
//! The monitor stops it (contained, reported); nothing else is affected. If the load worked it
//! would print `null-ddc: ATTACK SUCCEEDED` and exit 1.
//!
//! The address is its data capability's own (so only DDC can be what refuses it). Morello:
//! the alternate-base `ldr x10, [x9]`, which in C64 takes an integer base checked against DDC.
//! CHERI-RISC-V: `ld.ddc`, the explicit DDC-relative load.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "ddc_try",
        "null-ddc: loading my own data through an integer address (DDC is null)\\n"
    ),
    cvm_pure::text!("ddc_worked", "null-ddc: ATTACK SUCCEEDED\\n"),
    cvm_pure::entry!(),
    cvm_pure::morello_say!("ddc_try"),
    ".inst 0xc2c05049", // gcvalue x9, c2: the data capability's address, as an integer
    ".inst 0x82600d2a", // ldr x10, [x9] (alternate base: through DDC in C64)
    cvm_pure::morello_say!("ddc_worked"),
    cvm_pure::morello_exit!(1),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "ddc_try",
        "null-ddc: loading my own data through an integer address (DDC is null)\\n"
    ),
    cvm_pure::text!("ddc_worked", "null-ddc: ATTACK SUCCEEDED\\n"),
    cvm_pure::riscv_entry!(),
    cvm_pure::riscv_say!("ddc_try"),
    ".word 0xfef605db", // cgetaddr a1, ca2: the data capability's address, as an integer
    ".word 0xfa35855b", // ld.ddc a0, (a1)
    cvm_pure::riscv_say!("ddc_worked"),
    cvm_pure::riscv_exit!(1),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
