//! Target `hostcall`: every hostcall number with arbitrary arguments, from a fake cVM with
//! arbitrary memory, console input, disk and network grants, through [`dispatch`]. The fake
//! ([`FakeGuest`]) panics on any access outside the cVM's memory or the granted device; on
//! top, a call refused with `Fault` must have touched nothing, calls without a grant are
//! `Denied`, unknown numbers `NoSys`, and results stay within what was asked.

use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use capmon_abi::{Error, Hostcall};

use crate::cvm::fakes::{FakeGuest, BASE};
use crate::cvm::grant::{self, DeviceInfo, DiskSpec};
use crate::cvm::hostcall::{dispatch, Guest, Outcome, MAX_TRANSFER};
use crate::cvm::net_grant::{self, NetSpec};

/// Most memory a fuzzed cVM gets: a disk transfer's 64 KiB and then some.
const MAX_MEMORY: usize = 80 << 10;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Memory size in bytes (cut to `MAX_MEMORY`).
    memory: u32,
    /// Where memory starts: ordinary, at 0, or ending at the top of the address space.
    placement: Placement,
    /// The first bytes of memory (the rest is zero).
    contents: Vec<u8>,
    /// Pending console input.
    input: Vec<u8>,
    disk: Option<Disk>,
    net: Option<Net>,
    calls: Vec<Call>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Placement {
    Base,
    Zero,
    Top,
    At(u64),
}

/// A disk grant as a manifest asks for it, resolved against a device of `capacity` sectors.
#[derive(Arbitrary, Debug)]
struct Disk {
    capacity: u8,
    device_read_only: bool,
    first_sector: u8,
    sectors: Option<u8>,
    read_only: bool,
    broken: bool,
}

#[derive(Arbitrary, Debug)]
struct Net {
    mac: Option<[u8; 6]>,
    device_mac: [u8; 6],
    waiting: Vec<Vec<u8>>,
    full: bool,
}

#[derive(Arbitrary, Debug)]
struct Call {
    number: Number,
    args: [Arg; 6],
}

#[derive(Arbitrary, Debug)]
enum Number {
    /// 0..64: every defined number and the ranges reserved around them.
    Small(u8),
    Raw(u64),
}

/// An argument, mostly addresses and lengths near the cVM's memory and its edges.
#[derive(Arbitrary, Debug)]
enum Arg {
    /// `base + n` (inside or just past memory).
    FromBase(u16),
    /// `end - n`.
    FromEnd(u16),
    /// A length or count.
    Small(u16),
    Raw(u64),
}

impl Arg {
    fn value(&self, memory: &core::ops::Range<u64>) -> u64 {
        match *self {
            Arg::FromBase(n) => memory.start.wrapping_add(u64::from(n)),
            Arg::FromEnd(n) => memory.end.wrapping_sub(u64::from(n)),
            Arg::Small(n) => u64::from(n),
            Arg::Raw(v) => v,
        }
    }
}

pub fn run(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let size = usize::try_from(input.memory).unwrap_or(MAX_MEMORY) % (MAX_MEMORY + 1);
    let mut bytes = alloc::vec![0u8; size];
    let n = input.contents.len().min(size);
    bytes[..n].copy_from_slice(&input.contents[..n]);
    let mut guest = FakeGuest::new(bytes);
    let size = u64::try_from(size).expect("small memory");
    guest.base = match input.placement {
        Placement::Base => BASE,
        Placement::Zero => 0,
        Placement::Top => u64::MAX - size,
        Placement::At(at) => at.min(u64::MAX - size),
    };
    guest.input = input.input;
    if let Some(d) = &input.disk {
        let spec = DiskSpec {
            device: 0,
            first_sector: u64::from(d.first_sector),
            sectors: d.sectors.map(u64::from),
            read_only: d.read_only,
        };
        let device = DeviceInfo {
            capacity: u64::from(d.capacity),
            read_only: d.device_read_only,
        };
        if let Ok(g) = grant::resolve(&spec, Some(device)) {
            assert!(
                g.first_sector + g.sectors <= device.capacity && g.sectors > 0,
                "grant {g:?} past {device:?}"
            );
            guest.disk.grant = Some(g);
            guest.disk.image = alloc::vec![0x5a; usize::from(d.capacity) * 512];
            guest.disk.broken = d.broken;
        }
    }
    if let Some(net) = input.net {
        let specs = [(
            "fuzz",
            Some(NetSpec {
                device: 0,
                mac: net.mac,
            }),
        )];
        if let Ok(grants) = net_grant::resolve(&specs, |d| (d == 0).then_some(net.device_mac)) {
            guest.net.grant = grants[0];
            guest.net.waiting = net.waiting.into_iter().collect();
            guest.net.full = net.full;
        }
    }
    for call in input.calls.iter().take(64) {
        one(&mut guest, call);
    }
}

