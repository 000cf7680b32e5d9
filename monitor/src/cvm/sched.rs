//! The scheduling decision: preemptive round robin over the cVMs, with shares (consecutive
//! slices per turn), yield, sleep, and waiting for a device event with a time-out. Pure logic over times in timer ticks, unit-tested on the
//! host; the run loop applies its decisions. Nothing here assumes one core: a per-core run
//! loop would own one `Scheduler` over its own cVMs.

use alloc::vec::Vec;

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
    /// The cVM whose turn it is, and how many slices of its share it has left.
    turn: Option<(usize, u32)>,
}

impl Scheduler {
    /// `slice` is the length of one time slice in ticks (at least 1).
    pub fn new(shares: &[u32], slice: u64) -> Self {
        let entries = shares
            .iter()
            .map(|&share| Entry {
                state: State::Ready,
                share: share.max(1),
            })
            .collect();
        Scheduler {
            entries,
            slice: slice.max(1),
            turn: None,
        }
    }

    pub fn state(&self, index: usize) -> Option<State> {
        self.entries.get(index).map(|e| e.state)
    }

    pub fn set_state(&mut self, index: usize, state: State) {
        if let Some(e) = self.entries.get_mut(index) {
            e.state = state;
        }
        // A cVM that stops being ready gives up the rest of its turn.
        if state != State::Ready && matches!(self.turn, Some((i, _)) if i == index) {
            self.turn = None;
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

    /// The current cVM gives up the rest of its turn (yield) but stays ready.
    /// Gives the turn to `index` now, when it is ready: the cVM the running one was waiting
    /// for (a parent serving its child's hostcall, the child it replied to) runs next, with a
    /// fresh turn, instead of after everyone else.
    pub fn hand_over(&mut self, index: usize) {
        if let Some(e) = self.entries.get(index).filter(|e| e.state == State::Ready) {
            self.turn = Some((index, e.share));
        }
    }

    pub fn end_turn(&mut self) {
        if let Some((i, _)) = self.turn {
            self.turn = Some((i, 0));
        }
    }

    /// Decides what runs at time `now`. Called after every cVM exit and every idle wake-up.
    /// `slice_expired` says the running cVM used up its current slice.
    pub fn decide(&mut self, now: u64, slice_expired: bool) -> Decision {
        for e in &mut self.entries {
            if e.state.wakes_at().is_some_and(|until| until <= now) {
                e.state = State::Ready;
            }
        }
        if let Some((index, left)) = self.turn {
            let left = if slice_expired {
                left.saturating_sub(1)
            } else {
                left
            };
            if left > 0 && self.entries[index].state == State::Ready {
                self.turn = Some((index, left));
                return Decision::Run {
                    index,
                    slice_end: now + self.slice,
                };
            }
        }
        let n = self.entries.len();
        let start = self.turn.map_or(0, |(i, _)| i + 1);
        for step in 0..n {
            let index = (start + step) % n;
            if self.entries[index].state == State::Ready {
                self.turn = Some((index, self.entries[index].share));
                return Decision::Run {
                    index,
                    slice_end: now + self.slice,
                };
            }
        }
        self.turn = None;
        let next_wake = self.entries.iter().filter_map(|e| e.state.wakes_at()).min();
        match next_wake {
            Some(until) => Decision::Idle { until: Some(until) },
            None if self.entries.iter().all(|e| e.state == State::Ended) => Decision::AllEnded,
            None => Decision::Idle { until: None },
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn run_index(d: Decision) -> usize {
        match d {
            Decision::Run { index, .. } => index,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn round_robin_on_slice_expiry() {
        let mut s = Scheduler::new(&[1, 1, 1], 10);
        let order: Vec<usize> = (0..6).map(|t| run_index(s.decide(t * 10, true))).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn a_spinner_cannot_starve_others() {
        // cVM 0 never yields: every slice expiry still moves the CPU on.
        let mut s = Scheduler::new(&[1, 1], 10);
        let mut ran = [0; 2];
        for t in 0..100 {
            ran[run_index(s.decide(t * 10, true))] += 1;
        }
        assert_eq!(ran, [50, 50]);
    }

    #[test]
    fn shares_give_consecutive_slices() {
        let mut s = Scheduler::new(&[3, 1], 10);
        let order: Vec<usize> = (0..8).map(|t| run_index(s.decide(t * 10, true))).collect();
        assert_eq!(order, [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn exits_without_expiry_keep_the_turn_and_yield_ends_it() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(s.decide(0, false)), 0);
        assert_eq!(
            run_index(s.decide(1, false)),
            0,
            "a hostcall does not cost the turn"
        );
        s.end_turn();
        assert_eq!(run_index(s.decide(2, false)), 1, "yield hands over");
    }

    #[test]
    fn sleepers_wake_and_idle_reports_the_next_wake() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(s.decide(0, false)), 0);
        s.set_state(0, State::Sleeping { until: 50 });
        assert_eq!(run_index(s.decide(1, false)), 1);
        s.set_state(1, State::Sleeping { until: 30 });
        assert_eq!(s.decide(2, false), Decision::Idle { until: Some(30) });
        assert_eq!(run_index(s.decide(30, false)), 1);
        assert_eq!(run_index(s.decide(55, true)), 0);
    }

    #[test]
    fn waiters_wake_on_their_event_or_their_time_out() {
        let mut s = Scheduler::new(&[1, 1], 10);
        assert_eq!(run_index(s.decide(0, false)), 0);
        s.set_state(0, State::Waiting { until: 100 });
        assert_eq!(run_index(s.decide(1, false)), 1);
        s.set_state(1, State::Waiting { until: 40 });
        assert_eq!(s.decide(2, false), Decision::Idle { until: Some(40) });
        assert!(s.wake(0), "a frame arrived for cVM 0");
        assert!(!s.wake(0), "already ready");
        assert_eq!(run_index(s.decide(3, false)), 0);
        assert_eq!(run_index(s.decide(40, true)), 1, "cVM 1 timed out");
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
        assert_eq!(run_index(s.decide(0, false)), 1);
        s.set_state(1, State::Ended);
        assert_eq!(s.decide(1, false), Decision::AllEnded);
        assert_eq!(Scheduler::new(&[], 10).decide(0, false), Decision::AllEnded);
    }
}
