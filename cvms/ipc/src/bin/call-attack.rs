//! Attacks on CP_Call (`cvms/manifests/call-attacks.dts`), one role per cVM (argv[1]):
//!
//! - `evil`: a callee whose entries misbehave — `spin` never returns, `crash` faults, `stash`
//!   tries to keep the caller's return pair in its own memory, `chatty` makes a hostcall from
//!   inside the call; `bye` ends it. The monitor must end each bad call as a fault of `evil`
//!   (which restarts) and give the caller an error, not a hang.
//! - `client`: calls each of them and checks that it gets `Err(Fault)` (or `Denied` for the
//!   hostcall) and goes on.
//! - `other`: a second, honest callee (`echo`), for the swap, the replay and the unseal.
//! - `swap`: pairs `evil`'s code half with `other`'s data half (different object types).
//! - `forge`: branches to a pair of its own unsealed capabilities.
//! - `unimported`: calls through empty store slots.
//! - `unseal`: loads through a sealed data half.
//! - `replay`: after a call has returned, enters its return stub again as a replayed return.
//!
//! The last five must each be stopped with a fault report naming them.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;

use capmon_sdk::call::{self, CpCall};
use capmon_sdk::{println, share, Args, Error};

capmon_sdk::main!(attack);

static BYE: AtomicBool = AtomicBool::new(false);
static ECHOES: AtomicU64 = AtomicU64::new(0);
static mut STACKS: [[u8; 4096]; 6] = [[0; 4096]; 6];
static mut STASH: [u64; 2] = [0; 2];

extern "C" fn spin(_: u64, _: u64, _: u64, _: u64) -> u64 {
    loop {
        core::hint::spin_loop();
    }
}

extern "C" fn crash(_: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: deliberately wrong: address 8 is outside this cVM's DDC, so the load faults.
    unsafe { core::ptr::read_volatile(8 as *const u64) }
}

extern "C" fn stash(_: u64, _: u64, _: u64, _: u64) -> u64 {
    call::probe::stash_return_pair(core::ptr::addr_of_mut!(STASH));
    println!("ATTACK SUCCEEDED: evil kept the caller's return pair");
    0
}

extern "C" fn chatty(_: u64, _: u64, _: u64, _: u64) -> u64 {
    match capmon_sdk::console_write(b"evil: speaking from inside a call\n") {
        Err(Error::Denied) => 1,
        _ => 0,
    }
}

extern "C" fn bye(_: u64, _: u64, _: u64, _: u64) -> u64 {
    BYE.store(true, Ordering::Release);
    0
}

extern "C" fn echo(x: u64, _: u64, _: u64, _: u64) -> u64 {
    ECHOES.fetch_add(1, Ordering::AcqRel);
    x + 1
}

/// Exports `entries`, each with a 4 KiB stack area of its own (one slice per importer).
fn export_all(entries: &[(&str, call::Entry)]) -> Result<(), Error> {
    for (i, (name, entry)) in entries.iter().enumerate() {
        // SAFETY: stack area `i` is handed to the monitor once per run (a restart starts the
        // program afresh) and never touched by this program otherwise.
        let stack: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(STACKS))[i] };
        call::export(name, *entry, stack)?;
    }
    Ok(())
}

/// Imports `name` into `slot`, waiting while its exporter (re)starts.
fn import(name: &str, slot: u64) -> Result<CpCall, Error> {
    call::import_wait(name, slot, 3000)
}

fn wait(until: impl Fn() -> bool, ms: u32) -> bool {
    for _ in 0..ms {
        if until() {
            return true;
        }
        capmon_sdk::sleep(Duration::from_millis(1));
    }
    false
}

