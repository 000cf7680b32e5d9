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

use crate::smp::PerCore;
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicU64, Ordering};

use super::switch::{self, CvmContext};
use crate::arch::fp_run::FpRun;
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
    /// Which run this state belongs to: the registers are reused without a restore only by
    /// the run that left them.
    run: FpRun,
}

/// The FP registers hold the all-zero state and no cVM has written them since, so switching
/// to a cVM that never used FP needs no restore (and leaks nothing: there is nothing in them).
/// Per hart (1: pristine).
static FP_REGS_PRISTINE: crate::smp::PerCore = crate::smp::PerCore::new(0);

/// Everything the CPU holds for one cVM, plus its PMP window. Lives in a `Box` that never
/// moves: on CHERI the context holds tagged capabilities.
#[repr(C, align(16))]
pub struct CvmCpu {
    pub context: CvmContext,
    pub fp: FpState,
    /// PMP: [start, data) may be fetched and read, [data, end) read and written.
    window: [u64; 3],
    /// PMP: further [start, end) ranges it may read and write (its capability store and
    /// imported objects, `cvm::share`); empty ranges are (0, 0).
    shared: [[u64; 2]; SHARED_RANGES],
    /// Which set of shared ranges this is (`shared_key`): equal sets have equal keys, so a
    /// switch between cVMs with the same set leaves PMP alone.
    shared_key: u64,
}

/// PMP ranges for sharing: entries 3..=14 as (OFF start, TOR end) pairs; entry 15 stays off.
pub const SHARED_RANGES: usize = 6;

impl CvmCpu {
    pub const fn new() -> Self {
        CvmCpu {
            context: CvmContext::zeroed(),
            fp: FpState {
                f: [0; 32],
                fcsr: 0,
                dirty: false,
                ever_used: false,
                run: FpRun::NONE,
            },
            window: [0; 3],
            shared: [[0; 2]; SHARED_RANGES],
            shared_key: 0,
        }
    }

    /// Sets the shared PMP ranges (at most [`SHARED_RANGES`]; more are ignored, and the
    /// sharing code never asks for more).
    pub fn set_shared(&mut self, ranges: &[core::ops::Range<u64>]) {
        self.shared = [[0; 2]; SHARED_RANGES];
        for (slot, r) in self.shared.iter_mut().zip(ranges) {
            *slot = [r.start, r.end];
        }
        self.shared_key = shared_key(&self.shared);
        // The running cVM resumes from a hostcall without passing `run_until` (the fast
        // path), so its PMP changes now; any other cVM's when it is next switched in.
        let core = super::core_index();
        let held = |i: usize| PMP_WINDOW[i].get(core);
        if self.window == [held(0), held(1), held(2)] {
            program_pmp(self);
        }
    }
}

impl Default for CvmCpu {
    fn default() -> Self {
        Self::new()
    }
}

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
        super::caps::derive(
            &mut authority.slot.0,
            &from.0,
            model.base(),
            length,
            u64::from(model.perms().bits()),
        );
        check(&authority.slot.0, model, CapRole::Data)?;
        Ok(authority)
    }
}

/// MCCSR bit 30: ISAv9 "no relocation", integer addresses are absolute rather than DDC-relative.
#[cfg(feature = "cheri")]
const MCCSR_NO_RELOCATION: u64 = 1 << 30;

/// One-time set-up for running cVMs. Fails on a CHERI-RISC-V hart in the legacy DDC-relative
/// mode: capmon's loader and hostcall checks use absolute addresses.
pub fn init() -> Result<(), &'static str> {
    init_this_core()?;
    #[cfg(feature = "cheri")]
    super::caps::capture_ddc(&mut ROOT.lock().0);
    Ok(())
}

/// What every hart checks and sets before it runs cVMs (the others when they start).
pub fn init_this_core() -> Result<(), &'static str> {
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
    Ok(())
}

/// CGetFlags/CSetFlags bit 0: the capability encoding mode a pure cVM's PCC starts in.
#[cfg(feature = "cheri")]
const CAP_MODE: u64 = 1;

