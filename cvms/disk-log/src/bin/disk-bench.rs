//! The `disk-bench` cVM: writes 1 MiB to its disk grant in 64 KiB requests, reads it back the
//! same way, checks it, and prints how long each took:
//!
//! ```text
//! bench: disk-write 1048576 bytes in <ns> ns
//! bench: disk-read 1048576 bytes in <ns> ns
//! disk-bench: verified
//! ```
//!
//! Under QEMU `-icount shift=0` a nanosecond is a guest instruction, so bytes / ns is bytes
//! moved per guest instruction (cVM, monitor and driver together). Needs a grant of at least
//! 2048 sectors.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{disk, println, Args};

const TOTAL: usize = 1 << 20;
const REQUEST: usize = 64 << 10;
const SECTORS_PER_REQUEST: u64 = (REQUEST / 512) as u64;

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
    // Only the hostcalls are timed: filling and checking the buffer is the cVM's own work.
    let mut write_ns = 0;
    for r in 0..TOTAL / REQUEST {
        for (i, b) in buf.0.iter_mut().enumerate() {
            *b = pattern(r * REQUEST + i);
        }
        let t = capmon_sdk::clock_ns();
        if let Err(e) = disk::write_all(r as u64 * SECTORS_PER_REQUEST, &buf.0) {
            println!("disk-bench: write failed: {e:?}");
            return 1;
        }
        write_ns += capmon_sdk::clock_ns() - t;
    }
    println!("bench: disk-write {TOTAL} bytes in {write_ns} ns");

    let mut bad = 0usize;
    let mut read_ns = 0;
    for r in 0..TOTAL / REQUEST {
        let t = capmon_sdk::clock_ns();
        if let Err(e) = disk::read_all(r as u64 * SECTORS_PER_REQUEST, &mut buf.0) {
            println!("disk-bench: read failed: {e:?}");
            return 1;
        }
        read_ns += capmon_sdk::clock_ns() - t;
        bad += buf
            .0
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b != pattern(r * REQUEST + i))
            .count();
    }
    println!("bench: disk-read {TOTAL} bytes in {read_ns} ns");
    if bad != 0 {
        println!("disk-bench: {bad} bytes read back differ");
        return 1;
    }
    println!("disk-bench: verified");
    0
}
