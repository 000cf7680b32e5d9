//! The CP_Call demo's key-value service: exports `kv-put`, `kv-get` and `kv-done` as entry
//! points its clients call through sealed pairs — no monitor on the path, its own DDC and a
//! stack per client — and ends once both clients said they are done.
//!
//! ```text
//! kv: serving kv-put, kv-get, kv-done
//! kv: 16 puts, 16 gets from 2 clients; done
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::sync::atomic::{AtomicU64, Ordering};

use capmon_sdk::call;
use capmon_sdk::{println, Args};

capmon_sdk::main!(kv);

/// Slots of the table: key `k` lives in slot `k % SLOTS` (a demo, not a hash map).
const SLOTS: usize = 64;
/// An empty slot's key.
const EMPTY: u64 = u64::MAX;
/// What `kv-get` returns for a key it does not hold.
pub const MISSING: u64 = u64::MAX;

static KEYS: [AtomicU64; SLOTS] = [const { AtomicU64::new(EMPTY) }; SLOTS];
static VALUES: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static PUTS: AtomicU64 = AtomicU64::new(0);
static GETS: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);

/// `kv-put(key, value)`: stores `value` under `key`; returns 1, or 0 when the key's slot holds
/// another key. Entries run on the caller's turn, possibly preempted and overlapping with
/// another client's call, so the table is all atomics.
extern "C" fn put(key: u64, value: u64, _: u64, _: u64) -> u64 {
    let slot = (key % SLOTS as u64) as usize;
    let claimed = KEYS[slot].compare_exchange(EMPTY, key, Ordering::AcqRel, Ordering::Acquire);
    if claimed.is_err_and(|k| k != key) {
        return 0;
    }
    VALUES[slot].store(value, Ordering::Release);
    PUTS.fetch_add(1, Ordering::Relaxed);
    1
}

/// `kv-get(key)`: the value stored under `key`, or [`MISSING`].
extern "C" fn get(key: u64, _: u64, _: u64, _: u64) -> u64 {
    let slot = (key % SLOTS as u64) as usize;
    GETS.fetch_add(1, Ordering::Relaxed);
    if KEYS[slot].load(Ordering::Acquire) == key {
        VALUES[slot].load(Ordering::Acquire)
    } else {
        MISSING
    }
}

/// `kv-done()`: a client is finished; returns how many are.
extern "C" fn done(_: u64, _: u64, _: u64, _: u64) -> u64 {
    DONE.fetch_add(1, Ordering::AcqRel) + 1
}

/// Call stacks, one slice per importer of each call (the monitor splits each).
static mut PUT_STACKS: [u8; 8192] = [0; 8192];
static mut GET_STACKS: [u8; 8192] = [0; 8192];
static mut DONE_STACKS: [u8; 8192] = [0; 8192];

fn kv(args: Args) -> i32 {
    // argv[1]: how many clients will say `kv-done` (default 2).
    let clients: u64 = args
        .clone()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2);
    // SAFETY: each stack area is handed to the monitor once, here, and never touched by this
    // program again (only the calls run on it).
    let stacks: [&'static mut [u8]; 3] = unsafe {
        [
            &mut *core::ptr::addr_of_mut!(PUT_STACKS),
            &mut *core::ptr::addr_of_mut!(GET_STACKS),
            &mut *core::ptr::addr_of_mut!(DONE_STACKS),
        ]
    };
    let entries: [(&str, call::Entry); 3] = [("kv-put", put), ("kv-get", get), ("kv-done", done)];
    for ((name, entry), stack) in entries.into_iter().zip(stacks) {
        if let Err(e) = call::export(name, entry, stack) {
            println!("kv: export {name} failed: {e:?}");
            return 1;
        }
    }
    println!("kv: serving kv-put, kv-get, kv-done");
    for _ in 0..20_000 {
        if DONE.load(Ordering::Acquire) >= clients {
            println!(
                "kv: {} puts, {} gets from {clients} clients; done",
                PUTS.load(Ordering::Relaxed),
                GETS.load(Ordering::Relaxed)
            );
            return 0;
        }
        capmon_sdk::sleep(core::time::Duration::from_millis(1));
    }
    println!("kv: clients never finished");
    1
}
