//! Attacks on shared objects and on revocation (`cvms/manifests/ipc-attacks.dts`), one per
//! role (`args`), each next to the exporter `victim` and the well-behaved `steady`. Every
//! attack but `no-permission` must end in a fault report naming it; if the hardware lets one
//! through it prints `ATTACK SUCCEEDED` and exits 1.
//!
//! | role | tries | stopped by |
//! |---|---|---|
//! | `victim` | exports `bait` (64 bytes of its stack), revokes it after 300 ms | — |
//! | `after-revoke` | holds `bait`'s capability in a register across the revocation, then reads | the sweep cleared the saved register: tag fault |
//! | `stashed-copy` | copies `bait`'s capability to another store slot, drops the first, reads through the copy after the revocation | the sweep cleared the store: tag fault |
//! | `cap-into-object` | stores a capability into the shared object `board` | no StoreCap on imports |
//! | `read-past-end` | reads 8 bytes at offset 96 of the 100-byte `board` | exact bounds |
//! | `exec-object` | jumps into `board` | no Execute |
//! | `stash-own-memory` | stores `board`'s capability into its own memory through DDC | no StoreCap on DDC (and imports are local) |
//! | `write-read-only` | writes `board`, imported read-only | no Store |
//! | `no-permission` | imports `bait` without being named, and into a slot out of range | `Denied`, `Invalid` (no fault) |
//! | `holder` | reads `notes` (a static export of `victim`'s memory) after `victim` has ended | teardown swept it before the memory was zeroed: tag fault |
//! | `flaky` | exports `page` (static) and faults after 200 ms, twice (`on-fault = "restart"`) | — |
//! | `reader` | imports `page`, and after `flaky` restarted imports it again (works) and reads through the first import | the restart's teardown swept it: tag fault |
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::share::{self, probe};
use capmon_sdk::{println, Args, Error};

capmon_sdk::main!(attack);

fn attack(args: Args) -> i32 {
    let role = args.clone().nth(1).unwrap_or("");
    match role {
        "victim" => victim(),
        "no-permission" => no_permission(),
        "after-revoke" => after_revoke(),
        "stashed-copy" => stashed_copy(),
        "cap-into-object" => misuse(role, probe::Misuse::StoreCapIntoObject),
        "exec-object" => misuse(role, probe::Misuse::Execute),
        "stash-own-memory" => misuse(role, probe::Misuse::StashInOwnMemory),
        "read-past-end" => read_past_end(),
        "write-read-only" => write_read_only(),
        "holder" => holder(),
        "flaky" => flaky(),
        "reader" => reader(),
        other => {
            println!("share-attack: unknown role {other:?}");
            2
        }
    }
}

fn succeeded(role: &str) -> i32 {
    println!("{role}: ATTACK SUCCEEDED");
    1
}

fn victim() -> i32 {
    let bait = [0x5au8; 64];
    if let Err(e) = share::export("bait", bait.as_ptr(), bait.len()) {
        println!("victim: export failed: {e:?}");
        return 1;
    }
    println!("victim: exported bait");
    capmon_sdk::sleep(Duration::from_millis(300));
    match share::revoke("bait") {
        Ok(n) => println!("victim: revoked bait: {n} capabilities cleared"),
        Err(e) => {
            println!("victim: revoke failed: {e:?}");
            return 1;
        }
    }
    core::hint::black_box(&bait);
    capmon_sdk::sleep(Duration::from_millis(400));
    println!("victim: done, still alive");
    0
}

fn no_permission() -> i32 {
    let denied = share::import("bait", 0).err();
    let bad_slot = share::import("board", 16).err();
    println!("no-permission: import bait -> {denied:?}, import into slot 16 -> {bad_slot:?}");
    if denied == Some(Error::Denied) && bad_slot == Some(Error::Invalid) {
        0
    } else {
        succeeded("no-permission")
    }
}

fn after_revoke() -> i32 {
    if let Err(e) = cvm_ipc::import_when_ready("bait", 0, 2000) {
        println!("after-revoke: import failed: {e:?}");
        return 1;
    }
    println!("after-revoke: trying to read bait after its revocation, through a register");
    // 60 naps of 10 ms: the victim revokes after 300 ms.
    let byte = probe::hold_and_read(0, 60, 10_000_000);
    println!("after-revoke: read {byte:#x}");
    succeeded("after-revoke")
}

