//! Running cVMs on aarch64: EL0 cVMs under a TGE=1 EL2 monitor. Builds a cVM's initial
//! registers (on Morello: derives its default capabilities in hardware from the root and
//! checks each against the software model), saves FP/SIMD state between cVMs, and turns an
//! exit from `switch::run_cvm` into a [`CvmEvent`].

use core::arch::asm;
use core::ops::ControlFlow;

use super::switch::{self, CvmContext, Exit};
use crate::arch::fp_run::FpRun;
use crate::arch::syndrome::ArmSyndrome;
use crate::cvm::event::{CapRole, CvmEvent, Exits, Fault};
use crate::cvm::start::CapMismatch;

/// The capability format regions are planned with (also on stock aarch64, so both builds lay
/// out memory the same way).
pub type Format = crate::cap::Morello;
pub const MACHINE: crate::cvm::image::Machine = crate::cvm::image::Machine::Aarch64;

/// FP/SIMD registers of a cVM: q0..q31, FPCR, FPSR. The monitor is built soft-float and never
/// touches them, so they are saved only when the CPU passes from one cVM to another, and
/// restored whenever the registers hold anything but this very run's state ([`FpRun`]): a cVM
/// that never used FP gets `prepare`'s zeros, never what another cVM left.
#[repr(C, align(16))]
pub struct FpState {
    q: [[u64; 2]; 32],
    fpcr: u64,
    fpsr: u64,
    run: FpRun,
}

/// Everything the CPU holds for one cVM. Lives in a `Box` that never moves: on Morello the
/// context holds tagged capabilities, which a byte copy would strip.
#[repr(C, align(16))]
pub struct CvmCpu {
    pub context: CvmContext,
    pub fp: FpState,
    /// Its code range `[start, end)`: where a C64 fault's instruction may be read to name the
    /// capability it used.
    code: [u64; 2],
}

impl CvmCpu {
    pub const fn new() -> Self {
        CvmCpu {
            context: CvmContext::zeroed(),
            fp: FpState {
                q: [[0; 2]; 32],
                fpcr: 0,
                fpsr: 0,
                run: FpRun::NONE,
            },
            code: [0; 2],
        }
    }
}

impl Default for CvmCpu {
    fn default() -> Self {
        Self::new()
    }
}

/// One-time EL2 set-up for running cVMs at EL0 (the boot core; the others run
/// [`init_this_core`] when they start).
pub fn init() -> Result<(), &'static str> {
    init_this_core();
    #[cfg(feature = "cheri")]
    super::caps::capture_ddc(&mut ROOT.lock().0);
    Ok(())
}

/// What every core sets before it runs cVMs: its own EL0 controls and executive bank.
pub fn init_this_core() {
    // FP/SIMD and capability instructions are already untrapped at EL0: in host mode
    // (E2H = TGE = 1) CPTR_EL2.FPEN/CEN govern EL0, and `mmu::enter_host_mode` set both.
    #[cfg(feature = "cheri")]
    // SAFETY: CCTLR_EL0 = 0: cVM addresses are absolute (no DDC/PCC base offsetting) and EL0
    // exceptions... are unaffected; only cVM execution reads it.
    unsafe {
        asm!(".inst {msr}", "isb", msr = const crate::arch::insn::morello::msr_x(crate::arch::insn::morello::sysreg::CCTLR_EL0, 31), options(nostack));
    }
    switch::clear_executive_bank();
    deny_pmu();
}

/// PMUSERENR_EL0 = 0: EL0 can neither read nor reset the performance counters (whose counts
/// would be another cVM's and the monitor's activity). Its reset value is UNKNOWN on hardware.
/// Only written when ID_AA64DFR0_EL1.PMUVer says an architected PMU exists (else the register
/// is not there).
fn deny_pmu() {
    let dfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack)) };
    let pmu_version = (dfr0 >> 8) & 0xf;
    if (1..0xf).contains(&pmu_version) {
        // SAFETY: PMUSERENR_EL0 only gates EL0's access to the PMU, which no monitor code uses.
        unsafe { asm!("msr pmuserenr_el0, xzr", "isb", options(nomem, nostack)) };
    }
}

/// The root capability, captured from the monitor's DDC at boot. Every cVM capability is
/// derived from it (or, for nested cVMs later, from a parent's) by removing authority.
#[cfg(feature = "cheri")]
pub(super) static ROOT: spin::Mutex<super::caps::CapSlot> =
    spin::Mutex::new(super::caps::CapSlot::null());

