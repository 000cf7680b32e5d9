// capmon's aarch64 entry point (the vectors and the cVM switcher are in switch.rs).
//
// Entry (_start), from QEMU's ELF loader or from TF-A as BL33, at EL2, MMU off, A64 state:
//   x0..x3  what the loader handed over (TF-A: x0 = NT_FW_CONFIG DTB, x1 = HW_CONFIG DTB;
//           QEMU's ELF boot: all zero). Kept untouched until capmon_main receives them.
//   On Morello, PCC and DDC are the root capability; capmon's Rust code runs "hybrid" (A64)
//   and never changes its own DDC.
// Only x9/x10 are used before the call; sp becomes the boot stack.

.section .text.entry, "ax"
.global _start
_start:
    adrp    x9, __boot_stack_top
    add     x9, x9, :lo12:__boot_stack_top
    mov     sp, x9
    // Zero .bss (8-byte aligned by the linker script).
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
1:  cmp     x9, x10
    b.hs    2f
    str     xzr, [x9], #8
    b       1b
2:  bl      capmon_main          // (x0, x1, x2, x3) -> !
3:  wfe
    b       3b

// A secondary core, started by PSCI CPU_ON (smp.rs), at EL2 with its MMU off; x0 = its
// StartRecord. Installs the boot core's host-mode, translation and cache settings from the
// record before any Rust runs (Rust must not run with Device-memory semantics), names the
// core in TPIDR_EL1, takes its stack, and calls capmon_secondary_main(record) -> !.
// Only x0, x1 and sp are used.
.global capmon_secondary_entry
capmon_secondary_entry:
    ldr     x1, [x0, #16]
    msr     hcr_el2, x1
    isb
    ldr     x1, [x0, #24]
    msr     cptr_el2, x1
    msr     cnthctl_el2, xzr
    isb
    ldr     x1, [x0, #32]
    msr     mair_el2, x1
    ldr     x1, [x0, #40]
    msr     tcr_el2, x1
    ldr     x1, [x0, #48]
    msr     ttbr0_el2, x1
    dsb     ish
    tlbi    alle2
    ic      iallu
    dsb     ish
    isb
    ldr     x1, [x0, #56]
    msr     sctlr_el2, x1
    isb
    ldr     x1, [x0, #8]
    msr     tpidr_el1, x1
    ldr     x1, [x0]
    mov     sp, x1
    bl      capmon_secondary_main
4:  wfe
    b       4b
