//! `cap-relocs`: a pure-capability cVM whose pointers come from a `__cap_relocs` table the
//! monitor's loader applies (`monitor/src/cvm/cap_relocs.rs`), as a CHERI toolchain's image
//! would carry them. The table has two entries, each filling a 16-byte slot in `.data`:
//!
//! - `greeting_ptr`: a read-only data pointer to the string `greeting` in `.rodata`;
//! - `callee_ptr`: a function pointer to `callee` (on Morello with bit 0 set: C64 code).
//!
//! At run time it loads each through its data capability (c2 / ca2) and checks what the
//! loader made: the data pointer tagged, bounded exactly to the string, Load but neither
//! Store nor Execute; the function pointer tagged, a sentry, with the bounds of its own code
//! capability (PCC) and Execute but not Store. It prints the string through the console
//! hostcall with the relocated capability as the buffer, then calls through the sentry;
//! `callee` prints its own line and returns:
//!
//! ```text
//! [cap-relocs] hello through a relocated capability
//! [cap-relocs] called through a relocated function pointer (a sentry)
//! ```
//!
//! and exits 0. A failed check exits with its number instead: 11 data pointer untagged,
//! 12 its bounds, 13 its permissions, 14 function pointer untagged, 15 not a sentry, 16 its
//! bounds, 17 its permissions.
//!
//! The table is emitted by the assembler, entries `{location, object, offset, size,
//! permissions}`. Its section is not allocated, so the linker resolves the addresses in it at
//! link time (the image is linked at 0: they are offsets in the image, which is what the
//! loader reads) rather than turning them into RELATIVE relocations, as a CHERI linker does
//! for its own `__cap_relocs`; `capmon-run` keeps the section headers of an image with one.
#![cfg_attr(target_os = "none", no_std, no_main)]

