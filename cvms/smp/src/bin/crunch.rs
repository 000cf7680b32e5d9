//! The CPU-bound cVM of the multi-core bench: `ROUNDS` steps of [`cvm_smp::Work`] with no
//! hostcall, then one line. N of these on 1, 2 and 4 cores give the speed-up and each core's
//! share of the work (`just bench`).
//!
//! ```text
//! crunch <name>: <rounds> rounds, checksum <hex>
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};
use cvm_smp::{seed, Work};

capmon_sdk::main!(crunch);

fn crunch(mut args: Args) -> i32 {
    let name = args.next().unwrap_or("crunch");
    let rounds: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let mut work = Work::new(seed(name));
    for _ in 0..rounds {
        work.step();
    }
    println!(
        "crunch {name}: {rounds} rounds, checksum {:#x}",
        work.checksum()
    );
    0
}
