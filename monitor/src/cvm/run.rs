//! The cVM run loop: parse the bundle (never trusting it), plan regions, load each image,
//! derive its default capabilities, print the audit, then schedule the cVMs preemptively until
//! every one has ended. A cVM fault stops (or restarts) that cVM only.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::{ControlFlow, Range};
use core::sync::atomic::{AtomicPtr, Ordering};

use capmon_abi::{Error, NetInfo, WhoAmI, NAME_MAX};

use crate::addr::PhysRange;
use crate::arch::current as arch;
use crate::arch::current::cvm::{self as cpu, CvmCpu, Format};
use crate::cap::Capability;
use crate::cvm::event::{CapRole, CvmEvent, Exits, Fault, FaultReport};
use crate::cvm::expect::Ended;
use crate::cvm::grant::{self, Extent, Grant};
use crate::cvm::hostcall::{self, Guest, Outcome};
use crate::cvm::manifest::{self, Abi, CvmSpec, OnFault};
use crate::cvm::nest::{self, Family};
use crate::cvm::net_grant::{self, Mac, NetGrant};
use crate::cvm::plan::{self, DefaultCaps};
use crate::cvm::sched::{Decision, Scheduler, State};
use crate::cvm::share;
use crate::cvm::{audit, cap_args, cap_relocs, image, pure};
use crate::drivers::{disks, nets};
use crate::platform::Platform;

/// One time slice.
const SLICE_MS: u64 = 10;

/// What an exit means for scheduling.
enum Transition {
    /// A hostcall for nesting (`cvm/nest.rs`): a child's call for its serving parent, or a
    /// `child_*` call. The run loop hands it to the [`Family`], which needs every cVM.
    Family(u64),
    /// Resume the same cVM (the scheduler may still preempt it).
    Continue,
    /// It gave up the rest of its turn.
    Yield,
    /// It faulted and was started again from scratch.
    Restarted,
    Set(State),
    /// The callee of a CP_Call it was in (its PCC is `callee`'s code window) faulted or ran
    /// past the call budget: the callee answers for it, the caller gets an error.
    CallFailed {
        callee: usize,
        fault: Box<Fault>,
    },
    /// A hostcall that reaches into other cVMs (`hostcall::Outcome::Machine`): made again in
    /// an exclusive section.
    Machine(u64),
    /// It exited with this code (its teardown revokes what it shared: an exclusive section).
    Exit(i64),
    /// It faulted (stopping or restarting it tears shares down: an exclusive section).
    Fault(Box<Fault>),
}

/// How a cVM's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Exited(i64),
    Faulted,
    /// Stopped by its parent, or with it.
    Stopped,
}

struct Cvm {
    spec: CvmSpec,
    /// `outer/middle/name` for a nested cVM, else its name: how every report names it.
    path: String,
    image: &'static [u8],
    /// Its whole region: for a parent, its own part and its children's regions.
    region: PhysRange,
    /// The bottom part of its region that holds its image, heap and stack (all of it unless
    /// it has children).
    own: PhysRange,
    /// The capability over `region` its capabilities are derived from (see `plan::DefaultCaps::region`).
    authority: Box<cpu::Authority>,
    /// Its hostcalls go to its parent first (`serve-children` on the parent).
    served_by_parent: bool,
    /// The cause of its last fault, for its parent's `child_wait`.
    last_fault: String,
    /// Its parent has been told of its ending (reset when it starts).
    ending_reported: bool,
    caps: DefaultCaps<Format>,
    cpu: Box<CvmCpu>,
    /// Console output waiting for its end of line (whole lines are printed, labelled).
    line: Vec<u8>,
    /// CPU time used, in timer ticks, against the manifest's budget.
    used_ticks: u64,
    restarts: u32,
    ending: Option<Ending>,
    /// Its disk grant, checked against the device at boot.
    grant: Option<Grant>,
    /// Its network grant, checked against the device and the other grants at boot.
    net: Option<NetGrant>,
    /// Its index in the run loop (how the network switch names it).
    slot: usize,
    /// It is in `net_wait`: when it runs again its result is the number of frames waiting.
    net_waiting: bool,
    /// Its code window: a PC outside it means it is inside a CP_Call, running a callee's code.
    code: Range<u64>,
    /// CP_Call: when an interrupt first found it inside the call it is still in (ticks).
    call_since: Option<u64>,
    /// The manifest lets it import a call: only then can it be inside one.
    imports_calls: bool,
    /// It is blocked in `cp_poll`: when it runs again its result is the ready mask.
    stream_polling: bool,
    /// Bumped whenever it starts or ends: a core that left an exclusive section's work for
    /// this cVM pending drops it when someone else's section restarted or ended it meanwhile.
    generation: u64,
}