/// Fills `cpu` with a fresh cVM state. A hybrid cVM gets argc/argv in a0/a1 as integers, its
/// data capability as DDC, an integer sp, and runs in integer mode. A pure cVM (`cvm/pure.rs`)
/// runs with PCC in capability encoding mode and DDC null: ca0 = argc (an integer), ca1 = its
/// args capability (or null), ca2 = its data capability, ca3 = null (its capability store,
/// later), csp = its stack capability at the stack top; every other register null.
pub fn prepare(
    cpu: &mut CvmCpu,
    setup: &Setup<'_>,
    authority: &Authority,
) -> Result<(), CapMismatch> {
    cpu.context = CvmContext::zeroed();
    // A new run: zeros (fcsr 0 = round to nearest, no flags), never the registers' current
    // contents, which may be an earlier run's.
    cpu.fp = FpState {
        f: [0; 32],
        fcsr: 0,
        dirty: false,
        ever_used: false,
        run: FpRun::fresh(),
    };
    cpu.context.regs[10][0] = setup.argc;
    let caps = setup.caps;
    let region_start = caps.code.base();
    // The end of the memory it owns: its data capability's top or its stack's, whichever is
    // higher (a hybrid parent's data covers its children's memory, which it owns; a pure cVM's
    // data ends below its stack).
    let region_end = caps.owned().end;
    cpu.window = [region_start, caps.data.base(), region_end];
    #[cfg(not(feature = "cheri"))]
    {
        let _ = authority; // no capability hardware: nothing to derive from
                           // The run loop refuses pure cVMs on boards without capabilities.
        cpu.context.regs[11][0] = setup.argv;
        cpu.context.pc[0] = setup.entry;
        cpu.context.regs[2][0] = setup.stack_top;
    }
    #[cfg(feature = "cheri")]
    {
        use super::caps;
        // Every capability comes from the cVM's own authority, never straight from the root.
        let root = &authority.slot;
        let pure = caps.abi == crate::cvm::manifest::Abi::Purecap;
        let mut code = caps::CapSlot::null();
        let mut data = caps::CapSlot::null();
        let mut stack = caps::CapSlot::null();
        for (slot, model, role) in [
            (&mut code.0, &caps.code, CapRole::Code),
            (&mut data.0, &caps.data, CapRole::Data),
            (&mut stack.0, &caps.stack, CapRole::Stack),
        ] {
            derive_checked(slot, &root.0, model, role)?;
        }
        if pure {
            // MRET takes the mode from MEPCC's flags; DDC stays null (the zeroed context).
            caps::with_address_and_flags(&mut cpu.context.pc, &code.0, setup.entry, CAP_MODE);
            if let Some(args) = &caps.args {
                derive_checked(
                    &mut cpu.context.regs[11],
                    &root.0,
                    args,
                    CapRole::Register(11),
                )?;
            }
            caps::with_address(&mut cpu.context.regs[12], &data.0, caps.data.base());
            caps::with_address(&mut cpu.context.regs[2], &stack.0, setup.stack_top);
            let sp = caps::inspect(&cpu.context.regs[2]);
            if !sp.tag {
                return Err(CapMismatch {
                    role: CapRole::Stack,
                    detail: "lost its tag when its address was set".into(),
                });
            }
        } else {
            caps::with_address(&mut cpu.context.pc, &code.0, setup.entry);
            caps::with_address(&mut cpu.context.ddc, &data.0, caps.data.base());
            // The cVM is cap-unaware: its sp (c2) is an address checked against DDC; the
            // stack capability bounds it in the model and the audit.
            cpu.context.regs[11][0] = setup.argv;
            cpu.context.regs[2][0] = setup.stack_top;
        }
        let pc = caps::inspect(&cpu.context.pc);
        if !pc.tag || (pc.flags & CAP_MODE != 0) != pure {
            return Err(CapMismatch {
                role: CapRole::Code,
                detail: alloc::format!(
                    "lost its tag or has the wrong mode when its address was set (flags {:#x})",
                    pc.flags
                ),
            });
        }
    }
    Ok(())
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

/// Derives `model` from `root` into `slot` (CSetAddr/CSetBoundsExact/CAndPerm) and checks
/// what the hardware made against the model.
#[cfg(feature = "cheri")]
fn derive_checked(
    slot: &mut [u64; 2],
    root: &[u64; 2],
    model: &crate::cap::Capability<Format>,
    role: CapRole,
) -> Result<(), CapMismatch> {
    let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
    super::caps::derive(
        slot,
        root,
        model.base(),
        length,
        u64::from(model.perms().bits()),
    );
    check(slot, model, role)
}

/// Stores one planned capability relocation at `dst` (a 16-byte slot in cVM memory): derived
/// in hardware from the cVM's authority (never the root) with the model's bounds, permissions and flags, its address set,
/// sealed as a sentry when the model is one, checked against the model, then stored with a
/// capability store. An untagged model (a null pointer) is written as its two plain words.
/// Nothing is stored if the check fails.
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
        // CSealEntry traps on a capability without Execute: seal only what the model says.
        let executable = model.perms().contains(crate::cap::RiscvPerms::EXECUTE);
        if model.is_sealed() && (model.otype() != Format::SENTRY_OTYPE || !executable) {
            return Err(alloc::format!(
                "the model is sealed but not an executable sentry: {model}"
            ));
        }
        let root = &authority.slot;
        let mut bounded = caps::CapSlot::null();
        let mut flagged = caps::CapSlot::null();
        let mut placed = caps::CapSlot::null();
        let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
        caps::derive(
            &mut bounded.0,
            &root.0,
            model.base(),
            length,
            u64::from(model.perms().bits()),
        );
        caps::set_flags(&mut flagged.0, &bounded.0, u64::from(model.flags()));
        caps::with_address(&mut placed.0, &flagged.0, model.address());
        // CSealEntry traps (in the monitor) rather than untagging: only seal a tagged result.
        let placed_hw = caps::inspect(&placed.0);
        let mut sealed = caps::CapSlot::null();
        let result = if model.is_sealed() && placed_hw.tag {
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

const PMP_TOR: u64 = 0x08;
const PMP_R: u64 = 0x01;
const PMP_W: u64 = 0x02;
const PMP_X: u64 = 0x04;

/// The window each hart's PMP holds now, so a cVM resuming after a hostcall doesn't reprogram
/// it (each hart reads and writes only its own slots).
static PMP_WINDOW: [PerCore; 3] = [PerCore::new(0), PerCore::new(0), PerCore::new(0)];
/// The key of the shared ranges each hart's PMP holds now (one compare on the switch path).
static PMP_SHARED_KEY: PerCore = PerCore::new(0);

/// Distinct sets of shared ranges seen so far; a set's key is its index + 1 (0: none set).
static SHARED_SETS: spin::Mutex<alloc::vec::Vec<[[u64; 2]; SHARED_RANGES]>> =
    spin::Mutex::new(alloc::vec::Vec::new());
/// Sets kept for interning; past this, new sets get keys of their own that never repeat.
const MAX_SHARED_SETS: usize = 1024;
static UNIQUE_KEYS: AtomicU64 = AtomicU64::new(1 << 32);

/// The key of `set`: equal sets get equal keys (interned), different sets different keys.
fn shared_key(set: &[[u64; 2]; SHARED_RANGES]) -> u64 {
    let mut sets = SHARED_SETS.lock();
    if let Some(i) = sets.iter().position(|s| s == set) {
        return u64::try_from(i).unwrap_or(0) + 1;
    }
    if sets.len() < MAX_SHARED_SETS {
        sets.push(*set);
        return u64::try_from(sets.len()).unwrap_or(0);
    }
    UNIQUE_KEYS.fetch_add(1, Ordering::Relaxed)
}

// Always inlined into each `run_until` (the run loop has two, hybrid and pure): a call here is
// a few instructions more on every switch.
#[inline(always)]
fn program_pmp(cpu: &CvmCpu) {
    let [start, data, end] = cpu.window;
    let core = super::core_index();
    let held = |i: usize| PMP_WINDOW[i].get(core);
    // Only CHERI builds share memory between cVMs (`cvm::share`); stock riscv64 never sets
    // shared ranges, so its switch path skips them entirely.
    let same_shared = !cfg!(feature = "cheri") || PMP_SHARED_KEY.get(core) == cpu.shared_key;
    if held(0) == start && held(1) == data && held(2) == end && same_shared {
        return;
    }
    if !same_shared {
        PMP_SHARED_KEY.set(core, cpu.shared_key);
        program_shared(&cpu.shared);
    }
    PMP_WINDOW[0].set(core, start);
    PMP_WINDOW[1].set(core, data);
    PMP_WINDOW[2].set(core, end);
    // Entry 0 (OFF) marks the start; entry 1 = TOR [start, data) R+X; entry 2 = TOR
    // [data, end) R+W; entries 3..=14 are the shared ranges (`program_shared`). No other
    // entry matches, so U-mode can touch nothing else.
    let cfg = ((PMP_TOR | PMP_R | PMP_X) << 8)
        | ((PMP_TOR | PMP_R | PMP_W) << 16)
        | SHARED_CFG0.get(core);
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

/// Programs PMP entries 3..=14: each shared range as an OFF entry holding its start and a TOR
/// entry (read, write) holding its end; unused pairs are off (their addresses are left as
/// they were: an entry whose configuration is 0 matches nothing). The ranges are filled
/// from the front (`set_shared`), so the first empty one ends the list.
fn program_shared(shared: &[[u64; 2]; SHARED_RANGES]) {
    let mut cfg0 = 0u64; // entries 0..=7: bytes 3..=7 here (0..=2 are the window's)
    let mut cfg2 = 0u64; // entries 8..=15
    for (i, [start, end]) in shared.iter().enumerate() {
        if start >= end {
            break;
        }
        let tor_entry = 4 + 2 * i;
        // Bit 0 of a start (ranges are whole pages) marks another cVM's code that runs on
        // this cVM's turn (a CP_Call callee): fetch and read, never write.
        let exec = start & EXECUTABLE_RANGE != 0;
        let start = start & !EXECUTABLE_RANGE;
        let on = PMP_TOR | PMP_R | if exec { PMP_X } else { PMP_W };
        if tor_entry < 8 {
            cfg0 |= on << (8 * tor_entry);
        } else {
            cfg2 |= on << (8 * (tor_entry - 8));
        }
        let (a, b) = (start >> 2, end >> 2);
        // SAFETY: PMP address registers without the L bit only restrict U/S-mode; no cVM runs.
        unsafe {
            match i {
                0 => {
                    asm!("csrw pmpaddr3, {a}", "csrw pmpaddr4, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
                1 => {
                    asm!("csrw pmpaddr5, {a}", "csrw pmpaddr6, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
                2 => {
                    asm!("csrw pmpaddr7, {a}", "csrw pmpaddr8, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
                3 => {
                    asm!("csrw pmpaddr9, {a}", "csrw pmpaddr10, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
                4 => {
                    asm!("csrw pmpaddr11, {a}", "csrw pmpaddr12, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
                _ => {
                    asm!("csrw pmpaddr13, {a}", "csrw pmpaddr14, {b}", a = in(reg) a, b = in(reg) b, options(nomem, nostack))
                }
            }
        }
    }
    SHARED_CFG0.set(super::core_index(), cfg0);
    // SAFETY: as above; pmpcfg2 holds entries 8..=15 on RV64.
    unsafe { asm!("csrw pmpcfg2, {c}", c = in(reg) cfg2, options(nomem, nostack)) };
}

/// Set in a shared range's start: the range is code to fetch (R+X), not data (R+W).
pub const EXECUTABLE_RANGE: u64 = 1;

/// The shared ranges' bytes of pmpcfg0 (entries 3..=7), ORed in by `program_pmp`.
static SHARED_CFG0: PerCore = PerCore::new(0);

/// Whether the FP registers hold this state's run (then neither save nor restore is needed).
pub fn fp_loaded(fp: &FpState) -> bool {
    fp.run.is_loaded()
}

/// Saves the FP registers into `fp` if they are its run's and it wrote them since they were
/// restored.
pub fn save_fp(fp: &mut FpState) {
    if !fp.dirty || !fp.run.is_loaded() {
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

/// Puts `fp` in the FP registers: f0..f31 and fcsr all overwritten, unless they already hold
/// the all-zero state `fp` is (a run that never wrote FP, and no one wrote them since).
pub fn restore_fp(fp: &FpState) {
    fp.run.mark_loaded();
    let core = super::core_index();
    if !fp.ever_used && FP_REGS_PRISTINE.get(core) != 0 {
        return;
    }
    FP_REGS_PRISTINE.set(core, u64::from(!fp.ever_used));
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
    super::fetch_current_code();
    program_pmp(cpu);
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
    unsafe {
        asm!("csrr {}, mcause", "csrr {}, mstatus", out(reg) mcause, out(reg) mstatus, options(nomem, nostack))
    };
    const MSTATUS_FS_DIRTY: u64 = 3 << 13;
    if mstatus & MSTATUS_FS_DIRTY == MSTATUS_FS_DIRTY {
        cpu.fp.dirty = true;
        cpu.fp.ever_used = true;
        FP_REGS_PRISTINE.set(super::core_index(), 0);
    }
    let event = if mcause == ECALL_FROM_U {
        switch::step_past_ecall();
        CvmEvent::Hostcall {
            number: cpu.context.regs[17][0],
        }
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
        (_, Some((name, reg))) => (
            name,
            match reg.0 {
                32 => CapRole::Code,
                33 => CapRole::Data,
                n @ 1..=31 => CapRole::Register(n),
                _ => CapRole::Data,
            },
        ),
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
    alloc::boxed::Box::new(Fault {
        cause: cause_name,
        detail: alloc::format!("{cause}"),
        pc,
        address,
        role,
    })
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

/// What the hardware says about argument register ca`n` (c10 + n; a pure cVM's buffer
/// capability), for `cvm::cap_args`. Untagged on stock riscv64 (where no pure cVM runs).
pub fn arg_capability(cpu: &CvmCpu, n: usize) -> crate::cvm::cap_args::CapArg {
    let Some(slot) = n
        .checked_add(10)
        .filter(|&r| r <= 15)
        .and_then(|r| cpu.context.regs.get(r))
    else {
        return crate::cvm::cap_args::CapArg::default();
    };
    #[cfg(feature = "cheri")]
    {
        use crate::cap::RiscvPerms;
        let hw = super::caps::inspect(slot);
        let has = |p: RiscvPerms| hw.perms & u64::from(p.bits()) != 0;
        crate::cvm::cap_args::CapArg {
            tag: hw.tag,
            sealed: hw.otype != u64::MAX,
            base: hw.base,
            length: hw.length,
            address: hw.address,
            load: has(RiscvPerms::LOAD),
            store: has(RiscvPerms::STORE),
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

/// A hostcall's arguments: a0..a5.
pub fn hostcall_args(cpu: &CvmCpu) -> [u64; 6] {
    let r = &cpu.context.regs;
    [r[10][0], r[11][0], r[12][0], r[13][0], r[14][0], r[15][0]]
}

/// Puts a hostcall's result in the cVM's a0 (as an integer).
pub fn set_result(cpu: &mut CvmCpu, value: u64) {
    cpu.context.regs[10] = [value, 0];
}

/// The PC of the exit being handled, on the hostcall path: MEPC itself, since the fast path
/// leaves the PC in MEPCC and spills it into the context only when the turn ends.
pub fn exit_pc(_cpu: &CvmCpu) -> u64 {
    let pc: u64;
    // SAFETY: reading mepc has no side effects.
    unsafe { asm!("csrr {}, mepc", out(reg) pc, options(nomem, nostack)) };
    pc
}

/// Brings the context's c31, DDC and PC up to date while the cVM's exit is handled (the fast
/// path keeps them in M-mode registers), for code that inspects them without leaving the
/// turn. Harmless: a resume takes them from those registers, not from the context.
pub fn sync_context(cpu: &mut CvmCpu) {
    switch::spill(&mut cpu.context);
}

pub fn pc(cpu: &CvmCpu) -> u64 {
    cpu.context.pc[0]
}