/// The table and the slots it fills, and the strings (both architectures).
#[cfg(target_os = "none")]
macro_rules! relocated_data {
    ($function_bit:literal) => {
        concat!(
            cvm_pure::text!("greeting", "hello through a relocated capability\\n"),
            cvm_pure::text!(
                "called",
                "called through a relocated function pointer (a sentry)\\n"
            ),
            ".pushsection .data.cap_relocs_slots, \"aw\"\n",
            ".balign 16\n",
            "greeting_ptr: .zero 16\n",
            "callee_ptr: .zero 16\n",
            ".popsection\n",
            ".pushsection __cap_relocs, \"\"\n",
            ".balign 8\n",
            ".quad greeting_ptr, greeting, 0, greeting_len, {read_only}\n",
            ".quad callee_ptr, callee + ",
            $function_bit,
            ", 0, callee_end - callee, {function}\n",
            ".popsection\n",
        )
    };
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    relocated_data!("1"), // bit 0: the target is C64 code
    cvm_pure::entry!(),
    // The data pointer: loaded through the data capability from its slot.
    "adr x9, greeting_ptr",
    ".inst 0xc2c9404a", // scvalue c10, c2, x9
    ".inst 0xc240014b", // ldr c11, [c10]
    ".inst 0xc2c0916c", // gctag x12, c11
    "cbz x12, 11f",
    "adr x9, greeting",
    ".inst 0xc2c0116c", // gcbase x12, c11
    "cmp x12, x9",
    "b.ne 12f",
    ".inst 0xc2c0316c", // gclen x12, c11
    "mov x14, #greeting_len",
    "cmp x12, x14",
    "b.ne 12f",
    ".inst 0xc2c0d16c", // gcperm x12, c11
    "tst x12, #{execute}",
    "b.ne 13f",
    "tst x12, #{store}",
    "b.ne 13f",
    "tst x12, #{load}",
    "b.eq 13f",
    // Printed through it.
    ".inst 0xc2c1d160", // cpy c0, c11
    "mov x1, #greeting_len",
    "mov x8, #0",
    "svc #0",
    // The function pointer.
    "adr x9, callee_ptr",
    ".inst 0xc2c9404a", // scvalue c10, c2, x9
    ".inst 0xc2400154", // ldr c20, [c10]
    ".inst 0xc2c0928c", // gctag x12, c20
    "cbz x12, 14f",
    ".inst 0xc2c0f28c", // gctype x12, c20
    "cmp x12, #{sentry}",
    "b.ne 15f",
    // In C64, `adr` writes c13 from PCC: the code capability's bounds to compare with.
    "adr x13, _start",
    ".inst 0xc2c0128c", // gcbase x12, c20
    ".inst 0xc2c011ae", // gcbase x14, c13
    "cmp x12, x14",
    "b.ne 16f",
    ".inst 0xc2c0328c", // gclen x12, c20
    ".inst 0xc2c031ae", // gclen x14, c13
    "cmp x12, x14",
    "b.ne 16f",
    ".inst 0xc2c0d28c", // gcperm x12, c20
    "tst x12, #{execute}",
    "b.eq 17f",
    "tst x12, #{store}",
    "b.ne 17f",
    ".inst 0xc2c23280", // blr c20
    cvm_pure::morello_exit!(0),
    "11:",
    cvm_pure::morello_exit!(11),
    "12:",
    cvm_pure::morello_exit!(12),
    "13:",
    cvm_pure::morello_exit!(13),
    "14:",
    cvm_pure::morello_exit!(14),
    "15:",
    cvm_pure::morello_exit!(15),
    "16:",
    cvm_pure::morello_exit!(16),
    "17:",
    cvm_pure::morello_exit!(17),
    // Reached only through the relocated sentry; prints and returns to its caller.
    "callee:",
    cvm_pure::morello_say!("called"),
    ".inst 0xc2c253c0", // ret c30
    "callee_end:",
    cvm_pure::end!(),
    read_only = const cvm_pure::CAP_RELOC_READ_ONLY,
    function = const cvm_pure::CAP_RELOC_FUNCTION,
    execute = const cvm_pure::MORELLO_PERM_EXECUTE,
    store = const cvm_pure::MORELLO_PERM_STORE,
    load = const cvm_pure::MORELLO_PERM_LOAD,
    sentry = const cvm_pure::MORELLO_SENTRY_OTYPE,
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    relocated_data!("0"),
    cvm_pure::riscv_entry!(),
    // The data pointer: loaded through the data capability from its slot.
    "lla a1, greeting_ptr",
    ".word 0x20b60e5b", // csetaddr ct3, ca2, a1
    ".word 0xfbfe0edb", // lc.cap ct4, (ct3)
    ".word 0xfe4e82db", // cgettag t0, ct4
    "beqz t0, 11f",
    "lla a1, greeting",
    ".word 0xfe2e82db", // cgetbase t0, ct4
    "bne t0, a1, 12f",
    ".word 0xfe3e82db", // cgetlen t0, ct4
    "li t1, greeting_len",
    "bne t0, t1, 12f",
    ".word 0xfe0e82db", // cgetperm t0, ct4
    "andi t1, t0, {execute}",
    "bnez t1, 13f",
    "andi t1, t0, {store}",
    "bnez t1, 13f",
    "andi t1, t0, {load}",
    "beqz t1, 13f",
    // Printed through it.
    ".word 0xfeae855b", // cmove ca0, ct4
    "li a1, greeting_len",
    "li a7, 0",
    "ecall",
    // The function pointer.
    "lla a1, callee_ptr",
    ".word 0x20b60e5b", // csetaddr ct3, ca2, a1
    ".word 0xfbfe0f5b", // lc.cap ct5, (ct3)
    ".word 0xfe4f02db", // cgettag t0, ct5
    "beqz t0, 14f",
    ".word 0xfe1f02db", // cgettype t0, ct5
    "li t1, {sentry}",
    "bne t0, t1, 15f",
    ".word 0x02000fdb", // cspecialr ct6, pcc
    ".word 0xfe2f02db", // cgetbase t0, ct5
    ".word 0xfe2f835b", // cgetbase t1, ct6
    "bne t0, t1, 16f",
    ".word 0xfe3f02db", // cgetlen t0, ct5
    ".word 0xfe3f835b", // cgetlen t1, ct6
    "bne t0, t1, 16f",
    ".word 0xfe0f02db", // cgetperm t0, ct5
    "andi t1, t0, {execute}",
    "beqz t1, 17f",
    "andi t1, t0, {store}",
    "bnez t1, 17f",
    ".word 0xfecf00db", // cjalr cra, ct5
    cvm_pure::riscv_exit!(0),
    "11:",
    cvm_pure::riscv_exit!(11),
    "12:",
    cvm_pure::riscv_exit!(12),
    "13:",
    cvm_pure::riscv_exit!(13),
    "14:",
    cvm_pure::riscv_exit!(14),
    "15:",
    cvm_pure::riscv_exit!(15),
    "16:",
    cvm_pure::riscv_exit!(16),
    "17:",
    cvm_pure::riscv_exit!(17),
    // Reached only through the relocated sentry; prints and returns to its caller.
    "callee:",
    cvm_pure::riscv_say!("called"),
    ".word 0xfec0805b", // cjalr cnull, cra
    "callee_end:",
    cvm_pure::riscv_end!(),
    read_only = const cvm_pure::CAP_RELOC_READ_ONLY,
    function = const cvm_pure::CAP_RELOC_FUNCTION,
    execute = const cvm_pure::RISCV_PERM_EXECUTE,
    store = const cvm_pure::RISCV_PERM_STORE,
    load = const cvm_pure::RISCV_PERM_LOAD,
    sentry = const cvm_pure::RISCV_SENTRY_OTYPE,
);

/// Host builds: nothing to run (the program is the assembly above).
#[cfg(not(target_os = "none"))]
fn main() {}
