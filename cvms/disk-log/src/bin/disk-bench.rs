//! The `disk-bench` cVM: writes 1 MiB to its disk grant in 64 KiB requests, reads it back the
//! same way and checks it, [`PASSES`] times, and prints how long each pass took and the median
//! pass:
//!
//! ```text
//! disk-bench: pass 0: write <ns> ns, read <ns> ns
//! … (one line per pass)
//! bench: disk-write 1048576 bytes in <median ns> ns
//! bench: disk-read 1048576 bytes in <median ns> ns
//! disk-bench: verified
//! ```
//!
//! Under QEMU `-icount shift=0` a nanosecond is a guest instruction, so bytes / ns is bytes
//! moved per guest instruction (cVM, monitor and driver together). The median keeps a rare
//! pass whose idle wait let QEMU jump the clock (`-icount sleep=off` jumps it to the next
//! timer deadline while the device works) from becoming the figure. Needs a grant of at least
//! 2048 sectors.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{disk, println, Args};

const TOTAL: usize = 1 << 20;
const REQUEST: usize = 64 << 10;
const SECTORS_PER_REQUEST: u64 = (REQUEST / 512) as u64;
/// Times the 1 MiB is written and read back; the median pass is the figure.
const PASSES: usize = 5;

/// The request buffer, 64-byte aligned so the monitor's copies run on whole words.
#[repr(C, align(64))]
struct Buffer([u8; REQUEST]);

capmon_sdk::main!(bench);

/// The byte at `offset` of the pattern written: differs per sector and per request (only the
/// low byte is kept, on purpose).
#[allow(clippy::cast_possible_truncation)]
fn pattern(offset: usize) -> u8 {
    ((offset / 512) ^ (offset / REQUEST * 7) ^ offset) as u8
}

fn bench(_args: Args) -> i32 {
    let mut buf = Buffer([0; REQUEST]);
    match disk::capacity() {
        Ok(sectors) if sectors >= (TOTAL / 512) as u64 => {}
        other => {
            println!("disk-bench: needs a grant of 2048 sectors, has {other:?}");
            return 1;
        }
    }
    let mut writes = [0u64; PASSES];
    let mut reads = [0u64; PASSES];
    let mut bad = 0usize;
    for pass in 0..PASSES {
        match one_pass(&mut buf) {
            Ok((w, r, b)) => (writes[pass], reads[pass], bad) = (w, r, bad + b),
            Err(e) => {
                println!("disk-bench: {e}");
                return 1;
            }
        }
        println!(
            "disk-bench: pass {pass}: write {} ns, read {} ns",
            writes[pass], reads[pass]
        );
    }
    println!("bench: disk-write {TOTAL} bytes in {} ns", median(writes));
    println!("bench: disk-read {TOTAL} bytes in {} ns", median(reads));
    if bad != 0 {
        println!("disk-bench: {bad} bytes read back differ");
        return 1;
    }
    println!("disk-bench: verified");
    0
}

/// Writes the 1 MiB, then reads it back and counts the bytes that differ; returns the time of
/// each half and that count. Only the hostcalls are timed: filling and checking the buffer is
/// the cVM's own work.
fn one_pass(buf: &mut Buffer) -> Result<(u64, u64, usize), &'static str> {
    let mut write_ns = 0;
    for r in 0..TOTAL / REQUEST {
        for (i, b) in buf.0.iter_mut().enumerate() {
            *b = pattern(r * REQUEST + i);
        }
        let t = capmon_sdk::clock_ns();
        disk::write_all(r as u64 * SECTORS_PER_REQUEST, &buf.0).map_err(|_| "write failed")?;
        write_ns += capmon_sdk::clock_ns() - t;
    }
    let mut bad = 0usize;
    let mut read_ns = 0;
    for r in 0..TOTAL / REQUEST {
        buf.0.fill(0);
        let t = capmon_sdk::clock_ns();
        disk::read_all(r as u64 * SECTORS_PER_REQUEST, &mut buf.0).map_err(|_| "read failed")?;
        read_ns += capmon_sdk::clock_ns() - t;
        bad += buf
            .0
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != pattern(r * REQUEST + i))
            .count();
    }
    Ok((write_ns, read_ns, bad))
}

/// The middle value of `PASSES` (odd) times.
fn median(mut times: [u64; PASSES]) -> u64 {
    times.sort_unstable();
    times[PASSES / 2]
}
