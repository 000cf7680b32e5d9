//! Attack: a nested cVM reads its parent's memory just below its own region (the parent owns
//! the child's memory, not the other way round). Its capabilities end at its region, so the
//! monitor stops it and reports it by its full path; the parent is told and goes on.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    let me = capmon_sdk::whoami();
    let addr = me.region_base - 0x1000;
    println!("read-parent: trying to read its parent's memory at {addr:#x}");
    let target = core::hint::black_box(addr) as *const u64;
    // SAFETY: deliberately not sound: `target` is outside this cVM's region. The point is that
    // its data capability stops the load; read_volatile keeps the compiler from removing it.
    let value = unsafe { target.read_volatile() };
    println!("read-parent: ATTACK SUCCEEDED (read {value:#x})");
    0
}
