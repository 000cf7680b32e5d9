//! The M-mode cVM switcher: the only code that sees both the monitor's and a cVM's registers.
//!
//! ## The model
//! As on aarch64: the monitor calls [`run_cvm`] with a cVM's [`CvmContext`]; it saves the
//! monitor's callee-saved registers on the monitor stack (and `sp` in the context), points
//! mtvec at `cvm_trap`, installs every cVM register and `mret`s to U-mode. The cVM's next trap
//! enters `cvm_trap`, which saves the cVM's registers into the context, points mtvec back at
//! the monitor's own vector, restores the monitor's registers and returns from `run_cvm`.
//! Hostcalls therefore run on the monitor's stack, never the cVM's.
//!
//! ## CHERI-RISC-V (ISAv9 absolute addressing, `-cpu rv64,Xcheri_v9=true`)
//! DDC is not banked by privilege, so a trap arrives with the cVM's DDC installed and every
//! integer load/store the monitor makes would be checked against it. Registers at each point:
//!
//! Entering (`capmon_run_cvm`, a0 = context):
//!   MScratchC ← the monitor's root DDC with its address set to the context (the trap entry
//!               finds the context through it; ISAv9 ignores DDC's address for checks)
//!   MEPCC     ← context.pc (the cVM's code capability, integer mode: flags = 0)
//!   mstatus   ← MPP = U, FS = Clean (cVMs may use FP; the hardware marks it Dirty if they do)
//!   MTDC      ← the cVM's c31 (a stash: the last load must come through the monitor's DDC)
//!   c1..c30   ← context; c31 ← the cVM's DDC, then DDC ← c31, then c31 ← MTDC; `mret`.
//! Trapping (`cvm_trap`):
//!   1. c31 ↔ MScratchC  c31 = root@context, MScratchC = cVM c31
//!   2. c31 ↔ DDC        DDC = root@context (monitor authority is back), c31 = cVM DDC
//!   3. c31 ↔ MTDC       MTDC = cVM DDC
//!   4. c31 ← DDC        x31 = the context's address
//!   then c1..c30, MScratchC (cVM c31), MTDC (cVM DDC), MEPCC, mcause, mtval, mstatus are
//!   stored into the context; mtvec ← the monitor's vector; monitor registers restored.
//! MTDC and MScratchC keep cVM capabilities while the monitor runs; U-mode cannot read them
//! (they need M-mode and AccessSystemRegisters), and the next `run_cvm` overwrites both.
//! c1..c30 keep the cVM's own capabilities until the monitor's code overwrites them, and every
//! one of them is reloaded before any cVM runs, so nothing leaks from one cVM to another.
//!
//! ## Stock riscv64
//! The same flow with integer registers; mscratch holds the context pointer during a trap.

use core::arch::global_asm;

/// A cVM's saved registers; 16 bytes per register so both builds share one layout.
#[repr(C, align(16))]
pub struct CvmContext {
    /// c0..c31 (c0 unused; on stock riscv64 only the low word, x1..x31).
    pub regs: [[u64; 2]; 32],
    /// MEPCC / mepc: where the cVM resumes.
    pub pc: [u64; 2],
    /// The cVM's DDC (unused on stock riscv64).
    pub ddc: [u64; 2],
    pub mstatus: u64,
    pub mcause: u64,
    pub mtval: u64,
    /// The monitor's sp while the cVM runs.
    monitor_sp: u64,
}

impl CvmContext {
    pub const fn zeroed() -> Self {
        CvmContext { regs: [[0; 2]; 32], pc: [0; 2], ddc: [0; 2], mstatus: 0, mcause: 0, mtval: 0, monitor_sp: 0 }
    }
}

const PC: usize = 512;
const DDC: usize = 528;
const MSTATUS: usize = 544;
const MCAUSE: usize = 552;
const MTVAL: usize = 560;
const MONITOR_SP: usize = 568;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(CvmContext, pc) == PC);
    assert!(offset_of!(CvmContext, ddc) == DDC);
    assert!(offset_of!(CvmContext, mstatus) == MSTATUS);
    assert!(offset_of!(CvmContext, mcause) == MCAUSE);
    assert!(offset_of!(CvmContext, mtval) == MTVAL);
    assert!(offset_of!(CvmContext, monitor_sp) == MONITOR_SP);
    assert!(size_of::<CvmContext>() % 16 == 0);
};

