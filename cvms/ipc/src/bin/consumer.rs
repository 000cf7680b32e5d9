//! The ipc demo's consumer: reads each message from `mailbox` (read-only import) directly
//! through its capability, acknowledges it in `acks` — [`ACKS_OFFSET`] of its own memory,
//! which the manifest exports to the producer read-only, so the consumer writes it with a
//! plain store — reads the run-time object `live` once the producer exports it, and finds it
//! gone after the revocation.
//!
//! ```text
//! consumer: message 1 of 8 ... message 8 of 8
//! consumer: live: "live: 64 bytes of the producer's own stack, exported at run time"
//! consumer: after the revocation: import live -> Again
//! consumer: ok
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::share;
use capmon_sdk::{println, Args, Error};
use cvm_ipc::{get, wait_for, DONE, LEN, LIVE_EXPORTED, LIVE_TEXT, MESSAGES, SEQ, TEXT};

capmon_sdk::main!(consumer);

fn consumer(_args: Args) -> i32 {
    match run() {
        Ok(true) => {
            println!("consumer: ok");
            0
        }
        Ok(false) => 1,
        Err(e) => {
            println!("consumer: failed: {e:?}");
            1
        }
    }
}

/// Where `acks` is in this cVM's region (`offset` of `files/acks` in ipc.dts).
const ACKS_OFFSET: u64 = 0x8_0000;

/// Writes the last sequence number read into `acks`, in this cVM's own memory.
fn ack(acks: *mut u64, seq: u64) {
    // SAFETY: `acks` is 8 aligned bytes inside this cVM's region, above its image and below
    // its stack (ipc.dts gives it 1 MiB; the image and the 64 KiB stack leave this free), and
    // nothing in this program uses them otherwise.
    unsafe { core::ptr::write_volatile(acks, seq) };
}

fn run() -> Result<bool, Error> {
    let mailbox = share::import("mailbox", 0)?;
    let me = capmon_sdk::whoami();
    let acks = (me.region_base + ACKS_OFFSET) as *mut u64;
    let mut text = [0u8; 64];
    let mut good = true;
    for seq in 1..=MESSAGES {
        wait_for(&mailbox, SEQ, seq, 5000)?;
        let len = get(&mailbox, LEN)?.min(64) as usize;
        mailbox.read(TEXT, &mut text[..len])?;
        let line = core::str::from_utf8(&text[..len]).unwrap_or("?");
        println!("consumer: {line}");
        ack(acks, seq);
    }
    wait_for(&mailbox, SEQ, LIVE_EXPORTED, 5000)?;
    let live = share::import("live", 2)?;
    let mut got = [0u8; 64];
    live.read(0, &mut got)?;
    println!(
        "consumer: live: {:?}",
        core::str::from_utf8(&got).unwrap_or("?")
    );
    if got != *LIVE_TEXT {
        println!("consumer: live holds the wrong bytes");
        good = false;
    }
    ack(acks, LIVE_EXPORTED);
    wait_for(&mailbox, SEQ, DONE, 5000)?;
    let again = share::import("live", 2).err();
    println!("consumer: after the revocation: import live -> {again:?}");
    Ok(good && again == Some(Error::Again))
}
