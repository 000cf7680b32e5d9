//! EL2 exception vectors and the cVM switcher: the only code that sees both the monitor's and
//! a cVM's registers. Everything here is assembly; the Rust around it only calls `run_cvm`.
//!
//! ## The model
//! The monitor runs a cVM by calling [`run_cvm`] with the cVM's [`CvmContext`]. `run_cvm` saves
//! the monitor's callee-saved registers on the monitor stack, installs every cVM-visible
//! register from the context and `eret`s to EL0. The next exception from EL0 (hostcall,
//! interrupt, fault) lands in a lower-EL vector, which saves every cVM register back into the
//! context, restores the monitor's registers and returns from `run_cvm` with the vector's
//! kind. Hostcalls therefore run on the monitor's own stack (SP_EL2), never the cVM's.
//!
//! ## Registers at each transition (Morello build)
//! Entering a cVM (`run_cvm`, x0 = context):
//!   c0..c30      ← context (capability loads: tags as the context holds them)
//!   RCSP_EL0     ← context.sp      the cVM runs in Restricted mode (its PCC lacks Executive),
//!   RDDC_EL0     ← context.ddc     so its stack and DDC are the restricted banks
//!   RCTPIDR_EL0  ← context.tls
//!   CELR_EL2     ← context.pc      becomes PCC on eret
//!   SPSR_EL2     ← context.spsr    EL0t; bit 26 (PSTATE.C64 after eret) clear for
//!                                  cap-unaware code (A64), set for a pure cVM (C64)
//!   TPIDR_EL2    ← x0              where the vectors find the context again
//!   CID_EL0      ← null           (EL0 can write it, so it is cleared on every entry)
//! What the context holds at a cVM's first entry (`cvm::prepare`): a cap-unaware cVM has x0 =
//! argc, x1 = argv (integers), every other c-register null, its data capability in RDDC_EL0
//! and its stack pointer as CSP. A pure cVM has c0 = argc (an integer), c1 = its args
//! capability, c2 = its data capability, c3 = null, CSP = its stack capability, a null
//! RDDC_EL0, every other register null. After that the context is whatever the cVM left.
//! Nothing differs on the way in or out for a C64 cVM: the C64 bit travels in SPSR_EL2 (the
//! exception saves PSTATE.C64 there and eret restores it; CELR_EL2 carries no mode bit), the
//! vectors run in A64 (CCTLR_EL2.C64E = 0) on the monitor's own DDC/CSP bank, and every
//! register is moved as a whole capability either way.
//! The executive-bank registers (DDC_EL0, CSP_EL0, CTPIDR_EL0) and CTPIDRRO_EL0 are null from
//! `clear_executive_bank` at boot: a Restricted cVM can neither read the executive bank nor
//! write CTPIDRRO_EL0, and no monitor capability is ever put there.
//! Leaving a cVM (lower-EL vector → `cvm_exit`):
//!   context ← c0..c30, RCSP_EL0, RDDC_EL0, RCTPIDR_EL0, CELR_EL2, SPSR_EL2, ESR_EL2, FAR_EL2
//!   x19..x30, sp ← the monitor's, from its stack (integer loads: the cVM's capabilities
//!   left in c0..c18 are the cVM's own and are overwritten before any other cVM runs)
//!   x0 ← the vector's kind
//! On exception entry the hardware has already switched to the monitor's own DDC_EL2/CSP_EL2
//! bank (SPSel = 1 at EL2), so the monitor never runs on cVM authority.
//!
//! The stock-aarch64 build saves the same state with integer registers: x0..x30, SP_EL0,
//! ELR_EL2, TPIDR_EL0, SPSR_EL2, ESR_EL2, FAR_EL2.
//!
//! Interrupts taken while the monitor itself runs (only while idle, see `mod.rs`) use the
//! current-EL vectors, which save the integer registers on the monitor stack.
//!
//! ## Everything an EL0 cVM can read, on each entry (nothing of another cVM or the monitor)
//! - x0..x30 / c0..c30, SP (RCSP_EL0), PC, PSTATE flags, DDC (RDDC_EL0), TPIDR_EL0
//!   (RCTPIDR_EL0): loaded above from the context, which is the cVM's own (`cvm::prepare`
//!   zeroes it for each new run, then only the switcher writes it).
//! - q0..q31, FPCR, FPSR: the cVM's own, or `prepare`'s zeros for a new run. The run loop
//!   restores them (`cvm::restore_fp`, every register overwritten) whenever the registers
//!   hold anything but this very run's state (`arch::fp_run`), whether or not the cVM ever
//!   used FP, so switching is lazy only in skipping the restore when the same run continues.
//!   SVE/SME registers (Z, P, FFR, ZA), TPIDR2_EL0 and FPMR trap (CPTR_EL2.ZEN/SMEN = 0,
//!   SCTLR_EL2.EnTP2/EnFPM = 0), so no cVM reads or writes them.
//! - CID_EL0 (EL0-writable): nulled on every entry. CCTLR_EL0: zeroed on every entry.
//! - TPIDRRO_EL0 / CTPIDRRO_EL0, and the executive DDC_EL0, CSP_EL0, CTPIDR_EL0: zeroed at
//!   boot (`clear_executive_bank`); no cVM can write them and the monitor never does.
//! - Counters and timers (CNTVCT/CNTPCT, CNT*_CVAL): trapped (CNTHCTL_EL2 = 0). The PMU:
//!   denied (PMUSERENR_EL0 = 0 at boot). SCXTNUM_EL0: trapped (SCTLR_EL2.TSCXT).
//!
//! `cvms/scrub` checks this on every board: a probe started after a cVM that left a pattern in
//! every one of these it can write (on Morello tagged capabilities in c1..c30 but c8, CID_EL0
//! and RCTPIDR_EL0) finds only its own values and zeros, and only its default capabilities
//! tagged: c3 and RCTPIDR_EL0 (its capability store, `share::install_store`), RCSP_EL0 and
//! RDDC_EL0. CCTLR_EL0 needs PCC.System, which no cVM has, to be read or written.

