# capmon's riscv64 entry point and M-mode trap vector.
#
# Entry (_start), from QEMU's reset stub with -bios none, in M-mode, at 0x80000000 on every
# hart at once:
#   a0 = mhartid, a1 = device tree address. On CHERI-RISC-V, PCC and DDC are the root
#   capability and capmon's Rust code runs in integer mode against that DDC.
# Hart 0 boots; every other hart parks (below) until hart 0 gives it a stack (smp.rs).

.section .text.entry, "ax"
.global _start
_start:
    csrw    mie, zero
    bnez    a0, secondary_park
.option push
.option norelax
    la      sp, __boot_stack_top
.option pop
    # Zero .bss (8-byte aligned by the linker script).
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  la      t0, capmon_trap_vector
    csrw    mtvec, t0              # direct mode: every trap enters capmon_trap_vector
    call    capmon_main            # (hartid, dtb, 0, 0) -> !
3:  wfi
    j       3b

# Every other hart (a0 = mhartid): waits, with only the software interrupt enabled in mie
# (so wfi wakes on hart 0's msip write; mstatus.MIE stays clear, so nothing is taken), until
# capmon_hart_stacks[hartid] holds its stack top. A hart id beyond the table parks for good.
secondary_park:
    li      t0, 8                  # smp::MAX_CORES
    bgeu    a0, t0, 3b
    la      t1, capmon_hart_stacks
    slli    t2, a0, 3
    add     t1, t1, t2
    li      t0, 8                  # mie.MSIE
    csrw    mie, t0
5:  ld      t0, 0(t1)
    bnez    t0, 6f
    wfi
    j       5b
6:  fence   r, rw                  # the stack top before anything hart 0 wrote for this hart
    mv      sp, t0
    la      t0, capmon_trap_vector
    csrw    mtvec, t0
    call    capmon_secondary_main  # (hartid) -> !
    j       3b

# Each hart's stack top, written by hart 0 (in .data: hart 0 zeroes .bss while the others
# already read this).
.section .data.hart_stacks, "aw"
.balign 8
.global capmon_hart_stacks
capmon_hart_stacks:
    .zero 8 * 8

# The trap frame (struct TrapFrame): x1..x31 at [8*1 .. 8*32), mepc at 256, mstatus at 264,
# mcause at 272, mtval at 280; 288 bytes, 16-byte aligned. x0's slot (0) is unused.
# capmon takes interrupts only while idle (no capability live in a register), so integer
# saves suffice here; the cVM switcher saves capability registers.
.equ TRAP_FRAME, 288
.section .text.trap, "ax"
.balign 4
.global capmon_trap_vector
capmon_trap_vector:
    addi    sp, sp, -TRAP_FRAME
    sd      x1, 8(sp)
    sd      x3, 24(sp)
    sd      x4, 32(sp)
    sd      x5, 40(sp)
    sd      x6, 48(sp)
    sd      x7, 56(sp)
    sd      x8, 64(sp)
    sd      x9, 72(sp)
    sd      x10, 80(sp)
    sd      x11, 88(sp)
    sd      x12, 96(sp)
    sd      x13, 104(sp)
    sd      x14, 112(sp)
    sd      x15, 120(sp)
    sd      x16, 128(sp)
    sd      x17, 136(sp)
    sd      x18, 144(sp)
    sd      x19, 152(sp)
    sd      x20, 160(sp)
    sd      x21, 168(sp)
    sd      x22, 176(sp)
    sd      x23, 184(sp)
    sd      x24, 192(sp)
    sd      x25, 200(sp)
    sd      x26, 208(sp)
    sd      x27, 216(sp)
    sd      x28, 224(sp)
    sd      x29, 232(sp)
    sd      x30, 240(sp)
    sd      x31, 248(sp)
    addi    t0, sp, TRAP_FRAME
    sd      t0, 16(sp)             # the interrupted sp
    csrr    t0, mepc
    sd      t0, 256(sp)
    csrr    t0, mstatus
    sd      t0, 264(sp)
    csrr    t0, mcause
    sd      t0, 272(sp)
    csrr    t0, mtval
    sd      t0, 280(sp)
    mv      a0, sp
    call    capmon_trap            # (frame)
    # mepc/mstatus are not written back: the handler never redirects a return (and on
    # CHERI-RISC-V an integer mepc write would replace MEPCC's address).
    ld      x1, 8(sp)
    ld      x3, 24(sp)
    ld      x4, 32(sp)
    ld      x5, 40(sp)
    ld      x6, 48(sp)
    ld      x7, 56(sp)
    ld      x8, 64(sp)
    ld      x9, 72(sp)
    ld      x10, 80(sp)
    ld      x11, 88(sp)
    ld      x12, 96(sp)
    ld      x13, 104(sp)
    ld      x14, 112(sp)
    ld      x15, 120(sp)
    ld      x16, 128(sp)
    ld      x17, 136(sp)
    ld      x18, 144(sp)
    ld      x19, 152(sp)
    ld      x20, 160(sp)
    ld      x21, 168(sp)
    ld      x22, 176(sp)
    ld      x23, 184(sp)
    ld      x24, 192(sp)
    ld      x25, 200(sp)
    ld      x26, 208(sp)
    ld      x27, 216(sp)
    ld      x28, 224(sp)
    ld      x29, 232(sp)
    ld      x30, 240(sp)
    ld      x31, 248(sp)
    addi    sp, sp, TRAP_FRAME
    mret
