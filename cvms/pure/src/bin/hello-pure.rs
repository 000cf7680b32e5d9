//! `hello-pure`: a pure-capability cVM that prints one line through the console hostcall, with
//! capability buffers only:
//!
//! ```text
//! [hello-pure] hello from hello-pure, through capabilities only
//! ```
//!
//! then exits 0. "hello from " and the rest come from `.rodata` through capabilities derived
//! from its data capability (arg2) by set-address and exact set-bounds; its name is printed
//! through the argument-strings capability it was given (arg1, Load only, exactly the name
//! and its NUL, since it has no other arguments). The monitor checks each capability before it
//! reads a byte (`monitor/src/cvm/cap_args.rs`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!("hello_from", "hello from "),
    cvm_pure::text!("hello_end", ", through capabilities only\\n"),
    cvm_pure::entry!(),
    ".inst 0xc2c1d033", // cpy c19, c1: keep the args capability (printing reuses c0 and c1)
    cvm_pure::morello_say!("hello_from"),
    ".inst 0xc2c1d260", // cpy c0, c19: the buffer is the args capability itself
    ".inst 0xc2c03001", // gclen x1, c0
    "sub x1, x1, #1",   // its name, without the NUL
    "mov x8, #0",
    "svc #0",
    cvm_pure::morello_say!("hello_end"),
    cvm_pure::morello_exit!(0),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!("hello_from", "hello from "),
    cvm_pure::text!("hello_end", ", through capabilities only\\n"),
    cvm_pure::riscv_entry!(),
    ".word 0xfea584db", // cmove cs1, ca1: keep the args capability (printing reuses ca0 and ca1)
    cvm_pure::riscv_say!("hello_from"),
    ".word 0xfea4855b", // cmove ca0, cs1: the buffer is the args capability itself
    ".word 0xfe3505db", // cgetlen a1, ca0
    "addi a1, a1, -1",  // its name, without the NUL
    "li a7, 0",
    "ecall",
    cvm_pure::riscv_say!("hello_end"),
    cvm_pure::riscv_exit!(0),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