/// Runs every cVM in `bundle`. Returns the verdict: true when each cVM ended as its manifest
/// expects (`expect`, default: exit 0).
pub fn run_bundle(bundle: &'static [u8], platform: &Platform, heap: PhysRange) -> bool {
    let bundle = match manifest::parse_bundle(bundle) {
        Ok(b) => b,
        Err(errors) => {
            println!("cvms: the bundled manifest is invalid; starting nothing:");
            for e in errors {
                println!("  manifest: {e}");
            }
            return false;
        }
    };
    let usable = plan::without(&platform.usable, &[heap]);
    let regions = match plan::plan_regions::<Format>(&bundle.manifest, &usable) {
        Ok(r) => r,
        Err(e) => {
            println!("cvms: cannot place the cVMs: {e}");
            return false;
        }
    };
    let freq = arch::counter_frequency().max(1);
    // The disks are driven only when a cVM has a grant on one.
    let uses_disks = bundle.manifest.cvms.iter().any(|c| c.disk.is_some());
    if uses_disks {
        disks::init(platform);
    }
    let uses_net = bundle.manifest.cvms.iter().any(|c| c.net.is_some());
    let net_grants = if uses_net {
        nets::init(platform);
        let specs: Vec<(&str, Option<net_grant::NetSpec>)> = bundle
            .manifest
            .cvms
            .iter()
            .map(|c| (c.name.as_str(), c.net))
            .collect();
        match net_grant::resolve(&specs, nets::device_mac) {
            Ok(grants) => grants,
            Err(errors) => {
                println!("cvms: the network grants cannot be given; starting nothing:");
                for e in errors {
                    println!("  {e}");
                }
                return false;
            }
        }
    } else {
        Vec::new()
    };
    let mut cvms: Vec<Cvm> = Vec::new();
    for (slot, (spec, &region)) in bundle.manifest.cvms.iter().zip(&regions).enumerate() {
        let path = bundle.manifest.path(slot);
        let Some(&(_, image)) = bundle.images.iter().find(|(name, _)| *name == spec.image) else {
            println!("cvm {path}: image {:?} is not in the bundle", spec.image);
            return false;
        };
        let own = plan::own_range(&bundle.manifest, &regions, slot).unwrap_or(region);
        let parent = spec.parent.and_then(|p| cvms.get(p));
        let caps = match plan_caps(
            &bundle.manifest,
            &regions,
            slot,
            image,
            own,
            parent.map(|p| &p.caps),
        ) {
            Ok(caps) => caps,
            Err(e) => {
                println!("cvm {path}: not started: {e}");
                return false;
            }
        };
        let authority = match cpu::authority(parent.map(|p| &*p.authority), &caps.region) {
            Ok(a) => a,
            Err(m) => {
                println!("cvm {path}: not started: its authority: {}", m.detail);
                return false;
            }
        };
        let served_by_parent = spec
            .parent
            .is_some_and(|p| bundle.manifest.cvms[p].serve_children);
        let mut cvm = Cvm {
            spec: spec.clone(),
            path,
            image,
            region,
            own,
            authority,
            served_by_parent,
            last_fault: String::new(),
            ending_reported: false,
            caps,
            cpu: Box::new(CvmCpu::new()),
            line: Vec::new(),
            used_ticks: 0,
            restarts: 0,
            ending: None,
            grant: None,
            net: net_grants.get(slot).copied().flatten(),
            slot,
            net_waiting: false,
            code: caps.code.base()..u64::try_from(caps.code.top()).unwrap_or(u64::MAX),
            call_since: None,
            imports_calls: bundle
                .manifest
                .calls
                .iter()
                .any(|c| c.importers.contains(&spec.name)),
            stream_polling: false,
            generation: 0,
        };
        if let Some(g) = &cvm.net {
            println!(
                "cvm {}: net grant net{} mac {}",
                spec.name,
                g.device,
                Mac(g.mac)
            );
            nets::attach(slot, g);
        }
        if let Some(spec_disk) = &spec.disk {
            match grant::resolve(spec_disk, disks::info(spec_disk.device)) {
                Ok(g) => {
                    println!(
                        "cvm {}: disk grant blk{} sectors [{}..{}) {}",
                        spec.name,
                        g.device,
                        g.first_sector,
                        g.first_sector + g.sectors,
                        if g.read_only {
                            "read-only"
                        } else {
                            "read-write"
                        }
                    );
                    cvm.grant = Some(g);
                }
                Err(e) => {
                    println!("cvm {}: not started: disk grant: {e}", spec.name);
                    return false;
                }
            }
        }
        if let Err(e) = cvm.start() {
            println!("cvm {}: not started: {e}", spec.name);
            return false;
        }
        cvms.push(cvm);
    }
    if let Err(e) = start_sharing(&bundle.manifest, &usable, &mut cvms) {
        println!("cvms: sharing cannot be set up; starting nothing: {e}");
        return false;
    }
    print_audit(&cvms);
    if let Some(warning) = crate::boot::ISOLATION_WARNING {
        println!("cvms: WARNING: {warning}");
    }
    println!("cvms: starting {}", cvms.len());

    let shares: Vec<u32> = cvms.iter().map(|c| c.spec.share).collect();
    let slice = (freq * SLICE_MS / 1000).max(1);
    let parents: Vec<Option<usize>> = cvms.iter().map(|c| c.spec.parent).collect();
    let serves: Vec<bool> = cvms.iter().map(|c| c.spec.serve_children).collect();
    let names: Vec<&str> = cvms.iter().map(|c| c.spec.name.as_str()).collect();
    let family = Family::new(&parents, &serves, &names);
    let count = cvms.len();
    let keep_running = bundle.manifest.keep_running;
    // A cVM pinned to cores that do not run cVMs would never run: refuse the manifest.
    let online = crate::smp::GATE.online_mask();
    let pins: Vec<u64> = cvms
        .iter()
        .map(|c| {
            if c.spec.cores == 0 {
                u64::MAX
            } else {
                c.spec.cores
            }
        })
        .collect();
    for (cvm, &pin) in cvms.iter().zip(&pins) {
        if pin & online == 0 {
            println!(
                "cvm {}: pinned to cores {} but cores {} run cVMs; starting nothing",
                cvm.path,
                CoreList(pin),
                CoreList(online)
            );
            return false;
        }
    }
    let machine: &'static Machine = Box::leak(Box::new(Machine {
        cvms: CvmTable::new(cvms),
        shared: spin::Mutex::new(Shared {
            scheduler: Scheduler::new(&shares, slice),
            family,
            fp_on: alloc::vec![None; count],
            pins,
            wakes: Vec::new(),
        }),
        freq,
        uses_net,
        started: arch::now(),
        busy: crate::smp::PerCore::new(0),
    }));
    MACHINE.store(core::ptr::from_ref(machine).cast_mut(), Ordering::Release);
    // The other cores sleep until the machine is published: wake them.
    crate::smp::kick(crate::smp::GATE.online_mask() & !1);
    run_core(machine, crate::smp::this_core());
    arch::set_timer(u64::MAX);
    // Every cVM has ended: the other cores are asleep, so the verdict reads the table alone.
    let pass = crate::smp::exclusive(|| {
        // SAFETY: in an exclusive section, with every cVM ended and given back.
        let cvms = unsafe { machine.cvms.all() };
        let mut pass = true;
        // The verdict: every cVM ended as its manifest `expect`s (default: exit 0).
        for cvm in cvms.iter() {
            let ended = match cvm.ending {
                // Stopped by its parent (or with it): the parent's own ending carries the verdict.
                Some(Ending::Stopped) => continue,
                Some(Ending::Exited(code)) => Some(Ended::Exit(code)),
                Some(Ending::Faulted) => Some(Ended::Fault),
                None => None,
            };
            if let Err(why) = cvm.spec.expect.check(ended) {
                println!("cvm {}: {why}", cvm.path);
                pass = false;
            }
        }
        println!("cvms: all {} ended", cvms.len());
        print_core_stats(machine);
        pass
    });
    if uses_disks {
        disks::print_stats();
    }
    if uses_net {
        nets::print_stats();
    }
    if keep_running {
        println!("cvms: keeping the machine running (the manifest says keep-running); verdict would be {}", if pass { "pass" } else { "fail" });
        loop {
            arch::wait_for_interrupt();
        }
    }
    pass
}

/// The closing `cores:` lines: how long the cVMs ran, each core's busy time, and the median
/// cross-core wake-up.
fn print_core_stats(m: &Machine) {
    let us = |ticks: u64| {
        u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(m.freq.max(1))).unwrap_or(0)
    };
    println!(
        "cores: the cVMs ran for {} us",
        us(arch::now().saturating_sub(m.started))
    );
    let online = crate::smp::GATE.online_mask();
    for core in (0..crate::smp::MAX_CORES).filter(|c| online & (1 << c) != 0) {
        println!("cores: core {core} busy {} us", us(m.busy.get(core)));
    }
    let mut wakes = core::mem::take(&mut m.shared.lock().wakes);
    if !wakes.is_empty() {
        wakes.sort_unstable();
        let median = wakes[wakes.len() / 2];
        let ns = u64::try_from(u128::from(median) * 1_000_000_000 / u128::from(m.freq.max(1)))
            .unwrap_or(0);
        println!("cores: {} cross-core wake-ups, median {ns} ns", wakes.len());
    }
}

/// A core mask as `0, 2`.
struct CoreList(u64);

impl core::fmt::Display for CoreList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for core in (0..crate::smp::MAX_CORES).filter(|c| self.0 & (1 << c) != 0) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{core}")?;
        }
        Ok(())
    }
}

/// What every core's run loop shares, published once every cVM is loaded.
struct Machine {
    cvms: CvmTable,
    /// The scheduling state. Lock order: `Machine::shared` → `NETS` / `STREAMS` (frames
    /// delivered, polls ended) → `CONSOLE`; never held across a wait or a turn.
    shared: spin::Mutex<Shared>,
    freq: u64,
    uses_net: bool,
    /// The counter when the cVMs started, and each core's ticks spent in cVM turns: the
    /// closing `cores:` lines (and the bench's speed-up and shares).
    started: u64,
    busy: crate::smp::PerCore,
}

struct Shared {
    scheduler: Scheduler,
    family: Family,
    /// The core whose FP/SIMD registers hold each cVM's FP state, not yet saved: only that
    /// core may run the cVM until it saves it (when it runs another cVM or goes idle).
    fp_on: Vec<Option<usize>>,
    /// The cores each cVM may run on (manifest `cores`; all bits: any).
    pins: Vec<u64>,
    /// Cross-core wake-ups seen (ticks from the kick to the woken core's turn), at most
    /// [`WAKE_SAMPLES`] of them, for the closing median.
    wakes: Vec<u64>,
}

/// How many cross-core wake-ups are kept for the closing median.
const WAKE_SAMPLES: usize = 4096;

static MACHINE: AtomicPtr<Machine> = AtomicPtr::new(core::ptr::null_mut());

/// The cVMs, which never move once the run loop starts (their CPU state holds tagged
/// capabilities and the sharing code keeps pointers to it). Who may touch a cVM:
/// - the core the scheduler gave it to ([`Scheduler::taken_by`]), from the decision until it
///   gives it back: its turn, and acting on the turn's exit when that concerns only this cVM;
/// - the core in an exclusive section ([`crate::smp`]), where every other core is parked at a
///   safe point holding no reference: anything, for work that reaches into other cVMs.
struct CvmTable {
    base: *mut Cvm,
    len: usize,
}

