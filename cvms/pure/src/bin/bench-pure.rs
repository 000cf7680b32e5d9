//! `bench-pure`: the null-hostcall figure of `just bench` for a pure-capability cVM. It times
//! 50 batches of 1000 null hostcalls (number 0xffff, answered `-NoSys`) and 50 batches of the
//! same loop without the trap, each with `clock_ns` (guest instructions under QEMU
//! `-icount shift=0`), and prints
//!
//! ```text
//! bench: pure-null-hostcall min <n> (N=1000, hostcall 65535 → -NoSys from a pure cVM, 50 batches, fastest batch minus the fastest trap-less loop)
//! ```
//!
//! `<n>` = (fastest batch − fastest loop) / 1000, rounded down, printed in decimal from its
//! own digits through a capability to its data (`c2`/`ca2` with the address moved). Then it
//! exits 0.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!("bench_head", "bench: pure-null-hostcall min "),
    cvm_pure::text!("bench_tail", " (N=1000, hostcall 65535 -> -NoSys from a pure cVM, 50 batches, fastest batch minus the fastest trap-less loop)\\n"),
    cvm_pure::entry!(),
    "mov x19, #-1",     // fastest batch of hostcalls
    "mov x20, #-1",     // fastest trap-less loop
    "mov x21, #50",     // batches left
    "bench_batch:",
    "mov x8, #4",       // clock_ns
    "svc #0",
    "mov x22, x0",
    "mov x23, #1000",
    "bench_calls:",
    "mov x8, #0xffff",
    "svc #0",
    "subs x23, x23, #1",
    "b.ne bench_calls",
    "mov x8, #4",
    "svc #0",
    "sub x24, x0, x22",
    "cmp x24, x19",
    "csel x19, x24, x19, lo",
    "mov x8, #4",
    "svc #0",
    "mov x22, x0",
    "mov x23, #1000",
    "bench_loop:",
    "mov x8, #0xffff",
    "nop",              // where the trap was
    "subs x23, x23, #1",
    "b.ne bench_loop",
    "mov x8, #4",
    "svc #0",
    "sub x24, x0, x22",
    "cmp x24, x20",
    "csel x20, x24, x20, lo",
    "subs x21, x21, #1",
    "b.ne bench_batch",
    "sub x25, x19, x20",
    "mov x12, #1000",
    "udiv x25, x25, x12", // per hostcall
    cvm_pure::morello_say!("bench_head"),
    // Decimal digits, last first, into 32 bytes at data + 0x800 (past the strings).
    ".inst 0xc2c0504b", // gcvalue x11, c2
    "add x11, x11, #0x820", // the digits' end
    ".inst 0xc2cb404a", // scvalue c10, c2, x11
    "mov x12, #10",
    "bench_digit:",
    "udiv x13, x25, x12",
    "msub x14, x13, x12, x25",
    "add x14, x14, #48",
    "strb w14, [x10, #-1]!", // C64: through c10, which moves down one byte
    "mov x25, x13",
    "cbnz x25, bench_digit",
    ".inst 0xc2c0514d", // gcvalue x13, c10
    "sub x1, x11, x13",
    ".inst 0xc2c1d140", // cpy c0, c10
    "mov x8, #0",
    "svc #0",
    cvm_pure::morello_say!("bench_tail"),
    cvm_pure::morello_exit!(0),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!("bench_head", "bench: pure-null-hostcall min "),
    cvm_pure::text!("bench_tail", " (N=1000, hostcall 65535 -> -NoSys from a pure cVM, 50 batches, fastest batch minus the fastest trap-less loop)\\n"),
    cvm_pure::riscv_entry!(),
    "li s3, -1",        // fastest batch of hostcalls
    "li s4, -1",        // fastest trap-less loop
    "li s5, 50",        // batches left
    "bench_batch:",
    "li a7, 4",         // clock_ns
    "ecall",
    "mv s6, a0",
    "li s7, 1000",
    "bench_calls:",
    "li a7, 0xffff",
    "ecall",
    "addi s7, s7, -1",
    "bnez s7, bench_calls",
    "li a7, 4",
    "ecall",
    "sub s8, a0, s6",
    "bgeu s8, s3, bench_calls_slower",
    "mv s3, s8",
    "bench_calls_slower:",
    "li a7, 4",
    "ecall",
    "mv s6, a0",
    "li s7, 1000",
    "bench_loop:",
    "li a7, 0xffff",
    "nop",              // where the trap was
    "addi s7, s7, -1",
    "bnez s7, bench_loop",
    "li a7, 4",
    "ecall",
    "sub s8, a0, s6",
    "bgeu s8, s4, bench_loop_slower",
    "mv s4, s8",
    "bench_loop_slower:",
    "addi s5, s5, -1",
    "bnez s5, bench_batch",
    "sub s9, s3, s4",
    "li t0, 1000",
    "divu s9, s9, t0",  // per hostcall
    cvm_pure::riscv_say!("bench_head"),
    // Decimal digits, last first, into 32 bytes at data + 0x800 (past the strings).
    ".word 0xfef60edb", // cgetaddr t4, ca2
    "addi t4, t4, 0x7ff",
    "addi t4, t4, 0x21", // the digits' end: data + 0x820
    ".word 0x21d60e5b", // csetaddr ct3, ca2, t4
    "li t0, 10",
    "bench_digit:",
    "remu t1, s9, t0",
    "divu s9, s9, t0",
    "addi t1, t1, 48",
    ".word 0xfffe1e5b", // cincoffsetimm ct3, ct3, -1
    "sb t1, 0(t3)",     // capability mode: through ct3
    "bnez s9, bench_digit",
    ".word 0xfefe0f5b", // cgetaddr t5, ct3
    "sub a1, t4, t5",
    ".word 0xfeae055b", // cmove ca0, ct3
    "li a7, 0",
    "ecall",
    cvm_pure::riscv_say!("bench_tail"),
    cvm_pure::riscv_exit!(0),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