use core::arch::global_asm;

/// A cVM's saved registers. Offsets are fixed: the assembly below addresses them directly,
/// and `layout_matches_switcher` checks them. 16-byte aligned for capability stores.
#[repr(C, align(16))]
pub struct CvmContext {
    /// c0..c30 (on stock aarch64 only the low word, x0..x30, is used).
    pub regs: [[u64; 2]; 31],
    /// RCSP_EL0 / SP_EL0.
    pub sp: [u64; 2],
    /// CELR_EL2 / ELR_EL2: where the cVM resumes.
    pub pc: [u64; 2],
    /// RDDC_EL0 (unused on stock aarch64).
    pub ddc: [u64; 2],
    /// RCTPIDR_EL0 / TPIDR_EL0.
    pub tls: [u64; 2],
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
    _reserved: u64,
}

impl CvmContext {
    pub const fn zeroed() -> Self {
        CvmContext {
            regs: [[0; 2]; 31],
            sp: [0; 2],
            pc: [0; 2],
            ddc: [0; 2],
            tls: [0; 2],
            spsr: 0,
            esr: 0,
            far: 0,
            _reserved: 0,
        }
    }
}

/// Offsets used by the assembly.
const SP: usize = 496;
const PC: usize = 512;
const DDC: usize = 528;
const TLS: usize = 544;
const SPSR: usize = 560;
const ESR: usize = 568;
const FAR: usize = 576;

/// Why `run_cvm` returned: the vector the cVM's exception came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Synchronous: a hostcall (`svc`), a fault, a trapped instruction. See `esr`.
    Sync,
    /// An interrupt arrived while the cVM ran (the timer, or a device).
    Irq,
    /// FIQ or SError: never expected; treated as a fault of the running cVM.
    Other(u64),
}

extern "C" {
    fn capmon_run_cvm(context: *mut CvmContext) -> u64;
}

/// Runs the cVM whose registers are in `context` until its next exception.
///
/// # Safety
/// `context` must hold a complete, consistent cVM state: its PC, DDC and stack capabilities
/// (or addresses, on stock aarch64) confined to memory the cVM owns, SPSR = EL0t. The caller
/// must have interrupts masked; it gets control back on the monitor stack.
pub unsafe fn run_cvm(context: &mut CvmContext) -> Exit {
    // SAFETY: the caller's contract gives a valid context; `capmon_run_cvm` preserves the
    // monitor's callee-saved registers and stack, per the AAPCS it is declared with.
    match unsafe { capmon_run_cvm(context) } {
        KIND_LOWER_SYNC => Exit::Sync,
        KIND_LOWER_IRQ => Exit::Irq,
        other => Exit::Other(other),
    }
}