extern "C" {
    fn capmon_run_cvm(context: *mut CvmContext);
}

/// Runs the cVM whose registers are in `context` until its next trap; mcause/mtval are then in
/// the context.
///
/// # Safety
/// `context` must hold a complete cVM state confined to memory the cVM owns (PC, DDC and
/// stack capabilities, or on stock riscv64 addresses within its PMP window), and interrupts
/// must be masked (mstatus.MIE = 0) in the monitor.
pub unsafe fn run_cvm(context: &mut CvmContext) {
    // SAFETY: the caller's contract; `capmon_run_cvm` preserves the monitor's callee-saved
    // registers and stack as the C ABI requires.
    unsafe { capmon_run_cvm(context) }
}

// Saving/restoring the monitor around a cVM run: ra, s0..s11 (13 registers, 112 bytes).
macro_rules! save_monitor {
    () => {
        concat!(
            "  addi sp, sp, -112\n",
            "  sd ra, 0(sp)\n  sd s0, 8(sp)\n  sd s1, 16(sp)\n  sd s2, 24(sp)\n",
            "  sd s3, 32(sp)\n  sd s4, 40(sp)\n  sd s5, 48(sp)\n  sd s6, 56(sp)\n",
            "  sd s7, 64(sp)\n  sd s8, 72(sp)\n  sd s9, 80(sp)\n  sd s10, 88(sp)\n",
            "  sd s11, 96(sp)\n",
        )
    };
}
macro_rules! restore_monitor {
    () => {
        concat!(
            "  ld ra, 0(sp)\n  ld s0, 8(sp)\n  ld s1, 16(sp)\n  ld s2, 24(sp)\n",
            "  ld s3, 32(sp)\n  ld s4, 40(sp)\n  ld s5, 48(sp)\n  ld s6, 56(sp)\n",
            "  ld s7, 64(sp)\n  ld s8, 72(sp)\n  ld s9, 80(sp)\n  ld s10, 88(sp)\n",
            "  ld s11, 96(sp)\n",
            "  addi sp, sp, 112\n",
            "  ret\n",
        )
    };
}
// mstatus for U-mode with FP usable: MPP (bits 12:11) = U, FS (bits 14:13) = Clean. The
// hardware marks FS Dirty when the cVM writes an FP register, so the run loop saves FP state
// only for a cVM that used it.
macro_rules! enter_user_mstatus {
    () => {
        concat!("  li t0, 0x7800\n  csrc mstatus, t0\n", "  li t0, 0x4000\n  csrs mstatus, t0\n")
    };
}

#[cfg(feature = "cheri")]
// Context offsets are small constants; the encoders reject (at compile time) any that would
// not fit their immediate field, and `try_into` is not available in const context.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
mod words {
    //! The CHERI-RISC-V instruction words the switcher emits, from the one encoder module.
    use crate::arch::insn::cheri_riscv::{self as r, scr};