fn one(guest: &mut FakeGuest, call: &Call) {
    let memory = guest.memory();
    let number = match call.number {
        Number::Small(n) => u64::from(n % 64),
        Number::Raw(n) => n,
    };
    let args = call.args.each_ref().map(|a| a.value(&memory));
    let before = (
        guest.writes,
        guest.printed.len(),
        guest.input.len(),
        guest.disk.requests.len(),
        guest.disk.flushes,
        guest.net.sent.len(),
        guest.net.waiting.len(),
    );
    let outcome = dispatch(guest, number, &args);
    let after = (
        guest.writes,
        guest.printed.len(),
        guest.input.len(),
        guest.disk.requests.len(),
        guest.disk.flushes,
        guest.net.sent.len(),
        guest.net.waiting.len(),
    );
    let Outcome::Return(result) = outcome else {
        assert_eq!(
            before, after,
            "hostcall {number} blocked or ended the cVM but acted first"
        );
        return;
    };
    let result = Error::check(result);
    if let Err(e) = result {
        // A refused call touches nothing (the disk may have been asked and failed: Io).
        if e != Error::Io {
            assert_eq!(
                before, after,
                "hostcall {number} {args:x?} failed with {e:?} but acted"
            );
        }
    }
    let Some(call) = Hostcall::from_number(number) else {
        assert_eq!(result, Err(Error::NoSys), "unknown hostcall {number}");
        return;
    };
    let no_disk = guest.disk.grant.is_none();
    let no_net = guest.net.grant.is_none();
    match call {
        Hostcall::ConsoleWrite => {
            if let Ok(n) = result {
                assert!(
                    n <= args[1] && n <= MAX_TRANSFER,
                    "console_write did {n} of {}",
                    args[1]
                );
                assert_eq!(after.1 - before.1, usize::try_from(n).unwrap_or(usize::MAX));
            }
        }
        Hostcall::ConsoleRead => {
            if let Ok(n) = result {
                assert!(
                    n <= args[1] && n <= MAX_TRANSFER,
                    "console_read did {n} of {}",
                    args[1]
                );
            }
        }
        Hostcall::DiskCapacity | Hostcall::DiskRead | Hostcall::DiskWrite | Hostcall::DiskFlush
            if no_disk =>
        {
            assert_eq!(result, Err(Error::Denied), "{call:?} without a disk grant");
        }
        Hostcall::DiskRead | Hostcall::DiskWrite => {
            if let Ok(n) = result {
                assert!(
                    n <= args[2] && n <= capmon_abi::DISK_MAX_SECTORS,
                    "{call:?} did {n} of {} sectors",
                    args[2]
                );
            }
        }
        Hostcall::NetInfo | Hostcall::NetSend | Hostcall::NetRecv if no_net => {
            assert_eq!(result, Err(Error::Denied), "{call:?} without a net grant");
        }
        Hostcall::NetWait if no_net => assert_eq!(result, Err(Error::Denied)),
        Hostcall::NetSend if result.is_ok() => {
            let frame = guest.net.sent.last().expect("a frame was sent");
            assert!(
                net_grant::check_send(guest.net.grant.as_ref(), frame).is_ok(),
                "sent a frame check_send refuses"
            );
        }
        Hostcall::ChildInfo
        | Hostcall::ChildStart
        | Hostcall::ChildStop
        | Hostcall::ChildWait
        | Hostcall::ChildReply
        | Hostcall::ChildForward
        | Hostcall::ChildReplyWait => {
            assert_eq!(result, Err(Error::NoSys), "{call:?} reached dispatch")
        }
        _ => {}
    }
}
