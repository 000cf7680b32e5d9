//! The M-mode cVM switcher: the only code that sees both the monitor's and a cVM's registers.
//!
//! ## The model
//! The run loop calls [`run_cvm`] with a cVM's [`CvmContext`] and an exit handler. `run_cvm`
//! saves the monitor's callee-saved registers on the monitor stack (and `sp` in the context),
//! points mtvec at `cvm_trap`, installs every cVM register and `mret`s to U-mode. Each trap of
//! the cVM enters `cvm_trap`, which saves the cVM's registers, points mtvec back at the
//! monitor's own vector, and calls the handler on the monitor stack (at the `sp` `run_cvm`
//! left; the saved monitor registers sit above it). The handler answers:
//!   0     resume: `cvm_trap` reinstalls the cVM and `mret`s, without going back through the
//!         monitor's frame or the scheduler (the hostcall fast path);
//!   other leave: `cvm_trap` restores the monitor's registers and returns from `run_cvm`.
//! Hostcalls therefore run on the monitor's stack, never the cVM's, and every general register
//! the handler's Rust code may write (tags included) is reloaded before the cVM runs again.
//!
//! ## Where the cVM's state is while the handler runs
//! c1..c30 (x1..x30): in the context. The cVM's c31 (t6), DDC and PC stay in M-mode-only
//! registers the monitor's Rust code never writes: MScratchC (mscratch), MTDC and MEPCC
//! (mepc). The handler copies them into the context ([`spill`]) before anything reads them
//! there: before a fault is handled, and before `run_cvm` returns for any other exit. So a
//! resumed cVM gets c31, DDC and PC from those registers, never from the context: a handler
//! that resumes the cVM may change its saved c1..c30 (a hostcall result) and move MEPCC past
//! the `ecall` ([`step_past_ecall`]), nothing else; a restart, which replaces the whole
//! context, always leaves through `run_cvm`.
//! mtvec is the monitor's vector (`capmon_trap_vector`) while the handler runs, so an interrupt
//! it takes while it waits (`wait_for_interrupt`, e.g. for a disk) or a monitor fault is
//! handled as anywhere else in the monitor. Such a trap overwrites MEPCC, mcause and mtval:
//! `wait_for_interrupt` keeps MEPCC (mepc) across it, and the handler reads mcause and mtval
//! before anything can wait; its `mret` leaves mstatus.MPP = U (MRET sets MPP to the least
//! privileged mode), as the cVM's own trap did.
//!
//! ## CHERI-RISC-V (ISAv9 absolute addressing, `-cpu rv64,Xcheri_v9=true`)
//! DDC is not banked by privilege, so a trap arrives with the cVM's DDC installed and every
//! integer load/store the monitor makes would be checked against it. The monitor runs on its
//! root capability with the address set to the running context, "root@ctx" (ISAv9 ignores
//! DDC's address for checks), and the switcher finds the context through that address.
//!
//! While the cVM runs:   MScratchC = root@ctx, MTDC = root@ctx, DDC = the cVM's DDC,
//!                       MEPCC its PC; c1..c31 the cVM's.
//! `cvm_trap`, on entry: c1..c31 and DDC the cVM's, MEPCC its PC.
//!   1. c31 ↔ MScratchC   c31 = root@ctx, MScratchC = the cVM's c31
//!   2. c31 ↔ DDC         DDC = root@ctx (monitor authority from here on), c31 = the cVM's DDC
//!   3. c31 ↔ MTDC        MTDC = the cVM's DDC, c31 = root@ctx: x31 = the context's address
//!   4. c1..c30 → the context (capability stores, checked against root@ctx)
//!   5. s1 = cvm_trap's address (callee-saved: it survives the handler), mtvec = the monitor's
//!      vector, sp = the monitor's sp, a0 = the handler's data; call the handler.
//!
//! While the handler runs: DDC = root@ctx; MScratchC = the cVM's c31, MTDC = the cVM's DDC,
//!   MEPCC = the cVM's PC; c1..c31 the monitor's (integers: the cVM's tags are gone from every
//!   register Rust writes).
//! Resume (`cvm_resume`: the handler returned 0, or from `capmon_run_cvm`):
//!   on entry: s1 = cvm_trap's address, DDC = root@ctx, MScratchC = the cVM's c31, MTDC = the
//!             cVM's DDC, MEPCC = the cVM's PC, the context holds c1..c30.
//!   mtvec ← s1; c31 ← DDC (root@ctx, x31 = the context's address); c1..c30 ← the context;
//!   c31 ↔ MTDC       c31 = the cVM's DDC, MTDC = root@ctx
//!   c31 ↔ DDC        DDC = the cVM's DDC (no monitor memory access after this), c31 = root@ctx
//!   c31 ↔ MScratchC  c31 = the cVM's c31, MScratchC = root@ctx; `mret`.
//! Leave (the handler returned non-zero, having spilled): the monitor's ra, s0..s11 and sp are
//!   restored; the context holds the whole cVM state; DDC stays root@ctx; MScratchC, MTDC and
//!   MEPCC keep the cVM's c31, DDC and PC until the next `capmon_run_cvm` overwrites them (M-mode
//!   registers: U-mode cannot read them).
//! `capmon_run_cvm` (a0 = context, a1 = handler, a2 = its data): saves the monitor; mstatus.MPP
//!   = U and FS = Clean; s1 = cvm_trap's address; MScratchC ← context c31, MTDC ← context DDC,
//!   MEPCC ← context PC, DDC ← root@context; then `cvm_resume`.
//! Every cVM register is reloaded before any cVM runs, so nothing leaks from one cVM (or the
//! monitor) to another.
//!
//! Everything a U-mode cVM can read, on each entry: x1..x31 / c1..c31 (tp = x4 included), PC
//! and DDC from its context (`cvm::prepare` zeroes it for each new run); f0..f31 and fcsr
//! its own or `prepare`'s zeros, restored by the run loop whenever the registers hold
//! anything but this very run's state (`arch::fp_run`): a full restore, or none when the
//! registers are known to be all zeros already (no one wrote them since the last zero
//! restore: `FP_REGS_PRISTINE`, cleared whenever a cVM exits with mstatus.FS Dirty). The
//! counters (cycle, time, instret) trap (mcounteren = 0); vector state is off (mstatus.VS =
//! 0, never set). `cvms/scrub` checks this on both RISC-V boards; on CHERI-RISC-V also that a
//! cap-unaware probe started after a cVM that left tagged capabilities in every register it
//! could finds only its default capabilities tagged: c4 and c13 (its capability store,
//! `share::install_store`) and DDC.
//!
//! At a cVM's first entry (`cvm::prepare`) the context holds: for a cap-unaware cVM, a0 =
//! argc, a1 = argv, sp (integers), DDC = its data capability, PC = its code capability in
//! integer mode; for a pure cVM, ca0 = argc (an integer), ca1 = its args capability, ca2 = its
//! data capability, ca3 = null, csp = its stack capability, DDC = null, PC = its code
//! capability with flag bit 0 set (capability encoding mode). Every other register is null.
//! Nothing differs on the way in or out for a capability-mode cVM: the mode is PCC's flag, so
//! it travels whole in MEPCC (the trap saves PCC there, `mret` reinstalls it, and
//! [`step_past_ecall`]'s CIncOffsetImm keeps the flags); the trap vector runs on MTCC in
//! integer mode, and a null cVM DDC is swapped like any other.
//!
//! ## Stock riscv64
//! The same flow with integer registers and no DDC; mscratch plays MScratchC's part (the
//! context's address while the cVM runs, the cVM's t6 while the handler runs), mepc MEPCC's.
//! `cvm_trap`: t6 ↔ mscratch (t6 = context, mscratch = the cVM's t6); x1..x30 → the context;
//!   s0 = context; s1, mtvec, sp, the handler as above.
//! `cvm_resume` (s1 = cvm_trap's address, s0 = context, mscratch = the cVM's t6, mepc its PC):
//!   mtvec ← s1; t6 ← s0; x1..x30 ← the context; t6 ↔ mscratch; `mret`.
//! `capmon_run_cvm`: as above, with mscratch ← context t6, mepc ← context PC, s0 = context.

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
    /// The monitor's sp while the cVM runs.
    monitor_sp: u64,
    /// The exit handler `cvm_trap` calls (`extern "C" fn(data) -> u64`) and its argument.
    handler: u64,
    handler_data: u64,
    _reserved: u64,
}

