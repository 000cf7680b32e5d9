//! Several cores: which cores run cVMs, and how one core gets the machine to itself for work
//! that touches other cVMs (an *exclusive section*). Pure protocol over atomics, host-tested
//! with threads; the arch backends supply the core index and the kick (an inter-processor
//! interrupt), the run loop (`cvm/run.rs`) decides what needs a section.
//!
//! ## Why exclusive sections
//! A cVM's own work (its hostcalls, its disk and console, its turn) runs on whatever core runs
//! it, in parallel with the other cores. Work that reaches into *other* cVMs — revoking a
//! capability from every importer's registers, a fault or exit that tears shares down, a
//! parent acting on its children, a failed CP_Call ending its callee — is rare and was written
//! for one core: it reads and writes other cVMs' saved registers. Such work runs in an
//! exclusive section: every other core has stopped at a *safe point* (no lock held, no cVM on
//! the CPU, every saved context complete), so the section sees exactly the single-core world
//! that code was written and tested for. Finer locking (per cVM family) can come later; the
//! sections are what makes correctness easy to argue today.
//!
//! ## The protocol
//! - `owner` names the core in a section (0: none; else core + 1); taking it is one CAS.
//! - `parked` has a bit per core that is at a safe point and will not leave it while a section
//!   is open: an idle core (asleep in `wfi`, holding nothing) is parked all the time, so a
//!   section never waits for sleepers; a busy core parks at its run loop's top when asked.
//! - The owner kicks the busy cores (their cVM exits on the interrupt and its turn ends) and
//!   waits until every other online core is parked; the section runs; `owner` goes back to 0.
//! - Leaving the parked state clears the bit *then* reads `owner` (both SeqCst); an owner sets
//!   `owner` *then* reads `parked`. So either the owner sees the bit cleared and waits, or the
//!   leaving core sees the owner and parks again: never both running.
//! - A core already in a section may open another (nested calls run at once).

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

/// Cores capmon can run cVMs on (QEMU's `-smp 4`, the Morello SDP's four, with room).
pub const MAX_CORES: usize = 8;

/// What the gate needs of the cores: a kick (an inter-processor interrupt, which ends a cVM's
/// turn and any wait) and a wait that a kick ends. Waits may end early (any interrupt ends
/// them): callers look again.
pub trait Cores {
    /// Kicks every core in `mask`.
    fn kick(&self, mask: u64);
    /// Waits on `core` (the caller's own) until it is kicked, or anything else wakes it.
    fn wait(&self, core: usize);
}

/// The exclusive-section gate. One exists for the monitor (`GATE`); tests make their own.
pub struct Gate {
    owner: AtomicUsize,
    depth: AtomicUsize,
    parked: AtomicU64,
    /// Parked cores waiting for the open section to close (kicked when it does).
    waiters: AtomicU64,
    online: AtomicU64,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// Core 0 (the boot core) online, nothing parked.
    pub const fn new() -> Self {
        Gate {
            owner: AtomicUsize::new(0),
            depth: AtomicUsize::new(0),
            parked: AtomicU64::new(0),
            waiters: AtomicU64::new(0),
            online: AtomicU64::new(1),
        }
    }

    /// Core `core` runs cVMs from now on (before it takes any).
    pub fn online(&self, core: usize) {
        self.online.fetch_or(bit(core), SeqCst);
    }

    /// The cores running cVMs.
    pub fn online_mask(&self) -> u64 {
        self.online.load(SeqCst)
    }

    /// Whether another core wants every core stopped: a turn ends at its next exit and the run
    /// loop parks ([`Gate::park_if_asked`]).
    #[inline(always)]
    pub fn asked(&self, core: usize) -> bool {
        let owner = self.owner.load(SeqCst);
        owner != 0 && owner != core + 1
    }

    /// Runs `section` on core `core` with every other online core parked: kicks the busy ones
    /// (their cVM leaves the CPU) and waits, woken by each core as it parks. The caller must
    /// be at a safe point (no lock held; its cVM, if any, off the CPU with its context
    /// complete). When the section closes, the cores waiting in it are kicked.
    pub fn exclusive<R>(&self, core: usize, cores: &impl Cores, section: impl FnOnce() -> R) -> R {
        let me = core + 1;
        if self.owner.load(SeqCst) == me {
            self.depth.fetch_add(1, SeqCst);
            let result = section();
            self.depth.fetch_sub(1, SeqCst);
            return result;
        }
        while self.owner.compare_exchange(0, me, SeqCst, SeqCst).is_err() {
            // Someone else's section: wait in it parked (this is a safe point too).
            self.park_while_owned(core, cores);
        }
        let others = self.online.load(SeqCst) & !bit(core);
        let busy = others & !self.parked.load(SeqCst);
        if busy != 0 {
            cores.kick(busy);
        }
        // A core that parks kicks the owner after setting its bit, so a wait that began after
        // this look ends (the kick is pending, or comes).
        while self.parked.load(SeqCst) & others != others {
            cores.wait(core);
        }
        let result = section();
        self.owner.store(0, SeqCst);
        let waiting = self.waiters.load(SeqCst);
        if waiting != 0 {
            cores.kick(waiting);
        }
        result
    }