// SAFETY: the table is shared between cores under the rules above, which give each `Cvm` one
// user at a time.
unsafe impl Sync for CvmTable {}
// SAFETY: as above.
unsafe impl Send for CvmTable {}

impl CvmTable {
    fn new(cvms: Vec<Cvm>) -> Self {
        let cvms: &'static mut [Cvm] = cvms.leak();
        CvmTable {
            len: cvms.len(),
            base: cvms.as_mut_ptr(),
        }
    }

    /// cVM `at`.
    ///
    /// # Safety
    /// This core has taken it (the scheduler says so), or is in an exclusive section; and no
    /// other reference to it is alive.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self, at: usize) -> &mut Cvm {
        assert!(at < self.len, "cVM {at} of {}", self.len);
        // SAFETY: `at` is in bounds of the leaked slice; the caller gives exclusivity.
        unsafe { &mut *self.base.add(at) }
    }

    /// Every cVM.
    ///
    /// # Safety
    /// This core is in an exclusive section and holds no other reference into the table.
    #[allow(clippy::mut_from_ref)]
    unsafe fn all(&self) -> &mut [Cvm] {
        // SAFETY: the leaked slice, whole; the caller gives exclusivity.
        unsafe { core::slice::from_raw_parts_mut(self.base, self.len) }
    }
}

/// A secondary core's life once it is up: it sleeps until the run loop is published, runs
/// cVMs until every one has ended, then sleeps for good (the boot core gives the verdict).
pub fn serve_core(core: usize) -> ! {
    let gate = &crate::smp::GATE;
    loop {
        let machine = MACHINE.load(Ordering::Acquire);
        if !machine.is_null() {
            // SAFETY: published once, leaked: it lives for the rest of the monitor's life.
            run_core(unsafe { &*machine }, core);
            break;
        }
        gate.sleep(core, &crate::smp::Hardware);
        arch::wait_for_interrupt();
        gate.wake(core, &crate::smp::Hardware);
    }
    arch::set_timer(u64::MAX);
    gate.sleep(core, &crate::smp::Hardware);
    loop {
        arch::wait_for_interrupt();
    }
}

/// One core's run loop: take a ready cVM, run its turn, act on how it ended; idle when
/// nothing is ready. Returns when every cVM has ended.
fn run_core(m: &'static Machine, core: usize) {
    let gate = &crate::smp::GATE;
    let freq = m.freq;
    // Whose FP state this core's registers hold.
    let mut fp_owner: Option<usize> = None;
    let mut slice_end = 0;
    loop {
        gate.park_if_asked(core, &crate::smp::Hardware);
        let now = arch::now();
        let decision = {
            let mut shared = m.shared.lock();
            let shared = &mut *shared;
            let mut woke = false;
            if m.uses_net && nets::pending() {
                woke |= deliver_frames(&mut shared.scheduler, m.cvms.len);
            }
            if share::stream_live::pending() {
                woke |= wake_streams(&mut shared.scheduler);
            }
            if woke {
                crate::smp::wake_idle();
            }
            let (fp_on, pins) = (&shared.fp_on, &shared.pins);
            let decision = shared.scheduler.decide(core, now, now >= slice_end, |i| {
                fp_on[i].is_none_or(|c| c == core) && pins[i] & (1 << core) != 0
            });
            match decision {
                Decision::Run { index, .. } => {
                    // SAFETY: the scheduler just gave `index` to this core.
                    let cvm = unsafe { m.cvms.get(index) };
                    // The registers hold its FP state only if this core still owns it: a
                    // core that gave it back (idle) may still hold an older copy of this very
                    // run's state, from before it ran elsewhere.
                    if shared.fp_on[index] != Some(core) || !cpu::fp_loaded(&cvm.cpu.fp) {
                        if let Some(previous) = fp_owner.take() {
                            if previous != index {
                                // SAFETY: `fp_on[previous]` names this core, so no other core
                                // took it since; this core is not running it.
                                cpu::save_fp(&mut unsafe { m.cvms.get(previous) }.cpu.fp);
                            }
                            shared.fp_on[previous] = None;
                        }
                        cpu::restore_fp(&cvm.cpu.fp);
                        fp_owner = Some(index);
                        shared.fp_on[index] = Some(core);
                    }
                    if cvm.net_waiting {
                        cvm.end_net_wait();
                    }
                    if cvm.stream_polling {
                        cvm.end_stream_poll();
                    }
                    if shared.family.is_waiting(index) {
                        // Runnable again without an event: its `child_wait` timed out (result 0).
                        shared.family.wait_timed_out(index);
                    }
                    // Woken by another core's kick: how long that took, kick to turn.
                    let kicked = crate::smp::KICKED_AT.get(core);
                    if kicked != 0 {
                        crate::smp::KICKED_AT.set(core, 0);
                        if shared.wakes.len() < WAKE_SAMPLES {
                            shared.wakes.push(now.saturating_sub(kicked));
                        }
                    }
                }
                Decision::Idle { .. } => {
                    // Idle: hand the FP state back to memory, so any core may run its cVM.
                    if let Some(previous) = fp_owner.take() {
                        // SAFETY: as above.
                        cpu::save_fp(&mut unsafe { m.cvms.get(previous) }.cpu.fp);
                        shared.fp_on[previous] = None;
                    }
                    crate::smp::IDLE.fetch_or(1 << core, Ordering::SeqCst);
                    // A kick that found nothing for this core is not a wake-up to count.
                    crate::smp::KICKED_AT.set(core, 0);
                }
                Decision::AllEnded => {}
            }
            decision
        };
        match decision {
            Decision::AllEnded => return,
            Decision::Idle { until } => {
                let until = until.unwrap_or(u64::MAX);
                // A net device without an interrupt is polled every millisecond (by the boot
                // core, which takes the device interrupts).
                let poll = if core == 0 && m.uses_net && nets::needs_polling() {
                    now.saturating_add(freq / 1000)
                } else {
                    u64::MAX
                };
                arch::set_timer(until.min(poll));
                gate.sleep(core, &crate::smp::Hardware);
                arch::wait_for_interrupt();
                gate.wake(core, &crate::smp::Hardware);
                crate::smp::IDLE.fetch_and(!(1 << core), Ordering::SeqCst);
            }
            Decision::Run {
                index,
                slice_end: end,
            } => {
                slice_end = end;
                let transition = {
                    // SAFETY: taken by this core (above) until `release` below.
                    let cvm = unsafe { m.cvms.get(index) };
                    let budget_end = cvm
                        .budget_ticks(freq)
                        .map(|b| now + b.saturating_sub(cvm.used_ticks));
                    let deadline = budget_end.map_or(slice_end, |b| b.min(slice_end));
                    arch::set_timer(deadline);
                    let transition = run_turn(cvm, freq, deadline, now, m.uses_net);
                    m.busy
                        .set(core, m.busy.get(core) + arch::now().saturating_sub(now));
                    match transition {
                        Transition::Continue | Transition::Yield | Transition::Set(_) => {
                            cvm.budget_fault(freq).unwrap_or(transition)
                        }
                        other => other,
                    }
                };
                match transition {
                    Transition::Continue | Transition::Yield | Transition::Set(_) => {
                        let mut shared = m.shared.lock();
                        match transition {
                            Transition::Yield => shared.scheduler.end_turn(core),
                            Transition::Set(state) => shared.scheduler.set_state(index, state),
                            _ => {}
                        }
                        shared.scheduler.release(index);
                    }
                    other => {
                        // SAFETY: read before the section: this core still holds `index`.
                        let generation = unsafe { m.cvms.get(index) }.generation;
                        crate::smp::exclusive(|| act_on_machine(m, core, index, generation, other));
                        let wake_others = {
                            let mut shared = m.shared.lock();
                            shared.scheduler.release(index);
                            // More ready than this core takes next, or the last ending (every
                            // core must see that all have ended): the idle cores look too. A
                            // served hostcall readies just the parent this core runs next.
                            shared.scheduler.ready_untaken() > 1 || shared.scheduler.all_ended()
                        };
                        if wake_others {
                            crate::smp::wake_idle();
                        }
                    }
                }
            }
        }
    }
}

