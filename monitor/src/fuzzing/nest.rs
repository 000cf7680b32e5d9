//! Target `nest`: nested cVMs' hostcalls (`child_*` and calls served by a parent) and endings,
//! through [`Family`] over the fake run loop [`FakeMembers`], on an arbitrary family tree. The
//! fake panics on a write outside the cVM's memory and on serving a buffer outside the
//! child's; on top, every call leaves its caller with a result or blocked, and every event a
//! parent receives names one of its own children.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use capmon_abi::{child_state, ChildEvent, ChildEventKind};

use crate::cvm::fakes::FakeMembers;
use crate::cvm::nest::{Family, Route};

/// Most cVMs in a fuzzed family.
const MAX_CVMS: usize = 8;
/// Each top-level cVM's region size; children are carved from the top of their parent's.
const TOP_SIZE: u64 = 1 << 20;

#[derive(Arbitrary, Debug)]
struct Input {
    cvms: Vec<Shape>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct Shape {
    /// `Some(p)`: a child of cVM `p % position` (an earlier one).
    parent: Option<u8>,
    serves: bool,
    start_fails: bool,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// cVM `at` makes hostcall `number` (when it runs and the run loop would route it here).
    Call { at: u8, number: u8, args: [Arg; 6] },
    /// cVM `at` exits or faults.
    End { at: u8, faulted: bool },
    /// cVM `at` is restarted by its fault policy.
    Restart { at: u8 },
    /// cVM `at`'s `child_wait` times out.
    TimeOut { at: u8 },
}

/// An argument: handles, lengths, addresses in some cVM's memory, or anything.
#[derive(Arbitrary, Debug)]
enum Arg {
    Small(u8),
    /// `memory(cvm).start + offset`.
    In {
        cvm: u8,
        offset: u16,
    },
    /// `memory(cvm).end - back`.
    End {
        cvm: u8,
        back: u16,
    },
    Raw(u64),
}

impl Arg {
    fn value(&self, memory: &[Range<u64>]) -> u64 {
        let of = |cvm: u8| &memory[usize::from(cvm) % memory.len()];
        match *self {
            Arg::Small(n) => u64::from(n),
            Arg::In { cvm, offset } => of(cvm).start + u64::from(offset),
            Arg::End { cvm, back } => of(cvm).end.wrapping_sub(u64::from(back)),
            Arg::Raw(v) => v,
        }
    }
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let shapes: Vec<&Shape> = input.cvms.iter().take(MAX_CVMS).collect();
    if shapes.is_empty() {
        return;
    }
    let parents: Vec<Option<usize>> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| s.parent.filter(|_| i > 0).map(|p| usize::from(p) % i))
        .collect();
    let serves: Vec<bool> = shapes.iter().map(|s| s.serves).collect();
    let memory = regions(&parents);
    let names: Vec<String> = (0..shapes.len()).map(|i| format!("cvm{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut m = FakeMembers::new(&name_refs, &memory);
    m.start_fails = shapes.iter().map(|s| s.start_fails).collect();
    let mut family = Family::new(&parents, &serves, &name_refs);
    let n = shapes.len();
    for op in input.ops.iter().take(128) {
        match op {
            Op::Call { at, number, args } => {
                let at = usize::from(*at) % n;
                // Only a running cVM calls, and only calls the run loop routes here reach Family.
                let number = u64::from(*number % 32);
                if m.state[at] != child_state::RUNNING
                    || m.blocked[at]
                    || family.route(at, number) != Route::Family
                {
                    continue;
                }
                let args = args.each_ref().map(|a| a.value(&memory));
                m.results[at] = None;
                let writes = m.writes.len();
                family.hostcall(&mut m, at, number, &args);
                assert!(
                    m.results[at].is_some() || m.blocked[at],
                    "cvm {at}: hostcall {number} left it without a result"
                );
                check_events(&family, &m, writes);
            }
            Op::End { at, faulted } => {
                let at = usize::from(*at) % n;
                if m.state[at] != child_state::RUNNING {
                    continue;
                }
                let (state, kind) = if *faulted {
                    (child_state::FAULTED, ChildEventKind::Faulted)
                } else {
                    (child_state::EXITED, ChildEventKind::Exited)
                };
                m.state[at] = state;
                m.blocked[at] = false;
                let writes = m.writes.len();
                family.ended(&mut m, at, kind);
                for d in family.descendants(at) {
                    assert_ne!(
                        m.state[d],
                        child_state::RUNNING,
                        "cvm {d} runs on after its ancestor {at} ended"
                    );
                }
                check_events(&family, &m, writes);
            }
            Op::Restart { at } => {
                let at = usize::from(*at) % n;
                if m.state[at] != child_state::RUNNING {
                    continue;
                }
                m.blocked[at] = false;
                let writes = m.writes.len();
                family.restarted(&mut m, at);
                assert!(!family.is_waiting(at));
                check_events(&family, &m, writes);
            }
            Op::TimeOut { at } => {
                let at = usize::from(*at) % n;
                if family.is_waiting(at) {
                    m.blocked[at] = false;
                    family.wait_timed_out(at);
                    assert!(!family.is_waiting(at));
                }
            }
        }
    }
}

/// Regions as the planner makes them: top-level cVMs apart, each child carved from the top of
/// its parent's region, siblings apart, the parent's own part at the bottom.
fn regions(parents: &[Option<usize>]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for (i, parent) in parents.iter().enumerate() {
        let region = match *parent {
            None => {
                let start = 0x1000_0000 * (u64::try_from(i).expect("few") + 1);
                start..start + TOP_SIZE
            }
            Some(p) => {
                let siblings = count(parents.iter().filter(|q| **q == Some(p)));
                let handle = count(parents[..i].iter().filter(|q| **q == Some(p)));
                let outer = &out[p];
                let slice = ((outer.end - outer.start) / (siblings + 1)) & !0xf;
                let end = outer.end - handle * slice;
                end - slice..end
            }
        };
        out.push(region);
    }
    out
}

fn count<I: Iterator>(items: I) -> u64 {
    u64::try_from(items.count()).expect("few")
}

/// Every event record written since `writes` went to a parent and names one of its children.
fn check_events(family: &Family, m: &FakeMembers, writes: usize) {
    for (at, _, bytes) in &m.writes[writes..] {
        if bytes.len() != core::mem::size_of::<ChildEvent>() {
            continue;
        }
        // SAFETY: `ChildEvent` is `repr(C)` plain integers and byte arrays, valid for any bytes;
        // `bytes` holds exactly one, read unaligned.
        let event = unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<ChildEvent>()) };
        let children = family.children(*at);
        let handle = usize::try_from(event.handle).unwrap_or(usize::MAX);
        assert!(
            handle < children.len(),
            "cvm {at} got an event for handle {handle} of {} children",
            children.len()
        );
        let child = children[handle];
        let memory = &m.memory[child];
        assert_eq!(
            (event.memory_base, event.memory_size),
            (memory.start, memory.end - memory.start)
        );
    }
}