    /// At a safe point (the run loop's top): parks while another core's section is open.
    #[inline(always)]
    pub fn park_if_asked(&self, core: usize, cores: &impl Cores) {
        if self.asked(core) {
            self.park_while_owned(core, cores);
        }
    }

    #[cold]
    fn park_while_owned(&self, core: usize, cores: &impl Cores) {
        self.parked.fetch_or(bit(core), SeqCst);
        self.unpark(core, cores);
    }

    /// Going to sleep holding nothing: parked until [`Gate::wake`].
    pub fn sleep(&self, core: usize, cores: &impl Cores) {
        self.parked.fetch_or(bit(core), SeqCst);
        self.tell_owner(core, cores);
    }

    /// Woken: leaves the parked state, waiting first for any open section to close.
    pub fn wake(&self, core: usize, cores: &impl Cores) {
        self.unpark(core, cores);
    }

    /// An owner waiting for this core to park looks again.
    fn tell_owner(&self, core: usize, cores: &impl Cores) {
        let owner = self.owner.load(SeqCst);
        if owner != 0 && owner != core + 1 {
            cores.kick(bit(owner - 1));
        }
    }

    fn unpark(&self, core: usize, cores: &impl Cores) {
        loop {
            self.parked.fetch_and(!bit(core), SeqCst);
            let owner = self.owner.load(SeqCst);
            if owner == 0 || owner == core + 1 {
                return;
            }
            self.parked.fetch_or(bit(core), SeqCst);
            self.tell_owner(core, cores);
            // Registered before looking at the owner, so the close (owner cleared, then
            // waiters read) either is seen here or kicks this core.
            self.waiters.fetch_or(bit(core), SeqCst);
            while self.asked(core) {
                cores.wait(core);
            }
            self.waiters.fetch_and(!bit(core), SeqCst);
        }
    }
}

fn bit(core: usize) -> u64 {
    1u64 << (core % 64)
}

/// The monitor's gate.
pub static GATE: Gate = Gate::new();

/// Per-core values (what a core's own registers hold: its FP run, its PMP window), indexed by
/// the core running the code. Relaxed atomics: only the owning core reads and writes its slot.
pub struct PerCore([AtomicU64; MAX_CORES]);

impl PerCore {
    pub const fn new(value: u64) -> Self {
        let mut slots = [const { AtomicU64::new(0) }; MAX_CORES];
        let mut i = 0;
        while i < MAX_CORES {
            slots[i] = AtomicU64::new(value);
            i += 1;
        }
        PerCore(slots)
    }

    #[inline(always)]
    pub fn get(&self, core: usize) -> u64 {
        self.0[core % MAX_CORES].load(core::sync::atomic::Ordering::Relaxed)
    }

    #[inline(always)]
    pub fn set(&self, core: usize, value: u64) {
        self.0[core % MAX_CORES].store(value, core::sync::atomic::Ordering::Relaxed);
    }
}