/// Acts, with the machine to itself, on an exit of cVM `index` that reaches into other cVMs
/// (its own ending tears shares down; nesting; sharing calls; a failed CP_Call). Skipped when
/// someone else's section already restarted or ended the cVM since its turn (`generation`).
#[inline(never)]
fn act_on_machine(m: &Machine, core: usize, index: usize, generation: u64, transition: Transition) {
    // SAFETY: an exclusive section: every other core is parked, holding no reference.
    let cvms = unsafe { m.cvms.all() };
    let mut shared = m.shared.lock();
    let Shared {
        scheduler, family, ..
    } = &mut *shared;
    if cvms[index].generation != generation {
        return;
    }
    let freq = m.freq;
    // The callee of a call the monitor ended in this turn, if any.
    let mut called = None;
    let mut transition = transition;
    // Acting on the exit may give another transition (a fault restarts the cVM).
    for _ in 0..3 {
        transition = match transition {
            Transition::Continue | Transition::Restarted => break,
            Transition::Yield => {
                scheduler.end_turn(core);
                break;
            }
            Transition::Set(state) => {
                scheduler.set_state(index, state);
                break;
            }
            Transition::Machine(number) => {
                let args = cpu::hostcall_args(&cvms[index].cpu);
                cvms[index].serve_on_machine(number, &args, freq)
            }
            Transition::Exit(code) => cvms[index].exited(code),
            Transition::Fault(fault) => match cvms[index].fault(&fault) {
                Transition::Restarted => {
                    scheduler.set_state(index, State::Ready);
                    family.restarted(&mut Tree::new(cvms, scheduler, freq, core), index);
                    break;
                }
                other => other,
            },
            Transition::CallFailed { callee, fault } => {
                called = Some(callee);
                if end_call(cvms, index, callee, &fault) {
                    scheduler.set_state(callee, State::Ready);
                    family.restarted(&mut Tree::new(cvms, scheduler, freq, core), callee);
                } else if cvms[callee].ending.is_some() {
                    scheduler.set_state(callee, State::Ended);
                }
                if cvms[index].ending.is_some() {
                    scheduler.set_state(index, State::Ended);
                }
                break;
            }
            Transition::Family(number) => {
                let args = cpu::hostcall_args(&cvms[index].cpu);
                family.hostcall(
                    &mut Tree::new(cvms, scheduler, freq, core),
                    index,
                    number,
                    &args,
                );
                break;
            }
        };
    }
    // A cVM that ended takes its children down, and its parent hears of it (and so does a
    // callee that a failed call ended).
    for who in [Some(index), called].into_iter().flatten() {
        let Some(kind) = cvms[who].ending.and_then(Ending::event_kind) else {
            continue;
        };
        if scheduler.state(who) == Some(State::Ended) && !cvms[who].ending_reported {
            cvms[who].ending_reported = true;
            family.ended(&mut Tree::new(cvms, scheduler, freq, core), who, kind);
        }
    }
}

/// Runs `cvm` for one turn. Pure cVMs get their own instance of the exit handler (`PURE`), so
/// the hybrid hostcall path has no ABI test in it and stays exactly as fast.
fn run_turn(cvm: &mut Cvm, freq: u64, deadline: u64, now: u64, uses_net: bool) -> Transition {
    if cvm.caps.abi == Abi::Purecap {
        cpu::run_until(&mut Turn::<true> {
            cvm,
            freq,
            deadline,
            accounted: now,
            uses_net,
        })
    } else {
        cpu::run_until(&mut Turn::<false> {
            cvm,
            freq,
            deadline,
            accounted: now,
            uses_net,
        })
    }
}

/// One turn of a cVM on the CPU: each exit is handled, and the cVM resumes while it may.
/// `PURE`: the cVM is pure-capability (its buffer capabilities are checked).
struct Turn<'a, const PURE: bool> {
    cvm: &'a mut Cvm,
    freq: u64,
    /// The end of its slice or budget, whichever is first; the timer is armed for it.
    deadline: u64,
    /// Counter ticks up to which its CPU time is accounted.
    accounted: u64,
    /// Some cVM has a network grant: a device interrupt ends the turn so `nets::poll` runs.
    uses_net: bool,
}

impl<const PURE: bool> Turn<'_, PURE> {
    /// Charges the cVM for its time since the last call; returns the time now.
    fn account(&mut self) -> u64 {
        let now = arch::now();
        self.cvm.used_ticks += now.saturating_sub(self.accounted);
        self.accounted = now;
        now
    }
}

impl<const PURE: bool> Exits for Turn<'_, PURE> {
    type Cpu = CvmCpu;
    type Done = Transition;
    fn cpu(&mut self) -> &mut CvmCpu {
        &mut self.cvm.cpu
    }
    fn exit(&mut self, event: CvmEvent) -> ControlFlow<Transition> {
        let interrupt = matches!(event, CvmEvent::Interrupt);
        let transition = self.cvm.handle::<PURE>(event, self.freq);
        // Fast path: a hostcall that leaves the cVM runnable goes straight back in, with no
        // clock read and no scheduler decision. The timer is armed for the deadline (a disk
        // wait puts it back), so once that has passed its interrupt is pending and preempts
        // the cVM as soon as it runs; that exit takes the check below.
        if matches!(transition, Transition::Continue) && !interrupt {
            return ControlFlow::Continue(());
        }
        let now = self.account();
        if interrupt && self.cvm.imports_calls && matches!(transition, Transition::Continue) {
            if let Some(ended) = self.cvm.call_budget(now, self.freq) {
                return ControlFlow::Break(ended);
            }
        }
        match transition {
            // An interrupt resumes the cVM while its slice and budget last, unless it brought
            // frames: then the run loop delivers them (and wakes their cVMs) first.
            Transition::Continue
                if now < self.deadline
                    && !(self.uses_net && nets::pending())
                    && !crate::smp::GATE.asked(crate::smp::this_core()) =>
            {
                ControlFlow::Continue(())
            }
            other => ControlFlow::Break(other),
        }
    }
    fn fault(&mut self, fault: Box<Fault>) -> Transition {
        // Charged before a restart starts its count afresh.
        self.account();
        // Inside a CP_Call the fault is the callee's (its code, its stack, its DDC).
        let callee = self
            .cvm
            .imports_calls
            .then(|| share::live::callee(self.cvm.slot, &self.cvm.cpu))
            .flatten();
        if let Some(callee) = callee {
            return Transition::CallFailed { callee, fault };
        }
        Transition::Fault(fault)
    }
}

/// A CP_Call the caller at `caller` was in failed in `callee`: the fault is reported against
/// the callee (with the caller named), which stops or restarts per its manifest like any
/// faulting cVM, and the caller resumes at its return stub with `Fault`. A caller that never
/// imported a call has no return stub: then the fault is its own. Returns whether the callee
/// was restarted.
#[inline(never)]
fn end_call(cvms: &mut [Cvm], caller: usize, callee: usize, fault: &Fault) -> bool {
    println!(
        "cvm {}: fault inside a call from {}",
        cvms[callee].path, cvms[caller].path
    );
    if !share::live::fail_call(caller, &mut cvms[caller].cpu, Error::Fault) {
        cvms[caller].fault(fault);
        return false;
    }
    let restarted = matches!(cvms[callee].fault(fault), Transition::Restarted);
    // The callee's teardown swept what its code left in the caller's registers; put the
    // caller's return state back (a fresh derivation, the same values).
    share::live::fail_call(caller, &mut cvms[caller].cpu, Error::Fault);
    restarted
}

/// Takes the frames the network devices completed and wakes the cVMs that got one. Out of line:
/// the run loop's registers stay free for the common path.
#[inline(never)]
fn deliver_frames(scheduler: &mut Scheduler, cvms: usize) -> bool {
    let woken = nets::poll();
    for i in (0..cvms.min(64)).filter(|i| woken & (1 << i) != 0) {
        scheduler.wake(i);
    }
    woken != 0
}

/// Makes the cVMs a stream notify, close or teardown woke ready (`cvm::share::stream_live`).
#[inline(never)]
fn wake_streams(scheduler: &mut Scheduler) -> bool {
    let woken = share::stream_live::take_wakes();
    for i in (0..64).filter(|i| woken & (1 << i) != 0) {
        scheduler.wake(i);
    }
    woken != 0
}

