//! A smoltcp [`Device`] over the capmon net hostcalls: each received frame is one `net_recv`
//! into a 1514-byte buffer, each sent frame one `net_send` (retried briefly while the monitor's
//! transmit queue is full).
//!
//! The hostcalls sit behind the [`Link`] trait so the host unit tests can put an in-memory link
//! (and a virtual clock) underneath the same device; on a cVM it is [`Hostcalls`].

use capmon_sdk::{net, Error};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The longest Ethernet frame (header and 1500-byte payload, no checksum) the monitor moves.
pub const MAX_FRAME: usize = net::MAX_FRAME;

/// How often a frame is offered to a full transmit queue before it is dropped. Dropping is
/// what a real NIC does too; smoltcp's protocols (and the cVMs' retries) recover.
pub const SEND_ATTEMPTS: u32 = 16;

/// Frames in and out, and the clock: what [`NetDevice`] and [`crate::stack::Stack`] need from
/// below.
pub trait Link {
    /// Queues one frame; [`Error::Again`] when the transmit queue is full (not taken).
    fn send(&mut self, frame: &[u8]) -> Result<(), Error>;
    /// Takes the oldest waiting frame into `buf`; `Ok(None)` when none is waiting.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error>;
    /// Sleeps until a frame is waiting or `timeout_ns` has passed; returns the frames waiting.
    fn wait_ns(&mut self, timeout_ns: u64) -> Result<u64, Error>;
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
    /// Called before send attempt `attempt` (2, 3, …) of a frame the queue did not take: gives
    /// the monitor time to hand queued frames to the device.
    fn back_off(&mut self, attempt: u32);
}

/// The real thing: `capmon_sdk::net` and the monitor's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hostcalls;

impl Link for Hostcalls {
    fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        net::send(frame)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
        net::recv(buf)
    }

    fn wait_ns(&mut self, timeout_ns: u64) -> Result<u64, Error> {
        net::wait_ns(timeout_ns)
    }

    fn now_ns(&self) -> u64 {
        capmon_sdk::clock_ns()
    }

    fn back_off(&mut self, attempt: u32) {
        // A yield first: if the queue drains when another cVM or the monitor runs, that is
        // the cheapest wait. Then short sleeps, about 0.6 ms in all before the frame is dropped.
        if attempt <= 4 {
            capmon_sdk::yield_now();
        } else {
            capmon_sdk::sleep_ns(50_000);
        }
    }
}

/// What went through the device, for a cVM that wants to report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames received.
    pub received: u64,
    /// Frames the monitor took for sending.
    pub sent: u64,
    /// Frames given up on: the queue stayed full, or `net_send` failed otherwise.
    pub send_dropped: u64,
    /// `net_recv` calls that failed (other than "none waiting").
    pub recv_errors: u64,
    /// The last error of either direction.
    pub last_error: Option<Error>,
}

/// The smoltcp device: a [`Link`] and one buffer for each direction (smoltcp hands a received
/// frame to its closure and builds a frame to send in place, so one of each suffices).
pub struct NetDevice<L: Link> {
    link: L,
    rx: [u8; MAX_FRAME],
    tx: [u8; MAX_FRAME],
    stats: Stats,
}

impl<L: Link> NetDevice<L> {
    /// A device over `link`.
    pub fn new(link: L) -> Self {
        NetDevice {
            link,
            rx: [0; MAX_FRAME],
            tx: [0; MAX_FRAME],
            stats: Stats::default(),
        }
    }

    /// The link underneath (for waiting and the clock).
    pub fn link(&mut self) -> &mut L {
        &mut self.link
    }