/// A cVM's authority: the capability over its whole region that all its own capabilities are
/// derived from, derived in turn from its parent's authority (a nested cVM) or the root. Held
/// by the monitor only, in a box that never moves (a byte copy would strip the tag).
pub struct Authority {
    #[cfg(feature = "cheri")]
    slot: super::caps::CapSlot,
}

#[cfg(feature = "cheri")]
impl Authority {
    /// The capability itself, for deriving what the cVM is given (never to hand out).
    pub fn slot(&self) -> &[u64; 2] {
        &self.slot.0
    }
}

/// Derives `model` (a [`crate::cvm::plan::DefaultCaps::region`]) in hardware from `parent`'s
/// authority, or from the root for a top-level cVM, and checks it against the model.
pub fn authority(
    parent: Option<&Authority>,
    model: &crate::cap::Capability<Format>,
) -> Result<alloc::boxed::Box<Authority>, CapMismatch> {
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (parent, model);
        Ok(alloc::boxed::Box::new(Authority {}))
    }
    #[cfg(feature = "cheri")]
    {
        let mut authority = alloc::boxed::Box::new(Authority {
            slot: super::caps::CapSlot::null(),
        });
        let root = ROOT.lock();
        let from = parent.map_or(&*root, |p| &p.slot);
        let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
        let keep = u64::from(model.perms().bits());
        super::caps::derive(
            &mut authority.slot.0,
            &from.0,
            model.base(),
            length,
            !keep & 0x3_ffff,
        );
        check(&authority.slot.0, model, CapRole::Data)?;
        Ok(authority)
    }
}

pub type Setup<'a> = crate::cvm::start::Setup<'a, Format>;

/// SPSR_EL2 for a cVM: M = EL0t, AArch64, DAIF clear; bit 26 (PSTATE.C64 after `eret`) set
/// for a pure cVM, clear for cap-unaware code.
const SPSR_EL0T: u64 = 0;
const SPSR_C64: u64 = 1 << 26;

/// Fills `cpu` with a fresh cVM state: zeroed registers, entry PC and stack pointer, and
/// (Morello) the planned capabilities derived from its authority and checked against the model.
/// A hybrid cVM gets argc/argv in x0/x1 as integers, its data capability as DDC, and runs in
/// A64. A pure cVM (`cvm/pure.rs`) runs in C64 with DDC (RDDC_EL0) null: c0 = argc (an
/// integer), c1 = its args capability (or null), c2 = its data capability, c3 = null (its
/// capability store, later), CSP = its stack capability at the stack top; every other
/// register null.
pub fn prepare(
    cpu: &mut CvmCpu,
    setup: &Setup<'_>,
    authority: &Authority,
) -> Result<(), CapMismatch> {
    cpu.context = CvmContext::zeroed();
    // A new run: zeros (FPCR 0 = round to nearest, no traps; FPSR 0), never the registers'
    // current contents, which may be an earlier run's.
    cpu.fp = FpState {
        q: [[0; 2]; 32],
        fpcr: 0,
        fpsr: 0,
        run: FpRun::fresh(),
    };
    cpu.context.regs[0][0] = setup.argc;
    cpu.code = [
        setup.caps.code.base(),
        u64::try_from(setup.caps.code.top()).unwrap_or(u64::MAX),
    ];
    let pure = setup.caps.abi == crate::cvm::manifest::Abi::Purecap;
    cpu.context.spsr = if pure { SPSR_C64 } else { SPSR_EL0T };
    #[cfg(not(feature = "cheri"))]
    {
        let _ = authority; // no capability hardware: nothing to derive from
                           // The run loop refuses pure cVMs on boards without capabilities.
        cpu.context.regs[1][0] = setup.argv;
        cpu.context.pc[0] = setup.entry;
        cpu.context.sp[0] = setup.stack_top;
    }
    #[cfg(feature = "cheri")]
    {
        use super::caps;
        // Every capability comes from the cVM's own authority, never straight from the root.
        let root = &authority.slot;
        let mut code = caps::CapSlot::null();
        let mut data = caps::CapSlot::null();
        let mut stack = caps::CapSlot::null();
        for (slot, model, role) in [
            (&mut code, &setup.caps.code, CapRole::Code),
            (&mut data, &setup.caps.data, CapRole::Data),
            (&mut stack, &setup.caps.stack, CapRole::Stack),
        ] {
            derive_checked(&mut slot.0, &root.0, model, role)?;
        }
        caps::with_address(&mut cpu.context.pc, &code.0, setup.entry);
        caps::with_address(&mut cpu.context.sp, &stack.0, setup.stack_top);
        if pure {
            // DDC stays null (the zeroed context); everything arrives in registers.
            if let Some(args) = &setup.caps.args {
                derive_checked(
                    &mut cpu.context.regs[1],
                    &root.0,
                    args,
                    CapRole::Register(1),
                )?;
            }
            caps::with_address(&mut cpu.context.regs[2], &data.0, setup.caps.data.base());
        } else {
            cpu.context.regs[1][0] = setup.argv;
            caps::with_address(&mut cpu.context.ddc, &data.0, setup.caps.data.base());
        }
        for (slot, role) in [
            (&cpu.context.pc, CapRole::Code),
            (&cpu.context.sp, CapRole::Stack),
        ] {
            if !caps::inspect(slot).tag {
                return Err(CapMismatch {
                    role,
                    detail: "lost its tag when its address was set".into(),
                });
            }
        }
    }
    Ok(())
}