/// Converts counter ticks to nanoseconds. Every counter capmon has met runs at a divisor of
/// 1 GHz (1 GHz, 62.5 MHz, 50 MHz, 10 MHz), where one multiply does; others take the 128-bit
/// path (a library division, hundreds of instructions on a hostcall's hot path).
fn ticks_to_ns(ticks: u64, freq: u64) -> u64 {
    const NS_PER_S: u64 = 1_000_000_000;
    if freq != 0 && NS_PER_S.is_multiple_of(freq) {
        ticks.saturating_mul(NS_PER_S / freq)
    } else {
        u64::try_from(u128::from(ticks) * u128::from(NS_PER_S) / u128::from(freq.max(1)))
            .unwrap_or(u64::MAX)
    }
}

/// The counter value `ns` nanoseconds from now (saturating: a huge time-out never wraps).
fn deadline_after(ns: u64, freq: u64) -> u64 {
    let ticks =
        u64::try_from(u128::from(ns) * u128::from(freq) / 1_000_000_000).unwrap_or(u64::MAX);
    arch::now().saturating_add(ticks)
}

/// Sets sharing up (`cvm::share::live`) once every cVM is loaded, before any runs.
fn start_sharing(
    manifest: &manifest::Manifest,
    usable: &[PhysRange],
    cvms: &mut [Cvm],
) -> Result<(), String> {
    let members: Vec<share::live::Member> = cvms
        .iter()
        .map(|c| share::live::Member {
            name: c.spec.name.clone(),
            region: c.region,
            data: c.caps.data.base()..u64::try_from(c.caps.data.top()).unwrap_or(u64::MAX),
            parent: c.spec.parent,
            code: c.code.clone(),
            otype: c.caps.otype,
        })
        .collect();
    let regions: Vec<PhysRange> = cvms.iter().map(|c| c.region).collect();
    share::live::init(manifest, &members, &plan::without(usable, &regions))?;
    let names: Vec<&str> = cvms.iter().map(|c| c.spec.name.as_str()).collect();
    share::stream_live::init(&manifest.streams, &names)?;
    for cvm in cvms {
        share::live::attach(cvm.slot, &mut cvm.cpu, &cvm.authority)
            .map_err(|e| alloc::format!("cvm {}: {e}", cvm.spec.name))?;
    }
    Ok(())
}

/// A cVM's default capabilities: they depend only on its image's layout (checked, nothing
/// written) and its region, neither of which changes across restarts, so they are planned once.
/// `own` is the part of its region that holds its image and stack (below its children's).
fn plan_caps(
    manifest: &manifest::Manifest,
    regions: &[PhysRange],
    at: usize,
    image: &[u8],
    own: PhysRange,
    parent: Option<&DefaultCaps<Format>>,
) -> Result<DefaultCaps<Format>, String> {
    let spec = &manifest.cvms[at];
    if spec.abi == Abi::Purecap && !cfg!(feature = "cheri") {
        return Err(String::from("abi = \"purecap\" needs capability hardware (Morello or CHERI-RISC-V); this board has none, so the cVM cannot run without a DDC"));
    }
    let layout = image::inspect(image, cpu::MACHINE, own.size(), spec.stack_size)
        .map_err(|e| alloc::format!("image {:?}: {e}", spec.image))?;
    let caps = plan::cvm_caps::<Format>(manifest, regions, at, layout.code_window(), parent)
        .map_err(|e| alloc::format!("{e}"))?;
    let region_start = regions.get(at).map_or(0, |r| r.start.0);
    plan::data_in_reach(&caps, region_start, &layout.data)?;
    Ok(caps)
}

impl Cvm {
    /// Makes hostcall `number` for it with the machine to itself (an exclusive section: a
    /// sharing call handed back by its turn, or a call its serving parent passed on).
    fn serve_on_machine(&mut self, number: u64, args: &[u64; 6], freq: u64) -> Transition {
        let outcome = hostcall::dispatch(
            &mut GuestView {
                cvm: &mut *self,
                freq,
                whole_machine: true,
            },
            number,
            args,
        );
        self.end_turn(outcome, freq)
    }

    /// Its CPU time budget ran out during the turn just ended: a fault to act on.
    fn budget_fault(&self, freq: u64) -> Option<Transition> {
        if self.ending.is_some() {
            return None;
        }
        let budget = self.budget_ticks(freq)?;
        (self.used_ticks >= budget).then(|| {
            Transition::Fault(Box::new(Fault {
                cause: "time budget exhausted",
                detail: alloc::format!(
                    "used {} ms of {} ms",
                    self.used_ticks * 1000 / freq,
                    budget * 1000 / freq
                ),
                pc: cpu::pc(&self.cpu),
                address: None,
                role: CapRole::Code,
            }))
        })
    }

    fn budget_ticks(&self, freq: u64) -> Option<u64> {
        self.spec
            .cpu_budget_ms
            .map(|ms| ms.saturating_mul(freq) / 1000)
    }

