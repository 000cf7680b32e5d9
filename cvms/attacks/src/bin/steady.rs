//! The well-behaved one: keeps printing and sleeping while the attacks around it are stopped,
//! to show a fault in one cVM leaves the others running.
//!
//! ```text
//! steady: <i>                  (i = 0..39, 50 ms apart)
//! steady: done, still alive
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::{println, Args};

const ROUNDS: u32 = 40;
const INTERVAL: Duration = Duration::from_millis(50);

capmon_sdk::main!(steady);

fn steady(_args: Args) -> i32 {
    for i in 0..ROUNDS {
        println!("steady: {i}");
        capmon_sdk::sleep(INTERVAL);
    }
    println!("steady: done, still alive");
    0
}
