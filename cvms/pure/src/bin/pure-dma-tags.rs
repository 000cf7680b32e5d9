//! `pure-dma-tags`: a disk read over a capability must leave it untagged, whether the device
//! writes the cVM's buffer itself (a direct request) or the monitor copies the data in from
//! its bounce buffer. A pure cVM stores a tagged capability (its data capability) inside a
//! buffer, checks that the tag is there, reads sector 0 of its grant over the buffer, and
//! checks that the tag is gone, twice:
//!
//! | case | buffer | the capability at | path |
//! |---|---|---|---|
//! | direct | data + 0x2000 (16-byte aligned) | buffer + 32 | the device writes the buffer |
//! | bounced | data + 0x3008 (8 past a 16-byte boundary) | buffer + 8 | the monitor's copy |
//!
//! Each prints `pure-dma-tags: <case> read: the capability's tag is gone`; a tag that survives
//! prints `pure-dma-tags: TAG SURVIVED a <case> read`, a capability store that left no tag or
//! a read that failed says so too. It exits with the number of failures (0). The monitor's
//! `virtio: blk0: 2 requests (1 direct), …` line shows which path each took.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// The lines it prints, for both architectures.
#[cfg(target_os = "none")]
macro_rules! texts {
    () => {
        concat!(
            cvm_pure::text!(
                "direct",
                "pure-dma-tags: direct read: the capability's tag is gone\\n"
            ),
            cvm_pure::text!(
                "direct_survived",
                "pure-dma-tags: TAG SURVIVED a direct read\\n"
            ),
            cvm_pure::text!(
                "bounced",
                "pure-dma-tags: bounced read: the capability's tag is gone\\n"
            ),
            cvm_pure::text!(
                "bounced_survived",
                "pure-dma-tags: TAG SURVIVED a bounced read\\n"
            ),
            cvm_pure::text!(
                "not_stored",
                "pure-dma-tags: FAILED: the stored capability has no tag\\n"
            ),
            cvm_pure::text!("read_failed", "pure-dma-tags: FAILED: the disk read\\n"),
        )
    };
}

/// Morello: one case. The buffer capability (c10) and the slot capability (c13) are the data
/// capability c2 moved to `$offset` and `$offset + $slot`; c2 itself is the capability stored.
/// Failures count in x20.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
macro_rules! morello_case {
    ($case:literal, $survived:literal, $offset:literal, $slot:literal) => {
        concat!(
            ".inst 0xc2c0504b\n", // gcvalue x11, c2
            "mov x16, #",
            $offset,
            "\n",
            "add x11, x11, x16\n",
            ".inst 0xc2cb404a\n", // scvalue c10, c2, x11
            "add x12, x11, #",
            $slot,
            "\n",
            ".inst 0xc2cc404d\n", // scvalue c13, c2, x12
            ".inst 0xc20001a2\n", // str c2, [c13]
            ".inst 0xc24001ae\n", // ldr c14, [c13]
            ".inst 0xc2c091cf\n", // gctag x15, c14
            "cbz x15, ",
            $case,
            "_not_stored\n",
            // disk_read(sector 0, the buffer, 1 sector): the count goes in x2, whose write
            // would leave c2 an integer, so the data capability waits in c21.
            ".inst 0xc2c1d055\n", // cpy c21, c2
            "mov x0, #0\n",
            ".inst 0xc2c1d141\n", // cpy c1, c10
            "mov x2, #1\n",
            "mov x8, #8\n",
            "svc #0\n",
            ".inst 0xc2c1d2a2\n", // cpy c2, c21
            "cmp x0, #1\n",
            "b.ne ",
            $case,
            "_read_failed\n",
            ".inst 0xc24001ae\n", // ldr c14, [c13]
            ".inst 0xc2c091cf\n", // gctag x15, c14
            "cbnz x15, ",
            $case,
            "_kept\n",
            cvm_pure::morello_say!($case),
            "b ",
            $case,
            "_done\n",
            $case,
            "_not_stored:\n",
            cvm_pure::morello_say!("not_stored"),
            "add x20, x20, #1\n",
            "b ",
            $case,
            "_done\n",
            $case,
            "_read_failed:\n",
            cvm_pure::morello_say!("read_failed"),
            "add x20, x20, #1\n",
            "b ",
            $case,
            "_done\n",
            $case,
            "_kept:\n",
            cvm_pure::morello_say!($survived),
            "add x20, x20, #1\n",
            $case,
            "_done:\n",
        )
    };
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    texts!(),
    cvm_pure::entry!(),
    "mov x20, #0",
    morello_case!("direct", "direct_survived", "0x2000", "32"),
    morello_case!("bounced", "bounced_survived", "0x3008", "8"),
    "mov x0, x20",
    "mov x8, #2",
    "svc #0",
    "udf #0",
    cvm_pure::end!(),
);

/// CHERI-RISC-V: one case, as on Morello: the buffer capability in ct3, the slot capability
/// in ct4, both from ca2, which is the capability stored. Failures count in s2.
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
macro_rules! riscv_case {
    ($case:literal, $survived:literal, $offset:literal, $slot:literal) => {
        concat!(
            ".word 0xfef602db\n", // cgetaddr t0, ca2
            "li t1, ",
            $offset,
            "\n",
            "add t0, t0, t1\n",
            ".word 0x20560e5b\n", // csetaddr ct3, ca2, t0
            "addi t1, t0, ",
            $slot,
            "\n",
            ".word 0x20660edb\n", // csetaddr ct4, ca2, t1
            ".word 0xf8ce865b\n", // sc.cap ca2, (ct4)
            ".word 0xfbfe8f5b\n", // lc.cap ct5, (ct4)
            ".word 0xfe4f0fdb\n", // cgettag t6, ct5
            "beqz t6, ",
            $case,
            "_not_stored\n",
            // disk_read(sector 0, the buffer, 1 sector): the count goes in a2, whose write
            // would leave ca2 an integer, so the data capability waits in cs4.
            ".word 0xfea60a5b\n", // cmove cs4, ca2
            "li a0, 0\n",
            ".word 0xfeae05db\n", // cmove ca1, ct3
            "li a2, 1\n",
            "li a7, 8\n",
            "ecall\n",
            ".word 0xfeaa065b\n", // cmove ca2, cs4
            "li t0, 1\n",
            "bne a0, t0, ",
            $case,
            "_read_failed\n",
            ".word 0xfbfe8f5b\n", // lc.cap ct5, (ct4)
            ".word 0xfe4f0fdb\n", // cgettag t6, ct5
            "bnez t6, ",
            $case,
            "_kept\n",
            cvm_pure::riscv_say!($case),
            "j ",
            $case,
            "_done\n",
            $case,
            "_not_stored:\n",
            cvm_pure::riscv_say!("not_stored"),
            "addi s2, s2, 1\n",
            "j ",
            $case,
            "_done\n",
            $case,
            "_read_failed:\n",
            cvm_pure::riscv_say!("read_failed"),
            "addi s2, s2, 1\n",
            "j ",
            $case,
            "_done\n",
            $case,
            "_kept:\n",
            cvm_pure::riscv_say!($survived),
            "addi s2, s2, 1\n",
            $case,
            "_done:\n",
        )
    };
}

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    texts!(),
    cvm_pure::riscv_entry!(),
    "li s2, 0",
    riscv_case!("direct", "direct_survived", "0x2000", "32"),
    riscv_case!("bounced", "bounced_survived", "0x3008", "8"),
    "mv a0, s2",
    "li a7, 2",
    "ecall",
    "unimp",
    cvm_pure::riscv_end!(),
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