    fn memory_mut(&mut self) -> &mut [u8] {
        // SAFETY: the region was planned out of usable RAM (minus the monitor's image, heap,
        // device tree and firmware carve-outs) and given to this cVM alone (and, nested, to its
        // children, which are stopped whenever this is used on a parent: see `start` and
        // `end`); the monitor is identity-mapped and the only code touching it while the cVM is
        // not running.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.region.start.as_usize() as *mut u8,
                self.region.size_usize(),
            )
        }
    }

    /// The part of its region that is its own (image, heap, stack): all of it without children.
    fn own_mut(&mut self) -> &mut [u8] {
        let own = usize::try_from(self.own.size()).unwrap_or(0);
        let memory = self.memory_mut();
        let own = own.min(memory.len());
        &mut memory[..own]
    }

    /// Zeroes the region, loads the image, lays out argv, and prepares the registers (deriving
    /// the planned default capabilities in hardware).
    fn start(&mut self) -> Result<(), String> {
        self.generation += 1;
        // A restart: everything it shared is revoked, and it loses its imports, first.
        share::stream_live::teardown(self.slot);
        share::live::teardown(self.slot, &mut self.cpu);
        self.memory_mut().fill(0);
        let base = self.region.start.0;
        let stack_size = self.spec.stack_size;
        let image = self.image;
        let layout = image::load(image, cpu::MACHINE, self.own_mut(), base, stack_size)
            .map_err(|e| alloc::format!("image {:?}: {e}", self.spec.image))?;
        let relocs = cap_relocs::for_cvm(&self.spec, image, base, self.own.size(), &self.caps)?;
        if !relocs.is_empty() {
            let own = usize::try_from(self.own.size()).unwrap_or(0);
            // SAFETY: the same memory `own_mut` hands out (the bottom `own` bytes of this cVM's
            // region, see `memory_mut`), borrowed here beside `self.authority`, which does not
            // live in it.
            let memory = unsafe {
                core::slice::from_raw_parts_mut(self.region.start.as_usize() as *mut u8, own)
            };
            cap_relocs::apply(memory, &relocs, &self.authority)?;
        }
        // The loader wrote the code with data stores: the cVM must fetch what it wrote.
        let code = layout.code_window();
        arch::sync_code(PhysRange {
            start: crate::addr::PhysAddr(base + code.start),
            end: crate::addr::PhysAddr(base + code.end),
        });
        let (argc, argv, stack_top) = self.write_args()?;
        let setup = cpu::Setup {
            entry: base + layout.entry,
            stack_top,
            argc,
            argv,
            caps: &self.caps,
        };
        cpu::prepare(&mut self.cpu, &setup, &self.authority)
            .map_err(|m| alloc::format!("{} capability: {}", m.role, m.detail))?;
        share::live::attach(self.slot, &mut self.cpu, &self.authority)?;
        self.call_since = None;
        self.line.clear();
        self.used_ticks = 0;
        self.ending = None;
        self.ending_reported = false;
        self.net_waiting = false;
        self.stream_polling = false;
        if let Some(g) = &self.net {
            nets::clear(g, self.slot);
        }
        Ok(())
    }

    /// Writes argv (name first, then the manifest's args) at the top of the stack: strings,
    /// then the pointer array; returns (argc, argv, new stack top). The arguments come from
    /// the manifest, so everything is checked: they must fit in half the stack.
    fn write_args(&mut self) -> Result<(u64, u64, u64), String> {
        if self.spec.abi == Abi::Purecap {
            return self.write_pure_args();
        }
        let base = self.region.start.0;
        let size = self.own.size();
        let limit = self.spec.stack_size / 2;
        let strings: Vec<Vec<u8>> = core::iter::once(&self.spec.name)
            .chain(&self.spec.args)
            .map(|a| a.as_bytes().to_vec())
            .collect();
        let too_big =
            || alloc::format!("its arguments need more than half its stack ({limit} bytes)");
        let memory = self.memory_mut();
        let mut top = size;
        let mut pointers = Vec::new();
        for s in &strings {
            let len = u64::try_from(s.len()).map_err(|_| too_big())?;
            top = top
                .checked_sub(len + 1)
                .filter(|t| size - t <= limit)
                .ok_or_else(too_big)?;
            let at = usize::try_from(top).map_err(|_| too_big())?;
            let slot = memory.get_mut(at..at + s.len() + 1).ok_or_else(too_big)?;
            slot[..s.len()].copy_from_slice(s);
            slot[s.len()] = 0;
            pointers.push(base + top);
        }
        pointers.push(0);
        let table = 8 * u64::try_from(pointers.len()).map_err(|_| too_big())?;
        top = top
            .checked_sub(table)
            .filter(|t| size - t <= limit)
            .ok_or_else(too_big)?
            & !15;
        let at = usize::try_from(top).map_err(|_| too_big())?;
        for (i, p) in pointers.iter().enumerate() {
            let slot = memory
                .get_mut(at + 8 * i..at + 8 * i + 8)
                .ok_or_else(too_big)?;
            slot.copy_from_slice(&p.to_le_bytes());
        }
        let argv = base + top;
        Ok((
            u64::try_from(strings.len()).map_err(|_| too_big())?,
            argv,
            argv,
        ))
    }

    /// A pure cVM's argument strings ([`pure::args_block`]) at the very top of its region, where
    /// its args capability (planned with the same length) covers them; returns (argc, their
    /// address, the stack top below them). argv has no pointer array: the cVM gets a capability.
    fn write_pure_args(&mut self) -> Result<(u64, u64, u64), String> {
        let block = pure::args_block(&self.spec.name, &self.spec.args);
        let argc = u64::try_from(1 + self.spec.args.len())
            .map_err(|_| String::from("too many arguments"))?;
        let len = u64::try_from(block.len()).map_err(|_| String::from("arguments too long"))?;
        // At the top of its own part (a parent's children lie above it).
        let size = self.own.size();
        let planned = self
            .caps
            .args
            .as_ref()
            .map_or(0, |c| u64::try_from(c.length()).unwrap_or(u64::MAX));
        let at = size
            .checked_sub(len)
            .filter(|_| len == planned)
            .and_then(|a| usize::try_from(a).ok());
        let Some(at) = at else {
            return Err(alloc::format!("its argument strings ({len} bytes) do not match the planned args capability ({planned} bytes)"));
        };
        let slot = self
            .own_mut()
            .get_mut(at..)
            .ok_or_else(|| String::from("arguments outside the region"))?;
        slot.copy_from_slice(&block);
        let end = self.own.end.0;
        Ok((argc, end - len, pure::stack_top(end, len)))
    }

    /// Acts on one exit. The common case (a hostcall that returns a value) stays inline and
    /// call-free; everything else is outlined, so the hostcall fast path's frame stays small.
    #[inline(always)]
    fn handle<const PURE: bool>(&mut self, event: CvmEvent, freq: u64) -> Transition {
        match event {
            CvmEvent::Interrupt => Self::interrupt(),
            CvmEvent::Hostcall { number } => {
                // Inside a CP_Call the code making the hostcall is the callee's, on the
                // caller's turn: it must not act with the caller's authority.
                let pc = cpu::exit_pc(&self.cpu);
                if pc < self.code.start || pc > self.code.end {
                    return self.hostcall_in_call(number);
                }
                // A pure cVM's buffers are capabilities, checked before anything else (also
                // before a serving parent sees the call).
                if PURE
                    && cap_args::has_buffers(number)
                    && !self.capabilities_pass(number, &cpu::hostcall_args(&self.cpu))
                {
                    return Transition::Continue;
                }
                if (self.served_by_parent || nest::is_child_call(number))
                    && nest::goes_to_family(self.served_by_parent, number)
                {
                    // The run loop reads the arguments itself (read here too, they were a
                    // second copy on every served hostcall).
                    return Transition::Family(number);
                }
                let args = cpu::hostcall_args(&self.cpu);
                let mut view = GuestView {
                    cvm: self,
                    freq,
                    whole_machine: false,
                };
                match hostcall::dispatch(&mut view, number, &args) {
                    Outcome::Return(value) => {
                        if capmon_abi::Error::check(value) == Err(capmon_abi::Error::Fault) {
                            self.refused(number);
                        }
                        cpu::set_result(&mut self.cpu, value);
                        Transition::Continue
                    }
                    Outcome::Exit(code) => Transition::Exit(code),
                    Outcome::Machine => Transition::Machine(number),
                    outcome => self.end_turn(outcome, freq),
                }
            }
            CvmEvent::Fault(fault) => self.fault(&fault),
        }
    }

    /// Checks a pure cVM's buffer capabilities for hostcall `number` ([`cap_args::check`]); a
    /// refusal is logged, answered with `Fault`, and the call is not made.
    #[inline(never)]
    fn capabilities_pass(&mut self, number: u64, args: &[u64; 6]) -> bool {
        let owned = self.caps.owned();
        match cap_args::check(number, args, |n| cpu::arg_capability(&self.cpu, n), &owned) {
            Ok(()) => true,
            Err(refused) => {
                println!(
                    "cvm {}: hostcall {number} refused: its buffer capability (arg{}) {}",
                    self.path, refused.arg, refused.why
                );
                cpu::set_result(&mut self.cpu, Error::Fault.to_result());
                false
            }
        }
    }

    /// A hostcall from a callee's code during a CP_Call: refused (`Denied`), since serving it
    /// would act with the caller's authority; entry points are leaf code.
    #[cold]
    #[inline(never)]
    fn hostcall_in_call(&mut self, number: u64) -> Transition {
        println!(
            "cvm {}: hostcall {number} refused: made by a callee's code (pc {:#x}) inside a call",
            self.path,
            cpu::exit_pc(&self.cpu)
        );
        cpu::set_result(&mut self.cpu, Error::Denied.to_result());
        Transition::Continue
    }

    /// An interrupt found the cVM: if it is inside a CP_Call that has run past
    /// [`share::calls::CALL_BUDGET_MS`] since an interrupt first saw it there, the call ends
    /// as a fault of the callee.
    #[inline(never)]
    fn call_budget(&mut self, now: u64, freq: u64) -> Option<Transition> {
        cpu::sync_context(&mut self.cpu);
        let Some(callee) = share::live::callee(self.slot, &self.cpu) else {
            self.call_since = None;
            return None;
        };
        let since = *self.call_since.get_or_insert(now);
        let budget = share::calls::CALL_BUDGET_MS.saturating_mul(freq) / 1000;
        if now.saturating_sub(since) < budget {
            return None;
        }
        self.call_since = None;
        Some(Transition::CallFailed {
            callee,
            fault: Box::new(Fault {
                cause: "call budget exhausted",
                detail: alloc::format!(
                    "a call from {} ran for over {} ms",
                    self.path,
                    share::calls::CALL_BUDGET_MS
                ),
                pc: cpu::pc(&self.cpu),
                address: None,
                role: CapRole::Code,
            }),
        })
    }

    #[inline(never)]
    fn interrupt() -> Transition {
        arch::handle_interrupts();
        Transition::Continue
    }

    /// Logs a hostcall refused for a buffer outside the cVM's memory.
    #[cold]
    #[inline(never)]
    fn refused(&self, number: u64) {
        let args = cpu::hostcall_args(&self.cpu);
        println!(
            "cvm {}: hostcall {number} refused: a buffer reaches outside its memory (args {:#x}, {:#x})",
            self.spec.name, args[0], args[1]
        );
    }

    /// A hostcall outcome other than a returned value: the cVM's turn ends.
    #[inline(always)]
    fn end_turn(&mut self, outcome: Outcome, freq: u64) -> Transition {
        match outcome {
            Outcome::Return(value) => {
                cpu::set_result(&mut self.cpu, value);
                Transition::Continue
            }
            Outcome::Yield => {
                cpu::set_result(&mut self.cpu, 0);
                Transition::Yield
            }
            Outcome::Sleep(ns) => {
                cpu::set_result(&mut self.cpu, 0);
                Transition::Set(State::Sleeping {
                    until: deadline_after(ns, freq),
                })
            }
            Outcome::WaitNet(ns) => self.wait_net(ns, freq),
            Outcome::WaitStream(ns) => {
                self.stream_polling = true;
                Transition::Set(State::Waiting {
                    until: deadline_after(ns, freq),
                })
            }
            Outcome::Exit(code) => self.exited(code),
            // Only a turn's own dispatch answers this, and `handle` takes it first.
            Outcome::Machine => {
                cpu::set_result(&mut self.cpu, Error::NoSys.to_result());
                Transition::Continue
            }
        }
    }

    /// A cVM that blocked in `net_wait` runs again: its result is the number of frames waiting.
    #[inline(never)]
    fn end_net_wait(&mut self) {
        self.net_waiting = false;
        let waiting = self.net.map_or(0, |g| nets::waiting(&g, self.slot));
        cpu::set_result(&mut self.cpu, waiting);
    }

    /// A cVM that blocked in `cp_poll` runs again (woken or timed out): its result is the
    /// streams' ready mask.
    #[inline(never)]
    fn end_stream_poll(&mut self) {
        self.stream_polling = false;
        let ready = share::stream_live::resume(self.slot).unwrap_or(0);
        cpu::set_result(&mut self.cpu, ready);
    }

    /// `net_wait` with nothing waiting: not runnable until a frame or the time-out. The result
    /// is set when it runs again (`net_waiting`).
    #[inline(never)]
    fn wait_net(&mut self, ns: u64, freq: u64) -> Transition {
        self.net_waiting = true;
        Transition::Set(State::Waiting {
            until: deadline_after(ns, freq),
        })
    }

    #[inline(never)]
    fn exited(&mut self, code: i64) -> Transition {
        self.flush_line();
        println!("cvm {}: exit {code}", self.path);
        self.ending = Some(Ending::Exited(code));
        self.end();
        Transition::Set(State::Ended)
    }

    /// Reports a fault and stops or restarts the cVM, per its manifest.
    #[inline(never)]
    fn fault(&mut self, fault: &Fault) -> Transition {
        self.flush_line();
        let held;
        let cap = match fault.role {
            CapRole::Code => &self.caps.code,
            // A pure cVM has no DDC: an integer access faults on the null one.
            CapRole::Data if self.caps.abi == Abi::Purecap => {
                held = Capability::null();
                &held
            }
            CapRole::Data => &self.caps.data,
            CapRole::Stack => &self.caps.stack,
            CapRole::Register(n) => {
                held = cpu::saved_register(&self.cpu, n).map_or_else(Capability::null, |slot| {
                    Capability::from_memory(slot[1], slot[0], cpu::slot_tag(slot))
                });
                &held
            }
        };
        if cfg!(feature = "cheri") {
            println!(
                "{}",
                FaultReport {
                    cvm: &self.path,
                    fault,
                    capability: cap
                }
            );
        } else {
            println!(
                "{}",
                FaultReport {
                    cvm: &self.path,
                    fault,
                    capability: &"none (no capability hardware)"
                }
            );
        }
        self.last_fault = match fault.address {
            Some(address) => alloc::format!(
                "{} at pc {:#x}, address {address:#x}",
                fault.cause,
                fault.pc
            ),
            None => alloc::format!("{} at pc {:#x}", fault.cause, fault.pc),
        };
        if let OnFault::Restart { max } = self.spec.on_fault {
            if self.restarts < max {
                self.restarts += 1;
                println!("cvm {}: restarting ({} of {max})", self.path, self.restarts);
                match self.start() {
                    Ok(()) => return Transition::Restarted,
                    Err(e) => println!("cvm {}: restart failed: {e}", self.path),
                }
            }
        }
        self.ending = Some(Ending::Faulted);
        self.end();
        Transition::Set(State::Ended)
    }

    /// Zeroes the region of a cVM that has ended, so nothing it left is seen again.
    fn end(&mut self) {
        self.generation += 1;
        share::stream_live::teardown(self.slot);
        share::live::teardown(self.slot, &mut self.cpu);
        self.memory_mut().fill(0);
        if let Some(g) = &self.net {
            nets::detach(g, self.slot);
        }
    }

    fn flush_line(&mut self) {
        if !self.line.is_empty() {
            let text = String::from_utf8_lossy(&self.line);
            println!("[{}] {}", self.spec.console_label, text);
            self.line.clear();
        }
    }
}

