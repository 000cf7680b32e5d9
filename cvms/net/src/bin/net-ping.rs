//! The `net-ping` cVM: pings its peer (by default `udp-echo` at 10.0.2.15) N times, then sends
//! it N numbered UDP datagrams on the echo port, checks every answer byte for byte and prints
//! the round-trip times:
//!
//! ```text
//! net-ping: 10.0.2.16/24, mac 52:54:00:c0:ff:16: 20 pings to 10.0.2.15, then 20 datagrams to 10.0.2.15:7
//! net-ping: icmp reply from 10.0.2.15 seq=1            (the first 5, then every 100th)
//! net-ping: udp echo from 10.0.2.15:7 seq=1, 64 bytes  (the same)
//! bench: icmp-echo-round-trip median <ns> min <ns> (N=20, 56-byte echo requests to 10.0.2.15, ns of the monitor's clock)
//! bench: udp-echo-round-trip median <ns> min <ns> (N=20, 64-byte datagrams to 10.0.2.15:7, ns of the monitor's clock)
//! net-ping: ok
//! ```
//!
//! and exits 0. A missing answer (2 s per exchange; the first of each kind is tried 5 times,
//! since the peer may still be starting and ARP comes first) or a wrong one is reported and
//! the cVM exits 1. Under QEMU `-icount shift=0` a nanosecond is a guest instruction.
//!
//! Arguments (`cvm_net::args`): defaults `ip=10.0.2.16/24 gw=10.0.2.2 peer=10.0.2.15 port=7
//! count=20`; `count` is at most 1000.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};
use cvm_net::args::Settings;
use cvm_net::device::Hostcalls;
use cvm_net::icmp::{self, ECHO_DATA_LEN};
use cvm_net::payload::{first_difference, payload, payload_seq, PAYLOAD_LEN};
use cvm_net::smoltcp::iface::SocketStorage;
use cvm_net::smoltcp::socket::{icmp as icmp_socket, udp};
use cvm_net::smoltcp::storage::PacketMetadata;
use cvm_net::smoltcp::wire::{IpAddress, IpEndpoint};
use cvm_net::stack::Stack;
use cvm_net::udp::ECHO_BUFFER;
use cvm_net::{Mac, RoundTrips};

capmon_sdk::main!(run);

/// Most exchanges of each kind: the round-trip times are kept in fixed arrays.
const MAX_COUNT: usize = 1000;
/// How long an answer may take.
const ANSWER_TIMEOUT_NS: u64 = TIMEOUT_S * 1_000_000_000;
const TIMEOUT_S: u64 = 2;
/// Attempts at the first exchange of each kind: the peer may not be listening yet, and the
/// first packet waits for ARP.
const FIRST_ATTEMPTS: u32 = 5;
/// Answers printed one by one before only every 100th is.
const PRINT_FIRST: u32 = 5;
/// The client's UDP port.
const LOCAL_PORT: u16 = 40000;
/// Packets each socket holds each way; the client has one in flight at a time.
const QUEUED: usize = 4;

/// Said when a request never left: smoltcp keeps a packet whose next hop has not answered ARP
/// in the socket (and sends it as soon as the answer comes), so a retry does not queue
/// another copy, and a request still queued at the end means the peer never answered ARP.
const WAITING_FOR_ARP: &str = ": the request never left, no ARP answer";

/// Reported already; the cVM exits 1.
struct Failed;

fn run(args: Args) -> i32 {
    match ping(args) {
        Ok(()) => {
            println!("net-ping: ok");
            0
        }
        Err(Failed) => 1,
    }
}