impl CvmContext {
    pub const fn zeroed() -> Self {
        CvmContext {
            regs: [[0; 2]; 32],
            pc: [0; 2],
            ddc: [0; 2],
            monitor_sp: 0,
            handler: 0,
            handler_data: 0,
            _reserved: 0,
        }
    }
}

const C31: usize = 496;
const PC: usize = 512;
const DDC: usize = 528;
const MONITOR_SP: usize = 544;
const HANDLER: usize = 552;
const HANDLER_DATA: usize = 560;

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(CvmContext, regs) == 0);
    assert!(offset_of!(CvmContext, pc) == PC);
    assert!(offset_of!(CvmContext, ddc) == DDC);
    assert!(offset_of!(CvmContext, monitor_sp) == MONITOR_SP);
    assert!(offset_of!(CvmContext, handler) == HANDLER);
    assert!(offset_of!(CvmContext, handler_data) == HANDLER_DATA);
    assert!(size_of::<CvmContext>().is_multiple_of(16));
};

/// What `cvm_trap` calls on every trap of the cVM: 0 resumes the cVM, anything else returns
/// from [`run_cvm`].
pub type Handler = extern "C" fn(data: *mut ()) -> u64;

extern "C" {
    fn capmon_run_cvm(context: *mut CvmContext, handler: Handler, data: *mut ());
}