impl Ending {
    /// What its parent hears: `None` for a stop (the parent, or its ancestor, caused it).
    fn event_kind(self) -> Option<capmon_abi::ChildEventKind> {
        match self {
            Ending::Exited(_) => Some(capmon_abi::ChildEventKind::Exited),
            Ending::Faulted => Some(capmon_abi::ChildEventKind::Faulted),
            Ending::Stopped => None,
        }
    }
}

/// The run loop's cVMs as nesting sees them (`nest::Members`).
struct Tree<'a> {
    cvms: &'a mut [Cvm],
    scheduler: &'a mut Scheduler,
    freq: u64,
    /// The core acting (the one whose turn the resumed cVM gets).
    core: usize,
}

impl<'a> Tree<'a> {
    fn new(cvms: &'a mut [Cvm], scheduler: &'a mut Scheduler, freq: u64, core: usize) -> Self {
        Tree {
            cvms,
            scheduler,
            freq,
            core,
        }
    }
}

impl nest::Members for Tree<'_> {
    fn memory(&self, at: usize) -> Range<u64> {
        self.cvms[at].caps.owned()
    }
    fn region(&self, at: usize) -> Range<u64> {
        self.cvms[at].region.start.0..self.cvms[at].region.end.0
    }
    fn state(&self, at: usize) -> u64 {
        use capmon_abi::child_state;
        match self.cvms[at].ending {
            None => child_state::RUNNING,
            Some(Ending::Exited(_)) => child_state::EXITED,
            Some(Ending::Faulted) => child_state::FAULTED,
            Some(Ending::Stopped) => child_state::STOPPED,
        }
    }
    fn exit_code(&self, at: usize) -> i64 {
        match self.cvms[at].ending {
            Some(Ending::Exited(code)) => code,
            _ => 0,
        }
    }
    fn fault_detail(&self, at: usize) -> String {
        self.cvms[at].last_fault.clone()
    }
    fn write(&mut self, at: usize, addr: u64, bytes: &[u8]) {
        GuestView {
            cvm: &mut self.cvms[at],
            freq: self.freq,
            whole_machine: true,
        }
        .write(addr, bytes);
    }
    fn write_record(&mut self, at: usize, addr: u64, record: &nest::HostcallRecord<'_>) {
        let mut view = GuestView {
            cvm: &mut self.cvms[at],
            freq: self.freq,
            whole_machine: true,
        };
        if !addr.is_multiple_of(8) {
            return view.write(addr, &record.to_bytes());
        }
        view.write_words(addr, &record.header);
        view.write_words(addr + nest::NAME_OFFSET, record.name);
        view.write_words(addr + nest::DETAIL_OFFSET, &[0; nest::DETAIL_WORDS]);
    }
    fn set_result(&mut self, at: usize, value: u64) {
        cpu::set_result(&mut self.cvms[at].cpu, value);
    }
    fn resume(&mut self, at: usize) {
        if self.cvms[at].ending.is_none() {
            self.scheduler.set_state(at, State::Ready);
            self.scheduler.hand_over(self.core, at);
        }
    }
    fn block(&mut self, at: usize, timeout_ns: Option<u64>) {
        let until = timeout_ns.map_or(u64::MAX, |ns| deadline_after(ns, self.freq));
        self.scheduler.set_state(at, State::Waiting { until });
    }
    fn start(&mut self, at: usize) -> Result<(), String> {
        self.cvms[at].start()?;
        self.scheduler.set_state(at, State::Ready);
        Ok(())
    }
    fn stop(&mut self, at: usize, why: &str) {
        let cvm = &mut self.cvms[at];
        cvm.flush_line();
        println!("cvm {}: {why}", cvm.path);
        cvm.ending = Some(Ending::Stopped);
        cvm.ending_reported = true;
        cvm.end();
        self.scheduler.set_state(at, State::Ended);
    }
    fn serve(&mut self, at: usize, number: u64, args: &[u64; 6]) {
        if let Transition::Set(state) = self.cvms[at].serve_on_machine(number, args, self.freq) {
            self.scheduler.set_state(at, state);
        }
    }
}

