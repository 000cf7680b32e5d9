//! The cVM run loop: parse the bundle (never trusting it), plan regions, load each image,
//! derive its default capabilities, print the audit, then schedule the cVMs preemptively until
//! every one has ended. A cVM fault stops (or restarts) that cVM only.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::{ControlFlow, Range};

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
    let mut scheduler = Scheduler::new(&shares, slice);
    let parents: Vec<Option<usize>> = cvms.iter().map(|c| c.spec.parent).collect();
    let serves: Vec<bool> = cvms.iter().map(|c| c.spec.serve_children).collect();
    let names: Vec<&str> = cvms.iter().map(|c| c.spec.name.as_str()).collect();
    let mut family = Family::new(&parents, &serves, &names);
    let mut on_cpu: Option<usize> = None; // whose FP state is in the registers
    let mut slice_end = 0;
    loop {
        if uses_net && nets::pending() {
            deliver_frames(&mut scheduler, cvms.len());
        }
        if share::stream_live::pending() {
            wake_streams(&mut scheduler);
        }
        let now = arch::now();
        match scheduler.decide(now, now >= slice_end) {
            Decision::AllEnded => break,
            Decision::Idle { until } => {
                let until = until.unwrap_or(u64::MAX);
                // A net device without an interrupt is polled every millisecond.
                let poll = if uses_net && nets::needs_polling() {
                    now.saturating_add(freq / 1000)
                } else {
                    u64::MAX
                };
                arch::set_timer(until.min(poll));
                arch::wait_for_interrupt();
            }
            Decision::Run {
                index,
                slice_end: end,
            } => {
                slice_end = end;
                if cvms[index].net_waiting {
                    cvms[index].end_net_wait();
                }
                if cvms[index].stream_polling {
                    cvms[index].end_stream_poll();
                }
                if family.is_waiting(index) {
                    // Runnable again without an event: its `child_wait` timed out (result 0).
                    family.wait_timed_out(index);
                }
                // Restored unless the registers hold this very run's FP state (a restart, of it
                // or of anyone, makes a new run: `arch::fp_run`).
                if !cpu::fp_loaded(&cvms[index].cpu.fp) {
                    if let Some(previous) = on_cpu {
                        cpu::save_fp(&mut cvms[previous].cpu.fp);
                    }
                    cpu::restore_fp(&cvms[index].cpu.fp);
                    on_cpu = Some(index);
                }
                let budget_end = cvms[index]
                    .budget_ticks(freq)
                    .map(|b| now + b.saturating_sub(cvms[index].used_ticks));
                let deadline = budget_end.map_or(slice_end, |b| b.min(slice_end));
                arch::set_timer(deadline);
                let cvm = &mut cvms[index];
                let transition = run_turn(cvm, freq, deadline, now, uses_net);
                // The callee of a call the monitor ended in this turn, if any.
                let mut called = None;
                match transition {
                    Transition::Continue => {}
                    Transition::Yield => scheduler.end_turn(),
                    Transition::Restarted => {
                        // A restarted cVM starts from scratch, FP state included.
                        on_cpu = on_cpu.filter(|&i| i != index);
                        family.restarted(
                            &mut Tree {
                                cvms: &mut cvms,
                                scheduler: &mut scheduler,
                                freq,
                            },
                            index,
                        );
                    }
                    Transition::Set(state) => scheduler.set_state(index, state),
                    Transition::CallFailed { callee, fault } => {
                        called = Some(callee);
                        if end_call(&mut cvms, index, callee, &fault) {
                            on_cpu = on_cpu.filter(|&i| i != callee);
                            scheduler.set_state(callee, State::Ready);
                            family.restarted(
                                &mut Tree {
                                    cvms: &mut cvms,
                                    scheduler: &mut scheduler,
                                    freq,
                                },
                                callee,
                            );
                        } else if cvms[callee].ending.is_some() {
                            scheduler.set_state(callee, State::Ended);
                        }
                        if cvms[index].ending.is_some() {
                            scheduler.set_state(index, State::Ended);
                        }
                    }
                    Transition::Family(number) => {
                        let args = cpu::hostcall_args(&cvms[index].cpu);
                        family.hostcall(
                            &mut Tree {
                                cvms: &mut cvms,
                                scheduler: &mut scheduler,
                                freq,
                            },
                            index,
                            number,
                            &args,
                        );
                    }
                }
                let cvm = &mut cvms[index];
                if cvm.ending.is_none() {
                    if let Some(budget) = cvm.budget_ticks(freq) {
                        if cvm.used_ticks >= budget {
                            let fault = Fault {
                                cause: "time budget exhausted",
                                detail: alloc::format!(
                                    "used {} ms of {} ms",
                                    cvm.used_ticks * 1000 / freq,
                                    budget * 1000 / freq
                                ),
                                pc: cpu::pc(&cvm.cpu),
                                address: None,
                                role: CapRole::Code,
                            };
                            match cvm.fault(&fault) {
                                Transition::Set(state) => scheduler.set_state(index, state),
                                _ => {
                                    // Restarted: whatever it was sleeping or waiting for is
                                    // gone with its old run.
                                    on_cpu = on_cpu.filter(|&i| i != index);
                                    scheduler.set_state(index, State::Ready);
                                    family.restarted(
                                        &mut Tree {
                                            cvms: &mut cvms,
                                            scheduler: &mut scheduler,
                                            freq,
                                        },
                                        index,
                                    );
                                }
                            }
                        }
                    }
                }
                // A cVM that ended takes its children down, and its parent hears of it (and
                // so does a callee that a failed call ended).
                for who in [Some(index), called].into_iter().flatten() {
                    let Some(kind) = cvms[who].ending.and_then(Ending::event_kind) else {
                        continue;
                    };
                    if scheduler.state(who) == Some(State::Ended) && !cvms[who].ending_reported {
                        cvms[who].ending_reported = true;
                        family.ended(
                            &mut Tree {
                                cvms: &mut cvms,
                                scheduler: &mut scheduler,
                                freq,
                            },
                            who,
                            kind,
                        );
                    }
                }
            }
        }
    }
    arch::set_timer(u64::MAX);
    let mut pass = true;
    // The verdict: every cVM ended as its manifest `expect`s (default: exit 0).
    for cvm in &cvms {
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
    if uses_disks {
        disks::print_stats();
    }
    if uses_net {
        nets::print_stats();
    }
    if bundle.manifest.keep_running {
        println!("cvms: keeping the machine running (the manifest says keep-running); verdict would be {}", if pass { "pass" } else { "fail" });
        loop {
            arch::wait_for_interrupt();
        }
    }
    pass
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
            Transition::Continue if now < self.deadline && !(self.uses_net && nets::pending()) => {
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
        self.cvm.fault(&fault)
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
fn deliver_frames(scheduler: &mut Scheduler, cvms: usize) {
    let woken = nets::poll();
    for i in (0..cvms.min(64)).filter(|i| woken & (1 << i) != 0) {
        scheduler.wake(i);
    }
}

/// Makes the cVMs a stream notify, close or teardown woke ready (`cvm::share::stream_live`).
#[inline(never)]
fn wake_streams(scheduler: &mut Scheduler) {
    let woken = share::stream_live::take_wakes();
    for i in (0..64).filter(|i| woken & (1 << i) != 0) {
        scheduler.wake(i);
    }
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
    plan::cvm_caps::<Format>(manifest, regions, at, layout.code_window(), parent)
        .map_err(|e| alloc::format!("{e}"))
}

impl Cvm {
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
                match hostcall::dispatch(&mut GuestView { cvm: self, freq }, number, &args) {
                    Outcome::Return(value) => {
                        if capmon_abi::Error::check(value) == Err(capmon_abi::Error::Fault) {
                            self.refused(number);
                        }
                        cpu::set_result(&mut self.cpu, value);
                        Transition::Continue
                    }
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
        }
        .write(addr, bytes);
    }
    fn write_record(&mut self, at: usize, addr: u64, record: &nest::HostcallRecord<'_>) {
        let mut view = GuestView {
            cvm: &mut self.cvms[at],
            freq: self.freq,
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
            self.scheduler.hand_over(at);
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
        let freq = self.freq;
        let cvm = &mut self.cvms[at];
        let outcome = hostcall::dispatch(
            &mut GuestView {
                cvm: &mut *cvm,
                freq,
            },
            number,
            args,
        );
        match cvm.end_turn(outcome, freq) {
            Transition::Set(state) => self.scheduler.set_state(at, state),
            Transition::Continue
            | Transition::Yield
            | Transition::Restarted
            | Transition::Family(_)
            | Transition::CallFailed { .. } => {}
        }
    }
}

static FIRST_OUTPUT_SEEN: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// The hostcall view of a cVM: the memory it owns (its region minus its code) is what it may pass.
struct GuestView<'a> {
    cvm: &'a mut Cvm,
    freq: u64,
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
