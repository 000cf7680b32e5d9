//! Running cVMs on riscv64: U-mode cVMs under the M-mode monitor. Builds a cVM's initial
//! registers (on CHERI-RISC-V: derives its default capabilities in hardware from the root and
//! checks each against the software model), programs the PMP window, saves FP state between
//! cVMs, and turns a trap into a [`CvmEvent`].
//!
//! PMP is a second line of defence under the capabilities (and the only one on stock riscv64):
//! U-mode may fetch from the code part of its region, read and write the rest, and nothing
//! else. The code part is `[region start, data start)`, which contains the code capability's
//! bounds; the data part is exactly the data capability's.

use core::arch::asm;
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicU64, Ordering};

use super::switch::{self, CvmContext};
use crate::arch::syndrome::RiscvCause;
use crate::cvm::event::{CapRole, CvmEvent, Exits, Fault};
use crate::cvm::start::CapMismatch;

pub type Format = crate::cap::CheriRiscv;
pub const MACHINE: crate::cvm::image::Machine = crate::cvm::image::Machine::Riscv64;
pub type Setup<'a> = crate::cvm::start::Setup<'a, Format>;

/// f0..f31 and fcsr. The monitor never uses FP registers, so they are switched only when the
/// CPU passes from one cVM to another, and saved only if the cVM wrote them (mstatus.FS was
/// Dirty at one of its exits since they were last restored).
#[repr(C, align(16))]
pub struct FpState {
    f: [u64; 32],
    fcsr: u64,
    dirty: bool,
    /// The cVM has written FP registers at some point; until then its state is all zeros.
    ever_used: bool,
}

/// The FP registers hold the all-zero state and no cVM has written them since, so switching
/// to a cVM that never used FP needs no restore (and leaks nothing: there is nothing in them).
static FP_REGS_PRISTINE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Everything the CPU holds for one cVM, plus its PMP window. Lives in a `Box` that never
/// moves: on CHERI the context holds tagged capabilities.
#[repr(C, align(16))]
pub struct CvmCpu {
    pub context: CvmContext,
    pub fp: FpState,
    /// PMP: [start, data) may be fetched and read, [data, end) read and written.
    window: [u64; 3],
}

impl CvmCpu {
    pub const fn new() -> Self {
        CvmCpu { context: CvmContext::zeroed(), fp: FpState { f: [0; 32], fcsr: 0, dirty: false, ever_used: false }, window: [0; 3] }
    }
}

impl Default for CvmCpu {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "cheri")]
static ROOT: spin::Mutex<super::caps::CapSlot> = spin::Mutex::new(super::caps::CapSlot::null());

/// MCCSR bit 30: ISAv9 "no relocation", integer addresses are absolute rather than DDC-relative.
#[cfg(feature = "cheri")]
const MCCSR_NO_RELOCATION: u64 = 1 << 30;

/// One-time set-up for running cVMs. Fails on a CHERI-RISC-V hart in the legacy DDC-relative
/// mode: capmon's loader and hostcall checks use absolute addresses.
pub fn init() -> Result<(), &'static str> {
    #[cfg(feature = "cheri")]
    {
        let mccsr: u64;
        // SAFETY: reading MCCSR (CSR 0xBC0, read-only) has no side effects.
        unsafe { asm!("csrr {}, 0xbc0", out(reg) mccsr, options(nomem, nostack)) };
        if mccsr & MCCSR_NO_RELOCATION == 0 {
            return Err("this CHERI-RISC-V hart uses legacy DDC-relative addressing; capmon needs ISAv9 (QEMU: -cpu rv64,Xcheri_v9=true)");
        }
    }
    // mcounteren = 0: U-mode reading cycle/time/instret traps (cVMs ask the monitor for time).
    // SAFETY: only affects U-mode counter access; no cVM runs yet.
    unsafe { asm!("csrw mcounteren, zero", options(nomem, nostack)) };
    #[cfg(feature = "cheri")]
    super::caps::capture_ddc(&mut ROOT.lock().0);
    Ok(())
}

