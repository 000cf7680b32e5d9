//! The `clock` demo cVM: ticks five times 20 ms apart, then checks that the monitor's sleep
//! and clock agree (at least 100 ms passed) and exits 0, or 1 if the sleeps were too short.
//!
//! ```text
//! clock: tick <i> at <ms> ms                          (i = 0..4, ms since the monitor booted)
//! clock: mean interval <x.y> ms
//! clock: slept 5 x 20 ms, elapsed <ms> ms: ok         (or `: TOO SHORT`, and exit 1)
//! ```
//!
//! The mean interval is computed in f64 on purpose: it makes the cVM use FP registers, which
//! the monitor must save and restore around every switch.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::{println, Args};

const TICKS: u64 = 5;
const INTERVAL_MS: u64 = 20;
const NS_PER_MS: u64 = 1_000_000;

capmon_sdk::main!(clock);

fn clock(_args: Args) -> i32 {
    let start = capmon_sdk::clock_ns();
    for i in 0..TICKS {
        println!(
            "clock: tick {i} at {} ms",
            capmon_sdk::clock_ns() / NS_PER_MS
        );
        capmon_sdk::sleep(Duration::from_millis(INTERVAL_MS));
    }
    let elapsed_ns = capmon_sdk::clock_ns() - start;
    let mean_ms = elapsed_ns as f64 / TICKS as f64 / NS_PER_MS as f64;
    println!("clock: mean interval {mean_ms:.1} ms");
    let elapsed_ms = elapsed_ns / NS_PER_MS;
    let ok = elapsed_ms >= TICKS * INTERVAL_MS;
    println!(
        "clock: slept {TICKS} x {INTERVAL_MS} ms, elapsed {elapsed_ms} ms: {}",
        if ok { "ok" } else { "TOO SHORT" }
    );
    if ok {
        0
    } else {
        1
    }
}
