//! Fake cVMs for host tests and fuzz targets: a [`Guest`] for hostcall dispatch and a
//! [`Members`] run loop for nesting. Every access the monitor's code makes through them is
//! checked against the cVM's memory, so a check that lets a bad pointer through fails loudly.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use capmon_abi::{child_state, Error, NetInfo, WhoAmI, NAME_MAX, SECTOR_SIZE};

use super::grant::{Extent, Grant};
use super::hostcall::Guest;
use super::nest::Members;
use super::net_grant::NetGrant;

/// Where a [`FakeGuest`]'s memory starts unless set otherwise.
pub const BASE: u64 = 0x1000;

/// A cVM whose data memory is `[base, base + bytes.len())`.
pub struct FakeGuest {
    pub base: u64,
    pub bytes: Vec<u8>,
    pub printed: Vec<u8>,
    pub input: Vec<u8>,
    pub disk: FakeDisk,
    pub net: FakeNet,
    pub now_ns: u64,
    /// Calls of `write`, to tell whether a call touched the cVM's memory.
    pub writes: usize,
    /// Sharing requests that reached `Guest::share`.
    pub shared: Vec<crate::cvm::share::call::Request>,
}

/// A network grant with a queue of frames waiting, and what was sent.
#[derive(Default)]
pub struct FakeNet {
    pub grant: Option<NetGrant>,
    pub waiting: VecDeque<Vec<u8>>,
    pub sent: Vec<Vec<u8>>,
    /// The transmit queue is full.
    pub full: bool,
}

/// A whole device behind a grant: device sector `n` is `image[n * 512..]`.
#[derive(Default)]
pub struct FakeDisk {
    pub grant: Option<Grant>,
    pub image: Vec<u8>,
    pub flushes: u32,
    /// Fail every request, as a disabled device does.
    pub broken: bool,
    /// The extents the monitor asked for.
    pub requests: Vec<Extent>,
}

impl FakeGuest {
    /// A cVM with `bytes` as its memory at [`BASE`], no input, no grants.
    pub fn new(bytes: Vec<u8>) -> Self {
        FakeGuest {
            base: BASE,
            bytes,
            printed: Vec::new(),
            input: Vec::new(),
            disk: FakeDisk::default(),
            net: FakeNet::default(),
            now_ns: 77,
            writes: 0,
            shared: Vec::new(),
        }
    }

    /// `range` as offsets into `bytes`, after checking that it lies in the cVM's memory.
    fn offsets(&self, range: Range<u64>) -> Range<usize> {
        let memory = self.memory();
        assert!(
            memory.start <= range.start && range.start <= range.end && range.end <= memory.end,
            "access {:#x}..{:#x} outside the cVM's memory {:#x}..{:#x}",
            range.start,
            range.end,
            memory.start,
            memory.end
        );
        let offset = |at: u64| usize::try_from(at - self.base).expect("small memory");
        offset(range.start)..offset(range.end)
    }

    fn len(bytes: &[u8]) -> u64 {
        u64::try_from(bytes.len()).expect("small buffer")
    }
}

impl Guest for FakeGuest {
    fn share(&mut self, request: crate::cvm::share::call::Request) -> Result<u64, Error> {
        self.shared.push(request);
        Ok(7)
    }
    fn memory(&self) -> Range<u64> {
        self.base..self.base + Self::len(&self.bytes)
    }
    fn read(&self, range: Range<u64>, out: &mut [u8]) {
        let r = self.offsets(range);
        out.copy_from_slice(&self.bytes[r]);
    }
    fn write(&mut self, at: u64, bytes: &[u8]) {
        let end = at.checked_add(Self::len(bytes)).expect("no wrap-around");
        let r = self.offsets(at..end);
        self.bytes[r].copy_from_slice(bytes);
        self.writes += 1;
    }
    fn console_write(&mut self, bytes: &[u8]) {
        self.printed.extend_from_slice(bytes);
    }
    fn console_read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.input.len());
        out[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        n
    }
    fn identity(&self) -> WhoAmI {
        let mut name = [0; NAME_MAX];
        name[..5].copy_from_slice(b"hello");
        WhoAmI {
            id: 3,
            region_base: self.base,
            region_size: 0x100,
            name,
        }
    }
    fn now_ns(&self) -> u64 {
        self.now_ns
    }
    fn disk_grant(&self) -> Option<Grant> {
        self.disk.grant
    }
    fn disk_read(&mut self, extent: Extent, into: Range<u64>) -> Result<(), Error> {
        self.disk.requests.push(extent);
        assert_eq!(into.end - into.start, extent.bytes());
        if self.disk.broken {
            return Err(Error::Io);
        }
        let data = self.disk.image[self.sectors(extent)].to_vec();
        self.write(into.start, &data);
        Ok(())
    }
    fn disk_write(&mut self, extent: Extent, from: Range<u64>) -> Result<(), Error> {
        self.disk.requests.push(extent);
        assert_eq!(from.end - from.start, extent.bytes());
        if self.disk.broken {
            return Err(Error::Io);
        }
        let mut data = alloc::vec![0; self.sectors(extent).len()];
        self.read(from, &mut data);
        let at = self.sectors(extent);
        self.disk.image[at].copy_from_slice(&data);
        Ok(())
    }
    fn disk_flush(&mut self) -> Result<(), Error> {
        self.disk.flushes += 1;
        if self.disk.broken {
            Err(Error::Io)
        } else {
            Ok(())
        }
    }
    fn net_grant(&self) -> Option<NetGrant> {
        self.net.grant
    }
    fn net_info(&self, grant: &NetGrant) -> NetInfo {
        NetInfo {
            mac: grant.mac,
            link_up: 1,
            device: 0,
            mtu: capmon_abi::NET_MTU,
            rx_dropped: 0,
        }
    }
    fn net_send(&mut self, frame: &[u8]) -> Result<(), Error> {
        if self.net.full {
            return Err(Error::Again);
        }
        self.net.sent.push(frame.to_vec());
        Ok(())
    }
    fn net_recv(&mut self, into: Range<u64>) -> Result<u64, Error> {
        let frame = self.net.waiting.front().ok_or(Error::Again)?;
        if Self::len(frame) > into.end - into.start {
            return Err(Error::Invalid);
        }
        let frame = self.net.waiting.pop_front().expect("a frame is waiting");
        self.write(into.start, &frame);
        Ok(Self::len(&frame))
    }
    fn net_waiting(&self) -> u64 {
        u64::try_from(self.net.waiting.len()).expect("a short queue")
    }
}

