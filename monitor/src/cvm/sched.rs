//! The scheduling decision: preemptive round robin over the cVMs, with shares (consecutive
//! slices per turn), yield, sleep, and waiting for a device event with a time-out, for any
//! number of cores. One queue serves every core (a core that idles takes whatever is ready,
//! wherever it ran before: migration is free, since every cVM's state is saved in memory at
//! the end of its turn); each core has its own turn, and a cVM a core has taken is never
//! offered to another until that core gives it back ([`Scheduler::release`]). Pure logic over
//! times in timer ticks, unit-tested on the host; the run loop applies its decisions.

use alloc::vec::Vec;

use crate::smp::MAX_CORES;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ready,
    Sleeping {
        until: u64,
    },
    /// Blocked on a device (a frame for its network interface) until [`Scheduler::wake`], or
    /// until the time-out.
    Waiting {
        until: u64,
    },
    Ended,
}

impl State {
    /// When the state ends by itself.
    fn wakes_at(self) -> Option<u64> {
        match self {
            State::Sleeping { until } | State::Waiting { until } => Some(until),
            State::Ready | State::Ended => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    state: State,
    share: u32,
    /// The core that took it (it is on that core's CPU, or that core is acting on its exit).
    on: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run cVM `index` until `slice_end` (or its next exit).
    Run { index: usize, slice_end: u64 },
    /// Nothing can run: wait for an interrupt, at most until `until` (the next wake-up).
    Idle { until: Option<u64> },
    /// Every cVM has ended.
    AllEnded,
}

#[derive(Debug)]
pub struct Scheduler {
    entries: Vec<Entry>,
    slice: u64,
    /// Per core: the cVM whose turn it is there, and how many slices of its share it has left.
    turn: [Option<(usize, u32)>; MAX_CORES],
}

impl Scheduler {
    /// `slice` is the length of one time slice in ticks (at least 1).
    pub fn new(shares: &[u32], slice: u64) -> Self {
        let entries = shares
            .iter()
            .map(|&share| Entry {
                state: State::Ready,
                share: share.max(1),
                on: None,
            })
            .collect();
        Scheduler {
            entries,
            slice: slice.max(1),
            turn: [None; MAX_CORES],
        }
    }

    pub fn state(&self, index: usize) -> Option<State> {
        self.entries.get(index).map(|e| e.state)
    }

    /// The core that has taken cVM `index`, if any.
    pub fn taken_by(&self, index: usize) -> Option<usize> {
        self.entries.get(index).and_then(|e| e.on)
    }

    pub fn set_state(&mut self, index: usize, state: State) {
        if let Some(e) = self.entries.get_mut(index) {
            e.state = state;
        }
        // A cVM that stops being ready gives up the rest of its turn.
        if state != State::Ready {
            for turn in &mut self.turn {
                if matches!(turn, Some((i, _)) if *i == index) {
                    *turn = None;
                }
            }
        }
    }

    /// The event cVM `index` waits for has happened: it is ready again (a cVM in any other
    /// state is left alone). Returns whether it was waiting.
    pub fn wake(&mut self, index: usize) -> bool {
        match self.entries.get_mut(index) {
            Some(e) if matches!(e.state, State::Waiting { .. }) => {
                e.state = State::Ready;
                true
            }
            _ => false,
        }
    }

    /// Gives `core`'s turn to `index` now, when it is ready: the cVM the running one was
    /// waiting for (a parent serving its child's hostcall, the child it replied to) runs next,
    /// with a fresh turn, instead of after everyone else.
    pub fn hand_over(&mut self, core: usize, index: usize) {
        if let Some(e) = self.entries.get(index).filter(|e| e.state == State::Ready) {
            self.turn[core % MAX_CORES] = Some((index, e.share));
        }
    }

    /// The cVM on `core` gives up the rest of its turn (yield) but stays ready.
    pub fn end_turn(&mut self, core: usize) {
        if let Some((i, _)) = self.turn[core % MAX_CORES] {
            self.turn[core % MAX_CORES] = Some((i, 0));
        }
    }

    /// How many cVMs are ready and not taken by any core.
    pub fn ready_untaken(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state == State::Ready && e.on.is_none())
            .count()
    }

    /// Whether every cVM has ended and been given back.
    pub fn all_ended(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.state == State::Ended && e.on.is_none())
    }

