//! `pure-waiter`: a pure-capability parent of cap-unaware children (mixed kinds nest the other
//! way round from `nested-pure`). It does not serve its children's hostcalls (they go to the
//! monitor); it waits for each child's ending with `child_wait`, whose event record it hands
//! the monitor as a capability over 224 bytes of its stack, and prints what it learnt:
//!
//! ```text
//! [pure-waiter] pure-waiter: a pure parent waiting for its cap-unaware children
//! [pure-waiter] pure-waiter: a child exited        (or: a child faulted)
//! [pure-waiter] pure-waiter: all children ended
//! ```
//!
//! It expects two children (`cvms/manifests/nested-pure.dts`). The record's `kind` (offset 8:
//! 2 exited, 3 faulted) is read through the same capability.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "waiting",
        "pure-waiter: a pure parent waiting for its cap-unaware children\\n"
    ),
    cvm_pure::text!("exited", "pure-waiter: a child exited\\n"),
    cvm_pure::text!("faulted", "pure-waiter: a child faulted\\n"),
    cvm_pure::text!("done", "pure-waiter: all children ended\\n"),
    cvm_pure::entry!(),
    cvm_pure::morello_say!("waiting"),
    ".inst 0x028383ff", // sub csp, csp, #224: the event record's frame
    "mov x19, #2",      // children left
    "1:",
    ".inst 0x020003e0", // add c0, csp, #0: the record's capability...
    ".inst 0xc2c77800", // scbnds c0, c0, #224: ...exactly over it
    ".inst 0xc2c1d014", // cpy c20, c0: kept (the result replaces c0)
    "mov x1, #224",
    ".inst 0xc2c1d055", // cpy c21, c2: keep the data capability (x2 carries the time-out)
    "mov x2, #-1",      // no time-out
    "mov x8, #23",      // child_wait
    "svc #0",
    ".inst 0xc2c1d2a2",  // cpy c2, c21: the data capability back
    "ldr x3, [x20, #8]", // C64: the base is c20; the event's kind
    "cmp x3, #2",
    "b.ne 2f",
    cvm_pure::morello_say!("exited"),
    "b 3f",
    "2:",
    cvm_pure::morello_say!("faulted"),
    "3:",
    "subs x19, x19, #1",
    "b.ne 1b",
    cvm_pure::morello_say!("done"),
    cvm_pure::morello_exit!(0),
    cvm_pure::end!(),
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    cvm_pure::text!(
        "waiting",
        "pure-waiter: a pure parent waiting for its cap-unaware children\\n"
    ),
    cvm_pure::text!("exited", "pure-waiter: a child exited\\n"),
    cvm_pure::text!("faulted", "pure-waiter: a child faulted\\n"),
    cvm_pure::text!("done", "pure-waiter: all children ended\\n"),
    cvm_pure::riscv_entry!(),
    cvm_pure::riscv_say!("waiting"),
    ".word 0xf201115b", // cincoffsetimm csp, csp, -224: the event record's frame
    "li s2, 2",         // children left
    "1:",
    ".word 0xfea1055b", // cmove ca0, csp: the record's capability...
    ".word 0x0e05255b", // csetboundsimm ca0, ca0, 224: ...exactly over it
    ".word 0xfea509db", // cmove cs3, ca0: kept (the result replaces ca0)
    "li a1, 224",
    ".word 0xfea60a5b", // cmove cs4, ca2: keep the data capability (a2 carries the time-out)
    "li a2, -1",        // no time-out
    "li a7, 23",        // child_wait
    "ecall",
    ".word 0xfeaa065b", // cmove ca2, cs4: the data capability back
    "ld a3, 8(s3)",     // capability mode: the base is cs3; the event's kind
    "li t0, 2",
    "bne a3, t0, 2f",
    cvm_pure::riscv_say!("exited"),
    "j 3f",
    "2:",
    cvm_pure::riscv_say!("faulted"),
    "3:",
    "addi s2, s2, -1",
    "bnez s2, 1b",
    cvm_pure::riscv_say!("done"),
    cvm_pure::riscv_exit!(0),
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
