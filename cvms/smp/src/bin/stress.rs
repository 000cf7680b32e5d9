//! The multi-core stress worker: `ROUNDS` steps of [`cvm_smp::Work`] with a hostcall every
//! 8 steps (clock, whoami, a console line now and then, yield, a short sleep), then the same steps again with
//! no hostcall at all; the two results must agree, or a register did not survive an exit or a
//! move between cores. Exits 0 when they agree, 1 otherwise.
//!
//! ```text
//! stress <name>: <rounds> rounds, <n> hostcalls, checksum <hex>: ok     (or: MISMATCH <hex>)
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args, WhoAmIExt};
use cvm_smp::{seed, Work};

capmon_sdk::main!(stress);

fn stress(mut args: Args) -> i32 {
    let name = args.next().unwrap_or("stress");
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut work = Work::new(seed(name));
    let mut hostcalls = 0u64;
    let mut last_clock = 0;
    for i in 0..rounds {
        work.step();
        if i % 8 == 0 {
            hostcalls += 1;
            match (i / 8) % 64 {
                0 => {
                    println!("stress {name}: {i} of {rounds}");
                }
                n if n % 4 == 1 => capmon_sdk::yield_now(),
                // A short sleep now and then leaves cores idle, so a worker comes back to a
                // core it left (whose registers may hold an older copy of its state).
                n if n % 16 == 2 => capmon_sdk::sleep_ns(50_000),
                n if n % 2 == 0 => {
                    let now = capmon_sdk::clock_ns();
                    if now < last_clock {
                        println!("stress {name}: the clock went back from {last_clock} to {now}");
                        return 1;
                    }
                    last_clock = now;
                }
                _ => {
                    let me = capmon_sdk::whoami();
                    if me.name_str() != name {
                        println!("stress {name}: whoami says {:?}", me.name_str());
                        return 1;
                    }
                }
            }
        }
    }
    let mut alone = Work::new(seed(name));
    for _ in 0..rounds {
        alone.step();
    }
    if alone == work {
        println!(
            "stress {name}: {rounds} rounds, {hostcalls} hostcalls, checksum {:#x}: ok",
            work.checksum()
        );
        0
    } else {
        println!(
            "stress {name}: {rounds} rounds, {hostcalls} hostcalls, checksum {:#x}: MISMATCH {:#x}",
            work.checksum(),
            alone.checksum()
        );
        1
    }
}