    /// The link's clock as smoltcp's time (microseconds).
    pub fn now(&self) -> Instant {
        instant_from_ns(self.link.now_ns())
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

/// Nanoseconds as smoltcp's microsecond [`Instant`].
pub fn instant_from_ns(ns: u64) -> Instant {
    Instant::from_micros(i64::try_from(ns / 1000).unwrap_or(i64::MAX))
}

impl<L: Link> Device for NetDevice<L> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, L>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_, L>)> {
        let NetDevice {
            link,
            rx,
            tx,
            stats,
        } = self;
        match link.recv(rx) {
            Ok(Some(len)) => {
                stats.received += 1;
                let frame = &rx[..len.min(MAX_FRAME)];
                Some((
                    RxToken { frame },
                    TxToken {
                        link,
                        buf: tx,
                        stats,
                    },
                ))
            }
            Ok(None) => None,
            Err(e) => {
                stats.recv_errors += 1;
                stats.last_error = Some(e);
                None
            }
        }
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, L>> {
        // Always a token: whether the monitor's queue has room is only known when sending,
        // and send_frame waits for room there.
        Some(TxToken {
            link: &mut self.link,
            buf: &mut self.tx,
            stats: &mut self.stats,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // For Ethernet smoltcp counts the header in: 1514 = 1500-byte payload + 14.
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

/// A received frame, still in the device's receive buffer.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

/// Room for one frame to send, in the device's transmit buffer.
pub struct TxToken<'a, L: Link> {
    link: &'a mut L,
    buf: &'a mut [u8; MAX_FRAME],
    stats: &'a mut Stats,
}

impl<L: Link> phy::TxToken for TxToken<'_, L> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // smoltcp never asks for more than the capabilities' MTU, MAX_FRAME.
        let frame = &mut self.buf[..len.min(MAX_FRAME)];
        let result = f(frame);
        send_frame(self.link, frame, self.stats);
        result
    }
}

/// Sends `frame`, offering it up to [`SEND_ATTEMPTS`] times while the queue is full.
fn send_frame<L: Link>(link: &mut L, frame: &[u8], stats: &mut Stats) {
    for attempt in 1..=SEND_ATTEMPTS {
        if attempt > 1 {
            link.back_off(attempt);
        }
        match link.send(frame) {
            Ok(()) => {
                stats.sent += 1;
                return;
            }
            Err(Error::Again) => stats.last_error = Some(Error::Again),
            Err(e) => {
                stats.last_error = Some(e);
                break;
            }
        }
    }
    stats.send_dropped += 1;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use smoltcp::phy::{RxToken as _, TxToken as _};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::vec::Vec;

    /// A switch like the monitor's: frames go to the port whose MAC they are addressed to, or
    /// to every other port for broadcast; a virtual clock that waiting advances.
    #[derive(Default)]
    pub struct Switch {
        pub ports: Vec<([u8; 6], VecDeque<Vec<u8>>)>,
        pub now_ns: u64,
        /// Sends still refused with Again (transmit queue "full").
        pub refuse_sends: u32,
    }

    /// One cVM's port on a [`Switch`].
    #[derive(Clone)]
    pub struct FakeLink {
        pub switch: Rc<RefCell<Switch>>,
        pub port: usize,
    }

    impl FakeLink {
        pub fn attach(switch: &Rc<RefCell<Switch>>, mac: [u8; 6]) -> FakeLink {
            let mut s = switch.borrow_mut();
            s.ports.push((mac, VecDeque::new()));
            FakeLink {
                switch: switch.clone(),
                port: s.ports.len() - 1,
            }
        }
    }

    impl Link for FakeLink {
        fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
            let mut s = self.switch.borrow_mut();
            if s.refuse_sends > 0 {
                s.refuse_sends -= 1;
                return Err(Error::Again);
            }
            let me = s.ports[self.port].0;
            if frame.len() < 14 || frame.len() > MAX_FRAME {
                return Err(Error::Invalid);
            }
            if frame[6..12] != me {
                return Err(Error::Denied);
            }
            let broadcast = frame[..6] == [0xff; 6];
            for (i, (mac, queue)) in s.ports.iter_mut().enumerate() {
                if i != self.port && (broadcast || frame[..6] == *mac) {
                    queue.push_back(frame.to_vec());
                }
            }
            Ok(())
        }

        fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Error> {
            let mut s = self.switch.borrow_mut();
            let queue = &mut s.ports[self.port].1;
            match queue.front() {
                None => Ok(None),
                Some(f) if f.len() > buf.len() => Err(Error::Invalid),
                Some(_) => {
                    let f = queue.pop_front().expect("front exists");
                    buf[..f.len()].copy_from_slice(&f);
                    Ok(Some(f.len()))
                }
            }
        }

        fn wait_ns(&mut self, timeout_ns: u64) -> Result<u64, Error> {
            let mut s = self.switch.borrow_mut();
            let waiting = s.ports[self.port].1.len() as u64;
            if waiting == 0 {
                s.now_ns += timeout_ns;
            }
            Ok(waiting)
        }

        fn now_ns(&self) -> u64 {
            self.switch.borrow().now_ns
        }

        fn back_off(&mut self, _attempt: u32) {
            self.switch.borrow_mut().now_ns += 1000;
        }
    }

