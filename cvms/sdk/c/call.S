/* CP_Call stubs for C cVMs: the same code as cvms/sdk/src/call.rs (read there what every
 * register holds at each step); every raw word is named and checked against the Rust SDK's
 * words by its tests. Built into every C image with start.c. */

#if defined(__aarch64__)
.section .text.capmon_cp_call, "ax"
.global capmon_cp_call
.type capmon_cp_call, %function
.balign 4
    /* On entry: x0..x3 the arguments, x4 the pair's slot. */
capmon_cp_call:
    stp x29, x30, [sp, #-96]!
    stp x19, x20, [sp, #16]
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    .inst 0xC29BD049 /* MRS_C9_STORE */  // mrs c9, CTPIDR_EL0         the capability store
    .inst 0xC29B412A /* MRS_C10_DDC */  // mrs c10, DDC
    .inst 0x8240C12A /* STR_C10_C9_192 */  // str c10, [c9, #192]        slot 12: DDC, "a call is outstanding"
    .inst 0x020003EA /* MOV_C10_CSP */  // mov c10, csp
    .inst 0x8240D12A /* STR_C10_C9_208 */  // str c10, [c9, #208]        slot 13: CSP
    .inst 0xC2A47129 /* ADD_C9_C9_X4_LSL4 */  // add c9, c9, x4, uxtx #4
    .inst 0x8260012A /* LDR_C10_C9 */  // ldr c10, [c9]
    .inst 0x8260112B /* LDR_C11_C9_16 */  // ldr c11, [c9, #16]
    mov x8, #0
    .inst 0xC28B4128 /* MSR_DDC_C8 */  // msr DDC, c8
    .inst 0xC28BD048 /* MSR_STORE_C8 */  // msr CTPIDR_EL0, c8
    .inst 0x0200011F /* MOV_CSP_C8 */  // mov csp, c8
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    mov x9, #0
    mov x12, #0
    mov x13, #0
    mov x14, #0
    mov x15, #0
    mov x16, #0
    mov x17, #0
    mov x18, #0
    mov x19, #0
    mov x20, #0
    mov x21, #0
    mov x22, #0
    mov x23, #0
    mov x24, #0
    mov x25, #0
    mov x26, #0
    mov x27, #0
    mov x28, #0
    mov x29, #0
    mov x30, #0
    .inst 0xC2CB8540 /* BRS_C10_C11 */  // brs c29, c10, c11          to the callee's gate
.size capmon_cp_call, . - capmon_cp_call

.global capmon_cp_return
.type capmon_cp_return, %function
.balign 4
    /* On entry (through the return pair): c29 the capability store, x0 the value, x1 status. */
capmon_cp_return:
    .inst 0x8260C3A9 /* LDR_C9_C29_192 */  // ldr c9, [c29, #192]
    .inst 0xC2C0912A /* GCTAG_X10_C9 */  // gctag x10, c9
    cbz x10, 1f
    .inst 0xC28B4129 /* MSR_DDC_C9 */  // msr DDC, c9
    .inst 0x8260D3A9 /* LDR_C9_C29_208 */  // ldr c9, [c29, #208]
    .inst 0x0200013F /* MOV_CSP_C9 */  // mov csp, c9
    .inst 0xC28BD05D /* MSR_STORE_C29 */  // msr CTPIDR_EL0, c29
    .inst 0x8240C3BF /* STR_CZR_C29_192 */  // str czr, [c29, #192]       no call outstanding
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    mov x8, #0
    mov x9, #0
    mov x10, #0
    mov x11, #0
    mov x12, #0
    mov x13, #0
    mov x14, #0
    mov x15, #0
    mov x16, #0
    mov x17, #0
    mov x18, #0
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp x29, x30, [sp], #96
    ret
    /* A return with no call outstanding (a replayed or forged return): fault. */
1:  udf #0xca11
.size capmon_cp_return, . - capmon_cp_return

.global capmon_cp_gate
.type capmon_cp_gate, %function
.balign 4
    /* On entry (through an entry pair): c29 the descriptor, x0..x3 the arguments. */
capmon_cp_gate:
    .inst 0x826003A8 /* LDR_C8_C29 */  // ldr c8, [c29]              the callee's DDC
    .inst 0xC28B4128 /* MSR_DDC_C8 */  // msr DDC, c8
    .inst 0x826013A8 /* LDR_C8_C29_16 */  // ldr c8, [c29, #16]         this caller's call stack (at its top)
    .inst 0x0200011F /* MOV_CSP_C8 */  // mov csp, c8
    .inst 0x82604FA8 /* LDR_X8_C29_32 */  // ldr x8, [c29, #32]         the entry
    .inst 0xC28BD05D /* MSR_STORE_C29 */  // msr CTPIDR_EL0, c29        kept there while the entry runs
    mov x29, #0
    blr x8
    .inst 0xC29BD049 /* MRS_C9_STORE */  // mrs c9, CTPIDR_EL0         the descriptor again
    .inst 0x8260312A /* LDR_C10_C9_48 */  // ldr c10, [c9, #48]         the caller's return pair
    .inst 0x8260412B /* LDR_C11_C9_64 */  // ldr c11, [c9, #64]
    mov x1, #0
    mov x8, #0
    .inst 0xC28B4128 /* MSR_DDC_C8 */  // msr DDC, c8
    .inst 0xC28BD048 /* MSR_STORE_C8 */  // msr CTPIDR_EL0, c8
    .inst 0x0200011F /* MOV_CSP_C8 */  // mov csp, c8
    /* x19..x29 hold what they held at the gate (the caller's zeros): the entry preserved */
    /* them (AAPCS64), so only the caller-saved registers can carry the callee's values. */
    mov x2, #0
    mov x3, #0
    mov x4, #0
    mov x5, #0
    mov x6, #0
    mov x7, #0
    mov x9, #0
    mov x12, #0
    mov x13, #0
    mov x14, #0
    mov x15, #0
    mov x16, #0
    mov x17, #0
    mov x18, #0
    mov x30, #0
    .inst 0xC2CB8540 /* BRS_C10_C11 */  // brs c29, c10, c11          back through the return pair
.size capmon_cp_gate, . - capmon_cp_gate
.text
#endif

#if defined(__riscv)
.section .text.capmon_cp_call, "ax"
.global capmon_cp_call
.type capmon_cp_call, @function
.balign 4
    /* On entry: a0..a3 the arguments, a4 the pair's slot. */
capmon_cp_call:
    addi sp, sp, -112
    sd ra, 0(sp)
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    sd s3, 32(sp)
    sd s4, 40(sp)
    sd s5, 48(sp)
    sd s6, 56(sp)
    sd s7, 64(sp)
    sd s8, 72(sp)
    sd s9, 80(sp)
    sd s10, 88(sp)
    sd s11, 96(sp)
    .word 0x021002DB /* CSPECIALRW_CT0_DDC */  // cspecialrw ct0, ddc, c0     ct0 := DDC
    .word 0x0C02135B /* CINCOFFSETIMM_CT1_CTP_192 */  // cincoffset ct1, ctp, 192
    .word 0xF853065B /* SC_CAP_CT0_CT1 */  // sc.cap ct0, (ct1)           slot 12: DDC, "a call is outstanding"
    .word 0x0D02135B /* CINCOFFSETIMM_CT1_CTP_208 */  // cincoffset ct1, ctp, 208
    .word 0xF82305DB /* SD_CAP_SP_CT1 */  // sd.cap sp, (ct1)            slot 13: sp
    slli a4, a4, 4
    .word 0x22E2035B /* CINCOFFSET_CT1_CTP_A4 */  // cincoffset ct1, ctp, a4
    .word 0xFBF303DB /* LC_CAP_CT2_CT1 */  // lc.cap ct2, (ct1)
    .word 0x0103135B /* CINCOFFSETIMM_CT1_CT1_16 */  // cincoffset ct1, ct1, 16
    .word 0xFBF3035B /* LC_CAP_CT1_CT1 */  // lc.cap ct1, (ct1)
    li t0, 0
    .word 0x0212805B /* CSPECIALRW_DDC_CT0 */  // cspecialrw c0, ddc, ct0
    li tp, 0
    li sp, 0
    li ra, 0
    li gp, 0
    li s0, 0
    li s1, 0
    li s2, 0
    li s3, 0
    li s4, 0
    li s5, 0
    li s6, 0
    li s7, 0
    li s8, 0
    li s9, 0
    li s10, 0
    li s11, 0
    li a4, 0
    li a5, 0
    li a6, 0
    li a7, 0
    li t3, 0
    li t4, 0
    li t5, 0
    li t6, 0
    .word 0xFC6380DB /* CINVOKE_CT2_CT1 */  // cinvoke ct2, ct1            to the callee's gate
.size capmon_cp_call, . - capmon_cp_call

.global capmon_cp_return
.type capmon_cp_return, @function
.balign 4
    /* On entry (through the return pair): ct6 the capability store, a0 the value, a1 status. */
capmon_cp_return:
    .word 0x0C0F92DB /* CINCOFFSETIMM_CT0_CT6_192 */  // cincoffset ct0, ct6, 192
    .word 0xFBF2835B /* LC_CAP_CT1_CT0 */  // lc.cap ct1, (ct0)
    .word 0xFE4303DB /* CGETTAG_T2_CT1 */  // cgettag t2, ct1
    beqz t2, 1f
    .word 0x0213005B /* CSPECIALRW_DDC_CT1 */  // cspecialrw c0, ddc, ct1
    .word 0x0D0F93DB /* CINCOFFSETIMM_CT2_CT6_208 */  // cincoffset ct2, ct6, 208
    .word 0xFAB3815B /* LD_CAP_SP_CT2 */  // ld.cap sp, (ct2)
    .word 0xFEAF825B /* CMOVE_CTP_CT6 */  // cmove ctp, ct6
    .word 0xF802865B /* SC_CAP_C0_CT0 */  // sc.cap c0, (ct0)            no call outstanding
    li t0, 0
    li t1, 0
    li t2, 0
    li t3, 0
    li t4, 0
    li t5, 0
    li t6, 0
    li a2, 0
    li a3, 0
    li a4, 0
    li a5, 0
    li a6, 0
    li a7, 0
    li gp, 0
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    addi sp, sp, 112
    ret
    /* A return with no call outstanding (a replayed or forged return): fault. */
1:  .word 0
.size capmon_cp_return, . - capmon_cp_return

.global capmon_cp_gate
.type capmon_cp_gate, @function
.balign 4
    /* On entry (through an entry pair): ct6 the descriptor, a0..a3 the arguments. */
capmon_cp_gate:
    .word 0xFBFF82DB /* LC_CAP_CT0_CT6 */  // lc.cap ct0, (ct6)           the callee's DDC
    .word 0x0212805B /* CSPECIALRW_DDC_CT0 */  // cspecialrw c0, ddc, ct0
    .word 0x010F92DB /* CINCOFFSETIMM_CT0_CT6_16 */  // cincoffset ct0, ct6, 16
    .word 0xFAB2815B /* LD_CAP_SP_CT0 */  // ld.cap sp, (ct0)            this caller's call stack top
    .word 0x020F92DB /* CINCOFFSETIMM_CT0_CT6_32 */  // cincoffset ct0, ct6, 32
    .word 0xFAB282DB /* LD_CAP_T0_CT0 */  // ld.cap t0, (ct0)            the entry
    .word 0xFEAF825B /* CMOVE_CTP_CT6 */  // cmove ctp, ct6              kept there while the entry runs
    li t6, 0
    jalr t0
    .word 0x030212DB /* CINCOFFSETIMM_CT0_CTP_48 */  // cincoffset ct0, ctp, 48
    .word 0xFBF2835B /* LC_CAP_CT1_CT0 */  // lc.cap ct1, (ct0)           the caller's return pair
    .word 0x040212DB /* CINCOFFSETIMM_CT0_CTP_64 */  // cincoffset ct0, ctp, 64
    .word 0xFBF283DB /* LC_CAP_CT2_CT0 */  // lc.cap ct2, (ct0)
    li a1, 0
    li t0, 0
    .word 0x0212805B /* CSPECIALRW_DDC_CT0 */  // cspecialrw c0, ddc, ct0     DDC := null
    /* s0..s11 hold what they held at the gate (the caller's zeros): the entry preserved */
    /* them (the RISC-V calling convention), so only the others can carry the callee's values. */
    li tp, 0
    li sp, 0
    li ra, 0
    li gp, 0
    li a2, 0
    li a3, 0
    li a4, 0
    li a5, 0
    li a6, 0
    li a7, 0
    li t3, 0
    li t4, 0
    li t5, 0
    li t6, 0
    .word 0xFC7300DB /* CINVOKE_CT1_CT2 */  // cinvoke ct1, ct2            back through the return pair
.size capmon_cp_gate, . - capmon_cp_gate
.text
#endif