/// Fills `cpu` with a fresh cVM state.
pub fn prepare(cpu: &mut CvmCpu, setup: &Setup<'_>) -> Result<(), CapMismatch> {
    cpu.context = CvmContext::zeroed();
    cpu.fp = FpState { f: [0; 32], fcsr: 0, dirty: false, ever_used: false };
    cpu.context.regs[10][0] = setup.argc;
    cpu.context.regs[11][0] = setup.argv;
    let caps = setup.caps;
    let region_start = caps.code.base();
    let region_end = u64::try_from(caps.stack.top()).unwrap_or(u64::MAX);
    cpu.window = [region_start, caps.data.base(), region_end];
    #[cfg(not(feature = "cheri"))]
    {
        cpu.context.pc[0] = setup.entry;
        cpu.context.regs[2][0] = setup.stack_top;
    }
    #[cfg(feature = "cheri")]
    {
        use super::caps;
        let root = ROOT.lock();
        let mut code = caps::CapSlot::null();
        let mut stack = caps::CapSlot::null();
        for (slot, model, role) in [
            (&mut code.0, &caps.code, CapRole::Code),
            (&mut cpu.context.ddc, &caps.data, CapRole::Data),
            (&mut stack.0, &caps.stack, CapRole::Stack),
        ] {
            let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
            caps::derive(slot, &root.0, model.base(), length, u64::from(model.perms().bits()));
            let hw = caps::inspect(slot);
            let observed = crate::cvm::start::Observed { tag: hw.tag, base: hw.base, length: hw.length, perms: hw.perms };
            crate::cvm::start::check_against_model(observed, model, role)?;
        }
        caps::with_address(&mut cpu.context.pc, &code.0, setup.entry);
        // The cVM is cap-unaware: its sp (c2) is an address checked against DDC; the stack
        // capability bounds it in the model and the audit.
        cpu.context.regs[2][0] = setup.stack_top;
        if !caps::inspect(&cpu.context.pc).tag {
            return Err(CapMismatch { role: CapRole::Code, detail: "lost its tag when its address was set".into() });
        }
    }
    Ok(())
}

const PMP_TOR: u64 = 0x08;
const PMP_R: u64 = 0x01;
const PMP_W: u64 = 0x02;
const PMP_X: u64 = 0x04;

/// The window PMP holds now, so a cVM resuming after a hostcall doesn't reprogram it
/// (relaxed atomics: one hart, and the monitor is never preempted).
static PMP_WINDOW: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn program_pmp(window: &[u64; 3]) {
    let [start, data, end] = *window;
    let held = |i: usize| PMP_WINDOW[i].load(Ordering::Relaxed);
    if held(0) == start && held(1) == data && held(2) == end {
        return;
    }
    PMP_WINDOW[0].store(start, Ordering::Relaxed);
    PMP_WINDOW[1].store(data, Ordering::Relaxed);
    PMP_WINDOW[2].store(end, Ordering::Relaxed);
    // Entry 0 (OFF) marks the start; entry 1 = TOR [start, data) R+X; entry 2 = TOR
    // [data, end) R+W. No other entry matches, so U-mode can touch nothing else.
    let cfg = ((PMP_TOR | PMP_R | PMP_X) << 8) | ((PMP_TOR | PMP_R | PMP_W) << 16);
    // SAFETY: PMP entries without the L bit only restrict U/S-mode; the monitor (M-mode) is
    // unaffected. The cVM is not running while they change.
    unsafe {
        asm!(
            "csrw pmpaddr0, {a0}",
            "csrw pmpaddr1, {a1}",
            "csrw pmpaddr2, {a2}",
            "csrw pmpcfg0, {cfg}",
            a0 = in(reg) start >> 2,
            a1 = in(reg) data >> 2,
            a2 = in(reg) end >> 2,
            cfg = in(reg) cfg,
            options(nomem, nostack),
        );
    }
}

pub fn save_fp(fp: &mut FpState) {
    if !fp.dirty {
        return;
    }
    fp.dirty = false;
    // SAFETY: stores f0..f31 and fcsr into `fp`; mstatus.FS is non-zero (the switcher sets
    // it), so M-mode FP access does not trap. The monitor itself never uses FP registers.
    unsafe {
        asm!(
            "fsd f0, 0({p})",    "fsd f1, 8({p})",    "fsd f2, 16({p})",   "fsd f3, 24({p})",
            "fsd f4, 32({p})",   "fsd f5, 40({p})",   "fsd f6, 48({p})",   "fsd f7, 56({p})",
            "fsd f8, 64({p})",   "fsd f9, 72({p})",   "fsd f10, 80({p})",  "fsd f11, 88({p})",
            "fsd f12, 96({p})",  "fsd f13, 104({p})", "fsd f14, 112({p})", "fsd f15, 120({p})",
            "fsd f16, 128({p})", "fsd f17, 136({p})", "fsd f18, 144({p})", "fsd f19, 152({p})",
            "fsd f20, 160({p})", "fsd f21, 168({p})", "fsd f22, 176({p})", "fsd f23, 184({p})",
            "fsd f24, 192({p})", "fsd f25, 200({p})", "fsd f26, 208({p})", "fsd f27, 216({p})",
            "fsd f28, 224({p})", "fsd f29, 232({p})", "fsd f30, 240({p})", "fsd f31, 248({p})",
            "frcsr {t}", "sd {t}, 256({p})",
            p = in(reg) fp as *mut FpState,
            t = out(reg) _,
            options(nostack),
        );
    }
}

