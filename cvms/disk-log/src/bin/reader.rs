//! The `reader` disk demo cVM, with a read-only grant on the logger's disk: waits for the
//! logger to finish (it sleeps 100 ms; the logger needs a few), reads the log header, then
//! tries to overwrite it, which the monitor must refuse with `Denied`:
//!
//! ```text
//! reader: the log has <n> records
//! reader: write refused: -4
//! ```
//!
//! Exits 0 when the write was refused with `Denied` (-4), 1 otherwise (printing
//! `reader: WRITE ALLOWED` if it went through).
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::{disk, println, Args, Error};
use cvm_disk_log::{count, SECTOR};

capmon_sdk::main!(reader);

fn reader(_args: Args) -> i32 {
    capmon_sdk::sleep(Duration::from_millis(100));
    let mut sector = [0u8; SECTOR];
    if let Err(e) = disk::read(0, &mut sector) {
        println!("reader: reading the header failed: {}", e as i64);
        return 1;
    }
    println!("reader: the log has {} records", count(&sector));
    match disk::write(0, &[0; SECTOR]) {
        Err(e) => {
            println!("reader: write refused: -{}", e as i64);
            if e == Error::Denied {
                0
            } else {
                1
            }
        }
        Ok(_) => {
            println!("reader: WRITE ALLOWED");
            1
        }
    }
}