/// Derives `model` from `root` into `slot` (SCVALUE/SCBNDSE/CLRPERM) and checks what the
/// hardware made against the model.
#[cfg(feature = "cheri")]
fn derive_checked(
    slot: &mut [u64; 2],
    root: &[u64; 2],
    model: &crate::cap::Capability<Format>,
    role: CapRole,
) -> Result<(), CapMismatch> {
    let keep = u64::from(model.perms().bits());
    let clear = !keep & 0x3_ffff;
    let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
    super::caps::derive(slot, root, model.base(), length, clear);
    check(slot, model, role)
}

#[cfg(feature = "cheri")]
fn check(
    slot: &[u64; 2],
    model: &crate::cap::Capability<Format>,
    role: CapRole,
) -> Result<(), CapMismatch> {
    let hw = super::caps::inspect(slot);
    let observed = crate::cvm::start::Observed {
        tag: hw.tag,
        base: hw.base,
        length: hw.length,
        perms: hw.perms,
    };
    crate::cvm::start::check_against_model(observed, model, role)
}

/// Stores one planned capability relocation at `dst` (a 16-byte slot in cVM memory): derived
/// in hardware from the cVM's authority (never the root) with the model's bounds and permissions, its address set, sealed
/// as a sentry when the model is one, checked against the model, then stored with a capability
/// store. An untagged model (a null pointer) is written as its two plain words. Nothing is
/// stored if the check fails.
pub fn store_relocated(
    dst: &mut [u64; 2],
    model: &crate::cap::Capability<Format>,
    authority: &Authority,
) -> Result<(), alloc::string::String> {
    if !model.tag() {
        *dst = model.to_memory();
        return Ok(());
    }
    #[cfg(not(feature = "cheri"))]
    {
        let _ = authority;
        Err("a capability relocation needs capability hardware".into())
    }
    #[cfg(feature = "cheri")]
    {
        use super::caps;
        use crate::cap::Format as _;
        if model.is_sealed() && model.otype() != Format::SENTRY_OTYPE {
            return Err(alloc::format!(
                "the model is sealed but not a sentry: {model}"
            ));
        }
        let root = &authority.slot;
        let mut bounded = caps::CapSlot::null();
        let mut placed = caps::CapSlot::null();
        let clear = !u64::from(model.perms().bits()) & 0x3_ffff;
        let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
        caps::derive(&mut bounded.0, &root.0, model.base(), length, clear);
        caps::with_address(&mut placed.0, &bounded.0, model.address());
        let mut sealed = caps::CapSlot::null();
        let result = if model.is_sealed() {
            caps::seal_entry(&mut sealed.0, &placed.0);
            &sealed
        } else {
            &placed
        };
        let hw = caps::inspect(&result.0);
        let observed = crate::cvm::cap_relocs::Observed {
            tag: hw.tag,
            base: hw.base,
            length: hw.length,
            address: hw.address,
            perms: hw.perms,
            otype: hw.otype,
        };
        crate::cvm::cap_relocs::check_against_model(observed, model)?;
        caps::copy(dst, &result.0);
        if !caps::inspect(dst).tag {
            return Err("the capability store to cVM memory lost the tag".into());
        }
        Ok(())
    }
}

