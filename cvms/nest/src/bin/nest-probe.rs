//! A child that tries what nesting must refuse, and says what it got:
//! - a handle: it has no children, so `child_stop(0)` (its parent? a sibling?) is `Denied`;
//! - a buffer in its parent's memory passed to a hostcall its parent serves: the monitor
//!   refuses it with `Fault` before the parent sees it (the parent would otherwise print its
//!   own memory for the child);
//! - `child_wait`, as if it were a parent: `Denied`.
//!
//! Prints `nest-probe: all refused` and exits 0 when every attempt was refused as it must be.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::nest::{self, Child};
use capmon_sdk::{println, Args, Error};

capmon_sdk::main!(probe);

fn probe(_args: Args) -> i32 {
    let me = capmon_sdk::whoami();
    let mut ok = true;
    let stop = nest::stop(Child(0));
    println!("nest-probe: child_stop(0) from a cVM without children: {stop:?}");
    ok &= stop == Err(Error::Denied);
    // Just below its own region: its parent's memory (or a sibling's), never its own.
    let foreign = me.region_base - 0x100;
    let write = capmon_sdk::console_write_raw(foreign, 16);
    println!("nest-probe: console write of its parent's memory at {foreign:#x}: {write:?}");
    ok &= write == Err(Error::Fault);
    let wait = nest::wait(0);
    println!("nest-probe: child_wait: {:?}", wait.map(|e| e.is_some()));
    ok &= wait.is_err();
    if ok {
        println!("nest-probe: all refused");
        0
    } else {
        println!("nest-probe: SOMETHING WAS NOT REFUSED");
        1
    }
}