/// Runs the cVM whose registers are in `*context`, calling `handler(data)` on the monitor
/// stack at each of its traps (with the whole cVM state in the context), until the handler
/// returns non-zero.
///
/// # Safety
/// `context` must point to a complete cVM state confined to memory the cVM owns (PC, DDC and
/// stack capabilities, or on stock riscv64 addresses within its PMP window), valid and not
/// otherwise accessed while this runs except by `handler`; interrupts must be masked
/// (mstatus.MIE = 0). `handler(data)` must be callable from the trap with `data` as given,
/// keep to the module comment's rules (change only c1..c30 and, with [`step_past_ecall`], the
/// PC before resuming; [`spill`] before anything reads c31, DDC or PC in the context, and
/// before leaving), and not take a trap other than through `wait_for_interrupt`.
pub unsafe fn run_cvm(context: *mut CvmContext, handler: Handler, data: *mut ()) {
    // SAFETY: the caller's contract; `capmon_run_cvm` preserves the monitor's callee-saved
    // registers and stack as the C ABI requires, and calls `handler` per the C ABI.
    unsafe { capmon_run_cvm(context, handler, data) }
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
// `capmon_run_cvm`'s start, both builds: the monitor saved, its sp and the handler recorded,
// mstatus for U-mode with FP usable: MPP (bits 12:11) = U, FS (bits 14:13) = Clean (the
// hardware marks FS Dirty when the cVM writes an FP register, so the run loop saves FP state
// only for a cVM that used it), s1 = cvm_trap's address for `cvm_resume`.
macro_rules! enter {
    () => {
        concat!(
            save_monitor!(),
            "  sd sp, {monitor_sp}(a0)\n",
            "  sd a1, {handler}(a0)\n",
            "  sd a2, {handler_data}(a0)\n",
            "  li t0, 0x7800\n  csrc mstatus, t0\n",
            "  li t0, 0x4000\n  csrs mstatus, t0\n",
            "  la s1, cvm_trap\n",
        )
    };
}
// `cvm_trap`'s middle, both builds, once the cVM's registers are saved (t6 = context): the
// monitor's vector, stack and handler. Leaves through the monitor's frame unless the handler
// returns 0, then `cvm_resume` (s1 = cvm_trap's address, preserved by the handler as callee-saved).
macro_rules! call_handler {
    () => {
        concat!(
            "  la s1, capmon_trap_vector\n",
            "  csrrw s1, mtvec, s1\n", // mtvec = the monitor's vector, s1 = cvm_trap
            "  ld sp, {monitor_sp}(t6)\n",
            "  ld a0, {handler_data}(t6)\n",
            "  ld t0, {handler}(t6)\n",
            "  jalr t0\n",
            "  beqz a0, cvm_resume\n",
            restore_monitor!(),
        )
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
            w[i] = if store {
                r::sc(reg, 31, offset)
            } else {
                r::lc(reg, 31, offset)
            };
            i += 1;
        }
        w
    }
    /// `lc c1..c30, 16n(x31)`.
    pub const LOAD: [u32; 30] = table(false);
    /// `sc c1..c30, 16n(x31)`.
    pub const STORE: [u32; 30] = table(true);
    pub const LC_C1_C31: u32 = r::lc(1, 31, super::C31 as i32); // lc c1, C31(t6)
    pub const WRITE_MSCRATCHC_C1: u32 = r::cspecialrw(0, scr::MSCRATCHC, 1); // cspecialrw c0, mscratchc, c1
    pub const LC_C1_DDC: u32 = r::lc(1, 31, super::DDC as i32); // lc c1, DDC(t6)
    pub const WRITE_MTDC_C1: u32 = r::cspecialrw(0, scr::MTDC, 1); // cspecialrw c0, mtdc, c1
    pub const READ_DDC_C1: u32 = r::cspecialrw(1, scr::DDC, 0); // cspecialrw c1, ddc, c0
    pub const SETADDR_C1_T6: u32 = r::csetaddr(1, 1, 31); // csetaddr c1, c1, t6
    pub const WRITE_DDC_C1: u32 = r::cspecialrw(0, scr::DDC, 1); // cspecialrw c0, ddc, c1
    pub const READ_DDC_C31: u32 = r::cspecialrw(31, scr::DDC, 0); // cspecialrw c31, ddc, c0
    pub const LC_C1_PC: u32 = r::lc(1, 31, super::PC as i32); // lc c1, PC(t6)
    pub const WRITE_MEPCC_C1: u32 = r::cspecialrw(0, scr::MEPCC, 1); // cspecialrw c0, mepcc, c1
    pub const SWAP_MSCRATCHC: u32 = r::cspecialrw(31, scr::MSCRATCHC, 31); // cspecialrw c31, mscratchc, c31
    pub const SWAP_DDC: u32 = r::cspecialrw(31, scr::DDC, 31); // cspecialrw c31, ddc, c31
    pub const SWAP_MTDC: u32 = r::cspecialrw(31, scr::MTDC, 31); // cspecialrw c31, mtdc, c31
                                                                 // `spill` (a0 = context, c6 scratch) and `step_past_ecall`.
    pub const READ_MSCRATCHC_C6: u32 = r::cspecialrw(6, scr::MSCRATCHC, 0); // cspecialrw c6, mscratchc, c0
    pub const SC_C6_C31: u32 = r::sc(6, 10, super::C31 as i32); // sc c6, C31(a0)
    pub const READ_MTDC_C6: u32 = r::cspecialrw(6, scr::MTDC, 0); // cspecialrw c6, mtdc, c0
    pub const SC_C6_DDC: u32 = r::sc(6, 10, super::DDC as i32); // sc c6, DDC(a0)
    pub const READ_MEPCC_C6: u32 = r::cspecialrw(6, scr::MEPCC, 0); // cspecialrw c6, mepcc, c0
    pub const SC_C6_PC: u32 = r::sc(6, 10, super::PC as i32); // sc c6, PC(a0)
    pub const INC_C6_4: u32 = r::cincoffsetimm(6, 6, 4); // cincoffsetimm c6, c6, 4
    pub const WRITE_MEPCC_C6: u32 = r::cspecialrw(0, scr::MEPCC, 6); // cspecialrw c0, mepcc, c6
}