/// The core running this code (0 on the host, where tests are single-threaded per value).
#[inline(always)]
pub fn this_core() -> usize {
    #[cfg(target_os = "none")]
    {
        crate::arch::current::core_index()
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// The monitor's cores: kicks are inter-processor interrupts, waits `wfi` (which any
/// interrupt ends, a pending one at once).
pub struct Hardware;

impl Cores for Hardware {
    fn kick(&self, mask: u64) {
        kick(mask);
    }
    fn wait(&self, _core: usize) {
        #[cfg(target_os = "none")]
        crate::arch::current::wait_for_interrupt();
        #[cfg(not(target_os = "none"))]
        core::hint::spin_loop();
    }
}

/// [`Gate::exclusive`] on the monitor's gate from the core running this code.
pub fn exclusive<R>(section: impl FnOnce() -> R) -> R {
    GATE.exclusive(this_core(), &Hardware, section)
}

/// The cores asleep in the run loop with nothing to run (a bit per core).
pub static IDLE: AtomicU64 = AtomicU64::new(0);

/// When each core was last kicked awake by another (counter ticks; 0: not since its last
/// turn), for the cross-core wake-up figure.
pub static KICKED_AT: PerCore = PerCore::new(0);

/// Something became ready: wakes the idle cores (other than this one) to look.
pub fn wake_idle() {
    let idle = IDLE.load(SeqCst) & !bit(this_core());
    if idle != 0 {
        #[cfg(target_os = "none")]
        {
            let now = crate::arch::current::now().max(1);
            for core in (0..MAX_CORES).filter(|c| idle & bit(*c) != 0) {
                KICKED_AT.set(core, now);
            }
        }
        kick(idle);
    }
}

/// Makes the cores in `mask` leave their cVMs (or wake from a wait).
pub fn kick(mask: u64) {
    #[cfg(target_os = "none")]
    for core in (0..MAX_CORES).filter(|c| mask & bit(*c) != 0) {
        crate::arch::current::send_ipi(core);
    }
    #[cfg(not(target_os = "none"))]
    let _ = mask;
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use std::vec::Vec;

    /// Cores as threads: a kick sets the core's pending bit; a wait blocks until it is set
    /// (and clears it), like `wfi` with a pending interrupt. A wait that nothing ends within
    /// five seconds is a lost wake-up: the test fails.
    #[derive(Default)]
    struct Threads {
        pending: AtomicU64,
        kicked: AtomicU64,
    }

    impl Cores for Threads {
        fn kick(&self, mask: u64) {
            self.kicked.fetch_or(mask, Ordering::SeqCst);
            self.pending.fetch_or(mask, Ordering::SeqCst);
        }
        fn wait(&self, core: usize) {
            let give_up = Instant::now() + Duration::from_secs(5);
            while self.pending.fetch_and(!bit(core), Ordering::SeqCst) & bit(core) == 0 {
                assert!(Instant::now() < give_up, "core {core}: lost wake-up");
                std::thread::yield_now();
            }
        }
    }

    #[test]
    fn one_core_runs_sections_at_once_and_nested() {
        let gate = Gate::new();
        let cores = Threads::default();
        let value = gate.exclusive(0, &cores, || gate.exclusive(0, &cores, || 7));
        assert_eq!(value, 7);
        assert_eq!(
            cores.kicked.load(Ordering::SeqCst),
            0,
            "nobody else to kick"
        );
        assert!(!gate.asked(0) && !gate.asked(1), "the section closed");
    }

    #[test]
    fn sleeping_cores_are_not_kicked_busy_ones_are() {
        let gate = Gate::new();
        gate.online(1);
        gate.online(2);
        let cores = Threads::default();
        gate.sleep(1, &cores);
        gate.sleep(2, &cores);
        gate.exclusive(0, &cores, || {});
        assert_eq!(cores.kicked.load(Ordering::SeqCst), 0);
        gate.wake(1, &cores);
        gate.wake(2, &cores);
        assert_eq!(gate.parked.load(Ordering::SeqCst), 0);
    }

    /// Four cores do "local" work (a counter only they touch) and now and then a section that
    /// reads every core's counter twice: with the others parked nothing may change in between.
    /// They sleep and wake now and then too. A broken protocol shows as a changed counter, a
    /// lost wake-up (a wait nothing ends) or a hang.
    #[test]
    fn sections_exclude_every_other_core() {
        const CORES: usize = 4;
        let gate = Arc::new(Gate::new());
        for c in 1..CORES {
            gate.online(c);
        }
        let cores = Arc::new(Threads::default());
        let counters: Arc<Vec<AtomicU32>> =
            Arc::new((0..CORES).map(|_| AtomicU32::new(0)).collect());
        let in_section = Arc::new(AtomicBool::new(false));
        let violations = Arc::new(AtomicU32::new(0));
        let sections = Arc::new(AtomicU32::new(0));
        // Every thread starts together, so the cores really run side by side.
        let start = Arc::new(std::sync::Barrier::new(CORES));
        let threads: Vec<_> = (0..CORES)
            .map(|core| {
                let (gate, cores, counters, in_section, violations, sections, start) = (
                    gate.clone(),
                    cores.clone(),
                    counters.clone(),
                    in_section.clone(),
                    violations.clone(),
                    sections.clone(),
                    start.clone(),
                );
                std::thread::spawn(move || {
                    start.wait();
                    for round in 0..2000usize {
                        gate.park_if_asked(core, &*cores);
                        // A turn: local work, which must never overlap a section.
                        for _ in 0..3 {
                            if in_section.load(Ordering::SeqCst) {
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                            counters[core].fetch_add(1, Ordering::SeqCst);
                            std::thread::yield_now();
                        }
                        if round % 7 == 0 {
                            gate.exclusive(core, &*cores, || {
                                in_section.store(true, Ordering::SeqCst);
                                let before: Vec<u32> =
                                    counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
                                std::thread::yield_now();
                                let after: Vec<u32> =
                                    counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
                                if before != after {
                                    violations.fetch_add(1, Ordering::SeqCst);
                                }
                                sections.fetch_add(1, Ordering::SeqCst);
                                in_section.store(false, Ordering::SeqCst);
                            });
                        }
                        if round % 13 == 0 {
                            gate.sleep(core, &*cores);
                            std::thread::yield_now();
                            gate.wake(core, &*cores);
                        }
                    }
                    // Done: parked for good, so the others' sections don't wait for it.
                    gate.sleep(core, &*cores);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a core thread panicked");
        }
        assert_eq!(violations.load(Ordering::SeqCst), 0);
        assert!(sections.load(Ordering::SeqCst) > 1000);
    }

    #[test]
    fn per_core_slots_are_separate() {
        let slots = PerCore::new(5);
        assert_eq!(slots.get(3), 5);
        slots.set(1, 9);
        assert_eq!((slots.get(0), slots.get(1)), (5, 9));
    }
}