    const fn table(store: bool) -> [u32; 30] {
        let mut w = [0; 30];
        let mut i = 0;
        while i < 30 {
            let reg = i as u32 + 1;
            let offset = 16 * reg as i32;
            // lc c<reg>, 16*reg(t6) / sc c<reg>, 16*reg(t6)
            w[i] = if store { r::sc(reg, 31, offset) } else { r::lc(reg, 31, offset) };
            i += 1;
        }
        w
    }
    /// `lc c1..c30, 16n(x31)`.
    pub const LOAD: [u32; 30] = table(false);
    /// `sc c1..c30, 16n(x31)`.
    pub const STORE: [u32; 30] = table(true);
    pub const READ_DDC_C1: u32 = r::cspecialrw(1, scr::DDC, 0); // cspecialrw c1, ddc, c0
    pub const SETADDR_C1_T6: u32 = r::csetaddr(1, 1, 31); // csetaddr c1, c1, t6
    pub const WRITE_MSCRATCHC_C1: u32 = r::cspecialrw(0, scr::MSCRATCHC, 1); // cspecialrw c0, mscratchc, c1
    pub const LC_C1_PC: u32 = r::lc(1, 31, super::PC as i32); // lc c1, PC(t6)
    pub const WRITE_MEPCC_C1: u32 = r::cspecialrw(0, scr::MEPCC, 1); // cspecialrw c0, mepcc, c1
    pub const LC_C1_C31: u32 = r::lc(1, 31, 31 * 16); // lc c1, 496(t6)
    pub const WRITE_MTDC_C1: u32 = r::cspecialrw(0, scr::MTDC, 1); // cspecialrw c0, mtdc, c1
    pub const LC_C31_DDC: u32 = r::lc(31, 31, super::DDC as i32); // lc c31, DDC(t6)
    pub const WRITE_DDC_C31: u32 = r::cspecialrw(0, scr::DDC, 31); // cspecialrw c0, ddc, c31
    pub const READ_MTDC_C31: u32 = r::cspecialrw(31, scr::MTDC, 0); // cspecialrw c31, mtdc, c0
    pub const SWAP_MSCRATCHC: u32 = r::cspecialrw(31, scr::MSCRATCHC, 31); // cspecialrw c31, mscratchc, c31
    pub const SWAP_DDC: u32 = r::cspecialrw(31, scr::DDC, 31); // cspecialrw c31, ddc, c31
    pub const SWAP_MTDC: u32 = r::cspecialrw(31, scr::MTDC, 31); // cspecialrw c31, mtdc, c31
    pub const READ_DDC_C31: u32 = r::cspecialrw(31, scr::DDC, 0); // cspecialrw c31, ddc, c0
    pub const READ_MSCRATCHC_C1: u32 = r::cspecialrw(1, scr::MSCRATCHC, 0); // cspecialrw c1, mscratchc, c0
    pub const SC_C1_C31: u32 = r::sc(1, 31, 31 * 16); // sc c1, 496(t6)
    pub const READ_MTDC_C1: u32 = r::cspecialrw(1, scr::MTDC, 0); // cspecialrw c1, mtdc, c0
    pub const SC_C1_DDC: u32 = r::sc(1, 31, super::DDC as i32); // sc c1, DDC(t6)
    pub const READ_MEPCC_C1: u32 = r::cspecialrw(1, scr::MEPCC, 0); // cspecialrw c1, mepcc, c0
    pub const SC_C1_PC: u32 = r::sc(1, 31, super::PC as i32); // sc c1, PC(t6)
}

