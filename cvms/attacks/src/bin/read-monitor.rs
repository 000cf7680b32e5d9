//! Attack: read a u64 from the monitor's image, outside the cVM's data capability (DDC).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};
use cvm_attacks::{succeeded, trying, MONITOR_IMAGE};

const NAME: &str = "read-monitor";

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    trying(
        NAME,
        format_args!("to read capmon's image at {MONITOR_IMAGE:#x}"),
    );
    let target = core::hint::black_box(MONITOR_IMAGE) as *const u64;
    // SAFETY: deliberately not sound: `target` lies outside this cVM's region and no Rust
    // object lives there. The point is that the monitor's DDC bounds stop the load before it
    // completes; read_volatile keeps the compiler from removing or moving it.
    let value = unsafe { target.read_volatile() };
    println!("{NAME}: read {value:#018x}");
    succeeded(NAME)
}