#[cfg(feature = "cheri")]
global_asm!(
    ".text",
    ".global capmon_run_cvm",
    ".balign 4",
    "capmon_run_cvm:",                // a0 = context, a1 = handler, a2 = its data
    enter!(),
    "  mv t6, a0",
    "  .word {lc_c1_c31}",
    "  .word {write_mscratchc_c1}",   // MScratchC = the cVM's c31
    "  .word {lc_c1_ddc}",
    "  .word {write_mtdc_c1}",        // MTDC = the cVM's DDC
    "  .word {lc_c1_pc}",
    "  .word {write_mepcc_c1}",       // MEPCC = the cVM's PC capability
    "  .word {read_ddc_c1}",          // c1 = the monitor's root DDC
    "  .word {setaddr_c1_t6}",
    "  .word {write_ddc_c1}",         // DDC = root @ context
    "",
    "cvm_resume:",                    // s1 = cvm_trap, DDC = root@ctx, MScratchC/MTDC/MEPCC = cVM c31/DDC/PC
    "  csrw mtvec, s1",
    "  .word {read_ddc_c31}",         // c31 = root@ctx, x31 = the context's address
    "  .word {l0}",  "  .word {l1}",  "  .word {l2}",  "  .word {l3}",  "  .word {l4}",
    "  .word {l5}",  "  .word {l6}",  "  .word {l7}",  "  .word {l8}",  "  .word {l9}",
    "  .word {l10}", "  .word {l11}", "  .word {l12}", "  .word {l13}", "  .word {l14}",
    "  .word {l15}", "  .word {l16}", "  .word {l17}", "  .word {l18}", "  .word {l19}",
    "  .word {l20}", "  .word {l21}", "  .word {l22}", "  .word {l23}", "  .word {l24}",
    "  .word {l25}", "  .word {l26}", "  .word {l27}", "  .word {l28}", "  .word {l29}",
    "  .word {swap_mtdc}",            // c31 = the cVM's DDC, MTDC = root@ctx
    "  .word {swap_ddc}",             // DDC = the cVM's DDC, c31 = root@ctx
    "  .word {swap_mscratchc}",       // c31 = the cVM's c31, MScratchC = root@ctx
    "  mret",
    "",
    ".balign 4",
    "cvm_trap:",                      // c1..c31, DDC, MEPCC the cVM's; MScratchC = MTDC = root@ctx
    "  .word {swap_mscratchc}",       // c31 = root@ctx, MScratchC = the cVM's c31
    "  .word {swap_ddc}",             // DDC = root@ctx (the monitor's authority), c31 = cVM DDC
    "  .word {swap_mtdc}",            // MTDC = the cVM's DDC, c31 = root@ctx (x31 = context)
    "  .word {s0}",  "  .word {s1}",  "  .word {s2}",  "  .word {s3}",  "  .word {s4}",
    "  .word {s5}",  "  .word {s6}",  "  .word {s7}",  "  .word {s8}",  "  .word {s9}",
    "  .word {s10}", "  .word {s11}", "  .word {s12}", "  .word {s13}", "  .word {s14}",
    "  .word {s15}", "  .word {s16}", "  .word {s17}", "  .word {s18}", "  .word {s19}",
    "  .word {s20}", "  .word {s21}", "  .word {s22}", "  .word {s23}", "  .word {s24}",
    "  .word {s25}", "  .word {s26}", "  .word {s27}", "  .word {s28}", "  .word {s29}",
    call_handler!(),
    monitor_sp = const MONITOR_SP, handler = const HANDLER, handler_data = const HANDLER_DATA,
    lc_c1_c31 = const words::LC_C1_C31, write_mscratchc_c1 = const words::WRITE_MSCRATCHC_C1,
    lc_c1_ddc = const words::LC_C1_DDC, write_mtdc_c1 = const words::WRITE_MTDC_C1,
    read_ddc_c1 = const words::READ_DDC_C1, setaddr_c1_t6 = const words::SETADDR_C1_T6,
    write_ddc_c1 = const words::WRITE_DDC_C1, read_ddc_c31 = const words::READ_DDC_C31,
    lc_c1_pc = const words::LC_C1_PC, write_mepcc_c1 = const words::WRITE_MEPCC_C1,
    swap_mscratchc = const words::SWAP_MSCRATCHC, swap_ddc = const words::SWAP_DDC,
    swap_mtdc = const words::SWAP_MTDC,
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
    "capmon_run_cvm:",                // a0 = context, a1 = handler, a2 = its data
    enter!(),
    "  ld t0, {c31}(a0)",
    "  csrw mscratch, t0",            // mscratch = the cVM's t6
    "  ld t0, {pc}(a0)",
    "  csrw mepc, t0",                // mepc = the cVM's PC
    "  mv s0, a0",
    "",
    "cvm_resume:",                    // s1 = cvm_trap, s0 = context, mscratch/mepc = the cVM's t6/PC
    "  csrw mtvec, s1",
    "  mv t6, s0",
    // x1..x30 ← the context (x<n> at 16n).
    ".irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    "  ld x\\n, (16 * \\n)(t6)",
    ".endr",
    "  csrrw t6, mscratch, t6",       // t6 = the cVM's t6, mscratch = context
    "  mret",
    "",
    ".balign 4",
    "cvm_trap:",                      // x1..x31, mepc the cVM's; mscratch = context
    "  csrrw t6, mscratch, t6",       // t6 = context, mscratch = the cVM's t6
    // x1..x30 → the context (x<n> at 16n).
    ".irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
    "  sd x\\n, (16 * \\n)(t6)",
    ".endr",
    "  mv s0, t6",                    // s0 = context, for `cvm_resume` (callee-saved)
    call_handler!(),
    monitor_sp = const MONITOR_SP, handler = const HANDLER, handler_data = const HANDLER_DATA,
    c31 = const C31, pc = const PC,
);

