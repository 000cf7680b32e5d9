//! The interface, the device and the sockets together, and the event loop built on them: poll
//! smoltcp, let the program look at its sockets, then sleep in `net_wait` until a frame
//! arrives or smoltcp has timed work (an ARP retry, say).
//!
//! ```text
//! loop {
//!     /* read and write sockets */
//!     stack.step(MAX_WAIT_NS)?;          // poll, wait, poll
//! }
//! ```

use capmon_sdk::Error;
use smoltcp::iface::{Config, Interface, PollResult, SocketSet, SocketStorage};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use crate::args::Settings;
use crate::device::{Link, NetDevice};

/// The longest single sleep in `net_wait` when smoltcp has nothing timed: long enough to cost
/// nothing while idle, short enough that a lost wake-up (there should be none) costs a second.
pub const MAX_WAIT_NS: u64 = 1_000_000_000;

/// A smoltcp interface on a [`NetDevice`], with its sockets.
pub struct Stack<'s, L: Link> {
    pub iface: Interface,
    pub device: NetDevice<L>,
    pub sockets: SocketSet<'s>,
}

impl<'s, L: Link> Stack<'s, L> {
    /// An interface with MAC `mac` and the address and default route of `settings`, whose
    /// sockets live in `storage` (one [`SocketStorage`] per socket the program adds).
    pub fn new(
        link: L,
        mac: [u8; 6],
        settings: &Settings,
        storage: &'s mut [SocketStorage<'s>],
    ) -> Self {
        let mut device = NetDevice::new(link);
        let now = device.now();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // Only picks ephemeral ports and the like: the boot clock and the MAC differ enough.
        config.random_seed = seed(&mac, now.total_micros().unsigned_abs());
        let mut iface = Interface::new(config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for two addresses; this is the only one.
            let _ = addrs.push(IpCidr::Ipv4(settings.ip));
        });
        if let Some(gateway) = settings.gateway {
            // A fresh route table has room; the gateway need not be reachable yet.
            let _ = iface.routes_mut().add_default_ipv4_route(gateway);
        }
        Stack {
            iface,
            device,
            sockets: SocketSet::new(storage),
        }
    }

    /// The link's clock, in nanoseconds.
    pub fn now_ns(&mut self) -> u64 {
        self.device.link().now_ns()
    }

    /// Lets smoltcp take every waiting frame and send what the sockets queued; true when a
    /// socket's state may have changed (something to read, say).
    pub fn poll(&mut self) -> bool {
        let now = self.device.now();
        self.iface.poll(now, &mut self.device, &mut self.sockets) == PollResult::SocketStateChanged
    }

    /// One round of the event loop: sends what the program queued and takes what arrived; if
    /// that changed no socket, sleeps until a frame arrives, smoltcp's next timed work or
    /// `max_wait_ns`, whichever is first, and polls again. An error is `net_wait`'s (no grant,
    /// or no network support in the monitor).
    pub fn step(&mut self, max_wait_ns: u64) -> Result<(), Error> {
        if self.poll() {
            return Ok(());
        }
        let now = self.device.now();
        let wait_ns = self
            .iface
            .poll_delay(now, &self.sockets)
            .map_or(max_wait_ns, |d| d.total_micros().saturating_mul(1000))
            .min(max_wait_ns);
        if wait_ns > 0 {
            self.device.link().wait_ns(wait_ns)?;
            self.poll();
        }
        Ok(())
    }

    /// Runs the event loop until `ready` returns something (checked first, then after every
    /// step) or the clock reaches `deadline_ns`: `Ok(None)` means the time ran out.
    pub fn run_until<T>(
        &mut self,
        deadline_ns: u64,
        mut ready: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        loop {
            if let Some(done) = ready(self) {
                return Ok(Some(done));
            }
            let now = self.now_ns();
            if now >= deadline_ns {
                return Ok(None);
            }
            self.step((deadline_ns - now).min(MAX_WAIT_NS))?;
        }
    }
}

