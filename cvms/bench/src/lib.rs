//! What the `bench` cVM measures with: loops of raw hostcalls, the same loops without the
//! trap, batch timing on the monitor's clock, and the per-operation statistics it prints.
//! Kept apart from `main.rs` so the arithmetic and the line format are host-tested.
//!
//! Every figure is a difference of two batch times, both read with the `clock_ns` hostcall:
//!
//! ```text
//! per op = (median over batches of [t1 - t0 around N operations]
//!           - median over batches of [t1 - t0 around the same loop of N without the trap]) / N
//! ```
//!
//! so the loop, the call into it and the halves of the two clock hostcalls that fall inside
//! the interval are subtracted, and what is left is the trap instruction plus the monitor's
//! path back to the cVM. Under QEMU `-icount shift=0` one nanosecond of virtual time is one
//! guest instruction, so these are instruction counts there.
#![no_std]

#[cfg(not(target_os = "none"))]
extern crate std;

use core::fmt;

use capmon_sdk::Error;
#[cfg(any(target_os = "none", test))]
use capmon_sdk::Hostcall;

/// The "null" hostcall: a number no monitor knows. The monitor decodes it and returns
/// `-NoSys` with no further work: the cheapest real round trip through its dispatch path.
pub const NULL_HOSTCALL: u64 = 0xffff;
/// Operations per batch for the hostcall figures.
pub const CALLS_PER_BATCH: u32 = 1000;
/// Yields per batch by each of the two switching cVMs (two switches per yield pair).
pub const YIELDS_PER_BATCH: u32 = 200;
/// Batches recorded per figure (one more runs first, unrecorded, as a warm-up).
pub const BATCHES: usize = BATCH_COUNT as usize;
const BATCH_COUNT: u32 = 50;
/// How many yields the partner does: exactly as many as the measuring cVM does in its switch
/// batches and warm-up, so the two alternate one-for-one and the partner is finished (but
/// not yet exited) when the last batch ends.
pub const PARTNER_YIELDS: u32 = YIELDS_PER_BATCH * (BATCH_COUNT + 1);

// One loop of `n` hostcalls `$nr` (`$trap` is the trap instruction, or "" for the same loop
// without it). Only calls that take no pointer go through here, so the asm touches no memory.
// All six argument registers are passed, as the SDK does, so the register set-up the
// compiler emits is identical with and without the trap and cancels out in the difference.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
macro_rules! call_loop {
    ($trap:expr, $nr:expr, $n:expr) => {{
        let mut last = 0u64;
        for _ in 0..$n {
            // SAFETY: the trap is a capmon hostcall that takes no pointer (or, with an empty
            // template, nothing at all): it writes only x0 and preserves every other
            // register (capmon_abi), and touches neither memory nor the stack.
            unsafe {
                core::arch::asm!(
                    $trap,
                    in("x8") $nr,
                    inlateout("x0") 0u64 => last,
                    in("x1") 0u64, in("x2") 0u64, in("x3") 0u64, in("x4") 0u64, in("x5") 0u64,
                    options(nostack),
                );
            }
        }
        last
    }};
}

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
macro_rules! call_loop {
    ($trap:expr, $nr:expr, $n:expr) => {{
        let mut last = 0u64;
        for _ in 0..$n {
            // SAFETY: as on aarch64: a pointer-free hostcall writes only a0 and preserves
            // every other register; an empty template does nothing.
            unsafe {
                core::arch::asm!(
                    $trap,
                    in("a7") $nr,
                    inlateout("a0") 0u64 => last,
                    in("a1") 0u64, in("a2") 0u64, in("a3") 0u64, in("a4") 0u64, in("a5") 0u64,
                    options(nostack),
                );
            }
        }
        last
    }};
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
macro_rules! trap {
    () => {
        "svc #0"
    };
}
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
macro_rules! trap {
    () => {
        "ecall"
    };
}

/// `n` null hostcalls; returns the last result (`-NoSys` from a capmon monitor).
/// Never inlined, so every loop is one call with the same shape as its trap-less twin.
#[cfg(target_os = "none")]
#[inline(never)]
pub fn null_calls(n: u32) -> u64 {
    call_loop!(trap!(), NULL_HOSTCALL, n)
}

/// `n` `clock_ns` hostcalls; returns the last reading.
#[cfg(target_os = "none")]
#[inline(never)]
pub fn clock_calls(n: u32) -> u64 {
    call_loop!(trap!(), Hostcall::ClockNs as u64, n)
}

/// `n` `yield` hostcalls.
#[cfg(target_os = "none")]
#[inline(never)]
pub fn yield_calls(n: u32) -> u64 {
    call_loop!(trap!(), Hostcall::Yield as u64, n)
}

/// The same loop as the three above, without the trap: what gets subtracted.
#[cfg(target_os = "none")]
#[inline(never)]
pub fn no_calls(n: u32) -> u64 {
    call_loop!("", NULL_HOSTCALL, n)
}

/// Host stand-ins (`cargo run -p cvm-bench`): the SDK's std-backed calls, so the program and
/// its output format can be tried without QEMU. The figures mean nothing there.
#[cfg(not(target_os = "none"))]
pub fn null_calls(n: u32) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        last = core::hint::black_box(Error::NoSys.to_result());
    }
    last
}

#[cfg(not(target_os = "none"))]
pub fn clock_calls(n: u32) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        last = capmon_sdk::clock_ns();
    }
    last
}

#[cfg(not(target_os = "none"))]
pub fn yield_calls(n: u32) -> u64 {
    for _ in 0..n {
        capmon_sdk::yield_now();
    }
    0
}