impl FakeGuest {
    /// The bytes of `image` an extent covers; the extent must lie inside the grant (and so on
    /// the device: the grant was checked against it).
    fn sectors(&self, extent: Extent) -> Range<usize> {
        let grant = self.disk.grant.expect("disk I/O without a grant");
        let end = extent
            .sector
            .checked_add(extent.count)
            .expect("extent wraps");
        assert!(
            grant.first_sector <= extent.sector && end <= grant.first_sector + grant.sectors,
            "extent {extent:?} outside the grant {grant:?}"
        );
        let at = extent
            .sector
            .checked_mul(SECTOR_SIZE)
            .expect("sector on the device");
        let end = at
            .checked_add(extent.bytes())
            .expect("extent on the device");
        let r = usize::try_from(at).expect("small")..usize::try_from(end).expect("small");
        assert!(
            r.end <= self.disk.image.len(),
            "extent {extent:?} past the device's end"
        );
        r
    }
}

/// A fake run loop: cVM `i` owns `memory[i]`; a parent's memory covers its children's (as the
/// planner makes it).
pub struct FakeMembers {
    pub names: Vec<String>,
    pub memory: Vec<Range<u64>>,
    pub state: Vec<u64>,
    pub results: Vec<Option<u64>>,
    pub blocked: Vec<bool>,
    pub resumed: Vec<usize>,
    pub writes: Vec<(usize, u64, Vec<u8>)>,
    pub served: Vec<(usize, u64)>,
    pub log: Vec<String>,
    /// `start` fails for these cVMs (a fresh image that no longer loads).
    pub start_fails: Vec<bool>,
}

impl FakeMembers {
    pub fn new(names: &[&str], memory: &[Range<u64>]) -> Self {
        let n = names.len();
        FakeMembers {
            names: names.iter().map(|s| String::from(*s)).collect(),
            memory: memory.to_vec(),
            state: alloc::vec![child_state::RUNNING; n],
            results: alloc::vec![None; n],
            blocked: alloc::vec![false; n],
            resumed: Vec::new(),
            writes: Vec::new(),
            served: Vec::new(),
            log: Vec::new(),
            start_fails: alloc::vec![false; n],
        }
    }
}

impl Members for FakeMembers {
    fn memory(&self, at: usize) -> Range<u64> {
        self.memory[at].clone()
    }
    fn region(&self, at: usize) -> Range<u64> {
        self.memory[at].clone()
    }
    fn state(&self, at: usize) -> u64 {
        self.state[at]
    }
    fn exit_code(&self, _: usize) -> i64 {
        7
    }
    fn fault_detail(&self, at: usize) -> String {
        format!("bounds fault in {}", self.names[at])
    }
    fn write(&mut self, at: usize, addr: u64, bytes: &[u8]) {
        let end = addr
            .checked_add(u64::try_from(bytes.len()).expect("small"))
            .expect("no wrap-around");
        let memory = &self.memory[at];
        assert!(
            memory.start <= addr && end <= memory.end,
            "write {addr:#x}..{end:#x} outside {}'s memory {:#x}..{:#x}",
            self.names[at],
            memory.start,
            memory.end
        );
        self.writes.push((at, addr, bytes.to_vec()));
    }
    fn set_result(&mut self, at: usize, value: u64) {
        self.results[at] = Some(value);
    }
    fn resume(&mut self, at: usize) {
        self.blocked[at] = false;
        self.resumed.push(at);
    }
    fn block(&mut self, at: usize, _: Option<u64>) {
        self.blocked[at] = true;
    }
    fn start(&mut self, at: usize) -> Result<(), String> {
        if self.start_fails[at] {
            return Err(String::from("image gone"));
        }
        self.state[at] = child_state::RUNNING;
        self.blocked[at] = false;
        self.log.push(format!("start {}", self.names[at]));
        Ok(())
    }
    fn stop(&mut self, at: usize, why: &str) {
        self.state[at] = child_state::STOPPED;
        self.blocked[at] = false;
        self.log.push(format!("stop {}: {why}", self.names[at]));
    }
    fn serve(&mut self, at: usize, number: u64, args: &[u64; 6]) {
        // The monitor serves it as the cVM's own call: its buffer was checked against the cVM's
        // memory before anyone saw it (and dispatch checks it again).
        for (ptr, len) in super::cap_args::buffer_ranges(number, args) {
            assert!(
                super::hostcall::check_buffer(&self.memory[at], ptr, len).is_ok(),
                "served {number} with buffer {ptr:#x}+{len:#x} outside {}",
                self.names[at]
            );
        }
        self.served.push((at, number));
        self.results[at] = Some(0x5e);
    }
}