fn ping(args: Args) -> Result<(), Failed> {
    let settings = Settings::PING_DEFAULTS.parse(args.skip(1)).map_err(|e| {
        println!("net-ping: {e}");
        Failed
    })?;
    let count = settings.count.unwrap_or(20);
    if usize::try_from(count).map_or(true, |c| c > MAX_COUNT) {
        println!("net-ping: count={count}: at most {MAX_COUNT}");
        return Err(Failed);
    }
    let info = capmon_sdk::net::info().map_err(|e| {
        println!("net-ping: no network interface: {e:?} (does the manifest grant `net`?)");
        Failed
    })?;

    let mut udp_rx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut udp_rx = [0u8; QUEUED * ECHO_BUFFER];
    let mut udp_tx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut udp_tx = [0u8; QUEUED * ECHO_BUFFER];
    let mut icmp_rx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut icmp_rx = [0u8; QUEUED * 128];
    let mut icmp_tx_meta = [PacketMetadata::EMPTY; QUEUED];
    let mut icmp_tx = [0u8; QUEUED * 128];
    let mut storage = [SocketStorage::EMPTY; 2];
    let mut stack = Stack::new(Hostcalls, info.mac, &settings, &mut storage);

    let mut udp_socket = udp::Socket::new(
        udp::PacketBuffer::new(&mut udp_rx_meta[..], &mut udp_rx[..]),
        udp::PacketBuffer::new(&mut udp_tx_meta[..], &mut udp_tx[..]),
    );
    let mut icmp_socket = icmp_socket::Socket::new(
        icmp_socket::PacketBuffer::new(&mut icmp_rx_meta[..], &mut icmp_rx[..]),
        icmp_socket::PacketBuffer::new(&mut icmp_tx_meta[..], &mut icmp_tx[..]),
    );
    // Distinct per cVM, so two clients on one device do not take each other's replies.
    let ident = u16::from_be_bytes([info.mac[4], info.mac[5]]);
    if udp_socket.bind(LOCAL_PORT).is_err()
        || icmp_socket
            .bind(icmp_socket::Endpoint::Ident(ident))
            .is_err()
    {
        println!("net-ping: cannot bind the sockets");
        return Err(Failed);
    }
    let udp_handle = stack.sockets.add(udp_socket);
    let icmp_handle = stack.sockets.add(icmp_socket);

    let peer = settings.peer;
    let echo_port = IpEndpoint::new(IpAddress::Ipv4(peer), settings.port);
    println!(
        "net-ping: {}, mac {}: {count} pings to {peer}, then {count} datagrams to {echo_port}",
        settings.ip,
        Mac(info.mac)
    );

    let mut icmp_times = RoundTrips::<MAX_COUNT>::default();
    for seq in 1..=count {
        // count ≤ MAX_COUNT, so the ICMP sequence number (16 bits) does not wrap.
        let seq16 = u16::try_from(seq).unwrap_or(u16::MAX);
        let attempts = if seq == 1 { FIRST_ATTEMPTS } else { 1 };
        let ns = exchange(
            &mut stack,
            attempts,
            |s| {
                let socket = s.sockets.get_mut::<icmp_socket::Socket>(icmp_handle);
                if socket.send_queue() > 0 {
                    return Ok(()); // the last attempt still waits for ARP: see WAITING_FOR_ARP
                }
                let data = &payload(seq)[..ECHO_DATA_LEN];
                icmp::send_echo_request(socket, peer, ident, seq16, data)
                    .map_err(|e| println!("net-ping: cannot queue ping seq={seq}: {e}"))
            },
            |s| loop {
                let reply = icmp::take_echo_reply(s.sockets.get_mut(icmp_handle), ident)?;
                if reply.seq < seq16 {
                    continue; // the answer to an earlier attempt, late
                }
                if reply.from != IpAddress::Ipv4(peer) || reply.seq != seq16 || !reply.data_matches
                {
                    println!(
                        "net-ping: wrong icmp reply: from {} seq={} (data {}), expected from {peer} seq={seq}",
                        reply.from,
                        reply.seq,
                        if reply.data_matches { "intact" } else { "differs" }
                    );
                    return Some(Err(Failed));
                }
                if seq <= PRINT_FIRST || seq.is_multiple_of(100) {
                    println!("net-ping: icmp reply from {peer} seq={seq}");
                }
                return Some(Ok(()));
            },
        )?
        .ok_or_else(|| {
            let unsent = stack.sockets.get::<icmp_socket::Socket>(icmp_handle).send_queue();
            println!(
                "net-ping: no icmp reply from {peer} seq={seq} ({attempts} x {TIMEOUT_S} s){}",
                if unsent > 0 { WAITING_FOR_ARP } else { "" }
            );
            Failed
        })?;
        icmp_times.push(ns);
    }

    let mut udp_times = RoundTrips::<MAX_COUNT>::default();
    let mut scratch = [0u8; ECHO_BUFFER];
    for seq in 1..=count {
        let sent = payload(seq);
        let attempts = if seq == 1 { FIRST_ATTEMPTS } else { 1 };
        let ns = exchange(
            &mut stack,
            attempts,
            |s| {
                let socket = s.sockets.get_mut::<udp::Socket>(udp_handle);
                if socket.send_queue() > 0 {
                    return Ok(()); // the last attempt still waits for ARP: see WAITING_FOR_ARP
                }
                socket
                    .send_slice(&sent, echo_port)
                    .map_err(|e| println!("net-ping: cannot queue datagram seq={seq}: {e}"))
            },
            |s| loop {
                let socket = s.sockets.get_mut::<udp::Socket>(udp_handle);
                let (len, meta) = socket.recv_slice(&mut scratch).ok()?;
                let got = &scratch[..len];
                if payload_seq(got).is_some_and(|n| n < seq) {
                    continue; // the echo of an earlier attempt, late
                }
                if meta.endpoint != echo_port {
                    println!(
                        "net-ping: datagram from {}, expected an echo from {echo_port}",
                        meta.endpoint
                    );
                    return Some(Err(Failed));
                }
                if let Some(at) = first_difference(got, &sent) {
                    println!(
                        "net-ping: echo of datagram seq={seq} differs from what was sent at \
                         byte {at} ({len} bytes back, {PAYLOAD_LEN} sent)"
                    );
                    return Some(Err(Failed));
                }
                if seq <= PRINT_FIRST || seq.is_multiple_of(100) {
                    println!("net-ping: udp echo from {echo_port} seq={seq}, {len} bytes");
                }
                return Some(Ok(()));
            },
        )?
        .ok_or_else(|| {
            let unsent = stack.sockets.get::<udp::Socket>(udp_handle).send_queue();
            println!(
                "net-ping: no udp echo from {echo_port} seq={seq} ({attempts} x {TIMEOUT_S} s){}",
                if unsent > 0 { WAITING_FOR_ARP } else { "" }
            );
            Failed
        })?;
        udp_times.push(ns);
    }

    if let Some(line) = icmp_times.bench_line(
        "icmp-echo-round-trip",
        format_args!("{ECHO_DATA_LEN}-byte echo requests to {peer}, ns of the monitor's clock"),
    ) {
        println!("{line}");
    }
    if let Some(line) = udp_times.bench_line(
        "udp-echo-round-trip",
        format_args!("{PAYLOAD_LEN}-byte datagrams to {echo_port}, ns of the monitor's clock"),
    ) {
        println!("{line}");
    }
    let stats = stack.device.stats();
    if stats.send_dropped != 0 || stats.recv_errors != 0 {
        println!(
            "net-ping: note: {} frames not sent, {} receive errors (last {:?})",
            stats.send_dropped, stats.recv_errors, stats.last_error
        );
    }
    Ok(())
}