fn attack(args: Args) -> i32 {
    let role = args.clone().nth(1).unwrap_or("");
    match role {
        "evil" => {
            let entries: [(&str, call::Entry); 5] = [
                ("spin", spin),
                ("crash", crash),
                ("stash", stash),
                ("chatty", chatty),
                ("bye", bye),
            ];
            if let Err(e) = export_all(&entries) {
                println!("evil: export failed: {e:?}");
                return 1;
            }
            println!("evil: exported spin, crash, stash, chatty, bye");
            if wait(|| BYE.load(Ordering::Acquire), 30_000) {
                println!("evil: bye");
                0
            } else {
                1
            }
        }
        "other" => {
            if export_all(&[("echo", echo)]).is_err() {
                return 1;
            }
            // `replay` and `unseal` each make one honest call first.
            if wait(|| ECHOES.load(Ordering::Acquire) >= 2, 30_000) {
                0
            } else {
                1
            }
        }
        "client" => client(),
        "swap" => {
            // `bye` (evil's type) into slots 0 and 1, then `echo` (other's type) into 1 and 2:
            // slot 0 holds evil's code half, slot 1 other's data half.
            let (Ok(_), Ok(_)) = (import("bye", 0), import("echo", 1)) else {
                println!("swap: imports failed");
                return 1;
            };
            println!("swap: calling evil's code with other's data");
            let r = CpCall::from_slot(0).call([0; 4]);
            println!("ATTACK SUCCEEDED: a swapped pair ran ({r:?})");
            0
        }
        "forge" => {
            println!("forge: branching to a pair of its own unsealed capabilities");
            call::probe::forged_pair();
            println!("ATTACK SUCCEEDED: a forged pair ran");
            0
        }
        "unimported" => {
            println!("unimported: calling through empty slots");
            let r = CpCall::from_slot(6).call([0; 4]);
            println!("ATTACK SUCCEEDED: a call with no import ran ({r:?})");
            0
        }
        "unseal" => {
            let Ok(echo) = import("echo", 0) else {
                return 1;
            };
            if echo.call([1, 0, 0, 0]) != Ok(2) {
                return 1;
            }
            println!("unseal: reading through the sealed descriptor");
            let mut b = [0u8; 8];
            share::probe::read(1, 0, &mut b);
            println!("ATTACK SUCCEEDED: read {b:?} through a sealed capability");
            0
        }
        "replay" => {
            let Ok(echo) = import("echo", 0) else {
                return 1;
            };
            match echo.call([41, 0, 0, 0]) {
                Ok(42) => println!("replay: echo(41) = 42; now returning again"),
                other => {
                    println!("replay: echo failed: {other:?}");
                    return 1;
                }
            }
            call::probe::replayed_return();
            println!("ATTACK SUCCEEDED: a replayed return was taken");
            0
        }
        _ => {
            println!("call-attack: unknown role {role:?}");
            1
        }
    }
}

/// Calls each of evil's bad entries: each must end in an error, and the client goes on.
fn client() -> i32 {
    let mut good = true;
    let mut check = |what: &str, got: Result<u64, Error>, want: Result<u64, Error>| {
        println!("client: {what} -> {got:?}");
        good &= got == want;
    };
    match import("chatty", 0) {
        Ok(c) => check(
            "chatty (a hostcall inside the call; 1 = Denied)",
            c.call([0; 4]),
            Ok(1),
        ),
        Err(e) => check("import chatty", Err(e), Ok(0)),
    }
    for (name, slot) in [("spin", 2), ("crash", 4), ("stash", 6)] {
        // Each bad call faults evil, which restarts: import again every time.
        match import(name, slot) {
            Ok(c) => check(name, c.call([0; 4]), Err(Error::Fault)),
            Err(e) => check(name, Err(e), Err(Error::Fault)),
        }
    }
    match import("bye", 8) {
        Ok(c) => check("bye", c.call([0; 4]), Ok(0)),
        Err(e) => check("import bye", Err(e), Ok(0)),
    }
    if good {
        println!("client: every bad call failed and the client went on: ok");
        0
    } else {
        1
    }
}
