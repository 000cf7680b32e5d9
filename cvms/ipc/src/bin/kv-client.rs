//! A CP_Call demo client of the key-value service `kv`: imports its three calls, puts eight
//! keys of its own (argv[1] picks them), reads them back, and says it is done — every call a
//! sealed-pair branch into `kv`'s code on `kv`'s authority and a stack of its own, with no
//! monitor on the path.
//!
//! ```text
//! kv-client-a: 8 puts, 8 gets through CP_Call, every value right
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::call::{self, CpCall};
use capmon_sdk::{println, Args, Error, WhoAmIExt};

capmon_sdk::main!(client);

/// Imports `name` into `slot`, waiting (up to a second) for `kv` to export it.
fn import(name: &str, slot: u64) -> Result<CpCall, Error> {
    call::import_wait(name, slot, 1000)
}

fn client(args: Args) -> i32 {
    let me = capmon_sdk::whoami();
    let name = me.name_str();
    // argv[1]: the first key of this client's eight.
    let first: u64 = args
        .clone()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    match run(first) {
        Ok(()) => {
            println!("{name}: 8 puts, 8 gets through CP_Call, every value right");
            0
        }
        Err(why) => {
            println!("{name}: {why}");
            1
        }
    }
}

fn run(first: u64) -> Result<(), &'static str> {
    let put = import("kv-put", 0).map_err(|_| "import kv-put failed")?;
    let get = import("kv-get", 2).map_err(|_| "import kv-get failed")?;
    let done = import("kv-done", 4).map_err(|_| "import kv-done failed")?;
    for k in first..first + 8 {
        match put.call([k, k * 1000 + 7, 0, 0]) {
            Ok(1) => {}
            Ok(_) => return Err("kv-put refused a key"),
            Err(_) => return Err("kv-put failed"),
        }
    }
    for k in first..first + 8 {
        match get.call([k, 0, 0, 0]) {
            Ok(v) if v == k * 1000 + 7 => {}
            Ok(_) => return Err("kv-get returned a wrong value"),
            Err(_) => return Err("kv-get failed"),
        }
    }
    done.call([0; 4]).map_err(|_| "kv-done failed")?;
    Ok(())
}
