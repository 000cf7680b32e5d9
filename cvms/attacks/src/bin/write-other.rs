//! Attack: write a u64 just beyond the cVM's own region (another cVM's region, or memory no
//! cVM owns), outside its data capability (DDC).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{Args, WhoAmIExt};
use cvm_attacks::{succeeded, trying};

const NAME: &str = "write-other";
/// Past the end of the region by a page, so the store is not merely off by one.
const BEYOND: u64 = 0x1000;

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    let me = capmon_sdk::whoami();
    let addr = me.region_end() + BEYOND;
    trying(
        NAME,
        format_args!(
            "to write outside its region [{:#x}..{:#x}) at {addr:#x}",
            me.region_base,
            me.region_end()
        ),
    );
    let target = core::hint::black_box(addr) as *mut u64;
    // SAFETY: deliberately not sound: `target` lies outside this cVM's region, so no Rust
    // object of this program is there. The point is that the monitor's DDC bounds stop the
    // store; write_volatile keeps the compiler from removing it.
    unsafe { target.write_volatile(0x0bad_c0de_0bad_c0de) };
    succeeded(NAME)
}
