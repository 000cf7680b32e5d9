//! `pure-regs`: the switcher's promise for pure cVMs. It fills its capability registers with
//! distinct tagged capabilities derived from its data capability (arg2), keeps a copy of every
//! one on its stack (through CSP), makes a null hostcall, a `yield` to another cVM and a
//! `clock_ns` hostcall, and compares each register with its copy, all 129 bits (CHKEQ /
//! CSEQX: tag, bounds, permissions, address). It prints
//!
//! ```text
//! pure-regs: every capability register preserved across null hostcall, yield, clock
//! ```
//!
//! and exits 0, or `pure-regs: <n> capability registers changed …` and exits 1.
//!
//! Register `r` holds `[data + 0x40·r, +16·(r+1))` at address `data + 0x41·r` (as in
//! `cvms/regs`). Checked: the entry register arg2 as it came, and every register
//! the program does not need as a temporary, the hostcall number or the result (Morello:
//! c2..c7, c11..c30; CHERI-RISC-V: c1, c3, c4, c7..c9, c12..c16, c18..c31). Not arg1: the
//! argument-strings capability is Load only, so not Global (local), and a local capability
//! cannot be stored through CSP, which has no StoreLocalCap (the hardware faults; `hello-pure`
//! uses a copy of arg1 after a hostcall instead). Nor arg3 as it came: the capability-store
//! capability is local too, so arg3 is overwritten with a distinct capability like the rest. The instructions inside
//! `.irp` are expressions of the register number; `tests/encodings.rs` checks each against
//! the encoders for every register.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "regs_ok",
        "pure-regs: every capability register preserved across null hostcall, yield, clock\\n"
    ),
    cvm_pure::text!(
        "regs_bad",
        "pure-regs: capability registers changed across null hostcall, yield, clock\\n"
    ),
    cvm_pure::entry!(),
    ".inst 0x028803ff", // sub csp, csp, #512: the copies' frame
    ".inst 0xc2c05049", // gcvalue x9, c2
    ".irp r, 3,4,5,6,7,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    "add x10, x9, #(0x40 * \\r)",
    ".inst (0xc2ca4040 | \\r)", // scvalue c\r, c2, x10
    ".inst (0xc2c03800 | ((\\r + 1) << 15) | (1 << 14) | (\\r << 5) | \\r)", // scbnds c\r, c\r, #(16 * (\r + 1))
    ".inst (0x02000000 | (\\r << 10) | (\\r << 5) | \\r)",                   // add c\r, c\r, #\r
    ".endr",
    ".irp r, 2,3,4,5,6,7,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    ".inst (0xc20003e0 | (\\r << 10) | \\r)", // str c\r, [csp, #(16 * \r)]
    ".endr",
    "mov x8, #0xffff",
    "svc #0",
    "mov x8, #3", // yield
    "svc #0",
    "mov x8, #4", // clock_ns
    "svc #0",
    "mov x10, #0", // registers changed
    ".irp r, 2,3,4,5,6,7,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    ".inst (0xc24003e9 | (\\r << 10))", // ldr c9, [csp, #(16 * \r)]
    ".inst (0xc2c9a401 | (\\r << 5))",  // chkeq c\r, c9
    "cinc x10, x10, ne",
    ".endr",
    "cbnz x10, regs_changed",
    cvm_pure::morello_say!("regs_ok"),
    cvm_pure::morello_exit!(0),
    "regs_changed:",
    cvm_pure::morello_say!("regs_bad"),
    cvm_pure::morello_exit!(1),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!("regs_ok", "pure-regs: every capability register preserved across null hostcall, yield, clock\\n"),
    cvm_pure::text!("regs_bad", "pure-regs: capability registers changed across null hostcall, yield, clock\\n"),
    cvm_pure::riscv_entry!(),
    ".word 0xe001115b", // cincoffsetimm csp, csp, -512: the copies' frame
    ".word 0xfef602db", // cgetaddr t0, ca2
    ".irp r, 1,3,4,7,8,9,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "addi t1, t0, (0x40 * \\r)",
    ".word (0x2066005b | (\\r << 7))", // csetaddr c\r, ca2, t1
    ".word (0x0000205b | ((16 * (\\r + 1)) << 20) | (\\r << 15) | (\\r << 7))", // csetboundsimm c\r, c\r, 16 * (\r + 1)
    ".word (0x0000105b | (\\r << 20) | (\\r << 15) | (\\r << 7))", // cincoffsetimm c\r, c\r, \r
    ".endr",
    ".irp r, 1,3,4,7,8,9,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".word ((((16 * \\r) >> 5) << 25) | (\\r << 20) | (2 << 15) | (4 << 12) | (((16 * \\r) & 31) << 7) | 0x23)", // sc c\r, (16 * \r)(csp)
    ".endr",
    "li a7, 0xffff",
    "ecall",
    "li a7, 3",         // yield
    "ecall",
    "li a7, 4",         // clock_ns
    "ecall",
    "li a0, 0",         // registers changed
    ".irp r, 1,3,4,7,8,9,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".word (0x0001228f | ((16 * \\r) << 20))", // lc ct0, (16 * \r)(csp)
    ".word (0x4250035b | (\\r << 15))",        // cseqx t1, c\r, ct0
    "xori t1, t1, 1",
    "add a0, a0, t1",
    ".endr",
    "mv t2, a0",
    "bnez t2, regs_changed",
    cvm_pure::riscv_say!("regs_ok"),
    cvm_pure::riscv_exit!(0),
    "regs_changed:",
    cvm_pure::riscv_say!("regs_bad"),
    cvm_pure::riscv_exit!(1),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
