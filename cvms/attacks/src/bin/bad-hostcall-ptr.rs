//! Attack: hand the monitor pointers outside the cVM's own memory and ask it to read them
//! (console_write): one into capmon's image, one just past the end of the cVM's region. The
//! monitor must refuse both with `Error::Fault` (it checks every pointer against the caller's
//! bounds before touching memory) rather than print monitor memory or fault itself.
//!
//! Prints `bad-hostcall-ptr: refused: <e1> <e2>` with the two raw results (`-1 -1` is right)
//! and exits 0; if either call succeeds, `bad-hostcall-ptr: ATTACK SUCCEEDED`.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args, Error, WhoAmIExt};
use cvm_attacks::{succeeded, trying, MONITOR_IMAGE};

const NAME: &str = "bad-hostcall-ptr";
/// Bytes asked for: enough to leak something, small enough to be one console write.
const LEN: u64 = 16;

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    let end = capmon_sdk::whoami().region_end();
    trying(
        NAME,
        format_args!("console_write from capmon's image ({MONITOR_IMAGE:#x}) and from past its region ({end:#x})"),
    );
    let first = capmon_sdk::console_write_raw(MONITOR_IMAGE, LEN);
    let second = capmon_sdk::console_write_raw(end, LEN);
    match (first, second) {
        (Err(e1), Err(e2)) => {
            println!("{NAME}: refused: {} {}", code(e1), code(e2));
            0
        }
        _ => succeeded(NAME),
    }
}

/// The error as the result register carried it (`Error::Fault` is -1).
fn code(e: Error) -> i64 {
    e.to_result() as i64
}