pub fn restore_fp(fp: &FpState) {
    if !fp.ever_used && FP_REGS_PRISTINE.load(Ordering::Relaxed) {
        return;
    }
    FP_REGS_PRISTINE.store(!fp.ever_used, Ordering::Relaxed);
    // SAFETY: the inverse of `save_fp`. FS must be on for M-mode to write FP registers: set it.
    unsafe {
        asm!(
            "li {t}, 0x6000", "csrs mstatus, {t}",
            "fld f0, 0({p})",    "fld f1, 8({p})",    "fld f2, 16({p})",   "fld f3, 24({p})",
            "fld f4, 32({p})",   "fld f5, 40({p})",   "fld f6, 48({p})",   "fld f7, 56({p})",
            "fld f8, 64({p})",   "fld f9, 72({p})",   "fld f10, 80({p})",  "fld f11, 88({p})",
            "fld f12, 96({p})",  "fld f13, 104({p})", "fld f14, 112({p})", "fld f15, 120({p})",
            "fld f16, 128({p})", "fld f17, 136({p})", "fld f18, 144({p})", "fld f19, 152({p})",
            "fld f20, 160({p})", "fld f21, 168({p})", "fld f22, 176({p})", "fld f23, 184({p})",
            "fld f24, 192({p})", "fld f25, 200({p})", "fld f26, 208({p})", "fld f27, 216({p})",
            "fld f28, 224({p})", "fld f29, 232({p})", "fld f30, 240({p})", "fld f31, 248({p})",
            "ld {t}, 256({p})", "fscsr {t}",
            p = in(reg) fp as *const FpState,
            t = out(reg) _,
            options(nostack),
        );
    }
}

const ECALL_FROM_U: u64 = 8;

/// One `run_until`: the run loop's handler and, once it breaks, its answer.
struct Turn<'a, E: Exits> {
    exits: &'a mut E,
    done: Option<E::Done>,
}

/// Runs the cVM in `exits.cpu()`, handing each of its exits to `exits.exit` (on the monitor
/// stack, from the trap path), until that answers `Break`.
pub fn run_until<E: Exits<Cpu = CvmCpu>>(exits: &mut E) -> E::Done {
    let mut turn = Turn { exits, done: None };
    let cpu = turn.exits.cpu();
    program_pmp(&cpu.window);
    let context: *mut CvmContext = &mut cpu.context;
    // SAFETY: `cpu.context` was filled by `prepare` (and since then only by the switcher and
    // the handler, which changes nothing but a0 and the PC before a resume), so it holds this
    // cVM's confined state; interrupts are masked in the monitor. `context` and `turn` both
    // come from `exits` and stay valid for the call; the switcher touches the context only
    // while `on_trap` (the one Rust code that uses `turn` meanwhile) is not running.
    unsafe { switch::run_cvm(context, on_trap::<E>, core::ptr::from_mut(&mut turn).cast()) };
    match turn.done {
        Some(done) => done,
        // `run_cvm` returns only after `on_trap` stored an answer.
        None => unreachable!("the switcher left without an answer"),
    }
}