fn stashed_copy() -> i32 {
    if let Err(e) = cvm_ipc::import_when_ready("bait", 0, 2000) {
        println!("stashed-copy: import failed: {e:?}");
        return 1;
    }
    probe::copy_slot(0, 9);
    let _ = share::drop_slot(0);
    println!("stashed-copy: trying to read bait after its revocation, through a copy in slot 9");
    capmon_sdk::sleep(Duration::from_millis(600));
    let mut b = [0u8; 8];
    probe::read(9, 0, &mut b);
    println!("stashed-copy: read {b:?}");
    succeeded("stashed-copy")
}

fn misuse(role: &str, what: probe::Misuse) -> i32 {
    if let Err(e) = share::import("board", 0) {
        println!("{role}: import failed: {e:?}");
        return 1;
    }
    println!("{role}: trying {what:?} with board's capability");
    let mut scratch = [0u64; 2];
    probe::misuse(0, what, &mut scratch);
    succeeded(role)
}

fn read_past_end() -> i32 {
    let board = match share::import("board", 0) {
        Ok(b) => b,
        Err(e) => {
            println!("read-past-end: import failed: {e:?}");
            return 1;
        }
    };
    println!(
        "read-past-end: trying to read 8 bytes at 96 of the {}-byte board",
        board.len()
    );
    let mut b = [0u8; 8];
    probe::read(0, 96, &mut b);
    succeeded("read-past-end")
}

fn holder() -> i32 {
    if let Err(e) = share::import("notes", 0) {
        println!("holder: import failed: {e:?}");
        return 1;
    }
    println!("holder: trying to read notes after its exporter ended");
    capmon_sdk::sleep(Duration::from_millis(1200));
    let mut b = [0u8; 8];
    probe::read(0, 0, &mut b);
    succeeded("holder")
}

/// Where `page` is in `flaky`'s region (ipc-attacks.dts).
const PAGE_OFFSET: u64 = 0x8_0000;
const PAGE_TEXT: &[u8; 16] = b"page of flaky...";

fn flaky() -> i32 {
    let me = capmon_sdk::whoami();
    let page = (me.region_base + PAGE_OFFSET) as *mut [u8; 16];
    // SAFETY: 16 bytes inside this cVM's region, above its image and below its stack, used by
    // nothing else in this program.
    unsafe { core::ptr::write_volatile(page, *PAGE_TEXT) };
    println!("flaky: page written, faulting in 200 ms");
    capmon_sdk::sleep(Duration::from_millis(200));
    let value: u64;
    #[cfg(all(target_os = "none", target_arch = "aarch64"))]
    // SAFETY: a privileged register read at EL0: it traps, which is the point.
    unsafe {
        core::arch::asm!("mrs x0, sctlr_el1", out("x0") value, options(nomem, nostack, preserves_flags));
    }
    #[cfg(all(target_os = "none", target_arch = "riscv64"))]
    // SAFETY: a machine CSR read in U-mode: it traps, which is the point.
    unsafe {
        core::arch::asm!("csrr a0, mstatus", out("a0") value, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(all(
        target_os = "none",
        any(target_arch = "aarch64", target_arch = "riscv64")
    )))]
    {
        value = 0;
    }
    println!("flaky: privileged read gave {value:#x}");
    1
}

fn reader() -> i32 {
    if let Err(e) = cvm_ipc::import_when_ready("page", 0, 2000) {
        println!("reader: import failed: {e:?}");
        return 1;
    }
    // flaky faults at 200 ms and restarts; its page is exported again once it runs.
    capmon_sdk::sleep(Duration::from_millis(300));
    let again = match cvm_ipc::import_when_ready("page", 1, 2000) {
        Ok(f) => f,
        Err(e) => {
            println!("reader: import after the restart failed: {e:?}");
            return 1;
        }
    };
    let mut text = [0u8; 16];
    let _ = again.read(0, &mut text);
    println!(
        "reader: re-imported page after flaky restarted: {:?}",
        core::str::from_utf8(&text).unwrap_or("?")
    );
    println!("reader: trying to read page through the import from before the restart");
    probe::read(0, 0, &mut text);
    succeeded("reader")
}

fn write_read_only() -> i32 {
    if let Err(e) = share::import("board", 0) {
        println!("write-read-only: import failed: {e:?}");
        return 1;
    }
    println!("write-read-only: trying to write board, imported read-only");
    probe::write(0, 0, b"overwrite");
    succeeded("write-read-only")
}
