//! The `udp-echo` cVM: a static IPv4 address on its network grant, answering ping (smoltcp's
//! interface does that) and sending every UDP datagram on its port back to the sender.
//!
//! ```text
//! udp-echo: listening on 10.0.2.15:7, mac 52:54:00:c0:ff:15
//! udp-echo: echoed 64 bytes to 10.0.2.16:40000      (the first 5 datagrams, then every 100th)
//! udp-echo: done after 20 datagrams                 (only with count=N)
//! ```
//!
//! Arguments (`cvm_net::args`): `ip=10.0.2.15/24 gw=10.0.2.2 port=7` are the defaults; it
//! serves forever unless `count=N` makes it exit 0 after echoing N datagrams.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};
use cvm_net::args::Settings;
use cvm_net::device::Hostcalls;
use cvm_net::smoltcp::iface::SocketStorage;
use cvm_net::smoltcp::socket::udp;
use cvm_net::smoltcp::storage::PacketMetadata;
use cvm_net::stack::{Stack, MAX_WAIT_NS};
use cvm_net::udp::{echo_one, Echo, ECHO_BUFFER};
use cvm_net::Mac;

capmon_sdk::main!(run);

/// Datagrams the socket holds each way: a burst this long is echoed without loss.
const QUEUED: usize = 8;
/// Bytes of datagrams each way: `QUEUED` full-size ones.
const QUEUED_BYTES: usize = QUEUED * ECHO_BUFFER;
/// Echoes printed one by one before only every 100th is, so a benchmark's thousands of
/// datagrams do not flood the console.
const PRINT_FIRST: u64 = 5;
/// How long a last echo may take to leave before `count=N` exits anyway.
const FLUSH_NS: u64 = 1_000_000_000;

fn run(args: Args) -> i32 {
    let settings = match Settings::ECHO_DEFAULTS.parse(args.skip(1)) {
        Ok(s) => s,
        Err(e) => {
            println!("udp-echo: {e}");
            return 1;
        }
    };
    let info = match capmon_sdk::net::info() {
        Ok(info) => info,
        Err(e) => {
            println!("udp-echo: no network interface: {e:?} (does the manifest grant `net`?)");
            return 1;
        }
    };

    let mut rx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut rx_bytes = [0u8; QUEUED_BYTES];
    let mut tx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut tx_bytes = [0u8; QUEUED_BYTES];
    let mut storage = [SocketStorage::EMPTY; 1];
    let mut stack = Stack::new(Hostcalls, info.mac, &settings, &mut storage);
    let mut socket = udp::Socket::new(
        udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_bytes[..]),
        udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_bytes[..]),
    );
    if let Err(e) = socket.bind(settings.port) {
        println!("udp-echo: cannot listen on port {}: {e}", settings.port);
        return 1;
    }
    let handle = stack.sockets.add(socket);
    println!(
        "udp-echo: listening on {}:{}, mac {}",
        settings.ip.address(),
        settings.port,
        Mac(info.mac)
    );

    let mut scratch = [0u8; ECHO_BUFFER];
    let mut echoed: u64 = 0;
    loop {
        while let Some(echo) = echo_one(stack.sockets.get_mut(handle), &mut scratch) {
            match echo {
                Echo::Sent { len, to } => {
                    echoed += 1;
                    if echoed <= PRINT_FIRST || echoed.is_multiple_of(100) {
                        println!("udp-echo: echoed {len} bytes to {to}");
                    }
                }
                Echo::Dropped { to: Some(to), why } => {
                    println!("udp-echo: dropped a datagram from {to}: {why}");
                }
                Echo::Dropped { to: None, why } => println!("udp-echo: dropped a datagram: {why}"),
            }
            if settings.count.is_some_and(|n| echoed >= u64::from(n)) {
                return finish(&mut stack, handle, echoed);
            }
        }
        if let Err(e) = stack.step(MAX_WAIT_NS) {
            println!("udp-echo: waiting for frames failed: {e:?}");
            return 1;
        }
    }
}

/// Sends what is still queued (the last echo at least), then reports.
fn finish(
    stack: &mut Stack<'_, Hostcalls>,
    handle: cvm_net::smoltcp::iface::SocketHandle,
    echoed: u64,
) -> i32 {
    let deadline = stack.now_ns().saturating_add(FLUSH_NS);
    let flushed = stack.run_until(deadline, |s| {
        (s.sockets.get::<udp::Socket>(handle).send_queue() == 0).then_some(())
    });
    match flushed {
        Ok(Some(())) => {
            println!("udp-echo: done after {echoed} datagrams");
            0
        }
        Ok(None) => {
            println!("udp-echo: the last echoes did not leave within 1 s");
            1
        }
        Err(e) => {
            println!("udp-echo: waiting for frames failed: {e:?}");
            1
        }
    }
}
