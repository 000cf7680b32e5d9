//! Attack: keep the CPU forever without a single hostcall. The monitor's timer preempts it
//! (the other cVMs keep running) and its `cpu-budget-ms` stops it (`time budget exhausted`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::Args;
use cvm_attacks::trying;

const NAME: &str = "spin";

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    trying(NAME, format_args!("to run forever without hostcalls"));
    loop {
        core::hint::spin_loop();
    }
}
