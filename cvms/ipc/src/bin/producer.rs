//! The ipc demo's producer: sends messages to the consumers through `mailbox` (a monitor
//! buffer it imports read-write) with flow control through `acks` (the consumer's, imported
//! read-only), then exports 64 bytes of its own stack as the run-time object `live`, waits
//! until the consumer has read it, and revokes it.
//!
//! ```text
//! producer: mailbox is 4096 bytes, acks 8 bytes
//! producer: sent 8 messages, each acknowledged
//! producer: exported live (64 bytes of its own memory)
//! producer: revoked live: <n> capabilities cleared
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::share::{self, CpFile};
use capmon_sdk::{println, Args, Error};
use cvm_ipc::{put, wait_for, DONE, LEN, LIVE_EXPORTED, LIVE_TEXT, MESSAGES, SEQ, TEXT};

capmon_sdk::main!(producer);

fn producer(_args: Args) -> i32 {
    match run() {
        Ok(()) => 0,
        Err(e) => {
            println!("producer: failed: {e:?}");
            1
        }
    }
}

fn send(mailbox: &CpFile, seq: u64, text: &[u8]) -> Result<(), Error> {
    mailbox.write(TEXT, text)?;
    put(mailbox, LEN, text.len() as u64)?;
    put(mailbox, SEQ, seq)
}

fn run() -> Result<(), Error> {
    let mailbox = share::import("mailbox", 0)?;
    let acks = cvm_ipc::import_when_ready("acks", 1, 1000)?;
    println!(
        "producer: mailbox is {} bytes, acks {} bytes",
        mailbox.len(),
        acks.len()
    );
    let mut text = [0u8; 64];
    for seq in 1..=MESSAGES {
        let n = format_message(&mut text, seq);
        send(&mailbox, seq, &text[..n])?;
        wait_for(&acks, 0, seq, 5000)?;
    }
    println!("producer: sent {MESSAGES} messages, each acknowledged");

    let mut live = [0u8; 64];
    live.copy_from_slice(LIVE_TEXT);
    share::export("live", live.as_ptr(), live.len())?;
    println!(
        "producer: exported live ({} bytes of its own memory)",
        live.len()
    );
    send(&mailbox, LIVE_EXPORTED, b"live is exported")?;
    wait_for(&acks, 0, LIVE_EXPORTED, 5000)?;
    let cleared = share::revoke("live")?;
    println!("producer: revoked live: {cleared} capabilities cleared");
    send(&mailbox, DONE, b"done: 8 messages and one run-time export")?;
    // Keep `live` alive (and unchanged) until it is revoked.
    core::hint::black_box(&live);
    Ok(())
}

/// "message <seq> of 8" into `out`; returns its length.
fn format_message(out: &mut [u8; 64], seq: u64) -> usize {
    let head = b"message ";
    let tail = b" of 8";
    let mut n = 0;
    for &b in head {
        out[n] = b;
        n += 1;
    }
    out[n] = b'0' + (seq % 10) as u8;
    n += 1;
    for &b in tail {
        out[n] = b;
        n += 1;
    }
    n
}