static FIRST_OUTPUT_SEEN: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// The hostcall view of a cVM: the memory it owns (its region minus its code) is what it may pass.
struct GuestView<'a> {
    cvm: &'a mut Cvm,
    freq: u64,
    /// An exclusive section: calls that touch other cVMs may run (else they are handed back).
    whole_machine: bool,
}

impl GuestView<'_> {
    /// Stores `words` at the 8-byte aligned `at`: volatile, so the compiler keeps word stores
    /// instead of calling `memcpy` (a served hostcall's event record), four to a loop turn
    /// (`N` is a multiple of 4) so the loop's own count stays small.
    fn write_words<const N: usize>(&mut self, at: u64, words: &[u64; N]) {
        const { assert!(N.is_multiple_of(4)) };
        let dst = at as *mut u64;
        for (i, four) in words.chunks_exact(4).enumerate() {
            // SAFETY: as in `write`: the caller checked `at..at + 8 * N` against `memory()`
            // (this cVM's RAM, which no one else uses while it is not running), and `at` is
            // 8-byte aligned, so every word store is aligned and inside it (`4 * i + 3 < N`).
            unsafe {
                let d = dst.add(4 * i);
                d.write_volatile(four[0]);
                d.add(1).write_volatile(four[1]);
                d.add(2).write_volatile(four[2]);
                d.add(3).write_volatile(four[3]);
            }
        }
    }
}

impl Guest for GuestView<'_> {
    fn whole_machine(&self) -> bool {
        self.whole_machine
    }
    fn memory(&self) -> Range<u64> {
        self.cvm.caps.owned()
    }
    fn read(&self, range: Range<u64>, out: &mut [u8]) {
        let base = self.cvm.region.start.0;
        // SAFETY: `dispatch` passes only ranges checked against `memory()`, which lies inside
        // this cVM's region (monitor-accessible RAM that no one else uses).
        let src = unsafe {
            core::slice::from_raw_parts((base + (range.start - base)) as *const u8, out.len())
        };
        out.copy_from_slice(src);
    }
    fn write(&mut self, at: u64, bytes: &[u8]) {
        // SAFETY: as in `read`: `at..at + bytes.len()` was checked against `memory()`.
        let dst = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, bytes.len()) };
        dst.copy_from_slice(bytes);
    }
    fn console_write(&mut self, bytes: &[u8]) {
        if !FIRST_OUTPUT_SEEN.swap(true, core::sync::atomic::Ordering::Relaxed) {
            // Under QEMU -icount shift=0 nanoseconds are guest instructions: `just bench` reads this.
            println!("cvms: first cVM output after {} ns", self.now_ns());
        }
        for &b in bytes {
            if b == b'\n' {
                let text = String::from_utf8_lossy(&self.cvm.line);
                println!("[{}] {}", self.cvm.spec.console_label, text);
                self.cvm.line.clear();
            } else if self.cvm.line.len() < 512 {
                self.cvm.line.push(b);
            }
        }
    }
    fn console_read(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        while n < out.len() {
            match crate::console::take_input_byte() {
                Some(b) => {
                    out[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }
    fn identity(&self) -> WhoAmI {
        let mut name = [0u8; NAME_MAX];
        let bytes = self.cvm.spec.name.as_bytes();
        let n = bytes.len().min(NAME_MAX);
        name[..n].copy_from_slice(&bytes[..n]);
        WhoAmI {
            id: u64::from(self.cvm.spec.index),
            region_base: self.cvm.region.start.0,
            region_size: self.cvm.region.size(),
            name,
        }
    }
    fn now_ns(&self) -> u64 {
        ticks_to_ns(arch::now(), self.freq)
    }
    fn disk_grant(&self) -> Option<Grant> {
        self.cvm.grant
    }
    fn disk_read(&mut self, extent: Extent, into: Range<u64>) -> Result<(), Error> {
        let grant = self.cvm.grant.ok_or(Error::Denied)?;
        let len = usize::try_from(into.end - into.start).map_err(|_| Error::Invalid)?;
        // SAFETY: `dispatch` checked `into` against `memory()`, inside this cVM's region
        // (monitor-accessible RAM no one else uses while the cVM is in a hostcall).
        let out = unsafe { core::slice::from_raw_parts_mut(into.start as *mut u8, len) };
        // Direct: exactly the cVM's checked, identity-mapped buffer may be handed to the
        // device, which writes it before the hostcall returns (drivers/virtio_blk.rs, "Direct
        // requests"); an unaligned one goes through the bounce buffer.
        disks::read(grant.device, extent.sector, out, disks::Placement::Direct)
    }
    fn disk_write(&mut self, extent: Extent, from: Range<u64>) -> Result<(), Error> {
        let grant = self.cvm.grant.ok_or(Error::Denied)?;
        let len = usize::try_from(from.end - from.start).map_err(|_| Error::Invalid)?;
        // SAFETY: as in `disk_read`; the device (or the copy into the bounce buffer) only
        // reads it.
        let data = unsafe { core::slice::from_raw_parts(from.start as *const u8, len) };
        disks::write(grant.device, extent.sector, data, disks::Placement::Direct)
    }
    fn disk_flush(&mut self) -> Result<(), Error> {
        disks::flush(self.cvm.grant.ok_or(Error::Denied)?.device)
    }
    fn net_grant(&self) -> Option<NetGrant> {
        self.cvm.net
    }
    fn net_info(&self, grant: &NetGrant) -> NetInfo {
        nets::info(grant, self.cvm.slot)
    }
    fn net_send(&mut self, frame: &[u8]) -> Result<(), Error> {
        nets::send(&self.cvm.net.ok_or(Error::Denied)?, self.cvm.slot, frame)
    }
    fn net_recv(&mut self, into: Range<u64>) -> Result<u64, Error> {
        let grant = self.cvm.net.ok_or(Error::Denied)?;
        let len = usize::try_from(into.end - into.start).map_err(|_| Error::Invalid)?;
        // SAFETY: `dispatch` checked `into` against `memory()`, inside this cVM's region
        // (monitor-accessible RAM no one else uses while the cVM is in a hostcall); the switch
        // copies a queued frame into it.
        let out = unsafe { core::slice::from_raw_parts_mut(into.start as *mut u8, len) };
        nets::recv(&grant, self.cvm.slot, out).map(|n| u64::try_from(n).unwrap_or(0))
    }
    fn net_waiting(&self) -> u64 {
        self.cvm.net.map_or(0, |g| nets::waiting(&g, self.cvm.slot))
    }
    fn share(&mut self, request: share::call::Request) -> Result<u64, Error> {
        share::live::request(self.cvm.slot, &mut self.cvm.cpu, request)
    }
    fn stream(&mut self, request: share::stream::Request) -> Result<share::stream::Reply, Error> {
        share::stream_live::request(self.cvm.slot, &mut self.cvm.cpu, request)
    }
}

fn print_audit(cvms: &[Cvm]) {
    let mut rows = Vec::new();
    for cvm in cvms {
        rows.extend(audit::rows(&cvm.path, &cvm.caps));
    }
    println!("cvms: default capabilities (audit)");
    for line in audit::format_table(&rows).lines() {
        println!("  {line}");
    }
}
