//! Target `switch`: the network frame switch's decisions (`cvm/net_grant.rs`) on arbitrary
//! grants and frames: grants resolved as at boot, every frame a cVM sends checked as
//! `net_send` does, then routed as the switch does (`drivers/nets.rs`), and every route held
//! to the rules: a cVM never gets its own frame back, a frame reaches only the interface it is
//! addressed to (or every other one for a broadcast), frames between local interfaces never
//! leave the machine, and frames from the wire posing as a local interface are dropped.

use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};

use crate::cvm::net_grant::{self, NetSpec, BROADCAST};

#[derive(Arbitrary, Debug)]
struct Input {
    /// The device's own MAC, and each cVM's `net` spec (`None`: no grant).
    device_mac: [u8; 6],
    specs: Vec<Option<Spec>>,
    frames: Vec<Frame>,
}

#[derive(Arbitrary, Debug)]
struct Spec {
    device: u8,
    mac: Option<Mac>,
}

/// A MAC: one of a few near-alike ones (so collisions happen), broadcast, or any.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Mac {
    Near(u8),
    Broadcast,
    Any([u8; 6]),
}

impl Mac {
    fn bytes(self) -> [u8; 6] {
        match self {
            Mac::Near(n) => [0x52, 0x54, 0, 0, 0, n % 8],
            Mac::Broadcast => BROADCAST,
            Mac::Any(m) => m,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Frame {
    /// `Some(i)`: sent by cVM `i`; `None`: arrived on the wire.
    from: Option<u8>,
    dest: Mac,
    source: Mac,
    /// Total length (header included), cut to 1600.
    len: u16,
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let names: Vec<alloc::string::String> = (0..input.specs.len())
        .map(|i| alloc::format!("cvm{i}"))
        .collect();
    let specs: Vec<(&str, Option<NetSpec>)> = input
        .specs
        .iter()
        .zip(&names)
        .take(16)
        .map(|(s, name)| {
            // The manifest parser accepts only unicast `mac`s; the device's own MAC is whatever
            // the device says.
            let spec = s.as_ref().map(|s| NetSpec {
                device: u32::from(s.device % 3),
                mac: s.mac.map(Mac::bytes).filter(net_grant::is_unicast),
            });
            (name.as_str(), spec)
        })
        .collect();
    // Devices 0 and 1 exist (1's MAC differs from 0's), device 2 does not.
    let mut second = input.device_mac;
    second[5] ^= 1;
    let device_mac = |d: u32| match d {
        0 => Some(input.device_mac),
        1 => Some(second),
        _ => None,
    };
    let grants = match net_grant::resolve(&specs, device_mac) {
        Ok(grants) => grants,
        Err(errors) => {
            assert!(!errors.is_empty());
            return;
        }
    };
    assert_eq!(grants.len(), specs.len());
    // The switch of device 0: its interfaces in cVM order, as `drivers/nets.rs` builds them.
    let owners: Vec<usize> = (0..grants.len())
        .filter(|&i| grants[i].is_some_and(|g| g.device == 0))
        .collect();
    let macs: Vec<[u8; 6]> = owners
        .iter()
        .map(|&i| grants[i].expect("granted").mac)
        .collect();
    for (a, m) in macs.iter().enumerate() {
        assert!(
            !macs[..a].contains(m),
            "two interfaces on one device share {m:x?}"
        );
    }
    for frame in input.frames.iter().take(64) {
        let mut bytes = alloc::vec![0u8; usize::from(frame.len) % 1601];
        for (b, v) in bytes
            .iter_mut()
            .zip(frame.dest.bytes().iter().chain(&frame.source.bytes()))
        {
            *b = *v;
        }
        let from = match frame.from {
            None => None,
            Some(i) if owners.is_empty() => {
                let _ = i;
                continue;
            }
            Some(i) => {
                let iface = usize::from(i) % owners.len();
                let grant = grants[owners[iface]].expect("granted");
                if net_grant::check_send(Some(&grant), &bytes).is_err() {
                    continue;
                }
                assert!(
                    (14..=1514).contains(&bytes.len()) && bytes[6..12] == grant.mac,
                    "check_send let a bad frame through"
                );
                Some(iface)
            }
        };
        route(&bytes, from, &macs);
    }
}

/// Routes one frame as the switch does, holding the result to the rules.
fn route(frame: &[u8], from: Option<usize>, macs: &[[u8; 6]]) {
    let Some(dest) = net_grant::destination(frame) else {
        assert!(frame.len() < 6);
        return;
    };
    if from.is_none() && net_grant::from_local_source(frame, macs) {
        assert!(macs.iter().any(|m| frame[6..12] == *m));
        return; // dropped
    }
    let r = net_grant::route(&dest, from, macs);
    for (k, &i) in r.local.iter().enumerate() {
        assert!(i < macs.len(), "routed to interface {i} of {}", macs.len());
        assert_ne!(Some(i), from, "a cVM got its own frame back");
        assert!(
            !r.local[..k].contains(&i),
            "interface {i} got the frame twice"
        );
    }
    if dest == BROADCAST {
        assert_eq!(
            r.local.len(),
            macs.len() - usize::from(from.is_some()),
            "a broadcast missed someone"
        );
        assert_eq!(r.wire, from.is_some());
    } else if let Some(owner) = macs
        .iter()
        .position(|m| *m == dest)
        .filter(|_| net_grant::is_unicast(&dest))
    {
        assert!(!r.wire, "a frame for a local interface left the machine");
        let expected: &[usize] = if from == Some(owner) { &[] } else { &[owner] };
        assert_eq!(r.local, expected);
    } else {
        // Unknown unicast, or a group address (even one a device gave an interface as its MAC:
        // cVMs get only their own address and broadcast).
        assert!(
            r.local.is_empty(),
            "a frame for {dest:x?} reached a cVM that does not own it"
        );
        assert_eq!(
            r.wire,
            from.is_some(),
            "wire frames go back out / local frames for strangers go out"
        );
    }
}
