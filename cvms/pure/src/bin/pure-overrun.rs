//! `pure-overrun`: an attack. A pure cVM loads the first byte past the end of its data
//! capability (arg2), through that capability:
//!
//! ```text
//! [pure-overrun] pure-overrun: loading just past the end of my data capability
//! cvm pure-overrun fault: … capability c2 … (Morello) / capability c13 … (CHERI-RISC-V)
//! ```
//!
//! The hardware stops it (bounds), the monitor names the capability register the load went
//! through, and nothing else is affected. If the load worked it would print
//! `pure-overrun: ATTACK SUCCEEDED` and exit 1.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "overrun_try",
        "pure-overrun: loading just past the end of my data capability\\n"
    ),
    cvm_pure::text!("overrun_worked", "pure-overrun: ATTACK SUCCEEDED\\n"),
    cvm_pure::entry!(),
    cvm_pure::morello_say!("overrun_try"),
    ".inst 0xc2c03049",  // gclen x9, c2
    "ldr x10, [x2, x9]", // C64: through c2, at its base + its length
    cvm_pure::morello_say!("overrun_worked"),
    cvm_pure::morello_exit!(1),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "overrun_try",
        "pure-overrun: loading just past the end of my data capability\\n"
    ),
    cvm_pure::text!("overrun_worked", "pure-overrun: ATTACK SUCCEEDED\\n"),
    cvm_pure::riscv_entry!(),
    cvm_pure::riscv_say!("overrun_try"),
    ".word 0xfe3605db", // cgetlen a1, ca2
    ".word 0x22b606db", // cincoffset ca3, ca2, a1
    "ld a0, 0(a3)",     // capability mode: through ca3, at its base + its length
    cvm_pure::riscv_say!("overrun_worked"),
    cvm_pure::riscv_exit!(1),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