pub const KIND_LOWER_SYNC: u64 = 8;
pub const KIND_LOWER_IRQ: u64 = 9;

// The vector table: 16 entries of 0x80 bytes. Current-EL entries (0-7) stack the interrupted
// monitor's integer registers and call `capmon_exception`; lower-EL entries (8-15) are cVM
// exits. The `exception_common` and `cvm_exit` bodies follow the table.
macro_rules! vector_table {
    ($lower_entry:expr) => {
        concat!(
            ".section .text.vectors, \"ax\"\n",
            ".balign 0x800\n",
            ".global capmon_exception_vectors\n",
            "capmon_exception_vectors:\n",
            ".irp kind, 0, 1, 2, 3, 4, 5, 6, 7\n",
            "  .balign 0x80\n",
            "  sub sp, sp, #288\n",
            "  stp x0, x1, [sp, #0]\n",
            "  mov x1, #\\kind\n",
            "  b exception_common\n",
            ".endr\n",
            ".irp kind, 8, 9, 10, 11, 12, 13, 14, 15\n",
            "  .balign 0x80\n",
            $lower_entry,
            ".endr\n",
            // The current-EL path: frame = x0..x30, ELR, SPSR, ESR (struct ExceptionFrame).
            "exception_common:\n",
            "  stp x2, x3, [sp, #16]\n  stp x4, x5, [sp, #32]\n  stp x6, x7, [sp, #48]\n",
            "  stp x8, x9, [sp, #64]\n  stp x10, x11, [sp, #80]\n  stp x12, x13, [sp, #96]\n",
            "  stp x14, x15, [sp, #112]\n  stp x16, x17, [sp, #128]\n  stp x18, x19, [sp, #144]\n",
            "  stp x20, x21, [sp, #160]\n  stp x22, x23, [sp, #176]\n  stp x24, x25, [sp, #192]\n",
            "  stp x26, x27, [sp, #208]\n  stp x28, x29, [sp, #224]\n",
            "  mrs x2, elr_el2\n  mrs x3, spsr_el2\n  stp x30, x2, [sp, #240]\n",
            "  mrs x4, esr_el2\n  stp x3, x4, [sp, #256]\n",
            "  mov x0, sp\n",
            "  bl capmon_exception\n",
            // ELR/SPSR are not written back: the handler never redirects a return, and on
            // Morello an integer write of ELR_EL2 would replace CELR_EL2's capability.
            "  ldp x2, x3, [sp, #16]\n  ldp x4, x5, [sp, #32]\n  ldp x6, x7, [sp, #48]\n",
            "  ldp x8, x9, [sp, #64]\n  ldp x10, x11, [sp, #80]\n  ldp x12, x13, [sp, #96]\n",
            "  ldp x14, x15, [sp, #112]\n  ldp x16, x17, [sp, #128]\n  ldp x18, x19, [sp, #144]\n",
            "  ldp x20, x21, [sp, #160]\n  ldp x22, x23, [sp, #176]\n  ldp x24, x25, [sp, #192]\n",
            "  ldp x26, x27, [sp, #208]\n  ldp x28, x29, [sp, #224]\n",
            "  ldr x30, [sp, #240]\n  ldp x0, x1, [sp, #0]\n",
            "  add sp, sp, #288\n",
            "  eret\n",
        )
    };
}

// The monitor half of `run_cvm`: push the callee-saved registers the AAPCS asks us to keep;
// `cvm_exit` pops them. 96 bytes: x19..x30.
macro_rules! save_monitor {
    () => {
        concat!(
            "  stp x29, x30, [sp, #-96]!\n",
            "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n",
            "  stp x23, x24, [sp, #48]\n  stp x25, x26, [sp, #64]\n",
            "  stp x27, x28, [sp, #80]\n",
            "  msr tpidr_el2, x0\n",
        )
    };
}
macro_rules! restore_monitor {
    () => {
        concat!(
            "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n",
            "  ldp x23, x24, [sp, #48]\n  ldp x25, x26, [sp, #64]\n",
            "  ldp x27, x28, [sp, #80]\n",
            "  ldp x29, x30, [sp], #96\n",
            "  ret\n",
        )
    };
}