/// Whether the FP registers hold this state's run (then neither save nor restore is needed).
pub fn fp_loaded(fp: &FpState) -> bool {
    fp.run.is_loaded()
}

/// Saves the FP registers into `fp`, if they are its run's (else they belong to no one who
/// needs them: an earlier run of a restarted cVM).
pub fn save_fp(fp: &mut FpState) {
    if !fp.run.is_loaded() {
        return;
    }
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

/// Loads `fp` into the FP registers: every one of q0..q31, FPCR and FPSR is overwritten.
pub fn restore_fp(fp: &FpState) {
    fp.run.mark_loaded();
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

/// Runs the cVM until its next exception and says what happened. Always inlined into each
/// `run_until` (the run loop has two, hybrid and pure): a call here is a dozen instructions
/// more on every hostcall.
#[inline(always)]
fn run(cpu: &mut CvmCpu) -> CvmEvent {
    // SAFETY: `cpu.context` was filled by `prepare` (and since then only by the switcher), so
    // it holds this cVM's confined state; interrupts are masked in the monitor.
    let exit = unsafe { switch::run_cvm(&mut cpu.context) };
    let ctx = &cpu.context;
    let pc = ctx.pc[0];
    match exit {
        Exit::Irq => CvmEvent::Interrupt,
        Exit::Sync => {
            let syndrome = ArmSyndrome {
                esr: ctx.esr,
                far: ctx.far,
            };
            if syndrome.exception_class() == 0x15 {
                return CvmEvent::Hostcall {
                    number: ctx.regs[8][0],
                };
            }
            let role = match syndrome.exception_class() {
                0x20..=0x22 => CapRole::Code,
                0x24 | 0x25 if ctx.spsr & SPSR_C64 != 0 => c64_data_role(cpu),
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

/// The capability a C64 (pure) cVM's faulting load or store used, read from the instruction
/// at its PC (ESR does not name it): DDC for the alternate-base forms, else the base register.
#[cold]
#[inline(never)]
fn c64_data_role(cpu: &CvmCpu) -> CapRole {
    use crate::arch::syndrome::{morello_c64_access_base, C64Base};
    let pc = cpu.context.pc[0];
    let [start, end] = cpu.code;
    if pc < start || pc.checked_add(4).is_none_or(|e| e > end) || !pc.is_multiple_of(4) {
        return CapRole::Data;
    }
    // SAFETY: `pc..pc + 4` is aligned and inside this cVM's code range, RAM of its region that
    // the monitor maps and reads (the cVM cannot write it: its PCC has no Store and its other
    // capabilities start above the code).
    let insn = unsafe { core::ptr::read_volatile(pc as *const u32) };
    match morello_c64_access_base(insn) {
        Some(C64Base::Ddc) | None => CapRole::Data,
        Some(C64Base::Csp) => CapRole::Stack,
        Some(C64Base::Register(n)) => CapRole::Register(n),
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

/// What the hardware says about argument register c`n` (a pure cVM's buffer capability), for
/// `cvm::cap_args`. Untagged on stock aarch64 (where no pure cVM runs).
pub fn arg_capability(cpu: &CvmCpu, n: usize) -> crate::cvm::cap_args::CapArg {
    let Some(slot) = cpu.context.regs.get(n) else {
        return crate::cvm::cap_args::CapArg::default();
    };
    #[cfg(feature = "cheri")]
    {
        use crate::cap::MorelloPerms;
        let hw = super::caps::inspect(slot);
        let has = |p: MorelloPerms| hw.perms & u64::from(p.bits()) != 0;
        crate::cvm::cap_args::CapArg {
            tag: hw.tag,
            sealed: hw.otype != 0,
            base: hw.base,
            length: hw.length,
            address: hw.address,
            load: has(MorelloPerms::LOAD),
            store: has(MorelloPerms::STORE),
        }
    }
    #[cfg(not(feature = "cheri"))]
    {
        crate::cvm::cap_args::CapArg {
            address: slot[0],
            ..Default::default()
        }
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
/// The PC of the exit being handled (the switcher saves CELR into the context on every exit).
pub fn exit_pc(cpu: &CvmCpu) -> u64 {
    cpu.context.pc[0]
}

/// Nothing to do: the switcher saves the whole context on every exit.
pub fn sync_context(_cpu: &mut CvmCpu) {}

pub fn pc(cpu: &CvmCpu) -> u64 {
    cpu.context.pc[0]
}