/// A seed from the MAC and a time: the two cVMs of a manifest start at nearly the same time,
/// so the MAC keeps their seeds apart.
fn seed(mac: &[u8; 6], micros: u64) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..6].copy_from_slice(mac);
    // A multiplicative mix, so nearby MACs and times give unrelated seeds.
    (u64::from_le_bytes(bytes) ^ micros).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Settings;
    use crate::device::tests::{FakeLink, Switch};
    use crate::{icmp, payload, udp};
    use smoltcp::iface::SocketHandle;
    use smoltcp::socket::{icmp as icmp_socket, udp as udp_socket};
    use smoltcp::storage::PacketMetadata;
    use smoltcp::wire::{IpAddress, IpEndpoint};
    use std::cell::RefCell;
    use std::rc::Rc;

    const ECHO_MAC: [u8; 6] = [0x02, 0xca, 0xfe, 0, 0, 0x15];
    const PING_MAC: [u8; 6] = [0x02, 0xca, 0xfe, 0, 0, 0x16];

    /// Socket buffers for one side, as the cVMs hold them (on the stack, no heap).
    struct Buffers {
        udp_rx_meta: [PacketMetadata<udp_socket::UdpMetadata>; 4],
        udp_rx: [u8; 4096],
        udp_tx_meta: [PacketMetadata<udp_socket::UdpMetadata>; 4],
        udp_tx: [u8; 4096],
        icmp_rx_meta: [PacketMetadata<IpAddress>; 4],
        icmp_rx: [u8; 1024],
        icmp_tx_meta: [PacketMetadata<IpAddress>; 4],
        icmp_tx: [u8; 1024],
    }

    impl Buffers {
        fn new() -> Self {
            Buffers {
                udp_rx_meta: [PacketMetadata::EMPTY; 4],
                udp_rx: [0; 4096],
                udp_tx_meta: [PacketMetadata::EMPTY; 4],
                udp_tx: [0; 4096],
                icmp_rx_meta: [PacketMetadata::EMPTY; 4],
                icmp_rx: [0; 1024],
                icmp_tx_meta: [PacketMetadata::EMPTY; 4],
                icmp_tx: [0; 1024],
            }
        }
    }

    /// A stack with a UDP socket on `port` and an ICMP socket for `ident`.
    fn side<'s>(
        link: FakeLink,
        mac: [u8; 6],
        settings: &Settings,
        port: u16,
        ident: u16,
        b: &'s mut Buffers,
        storage: &'s mut [SocketStorage<'s>],
    ) -> (Stack<'s, FakeLink>, SocketHandle, SocketHandle) {
        let mut stack = Stack::new(link, mac, settings, storage);
        let mut u = udp_socket::Socket::new(
            udp_socket::PacketBuffer::new(&mut b.udp_rx_meta[..], &mut b.udp_rx[..]),
            udp_socket::PacketBuffer::new(&mut b.udp_tx_meta[..], &mut b.udp_tx[..]),
        );
        u.bind(port).expect("bind udp");
        let mut i = icmp_socket::Socket::new(
            icmp_socket::PacketBuffer::new(&mut b.icmp_rx_meta[..], &mut b.icmp_rx[..]),
            icmp_socket::PacketBuffer::new(&mut b.icmp_tx_meta[..], &mut b.icmp_tx[..]),
        );
        i.bind(icmp_socket::Endpoint::Ident(ident))
            .expect("bind icmp");
        let u = stack.sockets.add(u);
        let i = stack.sockets.add(i);
        (stack, u, i)
    }

    #[test]
    fn ping_and_udp_echo_between_two_stacks() {
        let switch = Rc::new(RefCell::new(Switch::default()));
        let echo_settings = Settings::ECHO_DEFAULTS;
        let ping_settings = Settings::PING_DEFAULTS;
        let mut eb = Buffers::new();
        let mut pb = Buffers::new();
        let mut es = [SocketStorage::EMPTY; 2];
        let mut ps = [SocketStorage::EMPTY; 2];
        let (mut echo, echo_udp, _) = side(
            FakeLink::attach(&switch, ECHO_MAC),
            ECHO_MAC,
            &echo_settings,
            echo_settings.port,
            1,
            &mut eb,
            &mut es,
        );
        let (mut ping, ping_udp, ping_icmp) = side(
            FakeLink::attach(&switch, PING_MAC),
            PING_MAC,
            &ping_settings,
            40000,
            0x1234,
            &mut pb,
            &mut ps,
        );
        let peer = ping_settings.peer;

        // Ping: ARP first (smoltcp holds the request until the peer answers), then the echo
        // reply the echo side's interface sends by itself.
        let request = payload::payload(1);
        icmp::send_echo_request(
            ping.sockets.get_mut(ping_icmp),
            peer,
            0x1234,
            1,
            &request[..icmp::ECHO_DATA_LEN],
        )
        .expect("queued");
        let mut reply = None;
        for _ in 0..20 {
            ping.step(0).expect("step");
            echo.step(0).expect("step");
            reply = icmp::take_echo_reply(ping.sockets.get_mut(ping_icmp), 0x1234);
            if reply.is_some() {
                break;
            }
        }
        let reply = reply.expect("an echo reply");
        assert_eq!(reply.from, IpAddress::Ipv4(peer));
        assert_eq!(reply.seq, 1);
        assert!(reply.data_matches);

        // UDP: the echo side sends each datagram back to its sender.
        let mut scratch = [0u8; udp::ECHO_BUFFER];
        for seq in 1..=3u32 {
            let sent = payload::payload(seq);
            ping.sockets
                .get_mut::<udp_socket::Socket>(ping_udp)
                .send_slice(&sent, IpEndpoint::new(peer.into(), echo_settings.port))
                .expect("queued");
            let mut got = None;
            for _ in 0..10 {
                ping.step(0).expect("step");
                echo.step(0).expect("step");
                if let Some(e) = udp::echo_one(echo.sockets.get_mut(echo_udp), &mut scratch) {
                    assert_eq!(
                        e,
                        udp::Echo::Sent {
                            len: payload::PAYLOAD_LEN,
                            to: IpEndpoint::new(ping_settings.ip.address().into(), 40000),
                        }
                    );
                }
                let s = ping.sockets.get_mut::<udp_socket::Socket>(ping_udp);
                if let Ok((n, meta)) = s.recv_slice(&mut scratch) {
                    got = Some((scratch[..n].to_vec(), meta.endpoint));
                    break;
                }
            }
            let (bytes, from) = got.expect("an echo");
            assert_eq!(payload::payload_seq(&bytes), Some(seq));
            assert_eq!(payload::first_difference(&bytes, &sent), None);
            assert_eq!(from, IpEndpoint::new(peer.into(), echo_settings.port));
        }
        assert_eq!(ping.device.stats().send_dropped, 0);
        assert_eq!(echo.device.stats().recv_errors, 0);
    }

    #[test]
    fn run_until_gives_up_at_the_deadline_and_sleeps_meanwhile() {
        let switch = Rc::new(RefCell::new(Switch::default()));
        let mut b = Buffers::new();
        let mut storage = [SocketStorage::EMPTY; 2];
        let (mut ping, _, ping_icmp) = side(
            FakeLink::attach(&switch, PING_MAC),
            PING_MAC,
            &Settings::PING_DEFAULTS,
            40000,
            7,
            &mut b,
            &mut storage,
        );
        icmp::send_echo_request(
            ping.sockets.get_mut(ping_icmp),
            Settings::PING_DEFAULTS.peer,
            7,
            1,
            &[1, 2, 3],
        )
        .expect("queued");
        let mut checks = 0;
        let r = ping
            .run_until(2_000_000_000, |s| {
                checks += 1;
                icmp::take_echo_reply(s.sockets.get_mut(ping_icmp), 7)
            })
            .expect("no link error");
        assert!(r.is_none(), "nobody answers");
        assert!(switch.borrow().now_ns >= 2_000_000_000);
        // It slept in net_wait rather than spinning: a handful of rounds (ARP retries), not
        // thousands.
        assert!(checks < 20, "{checks} rounds");
    }

    #[test]
    fn seeds_differ_per_mac() {
        assert_ne!(seed(&ECHO_MAC, 5), seed(&PING_MAC, 5));
        assert_ne!(seed(&ECHO_MAC, 5), seed(&ECHO_MAC, 6));
    }
}
