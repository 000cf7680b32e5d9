// capmon's aarch64 entry point and EL2 exception vectors.
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

// The vector table. Each entry saves x0/x1, puts the entry's kind in x1 and joins
// exception_common. Frame layout (struct ExceptionFrame, 34 x 8 bytes, 16-byte aligned):
//   [0..31) x0..x30, [31] elr_el2, [32] spsr_el2, [33] esr_el2 ... far_el2 read in Rust.
.equ FRAME_SIZE, 35 * 8 + 8

.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x1, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global capmon_exception_vectors
capmon_exception_vectors:
    VECTOR 0     // current EL, SP_EL0: sync
    VECTOR 1     //                     irq
    VECTOR 2     //                     fiq
    VECTOR 3     //                     serror
    VECTOR 4     // current EL, SP_ELx: sync
    VECTOR 5     //                     irq
    VECTOR 6     //                     fiq
    VECTOR 7     //                     serror
    VECTOR 8     // lower EL, AArch64:  sync
    VECTOR 9     //                     irq
    VECTOR 10    //                     fiq
    VECTOR 11    //                     serror
    VECTOR 12    // lower EL, AArch32:  sync
    VECTOR 13    //                     irq
    VECTOR 14    //                     fiq
    VECTOR 15    //                     serror

// On entry: sp = frame, x0/x1 of the interrupted code saved at [sp], x1 = vector kind.
// Saves x2..x30, ELR_EL2 and SPSR_EL2, calls capmon_exception(frame, kind), then restores
// x0..x30 and returns. capmon takes interrupts only while idle, where no capability is live
// in a register, so integer saves suffice here (the cVM switcher saves capability registers).
exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el2
    mrs     x3, spsr_el2
    stp     x30, x2, [sp, #240]
    mrs     x4, esr_el2
    stp     x3, x4, [sp, #256]
    mov     x0, sp
    bl      capmon_exception      // (frame, kind)
    // ELR_EL2/SPSR_EL2 are not written back: the handler never redirects a return, and on
    // Morello an integer write of ELR_EL2 would replace CELR_EL2's capability.
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
    eret
