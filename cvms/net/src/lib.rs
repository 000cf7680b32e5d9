//! Networking for capmon cVMs on smoltcp, shared by the `udp-echo` and `net-ping` cVMs:
//!
//! - [`device`]: a smoltcp [`Device`](smoltcp::phy::Device) over the net hostcalls
//!   (`capmon_sdk::net`), one Ethernet frame per hostcall;
//! - [`stack`]: the interface, that device and the sockets together, and the event-loop step
//!   (poll, then sleep in `net_wait` until a frame arrives or smoltcp has timed work);
//! - [`args`]: the `key=value` arguments (`ip=10.0.2.15/24 gw=10.0.2.2 peer=… port=7 count=20`);
//! - [`udp`], [`icmp`] and [`payload`]: echoing a datagram, echo requests and replies, and the
//!   client's numbered probe payloads;
//! - [`Mac`] and [`RoundTrips`]: printing a MAC address and the benchmark line.
//!
//! Everything here builds for the host too, where the unit tests run two stacks against each
//! other over an in-memory link (the host SDK has no network grant: its net hostcalls return
//! `Denied`).
#![no_std]

#[cfg(test)]
extern crate std;

pub mod args;
pub mod device;
pub mod icmp;
pub mod payload;
pub mod stack;
pub mod udp;

use core::fmt;

/// smoltcp itself, so the cVMs use exactly the version (and features) this crate was built with.
pub use smoltcp;

/// A MAC address, displayed the usual way: `52:54:00:c0:ff:15` (smoltcp's own `Display` uses
/// dashes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Round-trip times of up to `N` exchanges, in nanoseconds of the monitor's clock, for one
/// benchmark line. A fixed array: cVMs have no heap.
#[derive(Clone, Debug)]
pub struct RoundTrips<const N: usize> {
    samples: [u64; N],
    len: usize,
}

impl<const N: usize> Default for RoundTrips<N> {
    fn default() -> Self {
        RoundTrips {
            samples: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> RoundTrips<N> {
    /// How many samples fit.
    pub const CAPACITY: usize = N;

    /// Records one round trip; samples beyond the capacity are not kept.
    pub fn push(&mut self, ns: u64) {
        if let Some(slot) = self.samples.get_mut(self.len) {
            *slot = ns;
            self.len += 1;
        }
    }

    /// How many were recorded.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (median, fastest), or `None` without samples. The median of an even count is the upper
    /// middle one, as in `cvms/bench`: always a measured value.
    pub fn median_and_min(&mut self) -> Option<(u64, u64)> {
        let samples = &mut self.samples[..self.len];
        samples.sort_unstable();
        Some((*samples.get(samples.len() / 2)?, *samples.first()?))
    }

    /// The line `capmon-run bench` and the test harness parse (`qemu/src/bench.rs`,
    /// `FIGURE_PATTERN`): `bench: <kind> median <ns> min <ns> (N=<n>, <how>)`. `None` without
    /// samples.
    pub fn bench_line<'a>(
        &mut self,
        kind: &'a str,
        how: fmt::Arguments<'a>,
    ) -> Option<BenchLine<'a>> {
        let (median, min) = self.median_and_min()?;
        Some(BenchLine {
            kind,
            median,
            min,
            count: self.len,
            how,
        })
    }
}

/// One benchmark line, see [`RoundTrips::bench_line`].
pub struct BenchLine<'a> {
    pub kind: &'a str,
    pub median: u64,
    pub min: u64,
    pub count: usize,
    pub how: fmt::Arguments<'a>,
}

impl fmt::Display for BenchLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bench: {} median {} min {} (N={}, {})",
            self.kind, self.median, self.min, self.count, self.how
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn mac_prints_with_colons() {
        assert_eq!(
            Mac([0x52, 0x54, 0, 0xc0, 0xff, 0x15]).to_string(),
            "52:54:00:c0:ff:15"
        );
    }

    #[test]
    fn round_trips_give_median_min_and_the_bench_line() {
        let mut r = RoundTrips::<4>::default();
        assert!(r.is_empty());
        assert_eq!(r.median_and_min(), None);
        for ns in [300, 100, 200, 400, 999] {
            r.push(ns);
        }
        assert_eq!(r.len(), 4, "the fifth does not fit");
        assert_eq!(r.median_and_min(), Some((300, 100)), "upper middle");
        let line = r
            .bench_line("udp-echo-round-trip", format_args!("64-byte datagrams"))
            .expect("samples")
            .to_string();
        assert_eq!(
            line,
            "bench: udp-echo-round-trip median 300 min 100 (N=4, 64-byte datagrams)"
        );
        // What qemu/src/bench.rs's FIGURE_PATTERN expects, checked by hand without regex.
        let rest = line.strip_prefix("bench: ").expect("prefix");
        assert!(rest.contains(" median ") && rest.contains(" min ") && rest.ends_with(')'));
    }
}