/// One request and its answer: `send` queues the request, `answer` looks for the answer
/// (`None`: not yet; `Some(Err)`: a wrong one, reported). Tries `attempts` times with
/// [`ANSWER_TIMEOUT_NS`] each; returns the round trip of the attempt that was answered, from
/// queueing the request to reading the answer, or `None` when none was (for the caller to
/// report).
fn exchange(
    stack: &mut Stack<'_, Hostcalls>,
    attempts: u32,
    mut send: impl FnMut(&mut Stack<'_, Hostcalls>) -> Result<(), ()>,
    mut answer: impl FnMut(&mut Stack<'_, Hostcalls>) -> Option<Result<(), Failed>>,
) -> Result<Option<u64>, Failed> {
    for _ in 0..attempts {
        let start = stack.now_ns();
        send(stack).map_err(|()| Failed)?;
        match stack.run_until(start.saturating_add(ANSWER_TIMEOUT_NS), &mut answer) {
            Ok(Some(Ok(()))) => return Ok(Some(stack.now_ns() - start)),
            Ok(Some(Err(Failed))) => return Err(Failed),
            Ok(None) => {}
            Err(e) => {
                println!("net-ping: waiting for frames failed: {e:?}");
                return Err(Failed);
            }
        }
    }
    Ok(None)
}