    const A: [u8; 6] = [0x52, 0x54, 0, 0xc0, 0xff, 0x15];
    const B: [u8; 6] = [0x52, 0x54, 0, 0xc0, 0xff, 0x16];

    fn frame(to: [u8; 6], from: [u8; 6], fill: u8, len: usize) -> Vec<u8> {
        let mut f = std::vec![fill; len];
        f[..6].copy_from_slice(&to);
        f[6..12].copy_from_slice(&from);
        f
    }

    #[test]
    fn frames_go_through_the_tokens() {
        let switch = Rc::new(RefCell::new(Switch::default()));
        let mut a = NetDevice::new(FakeLink::attach(&switch, A));
        let mut b = NetDevice::new(FakeLink::attach(&switch, B));
        let now = Instant::from_millis(0);
        assert!(b.receive(now).is_none(), "nothing waiting");

        let sent = frame(B, A, 0x5a, MAX_FRAME);
        let tx = a.transmit(now).expect("always a token");
        let r = tx.consume(MAX_FRAME, |buf| {
            buf.copy_from_slice(&sent);
            7
        });
        assert_eq!(r, 7, "the closure's result comes back");
        assert_eq!(a.stats().sent, 1);

        let (rx, _tx) = b.receive(now).expect("a frame");
        let got = rx.consume(|f| f.to_vec());
        assert_eq!(got, sent, "a maximum-size frame arrives whole");
        assert_eq!(b.stats().received, 1);
        let caps = a.capabilities();
        assert_eq!(caps.max_transmission_unit, 1514);
        assert_eq!(caps.medium, Medium::Ethernet);
    }

    #[test]
    fn a_full_queue_is_retried_then_the_frame_dropped() {
        let switch = Rc::new(RefCell::new(Switch::default()));
        let mut a = NetDevice::new(FakeLink::attach(&switch, A));
        let _b = FakeLink::attach(&switch, B);
        let now = Instant::from_millis(0);

        switch.borrow_mut().refuse_sends = 3;
        a.transmit(now)
            .expect("token")
            .consume(60, |buf| buf.copy_from_slice(&frame(B, A, 1, 60)));
        assert_eq!(a.stats().sent, 1, "taken on the fourth attempt");
        assert_eq!(switch.borrow().ports[1].1.len(), 1);

        switch.borrow_mut().refuse_sends = SEND_ATTEMPTS;
        a.transmit(now)
            .expect("token")
            .consume(60, |buf| buf.copy_from_slice(&frame(B, A, 2, 60)));
        let stats = a.stats();
        assert_eq!((stats.sent, stats.send_dropped), (1, 1));
        assert_eq!(stats.last_error, Some(Error::Again));

        // Any other error is not retried.
        a.transmit(now)
            .expect("token")
            .consume(60, |buf| buf.copy_from_slice(&frame(B, B, 3, 60)));
        let stats = a.stats();
        assert_eq!(stats.send_dropped, 2);
        assert_eq!(stats.last_error, Some(Error::Denied), "not its own MAC");
    }

    #[test]
    fn host_sdk_has_no_grant() {
        let mut d = NetDevice::new(Hostcalls);
        assert!(d.receive(Instant::from_millis(0)).is_none());
        assert_eq!(d.stats().last_error, Some(Error::Denied));
        assert_eq!(Hostcalls.wait_ns(0), Err(Error::Denied));
    }

    #[test]
    fn time_converts_to_microseconds() {
        assert_eq!(instant_from_ns(1_234_567).total_micros(), 1234);
        assert_eq!(
            instant_from_ns(u64::MAX).total_micros(),
            (u64::MAX / 1000) as i64
        );
    }
}
