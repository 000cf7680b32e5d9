//! CP_Stream cVMs, one image, the role in `args`:
//!
//! - `source` → `filter` → `sink` (`cvms/manifests/ipc.dts`): the source sends a pattern in
//!   writes of odd sizes through stream `raw`; the filter transforms each byte and passes it
//!   on through `cooked`; the sink checks what arrives against the pattern it computes
//!   itself (a checksum of each side, printed):
//!
//!   ```text
//!   source: sent 100000 bytes in <k> writes, checksum <x>
//!   filter: passed 100000 bytes, checksum out <y>
//!   sink: 32768 bytes so far
//!   sink: received 100000 bytes, checksum <y>, expected <y>: match
//!   ```
//! - `late-writer` / `quitter`, `past-ring` / `small-rx` (`ipc-attacks.dts`): a sender that
//!   writes after its receiver revoked the ring, and one that writes past the ring through its
//!   capability; both fault, their receivers go on.
//!
//! The benchmark is `stream-bench.rs` (its 2 MiB of buffers would not fit these cVMs).
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::stream::{cp_poll, Ring, StreamRx, StreamTx};
use capmon_sdk::{println, sleep, Args, Error};
use cvm_ipc::{pattern, take_ring};

capmon_sdk::main!(stream);

/// Bytes the demo pipeline carries.
const TOTAL: usize = 100_000;
/// How long a blocked end waits before it gives up (a stuck peer is an error, not a hang).
const TIMEOUT_NS: u64 = 5_000_000_000;
const SECOND_MS: u64 = 1000;

fn stream(args: Args) -> i32 {
    let role = args.clone().nth(1).unwrap_or("");
    let result = match role {
        "source" => source(),
        "filter" => filter(),
        "sink" => sink(),
        "late-writer" => late_writer(),
        "quitter" => quitter(),
        "past-ring" => past_ring(),
        "small-rx" => small_rx(),
        _ => {
            println!("stream: unknown role {role:?}");
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("{role}: failed: {e:?}");
            1
        }
    }
}

/// What the filter does to each byte (a bijection).
fn transform(b: u8) -> u8 {
    b.rotate_left(3) ^ 0xa5
}

/// FNV-1a, 64 bits.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

static mut RAW_RING: Ring<4096> = Ring::new();
static mut COOKED_RING: Ring<16384> = Ring::new();

fn source() -> Result<(), Error> {
    let mut tx = StreamTx::open_wait("raw", 0, 5 * SECOND_MS)?;
    let sizes = [1usize, 3, 64, 1000, 7, 4093, 250, 17, 2048, 9];
    let mut buf = [0u8; 4200];
    let (mut sent, mut writes, mut sum) = (0, 0, Fnv::new());
    while sent < TOTAL {
        let n = sizes[writes % sizes.len()].min(TOTAL - sent);
        // Start at an odd offset of the buffer: no alignment is asked of the sender.
        let at = 1 + writes % 7;
        for (k, b) in buf[at..at + n].iter_mut().enumerate() {
            *b = pattern(sent + k);
        }
        tx.write_all(&buf[at..at + n], TIMEOUT_NS)?;
        sum.add(&buf[at..at + n]);
        sent += n;
        writes += 1;
    }
    println!(
        "source: sent {sent} bytes in {writes} writes, checksum {:016x}",
        sum.0
    );
    tx.close()
}

fn filter() -> Result<(), Error> {
    let mut raw = StreamRx::register("raw", take_ring!(RAW_RING))?;
    let mut cooked = StreamTx::open_wait("cooked", 0, 5 * SECOND_MS)?;
    let mut buf = [0u8; 3000];
    let (mut passed, mut sum) = (0usize, Fnv::new());
    loop {
        let n = match raw.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Error::Again) => {
                if cp_poll(&[raw.handle()], TIMEOUT_NS)? == 0 {
                    return Err(Error::Again);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        for b in &mut buf[..n] {
            *b = transform(*b);
        }
        cooked.write_all(&buf[..n], TIMEOUT_NS)?;
        sum.add(&buf[..n]);
        passed += n;
    }
    println!("filter: passed {passed} bytes, checksum out {:016x}", sum.0);
    cooked.close()
}

fn sink() -> Result<(), Error> {
    let mut rx = StreamRx::register("cooked", take_ring!(COOKED_RING))?;
    let mut buf = [0u8; 1500];
    let (mut got, mut sum, mut want) = (0usize, Fnv::new(), Fnv::new());
    let mut next_report = 32768;
    loop {
        let n = rx.read_wait(&mut buf, TIMEOUT_NS)?;
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            if b != transform(pattern(got + k)) {
                println!(
                    "sink: byte {} is {b:#04x}, not {:#04x}",
                    got + k,
                    transform(pattern(got + k))
                );
                return Err(Error::Invalid);
            }
        }
        sum.add(&buf[..n]);
        got += n;
        if got >= next_report {
            println!("sink: {next_report} bytes so far");
            next_report += 32768;
        }
    }
    for i in 0..TOTAL {
        want.add(&[transform(pattern(i))]);
    }
    let verdict = if sum.0 == want.0 && got == TOTAL {
        "match"
    } else {
        "MISMATCH"
    };
    println!(
        "sink: received {got} bytes, checksum {:016x}, expected {:016x}: {verdict}",
        sum.0, want.0
    );
    if verdict == "match" {
        Ok(())
    } else {
        Err(Error::Invalid)
    }
}

static mut GONE_RING: Ring<256> = Ring::new();
static mut SMALL_RING: Ring<128> = Ring::new();

/// Receiver of `gone`: reads one message, revokes the ring, stays alive.
fn quitter() -> Result<(), Error> {
    let mut rx = StreamRx::register("gone", take_ring!(GONE_RING))?;
    let mut buf = [0u8; 16];
    let n = rx.read_wait(&mut buf, TIMEOUT_NS)?;
    println!(
        "quitter: read {:?}",
        core::str::from_utf8(&buf[..n]).unwrap_or("?")
    );
    let cleared = rx.close()?;
    println!("quitter: closed gone: {cleared} capabilities cleared");
    sleep(Duration::from_millis(100));
    println!("quitter: done, still alive");
    Ok(())
}

/// Sender of `gone`: writes once, then again after the receiver revoked the ring.
fn late_writer() -> Result<(), Error> {
    let mut tx = StreamTx::open_wait("gone", 0, 5 * SECOND_MS)?;
    tx.write_all(b"first message", TIMEOUT_NS)?;
    sleep(Duration::from_millis(30));
    println!("late-writer: trying to write after the receiver revoked the ring");
    let _ = tx.write(b"too late");
    println!("late-writer: ATTACK SUCCEEDED: wrote after the revocation");
    Ok(())
}

/// Sender of `small`: writes one byte past the ring through its capability.
fn past_ring() -> Result<(), Error> {
    let tx = StreamTx::open_wait("small", 0, 5 * SECOND_MS)?;
    let _ = tx.handle();
    println!("past-ring: trying to write one byte past the 128-byte ring");
    capmon_sdk::share::probe::write(0, 128, b"x");
    println!("past-ring: ATTACK SUCCEEDED: wrote past the ring");
    Ok(())
}

/// Receiver of `small`: waits for data; its sender faults, which ends the stream.
fn small_rx() -> Result<(), Error> {
    let mut rx = StreamRx::register("small", take_ring!(SMALL_RING))?;
    let mut buf = [0u8; 16];
    let n = rx.read_wait(&mut buf, TIMEOUT_NS)?;
    println!("small-rx: the stream ended after {n} bytes (its sender is gone); still alive");
    Ok(())
}