#[cfg(not(target_os = "none"))]
pub fn no_calls(n: u32) -> u64 {
    for _ in 0..n {
        core::hint::black_box(());
    }
    0
}

/// The result register a capmon monitor returns for the null hostcall.
pub const NULL_RESULT: u64 = Error::NoSys.to_result();

/// Times `body` once unrecorded (warm-up; for switches it also starts the partner), then once
/// per slot of `out`, each between two `clock_ns` readings. Nothing in between sleeps: under
/// `-icount ... sleep=off` idle time still advances the clock, so a sleep inside an interval
/// would be counted as instructions.
pub fn time_batches(out: &mut [u64], mut body: impl FnMut()) {
    body();
    for slot in out.iter_mut() {
        let t0 = capmon_sdk::clock_ns();
        body();
        let t1 = capmon_sdk::clock_ns();
        *slot = t1.saturating_sub(t0);
    }
}

/// A non-negative figure with one decimal, kept as an integer count of tenths (no float
/// formatting in the image, and exact output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tenths(pub u64);

impl Tenths {
    /// `total / ops`, rounded to the nearest tenth (0 for no ops).
    pub fn ratio(total: u64, ops: u64) -> Tenths {
        if ops == 0 {
            return Tenths(0);
        }
        let tenths = (u128::from(total) * 10 + u128::from(ops) / 2) / u128::from(ops);
        Tenths(u64::try_from(tenths).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for Tenths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

/// Per-operation figures of one measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerOp {
    /// Median batch minus the median trap-less batch, per operation.
    pub median: Tenths,
    /// Fastest batch minus the median trap-less batch, per operation.
    pub min: Tenths,
    /// The median trap-less batch per operation: what was subtracted.
    pub overhead: Tenths,
}

/// The middle of `values` once sorted (the upper one of the two for an even count, so it is
/// always a measured value); 0 for none. Sorts in place.
pub fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Per-operation figures from batch times of `ops` operations each and of the same loop
/// without the trap. Medians rather than means: a batch that a timer interrupt or another
/// cVM's turn lands in is an outlier, not part of the cost.
pub fn per_op(batches: &mut [u64], empty: &mut [u64], ops: u64) -> PerOp {
    let overhead = median(empty);
    let med = median(batches);
    let min = batches.first().copied().unwrap_or(0);
    PerOp {
        median: Tenths::ratio(med.saturating_sub(overhead), ops),
        min: Tenths::ratio(min.saturating_sub(overhead), ops),
        overhead: Tenths::ratio(overhead, ops),
    }
}

/// One result line, as `capmon-run bench` parses it:
/// `bench: <kind> median <x.y> min <x.y> (<how>, <n> batches, loop overhead <x.y> subtracted)`.
pub struct Line<'a> {
    pub kind: &'a str,
    pub figures: PerOp,
    /// How many operations a batch is, e.g. `N=1000`.
    pub how: fmt::Arguments<'a>,
    pub batches: usize,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench: {} median {} min {} ({}, {} batches, loop overhead {} subtracted)",
            self.kind,
            self.figures.median,
            self.figures.min,
            self.how,
            self.batches,
            self.figures.overhead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn tenths_round_and_print() {
        assert_eq!(Tenths::ratio(212_345, 1000), Tenths(2123));
        assert_eq!(
            Tenths::ratio(212_350, 1000),
            Tenths(2124),
            "halves round up"
        );
        assert_eq!(Tenths::ratio(5, 0), Tenths(0));
        assert_eq!(Tenths(2123).to_string(), "212.3");
        assert_eq!(Tenths(7).to_string(), "0.7");
        assert_eq!(Tenths::ratio(u64::MAX, 1), Tenths(u64::MAX), "saturates");
    }

    #[test]
    fn median_is_a_measured_value() {
        assert_eq!(median(&mut [5, 1, 3]), 3);
        assert_eq!(median(&mut [4, 1, 3, 2]), 3, "upper middle");
        assert_eq!(median(&mut []), 0);
    }

    #[test]
    fn per_op_subtracts_the_loop_and_ignores_outliers() {
        // 1000 ops of 150 plus 3000 of loop and clock halves; one batch hit by a timer tick.
        let mut batches = [153_000, 153_016, 999_999, 152_984, 153_000];
        let mut empty = [3000, 3016, 3000, 2984, 3000];
        let f = per_op(&mut batches, &mut empty, 1000);
        assert_eq!(f.median, Tenths(1500));
        assert_eq!(f.min, Tenths(1500), "152984 - 3000 = 149984 → 150.0");
        assert_eq!(f.overhead, Tenths(30));
        let mut never = [10];
        let f = per_op(&mut never, &mut [20], 1);
        assert_eq!((f.median, f.min), (Tenths(0), Tenths(0)), "saturates at 0");
    }

    #[test]
    fn line_format() {
        let line = Line {
            kind: "null-hostcall",
            figures: PerOp {
                median: Tenths(1234),
                min: Tenths(1230),
                overhead: Tenths(31),
            },
            how: format_args!("N={}", 1000),
            batches: 50,
        };
        assert_eq!(
            line.to_string(),
            "bench: null-hostcall median 123.4 min 123.0 (N=1000, 50 batches, \
             loop overhead 3.1 subtracted)"
        );
    }

    #[test]
    fn partner_matches_the_measuring_side() {
        assert_eq!(
            u64::from(PARTNER_YIELDS),
            u64::from(YIELDS_PER_BATCH) * (BATCHES as u64 + 1)
        );
        assert_eq!(NULL_RESULT as i64, -2);
        assert!(capmon_abi_unknown(NULL_HOSTCALL));
    }

    fn capmon_abi_unknown(n: u64) -> bool {
        Hostcall::from_number(n).is_none()
    }
}