#[cfg(feature = "cheri")]
// Context offsets are small constants; the encoders reject (at compile time) any that would
// not fit their immediate field, and `try_into` is not available in const context.
#[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
mod words {
    //! The Morello instruction words the switcher emits, from the one encoder module.
    use crate::arch::insn::morello::{self as m, sysreg};

    /// `ldp c<n>, c<n+1>, [x0, #16n]` / `stp …` for the pairs c2..c29.
    pub const fn pair_offset(first: u32) -> i32 {
        (first * 16) as i32
    }
    pub const LDP: [u32; 14] = {
        let mut w = [0; 14];
        let mut i = 0;
        while i < 14 {
            let first = 2 + 2 * i as u32;
            w[i] = m::ldp_cap(first, first + 1, 0, pair_offset(first));
            i += 1;
        }
        w
    };
    pub const STP: [u32; 14] = {
        let mut w = [0; 14];
        let mut i = 0;
        while i < 14 {
            let first = 2 + 2 * i as u32;
            w[i] = m::stp_cap(first, first + 1, 0, pair_offset(first));
            i += 1;
        }
        w
    };
    pub const LDR_C30: u32 = m::ldr_cap(30, 0, 480); // ldr c30, [x0, #480]
    pub const STR_C30: u32 = m::str_cap(30, 0, 480); // str c30, [x0, #480]
    pub const LDP_C0_C1: u32 = m::ldp_cap(0, 1, 0, 0); // ldp c0, c1, [x0]
    pub const STP_C0_C1_PUSH: u32 = m::stp_cap_pre(0, 1, 31, -32); // stp c0, c1, [sp, #-32]!
    pub const LDP_C1_C2_POP: u32 = m::ldp_cap_post(1, 2, 31, 32); // ldp c1, c2, [sp], #32
    pub const STP_C1_C2: u32 = m::stp_cap(1, 2, 0, 0); // stp c1, c2, [x0]
    pub const LDR_C1_SP: u32 = m::ldr_cap(1, 0, super::SP as u32); // ldr c1, [x0, #SP]
    pub const LDR_C1_PC: u32 = m::ldr_cap(1, 0, super::PC as u32); // ldr c1, [x0, #PC]
    pub const LDR_C1_DDC: u32 = m::ldr_cap(1, 0, super::DDC as u32); // ldr c1, [x0, #DDC]
    pub const LDR_C1_TLS: u32 = m::ldr_cap(1, 0, super::TLS as u32); // ldr c1, [x0, #TLS]
    pub const STR_C1_SP: u32 = m::str_cap(1, 0, super::SP as u32); // str c1, [x0, #SP]
    pub const STR_C1_PC: u32 = m::str_cap(1, 0, super::PC as u32); // str c1, [x0, #PC]
    pub const STR_C1_DDC: u32 = m::str_cap(1, 0, super::DDC as u32); // str c1, [x0, #DDC]
    pub const STR_C1_TLS: u32 = m::str_cap(1, 0, super::TLS as u32); // str c1, [x0, #TLS]
    pub const MSR_RCSP: u32 = m::msr_cap(sysreg::RCSP_EL0, 1); // msr RCSP_EL0, c1
    pub const MSR_CELR: u32 = m::msr_cap(sysreg::CELR_EL2, 1); // msr CELR_EL2, c1
    pub const MSR_RDDC: u32 = m::msr_cap(sysreg::RDDC_EL0, 1); // msr RDDC_EL0, c1
    pub const MSR_RTLS: u32 = m::msr_cap(sysreg::RCTPIDR_EL0, 1); // msr RCTPIDR_EL0, c1
    pub const MRS_RCSP: u32 = m::mrs_cap(1, sysreg::RCSP_EL0); // mrs c1, RCSP_EL0
    pub const MRS_CELR: u32 = m::mrs_cap(1, sysreg::CELR_EL2); // mrs c1, CELR_EL2
    pub const MRS_RDDC: u32 = m::mrs_cap(1, sysreg::RDDC_EL0); // mrs c1, RDDC_EL0
    pub const MRS_RTLS: u32 = m::mrs_cap(1, sysreg::RCTPIDR_EL0); // mrs c1, RCTPIDR_EL0
                                                                  // Executive-bank registers cleared at boot (c31 as a source is CZR, the null capability).
    pub const MSR_DDC_EL0_NULL: u32 = m::msr_cap(sysreg::DDC_EL0, 31); // msr DDC_EL0, czr
    pub const MSR_CSP_EL0_NULL: u32 = m::msr_cap(sysreg::CSP_EL0, 31); // msr CSP_EL0, czr
    pub const MSR_CTPIDR_NULL: u32 = m::msr_cap(sysreg::CTPIDR_EL0, 31); // msr CTPIDR_EL0, czr
    pub const MSR_CTPIDRRO_NULL: u32 = m::msr_cap(sysreg::CTPIDRRO_EL0, 31); // msr CTPIDRRO_EL0, czr
    pub const MSR_CID_NULL: u32 = m::msr_cap(sysreg::CID_EL0, 31); // msr CID_EL0, czr
    pub const MSR_CCTLR_EL0_ZERO: u32 = m::msr_x(sysreg::CCTLR_EL0, 31); // msr CCTLR_EL0, xzr
}

