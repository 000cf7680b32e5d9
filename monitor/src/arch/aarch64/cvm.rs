//! Running cVMs on aarch64: EL0 cVMs under a TGE=1 EL2 monitor. Builds a cVM's initial
//! registers (on Morello: derives its default capabilities in hardware from the root and
//! checks each against the software model), saves FP/SIMD state between cVMs, and turns an
//! exit from `switch::run_cvm` into a [`CvmEvent`].

use core::arch::asm;
use core::ops::ControlFlow;

use super::switch::{self, CvmContext, Exit};
use crate::arch::syndrome::ArmSyndrome;
use crate::cvm::event::{CapRole, CvmEvent, Exits, Fault};
use crate::cvm::start::CapMismatch;

/// The capability format regions are planned with (also on stock aarch64, so both builds lay
/// out memory the same way).
pub type Format = crate::cap::Morello;
pub const MACHINE: crate::cvm::image::Machine = crate::cvm::image::Machine::Aarch64;

/// FP/SIMD registers of a cVM: q0..q31, FPCR, FPSR. The monitor is built soft-float and never
/// touches them, so they are saved only when the CPU passes from one cVM to another.
#[repr(C, align(16))]
pub struct FpState {
    q: [[u64; 2]; 32],
    fpcr: u64,
    fpsr: u64,
}

/// Everything the CPU holds for one cVM. Lives in a `Box` that never moves: on Morello the
/// context holds tagged capabilities, which a byte copy would strip.
#[repr(C, align(16))]
pub struct CvmCpu {
    pub context: CvmContext,
    pub fp: FpState,
}

impl CvmCpu {
    pub const fn new() -> Self {
        CvmCpu { context: CvmContext::zeroed(), fp: FpState { q: [[0; 2]; 32], fpcr: 0, fpsr: 0 } }
    }
}

impl Default for CvmCpu {
    fn default() -> Self {
        Self::new()
    }
}

/// One-time EL2 set-up for running cVMs at EL0.
pub fn init() -> Result<(), &'static str> {
    // FP/SIMD and capability instructions are already untrapped at EL0: in host mode
    // (E2H = TGE = 1) CPTR_EL2.FPEN/CEN govern EL0, and `mmu::enter_host_mode` set both.
    #[cfg(feature = "cheri")]
    // SAFETY: CCTLR_EL0 = 0: cVM addresses are absolute (no DDC/PCC base offsetting) and EL0
    // exceptions... are unaffected; only cVM execution reads it.
    unsafe {
        asm!(".inst {msr}", "isb", msr = const crate::arch::insn::morello::msr_x(crate::arch::insn::morello::sysreg::CCTLR_EL0, 31), options(nostack));
    }
    switch::clear_executive_bank();
    #[cfg(feature = "cheri")]
    super::caps::capture_ddc(&mut ROOT.lock().0);
    Ok(())
}

/// The root capability, captured from the monitor's DDC at boot. Every cVM capability is
/// derived from it (or, for nested cVMs later, from a parent's) by removing authority.
#[cfg(feature = "cheri")]
static ROOT: spin::Mutex<super::caps::CapSlot> = spin::Mutex::new(super::caps::CapSlot::null());

pub type Setup<'a> = crate::cvm::start::Setup<'a, Format>;

/// Fills `cpu` with a fresh cVM state: zeroed registers, entry PC, stack pointer, argc/argv, and
/// (Morello) PCC/DDC/stack capabilities derived from the root and checked against the model.
pub fn prepare(cpu: &mut CvmCpu, setup: &Setup<'_>) -> Result<(), CapMismatch> {
    cpu.context = CvmContext::zeroed();
    cpu.fp = FpState { q: [[0; 2]; 32], fpcr: 0, fpsr: 0 };
    cpu.context.regs[0][0] = setup.argc;
    cpu.context.regs[1][0] = setup.argv;
    // EL0t, AArch64, A64 (SPSR bit 26 = C64 clear: cap-unaware code), DAIF clear.
    cpu.context.spsr = 0;
    #[cfg(not(feature = "cheri"))]
    {
        cpu.context.pc[0] = setup.entry;
        cpu.context.sp[0] = setup.stack_top;
    }
    #[cfg(feature = "cheri")]
    {
        use super::caps;
        let root = ROOT.lock();
        let mut code = caps::CapSlot::null();
        let mut data = caps::CapSlot::null();
        let mut stack = caps::CapSlot::null();
        for (slot, model, role) in [
            (&mut code, &setup.caps.code, CapRole::Code),
            (&mut data, &setup.caps.data, CapRole::Data),
            (&mut stack, &setup.caps.stack, CapRole::Stack),
        ] {
            let keep = u64::from(model.perms().bits());
            let clear = !keep & 0x3_ffff;
            let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
            caps::derive(&mut slot.0, &root.0, model.base(), length, clear);
            check(&slot.0, model, role)?;
        }
        caps::with_address(&mut cpu.context.pc, &code.0, setup.entry);
        caps::with_address(&mut cpu.context.sp, &stack.0, setup.stack_top);
        caps::with_address(&mut cpu.context.ddc, &data.0, setup.caps.data.base());
        for (slot, role) in [(&cpu.context.pc, CapRole::Code), (&cpu.context.sp, CapRole::Stack)] {
            if !caps::inspect(slot).tag {
                return Err(CapMismatch { role, detail: "lost its tag when its address was set".into() });
            }
        }
    }
    Ok(())
}