/// Copies the cVM's c31, DDC and PC, which stay in MScratchC, MTDC and MEPCC (mscratch, mepc)
/// while the handler runs, into the context. The handler calls it before anything reads them
/// there and before it leaves `run_cvm`; never after replacing the context (a restart).
#[inline(always)]
pub fn spill(context: &mut CvmContext) {
    #[cfg(feature = "cheri")]
    // SAFETY: reads three M-mode SCRs into the scratch c6 (x6 declared clobbered) and stores
    // each into its 16-byte aligned slot of `context` (a `repr(align(16))` struct).
    unsafe {
        core::arch::asm!(
            ".word {r31}", ".word {s31}",   // cspecialrw c6, mscratchc, c0; sc c6, C31(a0)
            ".word {rddc}", ".word {sddc}", // cspecialrw c6, mtdc, c0;      sc c6, DDC(a0)
            ".word {rpc}", ".word {spc}",   // cspecialrw c6, mepcc, c0;     sc c6, PC(a0)
            r31 = const words::READ_MSCRATCHC_C6, s31 = const words::SC_C6_C31,
            rddc = const words::READ_MTDC_C6, sddc = const words::SC_C6_DDC,
            rpc = const words::READ_MEPCC_C6, spc = const words::SC_C6_PC,
            in("x10") core::ptr::from_mut(context),
            out("x6") _,
            options(nostack),
        );
    }
    #[cfg(not(feature = "cheri"))]
    // SAFETY: reads mscratch and mepc and stores them in `context`'s t6 and PC slots.
    unsafe {
        core::arch::asm!(
            "csrr {t}, mscratch", "sd {t}, {c31}({ctx})",
            "csrr {t}, mepc", "sd {t}, {pc}({ctx})",
            ctx = in(reg) core::ptr::from_mut(context),
            t = out(reg) _,
            c31 = const C31, pc = const PC,
            options(nostack),
        );
    }
}

/// Moves the cVM's PC (MEPCC / mepc, where it stays while the handler runs) past its `ecall`.
#[inline(always)]
pub fn step_past_ecall() {
    #[cfg(feature = "cheri")]
    // SAFETY: CIncOffsetImm on a copy of MEPCC in the scratch c6 (x6 declared clobbered),
    // written back: the cVM resumes 4 bytes on, within its own code capability (a PC past
    // the capability's end faults in the cVM, not the monitor).
    unsafe {
        core::arch::asm!(
            ".word {read}", ".word {inc}", ".word {write}", // c6 = MEPCC; c6 += 4; MEPCC = c6
            read = const words::READ_MEPCC_C6, inc = const words::INC_C6_4, write = const words::WRITE_MEPCC_C6,
            out("x6") _,
            options(nomem, nostack),
        );
    }
    #[cfg(not(feature = "cheri"))]
    // SAFETY: mepc += 4; the cVM resumes after its `ecall` (PMP confines it wherever it is).
    unsafe {
        core::arch::asm!("csrr {t}, mepc", "addi {t}, {t}, 4", "csrw mepc, {t}", t = out(reg) _, options(nomem, nostack));
    }
}