#[cfg(feature = "cheri")]
global_asm!(
    vector_table!(concat!(
        // Lower-EL entry: park the cVM's c0/c1 on the monitor stack, kind in x1.
        "  .inst {stp_c0_c1_push}\n",
        "  mov x1, #\\kind\n",
        "  b cvm_exit\n",
    )),
    ".text",
    ".global capmon_run_cvm",
    "capmon_run_cvm:",
    save_monitor!(),
    "  .inst {ldr_c1_pc}",   "  .inst {msr_celr}",
    "  .inst {ldr_c1_sp}",   "  .inst {msr_rcsp}",
    "  .inst {ldr_c1_ddc}",  "  .inst {msr_rddc}",
    "  .inst {ldr_c1_tls}",  "  .inst {msr_rtls}",
    "  ldr x1, [x0, #{spsr}]",
    "  msr spsr_el2, x1",
    "  .inst {null_cid}",      // CID_EL0 is EL0-writable: another cVM may have left a value there
    "  .inst {zero_cctlr}",    // likewise CCTLR_EL0; 0 is what every cVM runs with
    "  .inst {ldp0}", "  .inst {ldp1}", "  .inst {ldp2}", "  .inst {ldp3}", "  .inst {ldp4}",
    "  .inst {ldp5}", "  .inst {ldp6}", "  .inst {ldp7}", "  .inst {ldp8}", "  .inst {ldp9}",
    "  .inst {ldp10}", "  .inst {ldp11}", "  .inst {ldp12}", "  .inst {ldp13}",
    "  .inst {ldr_c30}",
    "  .inst {ldp_c0_c1}",   // last: x0 (the context pointer) becomes the cVM's c0
    "  eret",
    "",
    // x0/x1 of the cVM are on the stack (as c0/c1), x1 = kind.
    "cvm_exit:",
    "  mrs x0, tpidr_el2",
    "  .inst {stp0}", "  .inst {stp1}", "  .inst {stp2}", "  .inst {stp3}", "  .inst {stp4}",
    "  .inst {stp5}", "  .inst {stp6}", "  .inst {stp7}", "  .inst {stp8}", "  .inst {stp9}",
    "  .inst {stp10}", "  .inst {stp11}", "  .inst {stp12}", "  .inst {stp13}",
    "  .inst {str_c30}",
    "  mov x9, x1",          // the kind, in a register already saved
    "  .inst {ldp_c1_c2_pop}",
    "  .inst {stp_c1_c2}",
    "  .inst {mrs_celr}",    "  .inst {str_c1_pc}",
    "  .inst {mrs_rcsp}",    "  .inst {str_c1_sp}",
    "  .inst {mrs_rddc}",    "  .inst {str_c1_ddc}",
    "  .inst {mrs_rtls}",    "  .inst {str_c1_tls}",
    "  mrs x1, spsr_el2",  "  str x1, [x0, #{spsr}]",
    "  mrs x1, esr_el2",   "  str x1, [x0, #{esr}]",
    "  mrs x1, far_el2",   "  str x1, [x0, #{far}]",
    "  mov x0, x9",
    restore_monitor!(),
    "",
    ".global capmon_clear_executive_bank",
    "capmon_clear_executive_bank:",
    "  .inst {null_ddc_el0}",
    "  .inst {null_csp_el0}",
    "  .inst {null_ctpidr}",
    "  .inst {null_ctpidrro}",
    "  .inst {null_cid}",
    "  ret",
    stp_c0_c1_push = const words::STP_C0_C1_PUSH,
    ldr_c1_pc = const words::LDR_C1_PC, msr_celr = const words::MSR_CELR,
    ldr_c1_sp = const words::LDR_C1_SP, msr_rcsp = const words::MSR_RCSP,
    ldr_c1_ddc = const words::LDR_C1_DDC, msr_rddc = const words::MSR_RDDC,
    ldr_c1_tls = const words::LDR_C1_TLS, msr_rtls = const words::MSR_RTLS,
    ldp0 = const words::LDP[0], ldp1 = const words::LDP[1], ldp2 = const words::LDP[2],
    ldp3 = const words::LDP[3], ldp4 = const words::LDP[4], ldp5 = const words::LDP[5],
    ldp6 = const words::LDP[6], ldp7 = const words::LDP[7], ldp8 = const words::LDP[8],
    ldp9 = const words::LDP[9], ldp10 = const words::LDP[10], ldp11 = const words::LDP[11],
    ldp12 = const words::LDP[12], ldp13 = const words::LDP[13],
    ldr_c30 = const words::LDR_C30, ldp_c0_c1 = const words::LDP_C0_C1,
    stp0 = const words::STP[0], stp1 = const words::STP[1], stp2 = const words::STP[2],
    stp3 = const words::STP[3], stp4 = const words::STP[4], stp5 = const words::STP[5],
    stp6 = const words::STP[6], stp7 = const words::STP[7], stp8 = const words::STP[8],
    stp9 = const words::STP[9], stp10 = const words::STP[10], stp11 = const words::STP[11],
    stp12 = const words::STP[12], stp13 = const words::STP[13],
    str_c30 = const words::STR_C30,
    ldp_c1_c2_pop = const words::LDP_C1_C2_POP, stp_c1_c2 = const words::STP_C1_C2,
    mrs_celr = const words::MRS_CELR, str_c1_pc = const words::STR_C1_PC,
    mrs_rcsp = const words::MRS_RCSP, str_c1_sp = const words::STR_C1_SP,
    mrs_rddc = const words::MRS_RDDC, str_c1_ddc = const words::STR_C1_DDC,
    mrs_rtls = const words::MRS_RTLS, str_c1_tls = const words::STR_C1_TLS,
    null_ddc_el0 = const words::MSR_DDC_EL0_NULL, null_csp_el0 = const words::MSR_CSP_EL0_NULL,
    null_ctpidr = const words::MSR_CTPIDR_NULL, null_ctpidrro = const words::MSR_CTPIDRRO_NULL,
    null_cid = const words::MSR_CID_NULL, zero_cctlr = const words::MSR_CCTLR_EL0_ZERO,
    spsr = const SPSR, esr = const ESR, far = const FAR,
);