#[cfg(feature = "cheri")]
global_asm!(
    ".text",
    ".global capmon_run_cvm",
    ".balign 4",
    "capmon_run_cvm:",
    save_monitor!(),
    "  sd sp, {monitor_sp}(a0)",
    "  mv t6, a0",
    "  .word {read_ddc_c1}",          // c1 = the monitor's root DDC
    "  .word {setaddr_c1_t6}",        // c1 = root @ context
    "  .word {write_mscratchc_c1}",   // MScratchC = root @ context, for cvm_trap
    "  .word {lc_c1_pc}",
    "  .word {write_mepcc_c1}",       // MEPCC = the cVM's PC capability
    enter_user_mstatus!(),
    "  la t0, cvm_trap",
    "  csrw mtvec, t0",
    "  .word {lc_c1_c31}",
    "  .word {write_mtdc_c1}",        // MTDC = the cVM's c31, stashed
    "  .word {l0}",  "  .word {l1}",  "  .word {l2}",  "  .word {l3}",  "  .word {l4}",
    "  .word {l5}",  "  .word {l6}",  "  .word {l7}",  "  .word {l8}",  "  .word {l9}",
    "  .word {l10}", "  .word {l11}", "  .word {l12}", "  .word {l13}", "  .word {l14}",
    "  .word {l15}", "  .word {l16}", "  .word {l17}", "  .word {l18}", "  .word {l19}",
    "  .word {l20}", "  .word {l21}", "  .word {l22}", "  .word {l23}", "  .word {l24}",
    "  .word {l25}", "  .word {l26}", "  .word {l27}", "  .word {l28}", "  .word {l29}",
    "  .word {lc_c31_ddc}",           // the last access through the monitor's DDC
    "  .word {write_ddc_c31}",        // DDC = the cVM's DDC
    "  .word {read_mtdc_c31}",        // c31 = the cVM's c31
    "  mret",
    "",
    ".balign 4",
    "cvm_trap:",
    "  .word {swap_mscratchc}",       // c31 = root @ context, MScratchC = cVM c31
    "  .word {swap_ddc}",             // DDC = root @ context, c31 = cVM DDC
    "  .word {swap_mtdc}",            // MTDC = cVM DDC
    "  .word {read_ddc_c31}",         // x31 = the context's address
    "  .word {s0}",  "  .word {s1}",  "  .word {s2}",  "  .word {s3}",  "  .word {s4}",
    "  .word {s5}",  "  .word {s6}",  "  .word {s7}",  "  .word {s8}",  "  .word {s9}",
    "  .word {s10}", "  .word {s11}", "  .word {s12}", "  .word {s13}", "  .word {s14}",
    "  .word {s15}", "  .word {s16}", "  .word {s17}", "  .word {s18}", "  .word {s19}",
    "  .word {s20}", "  .word {s21}", "  .word {s22}", "  .word {s23}", "  .word {s24}",
    "  .word {s25}", "  .word {s26}", "  .word {s27}", "  .word {s28}", "  .word {s29}",
    "  .word {read_mscratchc_c1}", "  .word {sc_c1_c31}",
    "  .word {read_mtdc_c1}",      "  .word {sc_c1_ddc}",
    "  .word {read_mepcc_c1}",     "  .word {sc_c1_pc}",
    "  csrr t0, mcause",  "  sd t0, {mcause}(t6)",
    "  csrr t0, mtval",   "  sd t0, {mtval}(t6)",
    "  csrr t0, mstatus", "  sd t0, {mstatus}(t6)",
    "  la t0, capmon_trap_vector",
    "  csrw mtvec, t0",
    "  ld sp, {monitor_sp}(t6)",
    restore_monitor!(),
    monitor_sp = const MONITOR_SP, mcause = const MCAUSE, mtval = const MTVAL, mstatus = const MSTATUS,
    read_ddc_c1 = const words::READ_DDC_C1, setaddr_c1_t6 = const words::SETADDR_C1_T6,
    write_mscratchc_c1 = const words::WRITE_MSCRATCHC_C1,
    lc_c1_pc = const words::LC_C1_PC, write_mepcc_c1 = const words::WRITE_MEPCC_C1,
    lc_c1_c31 = const words::LC_C1_C31, write_mtdc_c1 = const words::WRITE_MTDC_C1,
    lc_c31_ddc = const words::LC_C31_DDC, write_ddc_c31 = const words::WRITE_DDC_C31,
    read_mtdc_c31 = const words::READ_MTDC_C31,
    swap_mscratchc = const words::SWAP_MSCRATCHC, swap_ddc = const words::SWAP_DDC,
    swap_mtdc = const words::SWAP_MTDC, read_ddc_c31 = const words::READ_DDC_C31,
    read_mscratchc_c1 = const words::READ_MSCRATCHC_C1, sc_c1_c31 = const words::SC_C1_C31,
    read_mtdc_c1 = const words::READ_MTDC_C1, sc_c1_ddc = const words::SC_C1_DDC,
    read_mepcc_c1 = const words::READ_MEPCC_C1, sc_c1_pc = const words::SC_C1_PC,
    l0 = const words::LOAD[0], l1 = const words::LOAD[1], l2 = const words::LOAD[2],
    l3 = const words::LOAD[3], l4 = const words::LOAD[4], l5 = const words::LOAD[5],
    l6 = const words::LOAD[6], l7 = const words::LOAD[7], l8 = const words::LOAD[8],
    l9 = const words::LOAD[9], l10 = const words::LOAD[10], l11 = const words::LOAD[11],
    l12 = const words::LOAD[12], l13 = const words::LOAD[13], l14 = const words::LOAD[14],
    l15 = const words::LOAD[15], l16 = const words::LOAD[16], l17 = const words::LOAD[17],
    l18 = const words::LOAD[18], l19 = const words::LOAD[19], l20 = const words::LOAD[20],
    l21 = const words::LOAD[21], l22 = const words::LOAD[22], l23 = const words::LOAD[23],
    l24 = const words::LOAD[24], l25 = const words::LOAD[25], l26 = const words::LOAD[26],
    l27 = const words::LOAD[27], l28 = const words::LOAD[28], l29 = const words::LOAD[29],
    s0 = const words::STORE[0], s1 = const words::STORE[1], s2 = const words::STORE[2],
    s3 = const words::STORE[3], s4 = const words::STORE[4], s5 = const words::STORE[5],
    s6 = const words::STORE[6], s7 = const words::STORE[7], s8 = const words::STORE[8],
    s9 = const words::STORE[9], s10 = const words::STORE[10], s11 = const words::STORE[11],
    s12 = const words::STORE[12], s13 = const words::STORE[13], s14 = const words::STORE[14],
    s15 = const words::STORE[15], s16 = const words::STORE[16], s17 = const words::STORE[17],
    s18 = const words::STORE[18], s19 = const words::STORE[19], s20 = const words::STORE[20],
    s21 = const words::STORE[21], s22 = const words::STORE[22], s23 = const words::STORE[23],
    s24 = const words::STORE[24], s25 = const words::STORE[25], s26 = const words::STORE[26],
    s27 = const words::STORE[27], s28 = const words::STORE[28], s29 = const words::STORE[29],
);