#[cfg(feature = "cheri")]
fn check(slot: &[u64; 2], model: &crate::cap::Capability<Format>, role: CapRole) -> Result<(), CapMismatch> {
    let hw = super::caps::inspect(slot);
    let observed = crate::cvm::start::Observed { tag: hw.tag, base: hw.base, length: hw.length, perms: hw.perms };
    crate::cvm::start::check_against_model(observed, model, role)
}

pub fn save_fp(fp: &mut FpState) {
    // SAFETY: stores q0..q31/FPCR/FPSR into `fp` (16-byte aligned, 528 bytes); EL2 FP is not
    // trapped (CPTR_EL2.FPEN = 0b11, set by `mmu::enter_host_mode`). The monitor itself never uses FP registers.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]",     "stp q2, q3, [{p}, #32]",
            "stp q4, q5, [{p}, #64]",    "stp q6, q7, [{p}, #96]",
            "stp q8, q9, [{p}, #128]",   "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]",
            "stp q16, q17, [{p}, #256]", "stp q18, q19, [{p}, #288]",
            "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]",
            "stp q28, q29, [{p}, #448]", "stp q30, q31, [{p}, #480]",
            "mrs {t}, fpcr", "str {t}, [{p}, #512]",
            "mrs {t}, fpsr", "str {t}, [{p}, #520]",
            p = in(reg) fp as *mut FpState,
            t = out(reg) _,
            options(nostack),
        );
    }
}

pub fn restore_fp(fp: &FpState) {
    // SAFETY: the inverse of `save_fp`, from a 16-byte aligned `FpState`.
    unsafe {
        asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]",     "ldp q2, q3, [{p}, #32]",
            "ldp q4, q5, [{p}, #64]",    "ldp q6, q7, [{p}, #96]",
            "ldp q8, q9, [{p}, #128]",   "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]",
            "ldp q16, q17, [{p}, #256]", "ldp q18, q19, [{p}, #288]",
            "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]",
            "ldp q28, q29, [{p}, #448]", "ldp q30, q31, [{p}, #480]",
            "ldr {t}, [{p}, #512]", "msr fpcr, {t}",
            "ldr {t}, [{p}, #520]", "msr fpsr, {t}",
            p = in(reg) fp as *const FpState,
            t = out(reg) _,
            options(nostack),
        );
    }
}

/// Runs the cVM in `exits.cpu()`, handing each of its exits to `exits.exit`, until that
/// answers `Break`.
pub fn run_until<E: Exits<Cpu = CvmCpu>>(exits: &mut E) -> E::Done {
    loop {
        let event = match run(exits.cpu()) {
            CvmEvent::Fault(fault) => return exits.fault(fault),
            event => event,
        };
        if let ControlFlow::Break(done) = exits.exit(event) {
            return done;
        }
    }
}

/// Runs the cVM until its next exception and says what happened.
fn run(cpu: &mut CvmCpu) -> CvmEvent {
    // SAFETY: `cpu.context` was filled by `prepare` (and since then only by the switcher), so
    // it holds this cVM's confined state; interrupts are masked in the monitor.
    let exit = unsafe { switch::run_cvm(&mut cpu.context) };
    let ctx = &cpu.context;
    let pc = ctx.pc[0];
    match exit {
        Exit::Irq => CvmEvent::Interrupt,
        Exit::Sync => {
            let syndrome = ArmSyndrome { esr: ctx.esr, far: ctx.far };
            if syndrome.exception_class() == 0x15 {
                return CvmEvent::Hostcall { number: ctx.regs[8][0] };
            }
            let role = match syndrome.exception_class() {
                0x20..=0x22 => CapRole::Code,
                0x24..=0x26 => CapRole::Data,
                _ => CapRole::Code,
            };
            let cause = match syndrome.fault_name() {
                Some(name) => name,
                None => match syndrome.exception_class() {
                    0x00 | 0x18 | 0x2a => "undefined or privileged instruction",
                    _ => syndrome.class_name(),
                },
            };
            CvmEvent::Fault(alloc::boxed::Box::new(Fault {
                cause,
                detail: alloc::format!("{syndrome}"),
                pc,
                address: syndrome.has_fault_address().then_some(syndrome.far),
                role,
            }))
        }
        Exit::Other(kind) => CvmEvent::Fault(alloc::boxed::Box::new(Fault {
            cause: "unexpected FIQ or SError",
            detail: alloc::format!("vector {kind}"),
            pc,
            address: None,
            role: CapRole::Code,
        })),
    }
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

/// A hostcall's arguments: x0..x5.
pub fn hostcall_args(cpu: &CvmCpu) -> [u64; 6] {
    let r = &cpu.context.regs;
    [r[0][0], r[1][0], r[2][0], r[3][0], r[4][0], r[5][0]]
}

/// Puts a hostcall's result in the cVM's x0 (as an integer: any capability there is dropped).
pub fn set_result(cpu: &mut CvmCpu, value: u64) {
    cpu.context.regs[0] = [value, 0];
}

/// The cVM's current PC (for reports).
pub fn pc(cpu: &CvmCpu) -> u64 {
    cpu.context.pc[0]
}
