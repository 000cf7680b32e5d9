//! The CP_Stream figure `capmon-run bench` reads on the CHERI boards (`cvms/manifests/
//! stream-bench.dts`): 1 MiB from `bench-send` to `bench-recv` through a stream, against the
//! receiver's own memcpy, in the monitor's clock (guest instructions under `-icount`):
//!
//! ```text
//! bench: cp-stream 1048576 bytes: memcpy <ns> ns, in place <ns> ns, copied out <ns> ns, in place vs memcpy <x.xx>
//! ```
//!
//! Each round the sender writes the clock, then 1 MiB; the receiver reads the clock and
//! takes the 1 MiB either in place (it consumes the bytes where the sender wrote them, in its
//! own ring: the figure) or copied out into a buffer of its own (checked byte for byte).
//! Best of 3 each.
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::time::Duration;

use capmon_sdk::stream::{cp_poll, Ring, StreamRx, StreamTx};
use capmon_sdk::{clock_ns, println, sleep, Args, Error};
use cvm_ipc::{pattern, take_ring, Buffers, MIB};

capmon_sdk::main!(stream_bench);

const TIMEOUT_NS: u64 = 5_000_000_000;
const SECOND_MS: u64 = 1000;

fn stream_bench(args: Args) -> i32 {
    let role = args.clone().nth(1).unwrap_or("");
    let result = match role {
        "send" => bench_send(),
        "recv" => bench_recv(),
        _ => {
            println!("stream-bench: unknown role {role:?}");
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("stream-bench {role}: failed: {e:?}");
            1
        }
    }
}

const BENCH_ROUNDS: usize = 3;

static mut BUFFERS: Buffers = Buffers::ZERO;
static mut BENCH_RING: Ring<0x40000> = Ring::new();

/// Sends `2 * BENCH_ROUNDS` times: the clock, then 1 MiB (pausing between rounds so that the
/// receiver is idle when each starts).
fn bench_send() -> Result<(), Error> {
    // SAFETY: the only reference to the buffers, taken once in this single-threaded program.
    let bufs = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    for (i, b) in bufs.a.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let mut tx = StreamTx::open_wait("bench", 0, 5 * SECOND_MS)?;
    for _ in 0..2 * BENCH_ROUNDS {
        sleep(Duration::from_millis(20));
        let t0 = clock_ns();
        tx.write_all(&t0.to_le_bytes(), TIMEOUT_NS)?;
        tx.write_all(core::hint::black_box(&bufs.a), TIMEOUT_NS)?;
    }
    tx.close()
}

/// Reads exactly `out.len()` bytes.
fn read_exact(rx: &mut StreamRx, out: &mut [u8]) -> Result<(), Error> {
    let mut done = 0;
    while done < out.len() {
        match rx.read_wait(&mut out[done..], TIMEOUT_NS)? {
            0 => return Err(Error::Invalid),
            n => done += n,
        }
    }
    Ok(())
}

fn bench_recv() -> Result<(), Error> {
    // SAFETY: as in `bench_send` (a different cVM, its own copy of the static).
    let bufs = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    for (i, b) in bufs.a.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let mut memcpy = u64::MAX;
    for _ in 0..BENCH_ROUNDS {
        let t0 = clock_ns();
        bufs.b.copy_from_slice(core::hint::black_box(&bufs.a));
        memcpy = memcpy.min(clock_ns() - t0);
    }
    bufs.b.fill(0);
    let mut rx = StreamRx::register("bench", take_ring!(BENCH_RING))?;
    let (mut in_place, mut copied) = (u64::MAX, u64::MAX);
    for round in 0..2 * BENCH_ROUNDS {
        let mut t0 = [0u8; 8];
        read_exact(&mut rx, &mut t0)?;
        let t0 = u64::from_le_bytes(t0);
        if round < BENCH_ROUNDS {
            // In place: the bytes are in this cVM's ring, where the sender wrote them.
            let mut left = MIB;
            let mut sum = 0u8;
            while left > 0 {
                match rx.peek() {
                    Ok([]) => return Err(Error::Invalid),
                    Ok(chunk) => {
                        let n = chunk.len().min(left);
                        sum ^= chunk[n - 1];
                        rx.consume(n);
                        left -= n;
                    }
                    Err(Error::Again) => {
                        cp_poll(&[rx.handle()], TIMEOUT_NS)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            core::hint::black_box(sum);
            in_place = in_place.min(clock_ns() - t0);
        } else {
            read_exact(&mut rx, &mut bufs.b)?;
            copied = copied.min(clock_ns() - t0);
            if bufs.a != bufs.b {
                println!("bench: stream-bench: the bytes received differ");
                return Err(Error::Invalid);
            }
            bufs.b.fill(0);
        }
    }
    // The sender closes after the last round: read to the end, so that it finds the ring.
    let mut end = [0u8; 1];
    if rx.read_wait(&mut end, TIMEOUT_NS)? != 0 {
        return Err(Error::Invalid);
    }
    let ratio_x100 = memcpy * 100 / in_place.max(1);
    println!(
        "bench: cp-stream {MIB} bytes: memcpy {memcpy} ns, in place {in_place} ns, copied out {copied} ns, in place vs memcpy {}.{:02}",
        ratio_x100 / 100,
        ratio_x100 % 100
    );
    Ok(())
}
