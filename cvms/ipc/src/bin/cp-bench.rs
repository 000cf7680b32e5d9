//! The sharing figures `capmon-run bench` reads on the CHERI boards (`cvms/manifests/
//! ipc-bench.dts`), in the monitor's clock (guest instructions under QEMU `-icount shift=0`):
//!
//! ```text
//! bench: cp-file-copy 1048576 bytes: memcpy <ns> ns, write <ns> ns, read <ns> ns, read vs memcpy <x.xx>
//! bench: revoke-4-importers <ns> ns (<n> capabilities cleared)
//! bench: cp-call-null <ns> ns per call (<n> calls)
//! ```
//!
//! `args = "main"`: copies 1 MiB between two buffers of its own memory (memcpy), into the
//! shared buffer `big` and back out of it through the capability (best of 5 each); then
//! exports 64 bytes as the run-time object `rev`, waits until the four `holder`s (`args =
//! "holder"`) have imported it, and times `cp_revoke`; last it calls the `null` entry of
//! `callee` (`args = "callee"`) through CP_Call, best of 5 batches of [`CALLS`] calls.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::{call, share};
use capmon_sdk::{clock_ns, println, Args};
use cvm_ipc::{Buffers, MIB};

capmon_sdk::main!(cp_bench);

const ROUNDS: usize = 5;
const HOLDERS: u64 = 4;
/// Calls per timed batch of the CP_Call figure.
const CALLS: u64 = 1000;

/// The callee's null entry: returns its first argument.
extern "C" fn null(a: u64, _: u64, _: u64, _: u64) -> u64 {
    a
}

/// The callee's `done` entry: the bench has finished calling.
extern "C" fn done(_: u64, _: u64, _: u64, _: u64) -> u64 {
    DONE.store(true, core::sync::atomic::Ordering::Release);
    0
}

static DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static mut CALL_STACKS: [[u8; 4096]; 2] = [[0; 4096]; 2];

static mut BUFFERS: Buffers = Buffers::ZERO;

fn cp_bench(args: Args) -> i32 {
    match args.clone().nth(1) {
        Some("holder") => holder(),
        Some("callee") => callee(),
        _ => main_role(),
    }
}

/// Exports `null` and `done`, and waits until the bench says `done`.
fn callee() -> i32 {
    // SAFETY: each stack area is handed to the monitor once and never touched here again.
    let [a, b] = unsafe { &mut *core::ptr::addr_of_mut!(CALL_STACKS) };
    if call::export("null", null, a).is_err() || call::export("done", done, b).is_err() {
        println!("bench: cp-bench: callee: export failed");
        return 1;
    }
    for _ in 0..100_000 {
        if DONE.load(core::sync::atomic::Ordering::Acquire) {
            return 0;
        }
        capmon_sdk::sleep(Duration::from_millis(1));
    }
    1
}

/// The CP_Call figure: best of 5 batches of [`CALLS`] null calls, per call.
fn call_figure() -> Result<(), &'static str> {
    let null = call::import_wait("null", 2, 100_000).map_err(|_| "import null failed")?;
    let done = call::import("done", 4).map_err(|_| "import done failed")?;
    let mut best = u64::MAX;
    for _ in 0..ROUNDS {
        let t0 = clock_ns();
        for i in 0..CALLS {
            if null.call([i, 0, 0, 0]) != Ok(i) {
                return Err("a null call returned the wrong value");
            }
        }
        best = best.min(clock_ns() - t0);
    }
    let _ = done.call([0; 4]);
    println!(
        "bench: cp-call-null {} ns per call ({CALLS} calls)",
        best / CALLS
    );
    Ok(())
}

/// Imports `rev` as soon as it is exported, says so in `count` (the shared buffer `flags`),
/// and waits to be revoked; then exits.
fn holder() -> i32 {
    let Ok(flags) = share::import("flags", 1) else {
        return 1;
    };
    if cvm_ipc::import_when_ready("rev", 0, 100_000).is_err() {
        return 1;
    }
    // Each holder adds one; they take turns, so a read-modify-write is safe enough here.
    let me = capmon_sdk::whoami().id;
    let _ = flags.write(8 * me, &1u64.to_le_bytes());
    capmon_sdk::sleep(Duration::from_millis(200));
    0
}

fn main_role() -> i32 {
    // SAFETY: the only reference to the buffers, taken once in this single-threaded program.
    let bufs = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    for (i, b) in bufs.a.iter_mut().enumerate() {
        *b = u8::try_from(i % 251).unwrap_or(0);
    }
    let big = match share::import("big", 0) {
        Ok(f) => f,
        Err(e) => {
            println!("bench: cp-bench: import big failed: {e:?}");
            return 1;
        }
    };
    let mut memcpy = u64::MAX;
    let mut write = u64::MAX;
    let mut read = u64::MAX;
    for _ in 0..ROUNDS {
        let t0 = clock_ns();
        bufs.b.copy_from_slice(core::hint::black_box(&bufs.a));
        let t1 = clock_ns();
        let _ = big.write(0, core::hint::black_box(&bufs.a));
        let t2 = clock_ns();
        let _ = big.read(0, core::hint::black_box(&mut bufs.b));
        let t3 = clock_ns();
        memcpy = memcpy.min(t1 - t0);
        write = write.min(t2 - t1);
        read = read.min(t3 - t2);
    }
    if bufs.a != bufs.b {
        println!("bench: cp-bench: the bytes read back differ");
        return 1;
    }
    let ratio_x100 = memcpy * 100 / read.max(1);
    println!(
        "bench: cp-file-copy {MIB} bytes: memcpy {memcpy} ns, write {write} ns, read {read} ns, read vs memcpy {}.{:02}",
        ratio_x100 / 100,
        ratio_x100 % 100
    );

    let Ok(flags) = share::import("flags", 1) else {
        return 1;
    };
    let rev = [7u8; 64];
    if share::export("rev", rev.as_ptr(), rev.len()).is_err() {
        return 1;
    }
    let mut seen = 0;
    for _ in 0..100_000 {
        seen = (1..=HOLDERS)
            .filter(|i| cvm_ipc::get(&flags, 8 * i).unwrap_or(0) == 1)
            .count();
        if seen as u64 == HOLDERS {
            break;
        }
        capmon_sdk::sleep(Duration::from_millis(1));
    }
    let t0 = clock_ns();
    let cleared = share::revoke("rev");
    let t1 = clock_ns();
    core::hint::black_box(&rev);
    match cleared {
        Ok(n) => println!(
            "bench: revoke-{seen}-importers {} ns ({n} capabilities cleared)",
            t1 - t0
        ),
        Err(e) => println!("bench: cp-bench: revoke failed: {e:?}"),
    }
    if let Err(why) = call_figure() {
        println!("bench: cp-bench: {why}");
        return 1;
    }
    0
}