#[cfg(not(feature = "cheri"))]
global_asm!(
    vector_table!(concat!(
        "  stp x0, x1, [sp, #-16]!\n",
        "  mov x1, #\\kind\n",
        "  b cvm_exit\n",
    )),
    ".text",
    ".global capmon_run_cvm",
    "capmon_run_cvm:",
    save_monitor!(),
    "  ldr x1, [x0, #{pc}]",   "  msr elr_el2, x1",
    "  ldr x1, [x0, #{sp}]",   "  msr sp_el0, x1",
    "  ldr x1, [x0, #{tls}]",  "  msr tpidr_el0, x1",
    "  ldr x1, [x0, #{spsr}]", "  msr spsr_el2, x1",
    "  ldr x2, [x0, #32]",  "  ldr x3, [x0, #48]",  "  ldr x4, [x0, #64]",  "  ldr x5, [x0, #80]",
    "  ldr x6, [x0, #96]",  "  ldr x7, [x0, #112]", "  ldr x8, [x0, #128]", "  ldr x9, [x0, #144]",
    "  ldr x10, [x0, #160]", "  ldr x11, [x0, #176]", "  ldr x12, [x0, #192]", "  ldr x13, [x0, #208]",
    "  ldr x14, [x0, #224]", "  ldr x15, [x0, #240]", "  ldr x16, [x0, #256]", "  ldr x17, [x0, #272]",
    "  ldr x18, [x0, #288]", "  ldr x19, [x0, #304]", "  ldr x20, [x0, #320]", "  ldr x21, [x0, #336]",
    "  ldr x22, [x0, #352]", "  ldr x23, [x0, #368]", "  ldr x24, [x0, #384]", "  ldr x25, [x0, #400]",
    "  ldr x26, [x0, #416]", "  ldr x27, [x0, #432]", "  ldr x28, [x0, #448]", "  ldr x29, [x0, #464]",
    "  ldr x30, [x0, #480]",
    "  ldr x1, [x0, #16]",
    "  ldr x0, [x0, #0]",
    "  eret",
    "",
    "cvm_exit:",
    "  mrs x0, tpidr_el2",
    "  str x2, [x0, #32]",  "  str x3, [x0, #48]",  "  str x4, [x0, #64]",  "  str x5, [x0, #80]",
    "  str x6, [x0, #96]",  "  str x7, [x0, #112]", "  str x8, [x0, #128]", "  str x9, [x0, #144]",
    "  str x10, [x0, #160]", "  str x11, [x0, #176]", "  str x12, [x0, #192]", "  str x13, [x0, #208]",
    "  str x14, [x0, #224]", "  str x15, [x0, #240]", "  str x16, [x0, #256]", "  str x17, [x0, #272]",
    "  str x18, [x0, #288]", "  str x19, [x0, #304]", "  str x20, [x0, #320]", "  str x21, [x0, #336]",
    "  str x22, [x0, #352]", "  str x23, [x0, #368]", "  str x24, [x0, #384]", "  str x25, [x0, #400]",
    "  str x26, [x0, #416]", "  str x27, [x0, #432]", "  str x28, [x0, #448]", "  str x29, [x0, #464]",
    "  str x30, [x0, #480]",
    "  mov x9, x1",
    "  ldp x1, x2, [sp], #16",
    "  str x1, [x0, #0]",  "  str x2, [x0, #16]",
    "  mrs x1, elr_el2",   "  str x1, [x0, #{pc}]",
    "  mrs x1, sp_el0",    "  str x1, [x0, #{sp}]",
    "  mrs x1, tpidr_el0", "  str x1, [x0, #{tls}]",
    "  mrs x1, spsr_el2",  "  str x1, [x0, #{spsr}]",
    "  mrs x1, esr_el2",   "  str x1, [x0, #{esr}]",
    "  mrs x1, far_el2",   "  str x1, [x0, #{far}]",
    "  mov x0, x9",
    restore_monitor!(),
    "",
    ".global capmon_clear_executive_bank",
    "capmon_clear_executive_bank:",
    "  msr tpidrro_el0, xzr",  // EL0 reads it; its reset value is UNKNOWN on hardware
    "  ret",
    pc = const PC, sp = const SP, tls = const TLS, spsr = const SPSR, esr = const ESR, far = const FAR,
);

extern "C" {
    fn capmon_clear_executive_bank();
}

/// Nulls the registers a cVM could read but the switcher does not load per cVM: on Morello
/// the executive bank a Restricted-mode cVM cannot reach anyway (DDC_EL0, CSP_EL0,
/// CTPIDR_EL0) and CTPIDRRO_EL0 and CID_EL0; on stock aarch64 TPIDRRO_EL0 (EL0 reads but
/// cannot write it). Called once at boot; nothing writes them afterwards.
pub fn clear_executive_bank() {
    // SAFETY: writes only EL0 system registers that no monitor code uses; on stock aarch64
    // it is an empty function.
    unsafe { capmon_clear_executive_bank() }
}

// The assembly addresses the context by these offsets; the build fails if they drift.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(CvmContext, sp) == SP);
    assert!(offset_of!(CvmContext, pc) == PC);
    assert!(offset_of!(CvmContext, ddc) == DDC);
    assert!(offset_of!(CvmContext, tls) == TLS);
    assert!(offset_of!(CvmContext, spsr) == SPSR);
    assert!(offset_of!(CvmContext, esr) == ESR);
    assert!(offset_of!(CvmContext, far) == FAR);
    assert!(size_of::<CvmContext>().is_multiple_of(16));
};