/// The switcher's handler: decodes the trap (before anything can overwrite mcause and mtval)
/// and asks the run loop. Returns 0 to resume the cVM, 1 to leave `run_cvm`.
extern "C" fn on_trap<E: Exits<Cpu = CvmCpu>>(data: *mut ()) -> u64 {
    // SAFETY: `data` is the `Turn` `run_until` passed to `run_cvm`, alive on its stack for the
    // whole call, and nothing else uses it while this runs.
    let turn = unsafe { &mut *data.cast::<Turn<'_, E>>() };
    let cpu = turn.exits.cpu();
    let (mcause, mstatus): (u64, u64);
    // SAFETY: reading mcause and mstatus has no side effects.
    unsafe { asm!("csrr {}, mcause", "csrr {}, mstatus", out(reg) mcause, out(reg) mstatus, options(nomem, nostack)) };
    const MSTATUS_FS_DIRTY: u64 = 3 << 13;
    if mstatus & MSTATUS_FS_DIRTY == MSTATUS_FS_DIRTY {
        cpu.fp.dirty = true;
        cpu.fp.ever_used = true;
        FP_REGS_PRISTINE.store(false, Ordering::Relaxed);
    }
    let event = if mcause == ECALL_FROM_U {
        switch::step_past_ecall();
        CvmEvent::Hostcall { number: cpu.context.regs[17][0] }
    } else if mcause >> 63 == 1 {
        // Bit 63 of mcause: an interrupt.
        CvmEvent::Interrupt
    } else {
        // A fault: its report reads the PC and maybe c31, and it may restart the cVM (which
        // replaces the context), so everything goes into the context first.
        switch::spill(&mut cpu.context);
        let fault = fault_event(cpu, mcause);
        turn.done = Some(turn.exits.fault(fault));
        return 1;
    };
    match turn.exits.exit(event) {
        ControlFlow::Continue(()) => 0,
        ControlFlow::Break(done) => {
            // A hostcall or interrupt never replaces the context: complete it before leaving.
            switch::spill(&mut turn.exits.cpu().context);
            turn.done = Some(done);
            1
        }
    }
}

#[inline(never)]
fn fault_event(cpu: &CvmCpu, mcause: u64) -> alloc::boxed::Box<Fault> {
    let mtval: u64;
    // SAFETY: reading mtval has no side effects.
    unsafe { asm!("csrr {}, mtval", out(reg) mtval, options(nomem, nostack)) };
    let cause = RiscvCause { mcause, mtval };
    let pc = cpu.context.pc[0];
    let (cause_name, role) = match (cause.code(), cause.cheri_cause()) {
        (_, Some((name, reg))) => (name, match reg.0 {
            32 => CapRole::Code,
            33 => CapRole::Data,
            n @ 1..=31 => CapRole::Register(n),
            _ => CapRole::Data,
        }),
        (0 | 1 | 12, None) => (cause.name(), CapRole::Code),
        (2, None) => ("undefined or privileged instruction", CapRole::Code),
        (_, None) => (cause.name(), CapRole::Data),
    };
    let address = match cause.code() {
        0 | 1 | 4 | 5 | 6 | 7 | 12 | 13 | 15 => Some(mtval),
        // A CHERI fault reports cause and register, not the address: decode the access.
        crate::arch::syndrome::CHERI_MCAUSE => faulting_access(cpu),
        _ => None,
    };
    alloc::boxed::Box::new(Fault { cause: cause_name, detail: alloc::format!("{cause}"), pc, address, role })
}

/// The address the load, store or jump at the cVM's PC tried to reach, if the PC lies in its
/// code window and the instruction is one of those.
fn faulting_access(cpu: &CvmCpu) -> Option<u64> {
    let pc = cpu.context.pc[0];
    let [code_start, code_end, _] = cpu.window;
    if pc < code_start || pc.checked_add(4)? > code_end {
        return None;
    }
    // SAFETY: `pc..pc + 4` lies inside this cVM's code window, RAM the monitor owns and the
    // cVM cannot write (PMP and its capabilities give it no store access there).
    let insn = unsafe { core::ptr::read_unaligned(pc as *const u32) };
    let mut x = [0u64; 32];
    for (value, saved) in x.iter_mut().zip(cpu.context.regs.iter()).skip(1) {
        *value = saved[0];
    }
    crate::arch::syndrome::riscv_access_address(insn, &x)
}

/// Capability register `n` as the cVM left it (c0..c30 on Morello, c0..c31 on RISC-V).
pub fn saved_register(cpu: &CvmCpu, n: u8) -> Option<&[u64; 2]> {
    cpu.context.regs.get(usize::from(n))
}

/// The hardware tag of a saved capability slot (always false without capability hardware).
pub fn slot_tag(slot: &[u64; 2]) -> bool {
    #[cfg(feature = "cheri")]
    return super::caps::inspect(slot).tag;
    #[cfg(not(feature = "cheri"))]
    {
        let _ = slot;
        false
    }
}

/// A hostcall's arguments: a0..a5.
pub fn hostcall_args(cpu: &CvmCpu) -> [u64; 6] {
    let r = &cpu.context.regs;
    [r[10][0], r[11][0], r[12][0], r[13][0], r[14][0], r[15][0]]
}

/// Puts a hostcall's result in the cVM's a0 (as an integer).
pub fn set_result(cpu: &mut CvmCpu, value: u64) {
    cpu.context.regs[10] = [value, 0];
}

pub fn pc(cpu: &CvmCpu) -> u64 {
    cpu.context.pc[0]
}