#[cfg(not(feature = "cheri"))]
global_asm!(
    ".text",
    ".global capmon_run_cvm",
    ".balign 4",
    "capmon_run_cvm:",
    save_monitor!(),
    "  sd sp, {monitor_sp}(a0)",
    "  csrw mscratch, a0",
    "  ld t0, {pc}(a0)",
    "  csrw mepc, t0",
    enter_user_mstatus!(),
    "  la t0, cvm_trap",
    "  csrw mtvec, t0",
    "  ld x1, 16(a0)",   "  ld x2, 32(a0)",   "  ld x3, 48(a0)",   "  ld x4, 64(a0)",
    "  ld x5, 80(a0)",   "  ld x6, 96(a0)",   "  ld x7, 112(a0)",  "  ld x8, 128(a0)",
    "  ld x9, 144(a0)",  "  ld x11, 176(a0)", "  ld x12, 192(a0)", "  ld x13, 208(a0)",
    "  ld x14, 224(a0)", "  ld x15, 240(a0)", "  ld x16, 256(a0)", "  ld x17, 272(a0)",
    "  ld x18, 288(a0)", "  ld x19, 304(a0)", "  ld x20, 320(a0)", "  ld x21, 336(a0)",
    "  ld x22, 352(a0)", "  ld x23, 368(a0)", "  ld x24, 384(a0)", "  ld x25, 400(a0)",
    "  ld x26, 416(a0)", "  ld x27, 432(a0)", "  ld x28, 448(a0)", "  ld x29, 464(a0)",
    "  ld x30, 480(a0)", "  ld x31, 496(a0)",
    "  ld x10, 160(a0)",
    "  mret",
    "",
    ".balign 4",
    "cvm_trap:",
    "  csrrw t6, mscratch, t6",   // t6 = context, mscratch = the cVM's t6
    "  sd x1, 16(t6)",   "  sd x2, 32(t6)",   "  sd x3, 48(t6)",   "  sd x4, 64(t6)",
    "  sd x5, 80(t6)",   "  sd x6, 96(t6)",   "  sd x7, 112(t6)",  "  sd x8, 128(t6)",
    "  sd x9, 144(t6)",  "  sd x10, 160(t6)", "  sd x11, 176(t6)", "  sd x12, 192(t6)",
    "  sd x13, 208(t6)", "  sd x14, 224(t6)", "  sd x15, 240(t6)", "  sd x16, 256(t6)",
    "  sd x17, 272(t6)", "  sd x18, 288(t6)", "  sd x19, 304(t6)", "  sd x20, 320(t6)",
    "  sd x21, 336(t6)", "  sd x22, 352(t6)", "  sd x23, 368(t6)", "  sd x24, 384(t6)",
    "  sd x25, 400(t6)", "  sd x26, 416(t6)", "  sd x27, 432(t6)", "  sd x28, 448(t6)",
    "  sd x29, 464(t6)", "  sd x30, 480(t6)",
    "  csrr t0, mscratch", "  sd t0, 496(t6)",
    "  csrr t0, mepc",     "  sd t0, {pc}(t6)",
    "  csrr t0, mcause",   "  sd t0, {mcause}(t6)",
    "  csrr t0, mtval",    "  sd t0, {mtval}(t6)",
    "  csrr t0, mstatus",  "  sd t0, {mstatus}(t6)",
    "  la t0, capmon_trap_vector",
    "  csrw mtvec, t0",
    "  ld sp, {monitor_sp}(t6)",
    restore_monitor!(),
    monitor_sp = const MONITOR_SP, pc = const PC, mcause = const MCAUSE, mtval = const MTVAL, mstatus = const MSTATUS,
);
