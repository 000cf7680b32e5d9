//! The `bench` cVM: how long the monitor takes for a hostcall round trip and for a switch
//! between two cVMs, in the monitor's own clock (guest instructions under QEMU
//! `-icount shift=0`). `capmon-run bench` boots `cvms/manifests/bench.dts` and parses the lines.
//!
//! Two cVMs run this image: `args = "main"` measures, `args = "partner"` only yields. The
//! measuring one goes first (it is `cvm@0`) and prints
//!
//! ```text
//! bench: start (...)
//! bench: switch median <x.y> min <x.y> (N=200 yields per cVM, 400 switches per batch, 50 batches, loop overhead <x.y> subtracted)
//! bench: null-hostcall median <x.y> min <x.y> (N=1000, hostcall 65535 → -NoSys, 50 batches, loop overhead <x.y> subtracted)
//! bench: clock-hostcall median <x.y> min <x.y> (N=1000, 50 batches, loop overhead <x.y> subtracted)
//! bench: done
//! ```
//!
//! and the partner `bench: partner done after <n> yields`. With `args = "served"` (a nested cVM
//! whose parent serves its hostcalls, `cvms/manifests/bench-nested.dts`) it measures only the
//! null hostcall, which its parent answers itself:
//!
//! ```text
//! bench: served-null-hostcall median <x.y> min <x.y> (N=1000, ...)
//! ```
//!
//! The switches are measured first,
//! while both cVMs exist and yield to each other one-for-one; the hostcalls afterwards, once
//! the partner has exited, so no other cVM's turn can land in a hostcall batch.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};
use cvm_bench::{
    clock_calls, no_calls, null_calls, per_op, time_batches, yield_calls, Line, BATCHES,
    CALLS_PER_BATCH, NULL_HOSTCALL, NULL_RESULT, PARTNER_YIELDS, YIELDS_PER_BATCH,
};

capmon_sdk::main!(bench);

fn bench(args: Args) -> i32 {
    match args.clone().nth(1) {
        Some("partner") => partner(),
        Some("served") => served(),
        // A few null hostcalls and nothing else: a short run to trace instruction by instruction.
        Some("trace") => {
            null_calls(20);
            0
        }
        Some("main") | None => measure(),
        Some(other) => {
            println!("bench: unknown role {other:?} (main or partner)");
            2
        }
    }
}

/// Yields exactly as often as the measuring cVM does in its switch batches, then ends. It
/// prints nothing before that: the first console write is the measuring cVM's, which is what
/// the monitor's `first cVM output` line times.
fn partner() -> i32 {
    yield_calls(PARTNER_YIELDS);
    println!("bench: partner done after {PARTNER_YIELDS} yields");
    0
}

/// The null hostcall of a child whose parent serves it: the child's call, the parent's
/// `child_reply_wait` answering it, and back.
fn served() -> i32 {
    let result = null_calls(1);
    if result != NULL_RESULT {
        println!("bench: served hostcall {NULL_HOSTCALL} returned {result:#x}, not -NoSys");
        return 1;
    }
    let mut null = [0u64; BATCHES];
    time_batches(&mut null, || {
        null_calls(CALLS_PER_BATCH);
    });
    let mut calls_loop = [0u64; BATCHES];
    time_batches(&mut calls_loop, || {
        no_calls(CALLS_PER_BATCH);
    });
    println!(
        "{}",
        Line {
            kind: "served-null-hostcall",
            figures: per_op(&mut null, &mut calls_loop, u64::from(CALLS_PER_BATCH)),
            how: format_args!(
                "N={CALLS_PER_BATCH}, hostcall {NULL_HOSTCALL} answered -NoSys by the parent"
            ),
            batches: BATCHES,
        }
    );
    println!("bench: done");
    0
}

fn measure() -> i32 {
    println!(
        "bench: start: figures are per operation in ns of the monitor's clock \
         (= guest instructions under QEMU -icount shift=0), minus the same loop without the trap"
    );

    // Switches: each of the two cVMs yields N times per batch; only they are runnable, so
    // every yield is a switch. The trap-less loop runs 2N times: both cVMs' loops are in it.
    let mut switches = [0u64; BATCHES];
    time_batches(&mut switches, || {
        yield_calls(YIELDS_PER_BATCH);
    });
    // The partner has done its last yield; one more hands it the CPU to finish and exit
    // before the hostcall batches (a no-op if it is already gone).
    yield_calls(1);
    let switch_ops = 2 * YIELDS_PER_BATCH;
    let mut switch_loop = [0u64; BATCHES];
    time_batches(&mut switch_loop, || {
        no_calls(switch_ops);
    });

    // The null hostcall must really be unknown to this monitor, or it is not the null path.
    let result = null_calls(1);
    if result != NULL_RESULT {
        println!(
            "bench: hostcall {NULL_HOSTCALL} returned {result:#x}, not -NoSys: pick another number"
        );
        return 1;
    }
    let mut null = [0u64; BATCHES];
    time_batches(&mut null, || {
        null_calls(CALLS_PER_BATCH);
    });
    let mut clock = [0u64; BATCHES];
    time_batches(&mut clock, || {
        clock_calls(CALLS_PER_BATCH);
    });
    let mut calls_loop = [0u64; BATCHES];
    time_batches(&mut calls_loop, || {
        no_calls(CALLS_PER_BATCH);
    });

    let mut calls_loop2 = calls_loop;
    println!(
        "{}",
        Line {
            kind: "switch",
            figures: per_op(&mut switches, &mut switch_loop, u64::from(switch_ops)),
            how: format_args!(
                "N={YIELDS_PER_BATCH} yields per cVM, {switch_ops} switches per batch"
            ),
            batches: BATCHES,
        }
    );
    println!(
        "{}",
        Line {
            kind: "null-hostcall",
            figures: per_op(&mut null, &mut calls_loop, u64::from(CALLS_PER_BATCH)),
            how: format_args!("N={CALLS_PER_BATCH}, hostcall {NULL_HOSTCALL} → -NoSys"),
            batches: BATCHES,
        }
    );
    println!(
        "{}",
        Line {
            kind: "clock-hostcall",
            figures: per_op(&mut clock, &mut calls_loop2, u64::from(CALLS_PER_BATCH)),
            how: format_args!("N={CALLS_PER_BATCH}"),
            batches: BATCHES,
        }
    );
    println!("bench: done");
    0
}
