//! The `logger` disk demo cVM: reads the record log on its disk grant (format in the crate's
//! `lib.rs`), appends 3 records `record <i> from logger`, writes the header, flushes, and
//! prints
//!
//! ```text
//! disk-log: had <n> records, now <n + 3>
//! ```
//!
//! then exits 0 (1 and a `disk-log: ... failed` line if any disk call fails).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{disk, println, Args, Error};
use cvm_disk_log::{count, header, place, record, record_text, RECORD, SECTOR};

/// Records appended per run.
const NEW_RECORDS: u64 = 3;

capmon_sdk::main!(logger);

fn logger(_args: Args) -> i32 {
    match append() {
        Ok((had, now)) => {
            println!("disk-log: had {had} records, now {now}");
            0
        }
        Err((what, e)) => {
            println!("disk-log: {what} failed: {e:?} ({})", e as i64);
            1
        }
    }
}

fn append() -> Result<(u64, u64), (&'static str, Error)> {
    let sectors = disk::capacity().map_err(|e| ("capacity", e))?;
    let mut sector = [0u8; SECTOR];
    disk::read(0, &mut sector).map_err(|e| ("reading the header", e))?;
    let had = count(&sector);
    let now = had + NEW_RECORDS;
    if place(now - 1).0 >= sectors {
        return Err(("appending (the grant is full)", Error::Invalid));
    }
    // Read-modify-write each sector a new record lands in (records share sectors).
    let mut i = had;
    while i < now {
        let (at, _) = place(i);
        disk::read(at, &mut sector).map_err(|e| ("reading a record sector", e))?;
        while i < now && place(i).0 == at {
            let offset = place(i).1;
            let mut text = [0; RECORD];
            let text = record_text(&mut text, i, "logger");
            sector[offset..offset + RECORD].copy_from_slice(&record(text));
            i += 1;
        }
        disk::write(at, &sector).map_err(|e| ("writing a record sector", e))?;
    }
    // The header last: a log is never longer than the records written.
    disk::write(0, &header(now)).map_err(|e| ("writing the header", e))?;
    disk::flush().map_err(|e| ("flushing", e))?;
    Ok((had, now))
}