    /// `core` is done with cVM `index` (its turn ended and its exit was acted on).
    pub fn release(&mut self, index: usize) {
        if let Some(e) = self.entries.get_mut(index) {
            e.on = None;
        }
    }

    /// Decides what `core` runs at time `now`, and takes it for `core`. Called after every
    /// exit that ends a turn and every idle wake-up. `slice_expired` says the cVM that ran on
    /// `core` used up its current slice; `allowed(index)` may keep a ready cVM from this core
    /// (its FP registers are still on another core).
    pub fn decide(
        &mut self,
        core: usize,
        now: u64,
        slice_expired: bool,
        allowed: impl Fn(usize) -> bool,
    ) -> Decision {
        let core = core % MAX_CORES;
        for e in &mut self.entries {
            if e.state.wakes_at().is_some_and(|until| until <= now) {
                e.state = State::Ready;
            }
        }
        let free = |e: &Entry, index: usize| {
            e.state == State::Ready && e.on.is_none_or(|c| c == core) && allowed(index)
        };
        if let Some((index, left)) = self.turn[core] {
            let left = if slice_expired {
                left.saturating_sub(1)
            } else {
                left
            };
            if left > 0 && free(&self.entries[index], index) {
                self.turn[core] = Some((index, left));
                self.entries[index].on = Some(core);
                return Decision::Run {
                    index,
                    slice_end: now + self.slice,
                };
            }
        }
        let n = self.entries.len();
        let start = self.turn[core].map_or(0, |(i, _)| i + 1);
        for step in 0..n {
            let index = (start + step) % n;
            if free(&self.entries[index], index) {
                self.turn[core] = Some((index, self.entries[index].share));
                self.entries[index].on = Some(core);
                return Decision::Run {
                    index,
                    slice_end: now + self.slice,
                };
            }
        }
        self.turn[core] = None;
        let next_wake = self.entries.iter().filter_map(|e| e.state.wakes_at()).min();
        match next_wake {
            Some(until) => Decision::Idle { until: Some(until) },
            None if self.all_ended() => Decision::AllEnded,
            None => Decision::Idle { until: None },
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// One core's decision, giving back what it ran before (as the run loop does).
    fn d(s: &mut Scheduler, now: u64, expired: bool) -> Decision {
        for i in 0..s.entries.len() {
            if s.taken_by(i) == Some(0) {
                s.release(i);
            }
        }
        s.decide(0, now, expired, |_| true)
    }

    fn run_index(d: Decision) -> usize {
        match d {
            Decision::Run { index, .. } => index,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn round_robin_on_slice_expiry() {
        let mut s = Scheduler::new(&[1, 1, 1], 10);
        let order: Vec<usize> = (0..6).map(|t| run_index(d(&mut s, t * 10, true))).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn a_spinner_cannot_starve_others() {
        // cVM 0 never yields: every slice expiry still moves the CPU on.
        let mut s = Scheduler::new(&[1, 1], 10);
        let mut ran = [0; 2];
        for t in 0..100 {
            ran[run_index(d(&mut s, t * 10, true))] += 1;
        }
        assert_eq!(ran, [50, 50]);
    }

    #[test]
    fn shares_give_consecutive_slices() {
        let mut s = Scheduler::new(&[3, 1], 10);
        let order: Vec<usize> = (0..8).map(|t| run_index(d(&mut s, t * 10, true))).collect();
        assert_eq!(order, [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn exits_without_expiry_keep_the_turn_and_yield_ends_it() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(d(&mut s, 0, false)), 0);
        assert_eq!(
            run_index(d(&mut s, 1, false)),
            0,
            "a hostcall does not cost the turn"
        );
        s.end_turn(0);
        assert_eq!(run_index(d(&mut s, 2, false)), 1, "yield hands over");
    }

    #[test]
    fn sleepers_wake_and_idle_reports_the_next_wake() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(d(&mut s, 0, false)), 0);
        s.set_state(0, State::Sleeping { until: 50 });
        assert_eq!(run_index(d(&mut s, 1, false)), 1);
        s.set_state(1, State::Sleeping { until: 30 });
        assert_eq!(d(&mut s, 2, false), Decision::Idle { until: Some(30) });
        assert_eq!(run_index(d(&mut s, 30, false)), 1);
        assert_eq!(run_index(d(&mut s, 55, true)), 0);
    }

    #[test]
    fn waiters_wake_on_their_event_or_their_time_out() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(d(&mut s, 0, false)), 0);
        s.set_state(0, State::Waiting { until: 100 });
        assert_eq!(run_index(d(&mut s, 1, false)), 1);
        s.set_state(1, State::Waiting { until: 40 });
        assert_eq!(d(&mut s, 2, false), Decision::Idle { until: Some(40) });
        assert!(s.wake(0), "a frame arrived for cVM 0");
        assert!(!s.wake(0), "already ready");
        assert_eq!(run_index(d(&mut s, 3, false)), 0);
        assert_eq!(run_index(d(&mut s, 40, true)), 1, "cVM 1 timed out");
        // wake leaves sleepers and ended cVMs alone.
        s.set_state(0, State::Sleeping { until: 1000 });
        s.set_state(1, State::Ended);
        assert!(!s.wake(0) && !s.wake(1) && !s.wake(7));
        assert_eq!(s.state(0), Some(State::Sleeping { until: 1000 }));
    }

    #[test]
    fn all_ended() {
        let mut s = Scheduler::new(&[1, 2], 10);
        s.set_state(0, State::Ended);
        assert_eq!(run_index(d(&mut s, 0, false)), 1);
        s.set_state(1, State::Ended);
        assert_eq!(d(&mut s, 1, false), Decision::AllEnded);
        assert_eq!(
            d(&mut Scheduler::new(&[], 10), 0, false),
            Decision::AllEnded
        );
    }

    #[test]
    fn a_cvm_runs_on_one_core_at_a_time() {
        let mut s = Scheduler::new(&[1, 1, 1], 10);
        let a = run_index(s.decide(0, 0, false, |_| true));
        let b = run_index(s.decide(1, 0, false, |_| true));
        let c = run_index(s.decide(2, 0, false, |_| true));
        let mut all = [a, b, c];
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2], "three cores, three different cVMs");
        // A fourth core finds nothing free; nothing has ended either.
        assert_eq!(
            s.decide(3, 0, false, |_| true),
            Decision::Idle { until: None }
        );
        // Core 1 gives its cVM back and it may go anywhere.
        s.release(b);
        assert_eq!(run_index(s.decide(3, 1, true, |_| true)), b);
        // Not AllEnded while an ended cVM is still taken (its core is acting on its exit).
        for i in 0..3 {
            s.set_state(i, State::Ended);
        }
        assert_eq!(
            s.decide(1, 2, false, |_| true),
            Decision::Idle { until: None }
        );
        for i in 0..3 {
            s.release(i);
        }
        assert_eq!(s.decide(1, 3, false, |_| true), Decision::AllEnded);
    }

    #[test]
    fn allowed_keeps_a_cvm_from_a_core_and_cores_share_the_work() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(s.decide(0, 0, false, |i| i == 1)), 1);
        // Two cores, four cVMs, every slice expiring: each cVM gets the same share.
        let mut s = Scheduler::new(&[1, 1, 1, 1], 10);
        let mut ran = [0u32; 4];
        let mut held: [Option<usize>; 2] = [None, None];
        for t in 0..400u64 {
            let core = (t % 2) as usize;
            if let Some(i) = held[core].take() {
                s.release(i);
            }
            let i = run_index(s.decide(core, t * 10, true, |_| true));
            assert!(held.iter().all(|h| *h != Some(i)), "cVM {i} taken twice");
            held[core] = Some(i);
            ran[i] += 1;
        }
        assert!(ran.iter().all(|&r| r == 100), "{ran:?}");
    }
}
