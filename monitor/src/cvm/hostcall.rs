//! Hostcall dispatch: decode the number, check every pointer and length against the caller's
//! own memory, then act. Pure logic over the [`Guest`] interface, so every check is unit-tested
//! on the host with a fake cVM.

use core::ops::Range;

use capmon_abi::{Error, Hostcall, NetInfo, WhoAmI, NAME_MAX, NET_MAX_FRAME, SECTOR_SIZE};

use crate::cvm::grant::{self, Access, Extent, Grant};
use crate::cvm::net_grant::{self, NetGrant};
use crate::cvm::share;

/// Longest single console write or read; larger requests are cut (the result says how much
/// was done), so a cVM can't make the monitor copy gigabytes in one call.
pub const MAX_TRANSFER: u64 = 4096;
/// [`NET_MAX_FRAME`] as a buffer length.
const MAX_FRAME_BYTES: usize = 1514;
const _: () = assert!(MAX_FRAME_BYTES as u64 == NET_MAX_FRAME);
/// [`MAX_TRANSFER`] as a buffer length.
const MAX_TRANSFER_BYTES: usize = 4096;

/// Checks that `[ptr, ptr + len)` lies inside `memory`; returns it as a range.
/// Overflowing, out-of-bounds and partially-inside ranges are all `Error::Fault`.
pub fn check_buffer(memory: &Range<u64>, ptr: u64, len: u64) -> Result<Range<u64>, Error> {
    let end = ptr.checked_add(len).ok_or(Error::Fault)?;
    if ptr < memory.start || end > memory.end {
        return Err(Error::Fault);
    }
    Ok(ptr..end)
}

/// What the monitor must do after a hostcall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Put this value in the result register and resume the cVM.
    Return(u64),
    /// The cVM ended with this exit code.
    Exit(i64),
    /// Resume later: the rest of the slice goes to another cVM (result 0).
    Yield,
    /// Not runnable until this many nanoseconds have passed (result 0).
    Sleep(u64),
    /// Not runnable until a frame is waiting for the cVM or this many nanoseconds have passed;
    /// the result is then how many frames are waiting.
    WaitNet(u64),
    /// `cp_poll` with no stream ready: not runnable until a peer wakes it or this many
    /// nanoseconds have passed; the result is then the ready mask (`cvm::share::stream`).
    WaitStream(u64),
    /// The call reaches into other cVMs (a sharing call: revocation sweeps every importer):
    /// the run loop makes it again with the machine to itself ([`Guest::whole_machine`]).
    Machine,
}

/// The calling cVM, as dispatch sees it. The real one is backed by the cVM's region; tests use
/// a vector.
pub trait Guest {
    /// Whether the other cores are parked, so calls that touch other cVMs may run. One core
    /// (and every test) always has the machine to itself.
    fn whole_machine(&self) -> bool {
        true
    }
    /// The bytes the cVM may hand to hostcalls: its data capability's bounds.
    fn memory(&self) -> Range<u64>;
    /// Copies out of checked guest memory.
    fn read(&self, range: Range<u64>, out: &mut [u8]);
    /// Copies into checked guest memory.
    fn write(&mut self, at: u64, bytes: &[u8]);
    fn console_write(&mut self, bytes: &[u8]);
    /// Takes up to `out.len()` bytes of pending console input.
    fn console_read(&mut self, out: &mut [u8]) -> usize;
    fn identity(&self) -> WhoAmI;
    /// Nanoseconds since boot.
    fn now_ns(&self) -> u64;
    /// The cVM's disk grant, checked against its device at boot; `None` without one.
    fn disk_grant(&self) -> Option<Grant>;
    /// Reads `extent` (device sectors, already checked against the grant) of the granted
    /// device into checked guest memory `into`, which is exactly `extent.bytes()` long.
    fn disk_read(&mut self, extent: Extent, into: Range<u64>) -> Result<(), Error>;
    /// Writes checked guest memory `from` (exactly `extent.bytes()` long) to `extent`.
    fn disk_write(&mut self, extent: Extent, from: Range<u64>) -> Result<(), Error>;
    /// Makes every completed write to the granted device durable.
    fn disk_flush(&mut self) -> Result<(), Error>;
    /// The cVM's network grant, checked at boot; `None` without one.
    fn net_grant(&self) -> Option<NetGrant>;
    /// The `net_info` record for the cVM's `grant`.
    fn net_info(&self, grant: &NetGrant) -> NetInfo;
    /// Sends a frame already checked by [`net_grant::check_send`].
    fn net_send(&mut self, frame: &[u8]) -> Result<(), Error>;
    /// Moves the oldest frame waiting for the cVM into checked guest memory `into` and returns
    /// its length: [`Error::Again`] when none is waiting, [`Error::Invalid`] (the frame stays)
    /// when it is longer than `into`.
    fn net_recv(&mut self, into: Range<u64>) -> Result<u64, Error>;
    /// How many frames are waiting for the cVM.
    fn net_waiting(&self) -> u64;
    /// Carries out a sharing request whose arguments [`share::call::decode`] checked. Without
    /// sharing (a guest that has no share state) every request is [`Error::NoSys`].
    fn share(&mut self, request: share::call::Request) -> Result<u64, Error> {
        let _ = request;
        Err(Error::NoSys)
    }
    /// Carries out a stream request whose arguments [`share::stream::decode`] checked.
    fn stream(&mut self, request: share::stream::Request) -> Result<share::stream::Reply, Error> {
        let _ = request;
        Err(Error::NoSys)
    }
}

/// Runs hostcall `number` with `args` for `guest`. Always inlined: it is the hostcall fast
/// path's decoder (each call's work is out of line), and a call here costs a dozen
/// instructions per hostcall once the run loop has two exit handlers (hybrid and pure).
#[inline(always)]
pub fn dispatch(guest: &mut impl Guest, number: u64, args: &[u64; 6]) -> Outcome {
    let result = match Hostcall::from_number(number) {
        None => Err(Error::NoSys),
        Some(Hostcall::ConsoleWrite) => console_write(guest, args[0], args[1]),
        Some(Hostcall::ConsoleRead) => console_read(guest, args[0], args[1]),
        Some(Hostcall::Exit) => return Outcome::Exit(args[0] as i64),
        Some(Hostcall::Yield) => return Outcome::Yield,
        Some(Hostcall::ClockNs) => Ok(guest.now_ns()),
        Some(Hostcall::SleepNs) => return Outcome::Sleep(args[0]),
        Some(Hostcall::WhoAmI) => whoami(guest, args[0], args[1]),
        Some(Hostcall::DiskCapacity) => guest.disk_grant().map(|g| g.sectors).ok_or(Error::Denied),
        Some(Hostcall::DiskRead) => disk_transfer(guest, args[0], args[1], args[2], Access::Read),
        Some(Hostcall::DiskWrite) => disk_transfer(guest, args[0], args[1], args[2], Access::Write),
        Some(Hostcall::DiskFlush) => grant::check_flush(guest.disk_grant().as_ref())
            .and_then(|()| guest.disk_flush())
            .map(|()| 0),
        Some(Hostcall::NetInfo) => net_info(guest, args[0], args[1]),
        Some(Hostcall::NetSend) => net_send(guest, args[0], args[1]),
        Some(Hostcall::NetRecv) => net_recv(guest, args[0], args[1]),
        Some(Hostcall::NetWait) => return net_wait(guest, args[0]),
        // Served by `cvm/nest.rs`, which the run loop routes them to before dispatch.
        Some(
            Hostcall::ChildInfo
            | Hostcall::ChildStart
            | Hostcall::ChildStop
            | Hostcall::ChildWait
            | Hostcall::ChildReply
            | Hostcall::ChildForward
            | Hostcall::ChildReplyWait,
        ) => Err(Error::NoSys),
        Some(
            call @ (Hostcall::CpImport
            | Hostcall::CpExport
            | Hostcall::CpRevoke
            | Hostcall::CpDrop
            | Hostcall::CpCallExport
            | Hostcall::CpCallImport),
        ) => {
            if !guest.whole_machine() {
                return Outcome::Machine;
            }
            share_call(guest, call, args)
        }
        Some(
            call @ (Hostcall::StreamRegister
            | Hostcall::StreamOpen
            | Hostcall::StreamClose
            | Hostcall::CpPoll
            | Hostcall::StreamNotify),
        ) => return stream_call(guest, call, [args[0], args[1], args[2], args[3]]),
    };
    Outcome::Return(match result {
        Ok(value) => value,
        Err(e) => e.to_result(),
    })
}

/// A stream call (CP_Stream), out of line like [`share_call`].
#[inline(never)]
fn stream_call(guest: &mut impl Guest, call: Hostcall, args: [u64; 4]) -> Outcome {
    use share::stream::Reply;
    let args = [args[0], args[1], args[2], args[3], 0, 0];
    let timeout = args[2];
    match share::stream::decode(guest, call, &args).and_then(|r| guest.stream(r)) {
        Ok(Reply::Value(v)) => Outcome::Return(v),
        Ok(Reply::Block) => Outcome::WaitStream(timeout),
        Ok(Reply::Woke) => Outcome::Yield,
        Err(e) => Outcome::Return(e.to_result()),
    }
}

/// A sharing call, out of line and with its arguments by value: handing `dispatch`'s `args`
/// itself to a function would make every hostcall spill all six registers to the stack.
#[inline(never)]
fn share_call(guest: &mut impl Guest, call: Hostcall, args: &[u64; 6]) -> Result<u64, Error> {
    share::call::decode(guest, call, args).and_then(|request| guest.share(request))
}

#[inline(never)] // keeps its buffer off the frame of the hostcall fast path
fn console_write(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    let range = check_buffer(&guest.memory(), ptr, len)?;
    let len = len.min(MAX_TRANSFER);
    let mut bytes = [0u8; MAX_TRANSFER_BYTES];
    let bytes = &mut bytes[..len as usize];
    guest.read(range.start..range.start + len, bytes);
    guest.console_write(bytes);
    Ok(len)
}

#[inline(never)] // keeps its buffer off the frame of the hostcall fast path
fn console_read(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    check_buffer(&guest.memory(), ptr, len)?;
    let mut bytes = [0u8; MAX_TRANSFER_BYTES];
    let n = guest.console_read(&mut bytes[..len.min(MAX_TRANSFER) as usize]);
    guest.write(ptr, &bytes[..n]);
    Ok(n as u64)
}

/// `disk_read`/`disk_write`: the grant first (so a cVM without one learns nothing else), then
/// the whole buffer the cVM named, then the transfer, cut to `DISK_MAX_SECTORS`.
#[inline(never)] // keeps its buffer off the frame of the hostcall fast path
fn disk_transfer(
    guest: &mut impl Guest,
    sector: u64,
    ptr: u64,
    count: u64,
    access: Access,
) -> Result<u64, Error> {
    let extent = grant::check(guest.disk_grant().as_ref(), sector, count, access)?;
    let len = count.checked_mul(SECTOR_SIZE).ok_or(Error::Invalid)?;
    let range = check_buffer(&guest.memory(), ptr, len)?;
    if extent.count == 0 {
        return Ok(0);
    }
    let part = range.start..range.start + extent.bytes();
    match access {
        Access::Read => guest.disk_read(extent, part)?,
        Access::Write => guest.disk_write(extent, part)?,
    }
    Ok(extent.count)
}

#[inline(never)] // keeps the hostcall fast path small
fn net_info(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    let grant = guest.net_grant().ok_or(Error::Denied)?;
    const SIZE: u64 = NetInfo::SIZE as u64;
    if len < SIZE {
        return Err(Error::Invalid);
    }
    check_buffer(&guest.memory(), ptr, SIZE)?;
    guest.write(ptr, &guest.net_info(&grant).to_bytes());
    Ok(SIZE)
}

/// `net_send`: the grant first, then the buffer, then the frame's own checks (length, source
/// address) on a copy the cVM can no longer change.
#[inline(never)] // keeps its buffer off the frame of the hostcall fast path
fn net_send(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    let grant = guest.net_grant().ok_or(Error::Denied)?;
    let range = check_buffer(&guest.memory(), ptr, len)?;
    let mut bytes = [0u8; MAX_FRAME_BYTES];
    let frame = usize::try_from(len)
        .ok()
        .and_then(|n| bytes.get_mut(..n))
        .ok_or(Error::Invalid)?;
    guest.read(range, frame);
    net_grant::check_send(Some(&grant), frame)?;
    guest.net_send(frame)?;
    Ok(len)
}

#[inline(never)] // keeps the hostcall fast path small
fn net_recv(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    guest.net_grant().ok_or(Error::Denied)?;
    let range = check_buffer(&guest.memory(), ptr, len)?;
    guest.net_recv(range)
}

/// `net_wait`: returns at once when frames are waiting or the time-out is 0, else blocks.
#[inline(never)] // keeps the hostcall fast path small
fn net_wait(guest: &mut impl Guest, timeout_ns: u64) -> Outcome {
    let result = match guest.net_grant() {
        None => Err(Error::Denied),
        Some(_) => match guest.net_waiting() {
            0 if timeout_ns > 0 => return Outcome::WaitNet(timeout_ns),
            waiting => Ok(waiting),
        },
    };
    Outcome::Return(result.unwrap_or_else(Error::to_result))
}

#[inline(never)] // keeps its buffer off the frame of the hostcall fast path
fn whoami(guest: &mut impl Guest, ptr: u64, len: u64) -> Result<u64, Error> {
    const SIZE: u64 = core::mem::size_of::<WhoAmI>() as u64;
    if len < SIZE {
        return Err(Error::Invalid);
    }
    check_buffer(&guest.memory(), ptr, SIZE)?;
    let who = guest.identity();
    let mut bytes = [0u8; core::mem::size_of::<WhoAmI>()];
    bytes[0..8].copy_from_slice(&who.id.to_le_bytes());
    bytes[8..16].copy_from_slice(&who.region_base.to_le_bytes());
    bytes[16..24].copy_from_slice(&who.region_size.to_le_bytes());
    bytes[24..24 + NAME_MAX].copy_from_slice(&who.name);
    guest.write(ptr, &bytes);
    Ok(SIZE)
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    pub(crate) use crate::cvm::fakes::{FakeDisk, FakeGuest as Fake, BASE};

    /// A fake's offset or length as an index (the fakes are small).
    fn us(v: u64) -> usize {
        usize::try_from(v).expect("a fake's size fits in memory")
    }
    /// `SECTOR_SIZE` as an array length.
    const SECTOR_BYTES: usize = 512;

    pub(crate) fn fake() -> Fake {
        let mut bytes = std::vec![0u8; 0x100];
        bytes[0x10..0x15].copy_from_slice(b"hi!\n\0");
        Fake {
            input: b"typed".to_vec(),
            ..Fake::new(bytes)
        }
    }

    fn call(f: &mut Fake, h: Hostcall, a0: u64, a1: u64) -> Outcome {
        dispatch(f, h as u64, &[a0, a1, 0, 0, 0, 0])
    }

    #[test]
    fn write_inside_bounds_prints() {
        let mut f = fake();
        assert_eq!(
            call(&mut f, Hostcall::ConsoleWrite, BASE + 0x10, 4),
            Outcome::Return(4)
        );
        assert_eq!(f.printed, b"hi!\n");
    }

    #[test]
    fn wild_pointers_and_lengths_fault_and_touch_nothing() {
        let fault = Outcome::Return(Error::Fault.to_result());
        let mut f = fake();
        for (ptr, len) in [
            (0x40200000, 4),   // the monitor's image
            (BASE - 1, 4),     // one byte before
            (BASE + 0xfe, 4),  // runs off the end
            (BASE, u64::MAX),  // overflow
            (u64::MAX - 1, 4), // wraps
            (0, 0x2000),       // covers the region from below
        ] {
            assert_eq!(
                call(&mut f, Hostcall::ConsoleWrite, ptr, len),
                fault,
                "write {ptr:#x}+{len:#x}"
            );
            assert_eq!(
                call(&mut f, Hostcall::ConsoleRead, ptr, len),
                fault,
                "read {ptr:#x}+{len:#x}"
            );
        }
        for ptr in [0x40200000, BASE - 1, BASE + 0xf0, u64::MAX - 1] {
            assert_eq!(
                call(&mut f, Hostcall::WhoAmI, ptr, 4096),
                fault,
                "whoami {ptr:#x}"
            );
        }
        assert!(f.printed.is_empty());
        assert_eq!(f.input, b"typed", "a refused read consumes no input");
    }

    #[test]
    fn long_writes_are_cut_not_refused() {
        let mut f = Fake::new(std::vec![b'x'; 3 * us(MAX_TRANSFER)]);
        let r = call(&mut f, Hostcall::ConsoleWrite, BASE, 2 * MAX_TRANSFER);
        assert_eq!(r, Outcome::Return(MAX_TRANSFER));
        assert_eq!(f.printed.len(), us(MAX_TRANSFER));
    }

    #[test]
    fn read_copies_pending_input() {
        let mut f = fake();
        assert_eq!(
            call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 3),
            Outcome::Return(3)
        );
        assert_eq!(&f.bytes[0x40..0x43], b"typ");
        assert_eq!(
            call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 16),
            Outcome::Return(2)
        );
        assert_eq!(
            call(&mut f, Hostcall::ConsoleRead, BASE + 0x40, 16),
            Outcome::Return(0)
        );
    }

    #[test]
    fn whoami_fills_the_record() {
        let mut f = fake();
        let size = core::mem::size_of::<WhoAmI>() as u64;
        assert_eq!(
            call(&mut f, Hostcall::WhoAmI, BASE + 0x80, size),
            Outcome::Return(size)
        );
        assert_eq!(
            u64::from_le_bytes(f.bytes[0x80..0x88].try_into().unwrap()),
            3
        );
        assert_eq!(&f.bytes[0x80 + 24..0x80 + 29], b"hello");
        assert_eq!(
            call(&mut f, Hostcall::WhoAmI, BASE + 0x80, size - 1),
            Outcome::Return(Error::Invalid.to_result())
        );
    }

    #[test]
    fn control_calls_and_unknown_numbers() {
        let mut f = fake();
        assert_eq!(
            call(&mut f, Hostcall::Exit, (-3i64) as u64, 0),
            Outcome::Exit(-3)
        );
        assert_eq!(call(&mut f, Hostcall::Yield, 0, 0), Outcome::Yield);
        assert_eq!(
            call(&mut f, Hostcall::SleepNs, 5_000, 0),
            Outcome::Sleep(5_000)
        );
        assert_eq!(call(&mut f, Hostcall::ClockNs, 0, 0), Outcome::Return(77));
        assert_eq!(
            dispatch(&mut f, 999, &[0; 6]),
            Outcome::Return(Error::NoSys.to_result())
        );
    }

    /// A cVM with 128 KiB of memory and a grant of sectors [8, 8 + 300) of a 400-sector disk
    /// whose sector `n` is filled with the byte `n`.
    fn with_disk(read_only: bool) -> Fake {
        let mut f = fake();
        f.bytes = std::vec![0; 128 << 10];
        let image = (0..400u32)
            .flat_map(|n| [n.to_le_bytes()[0]; SECTOR_BYTES])
            .collect();
        let grant = Grant {
            device: 0,
            first_sector: 8,
            sectors: 300,
            read_only,
        };
        f.disk = FakeDisk {
            grant: Some(grant),
            image,
            ..FakeDisk::default()
        };
        f
    }

    fn disk(f: &mut Fake, h: Hostcall, sector: u64, ptr: u64, count: u64) -> Outcome {
        dispatch(f, h as u64, &[sector, ptr, count, 0, 0, 0])
    }

    fn err(e: Error) -> Outcome {
        Outcome::Return(e.to_result())
    }

    #[test]
    fn disk_reads_are_grant_relative_and_land_in_the_buffer() {
        let mut f = with_disk(false);
        assert_eq!(
            disk(&mut f, Hostcall::DiskCapacity, 0, 0, 0),
            Outcome::Return(300)
        );
        assert_eq!(
            disk(&mut f, Hostcall::DiskRead, 2, BASE + 0x200, 3),
            Outcome::Return(3)
        );
        assert_eq!(
            f.disk.requests,
            [Extent {
                sector: 10,
                count: 3
            }]
        );
        assert!(f.bytes[0x200..0x400].iter().all(|&b| b == 10));
        assert!(f.bytes[0x600..0x800].iter().all(|&b| b == 12));
        assert_eq!(f.bytes[0x800], 0, "nothing past the buffer");
        // The last sector of the grant, and an empty read at its end.
        assert_eq!(
            disk(&mut f, Hostcall::DiskRead, 299, BASE, 1),
            Outcome::Return(1)
        );
        assert_eq!(f.bytes[0], 51, "sector 307, as a byte");
        assert_eq!(
            disk(&mut f, Hostcall::DiskRead, 300, BASE, 0),
            Outcome::Return(0)
        );
        assert_eq!(f.disk.requests.len(), 2, "an empty read does no I/O");
    }

    #[test]
    fn disk_writes_reach_the_device_and_long_requests_are_cut() {
        let mut f = with_disk(false);
        f.bytes[..0x400].fill(0xab);
        assert_eq!(
            disk(&mut f, Hostcall::DiskWrite, 0, BASE, 2),
            Outcome::Return(2)
        );
        assert!(f.disk.image[8 * 512..10 * 512].iter().all(|&b| b == 0xab));
        assert_eq!(f.disk.image[10 * 512], 10);
        assert_eq!(
            f.disk.image[8 * 512 - 1],
            7,
            "nothing before the grant changed"
        );
        // 200 sectors (100 KiB) fit the buffer and the grant: 128 are done.
        let r = disk(&mut f, Hostcall::DiskRead, 0, BASE, 200);
        assert_eq!(r, Outcome::Return(capmon_abi::DISK_MAX_SECTORS));
        assert_eq!(
            disk(&mut f, Hostcall::DiskFlush, 0, 0, 0),
            Outcome::Return(0)
        );
        assert_eq!(f.disk.flushes, 1);
    }

    #[test]
    fn disk_ranges_outside_the_grant_are_invalid() {
        let mut f = with_disk(false);
        for (sector, count) in [
            (300, 1),
            (299, 2),
            (u64::MAX, 1),
            (0, u64::MAX),
            (1 << 60, 1 << 60),
        ] {
            assert_eq!(
                disk(&mut f, Hostcall::DiskRead, sector, BASE, count),
                err(Error::Invalid),
                "{sector}+{count}"
            );
            assert_eq!(
                disk(&mut f, Hostcall::DiskWrite, sector, BASE, count),
                err(Error::Invalid),
                "{sector}+{count}"
            );
        }
        assert!(f.disk.requests.is_empty());
    }

    #[test]
    fn disk_buffers_are_checked_like_every_other() {
        let mut f = with_disk(false);
        let end = BASE + (128 << 10);
        for (ptr, count) in [
            (0x40200000, 1),
            (BASE - 1, 1),
            (end - 511, 1),
            (end - 512, 2),
            (u64::MAX - 511, 1),
        ] {
            assert_eq!(
                disk(&mut f, Hostcall::DiskRead, 0, ptr, count),
                err(Error::Fault),
                "read {ptr:#x}"
            );
            assert_eq!(
                disk(&mut f, Hostcall::DiskWrite, 0, ptr, count),
                err(Error::Fault),
                "write {ptr:#x}"
            );
        }
        // The whole buffer named is checked, even the part a cut request would not use.
        assert_eq!(
            disk(&mut f, Hostcall::DiskRead, 0, end - 512, 200),
            err(Error::Fault)
        );
        assert!(f.disk.requests.is_empty());
        assert!(f.disk.image[8 * 512..].starts_with(&[8; 512]));
    }

    #[test]
    fn read_only_grants_and_missing_grants_are_denied() {
        let mut f = with_disk(true);
        assert_eq!(
            disk(&mut f, Hostcall::DiskRead, 0, BASE, 1),
            Outcome::Return(1)
        );
        assert_eq!(
            disk(&mut f, Hostcall::DiskWrite, 0, BASE, 1),
            err(Error::Denied)
        );
        assert_eq!(
            disk(&mut f, Hostcall::DiskFlush, 0, 0, 0),
            err(Error::Denied)
        );
        assert_eq!(f.disk.requests.len(), 1);
        assert_eq!(f.disk.flushes, 0);

        let mut f = fake();
        for h in [
            Hostcall::DiskCapacity,
            Hostcall::DiskRead,
            Hostcall::DiskWrite,
            Hostcall::DiskFlush,
        ] {
            assert_eq!(disk(&mut f, h, 0, BASE, 1), err(Error::Denied), "{h:?}");
            // Even with wild arguments: Denied says nothing about them.
            assert_eq!(
                disk(&mut f, h, u64::MAX, 0x40200000, u64::MAX),
                err(Error::Denied),
                "{h:?}"
            );
        }
    }

    #[test]
    fn device_failures_are_io_errors() {
        let mut f = with_disk(false);
        f.disk.broken = true;
        assert_eq!(disk(&mut f, Hostcall::DiskRead, 0, BASE, 1), err(Error::Io));
        assert_eq!(
            disk(&mut f, Hostcall::DiskWrite, 0, BASE, 1),
            err(Error::Io)
        );
        assert_eq!(disk(&mut f, Hostcall::DiskFlush, 0, 0, 0), err(Error::Io));
        assert_eq!(
            disk(&mut f, Hostcall::DiskCapacity, 0, 0, 0),
            Outcome::Return(300)
        );
    }

    const MINE: [u8; 6] = [0x52, 0x54, 0, 0xc0, 0xff, 0x15];

    /// A cVM with 8 KiB of memory and a network grant for `MINE`.
    fn with_net() -> Fake {
        let mut f = fake();
        f.bytes = std::vec![0; 8 << 10];
        f.net.grant = Some(NetGrant {
            device: 0,
            mac: MINE,
        });
        f
    }

    fn net(f: &mut Fake, h: Hostcall, a0: u64, a1: u64) -> Outcome {
        dispatch(f, h as u64, &[a0, a1, 0, 0, 0, 0])
    }

    #[test]
    fn net_sends_are_copied_then_checked() {
        let mut f = with_net();
        // A 60-byte frame from MINE to the broadcast address at BASE + 0x100.
        f.bytes[0x100..0x106].fill(0xff);
        f.bytes[0x106..0x10c].copy_from_slice(&MINE);
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + 0x100, 60),
            Outcome::Return(60)
        );
        assert_eq!(f.net.sent.len(), 1);
        assert_eq!(&f.net.sent[0][6..12], &MINE);
        // Someone else's source address, lengths the wire can't carry, wild buffers.
        f.bytes[0x10b] ^= 1;
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + 0x100, 60),
            err(Error::Denied)
        );
        f.bytes[0x10b] ^= 1;
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + 0x100, 13),
            err(Error::Invalid)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + 0x100, 1515),
            err(Error::Invalid)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + (8 << 10) - 30, 60),
            err(Error::Fault)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetSend, 0x40200000, 60),
            err(Error::Fault)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetSend, u64::MAX - 10, 60),
            err(Error::Fault)
        );
        f.net.full = true;
        assert_eq!(
            net(&mut f, Hostcall::NetSend, BASE + 0x100, 60),
            err(Error::Again)
        );
        assert_eq!(f.net.sent.len(), 1, "nothing refused was sent");
    }

    #[test]
    fn net_receives_take_whole_frames_in_order() {
        let mut f = with_net();
        assert_eq!(
            net(&mut f, Hostcall::NetRecv, BASE, 1514),
            err(Error::Again)
        );
        f.net.waiting.push_back(std::vec![1; 100]);
        f.net.waiting.push_back(std::vec![2; 42]);
        assert_eq!(
            net(&mut f, Hostcall::NetWait, 1_000_000, 0),
            Outcome::Return(2),
            "frames waiting: no wait"
        );
        assert_eq!(
            net(&mut f, Hostcall::NetRecv, BASE, 99),
            err(Error::Invalid),
            "too short: the frame stays"
        );
        assert_eq!(
            net(&mut f, Hostcall::NetRecv, BASE + (8 << 10) - 50, 100),
            err(Error::Fault)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetRecv, BASE, 1514),
            Outcome::Return(100)
        );
        assert!(f.bytes[..100].iter().all(|&b| b == 1));
        assert_eq!(f.bytes[100], 0, "nothing past the frame");
        assert_eq!(
            net(&mut f, Hostcall::NetRecv, BASE, 1514),
            Outcome::Return(42)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetWait, 0, 0),
            Outcome::Return(0),
            "a zero timeout only asks"
        );
        assert_eq!(
            net(&mut f, Hostcall::NetWait, 5_000, 0),
            Outcome::WaitNet(5_000)
        );
    }

    #[test]
    fn net_info_fills_the_record() {
        let mut f = with_net();
        let size = NetInfo::SIZE as u64;
        assert_eq!(
            net(&mut f, Hostcall::NetInfo, BASE + 0x10, size),
            Outcome::Return(size)
        );
        assert_eq!(&f.bytes[0x10..0x16], &MINE);
        assert_eq!(
            net(&mut f, Hostcall::NetInfo, BASE + 0x10, size - 1),
            err(Error::Invalid)
        );
        assert_eq!(
            net(&mut f, Hostcall::NetInfo, BASE + (8 << 10) - 8, size),
            err(Error::Fault)
        );
    }

    #[test]
    fn net_calls_without_a_grant_are_denied_whatever_the_arguments() {
        let mut f = fake();
        for h in [
            Hostcall::NetInfo,
            Hostcall::NetSend,
            Hostcall::NetRecv,
            Hostcall::NetWait,
        ] {
            assert_eq!(net(&mut f, h, BASE, 60), err(Error::Denied), "{h:?}");
            assert_eq!(
                net(&mut f, h, 0x40200000, u64::MAX),
                err(Error::Denied),
                "{h:?}"
            );
        }
        assert!(f.net.sent.is_empty());
    }

    #[test]
    fn check_buffer_edges() {
        let m = 0x1000..0x2000;
        assert_eq!(check_buffer(&m, 0x1000, 0x1000), Ok(0x1000..0x2000));
        assert_eq!(check_buffer(&m, 0x2000, 0), Ok(0x2000..0x2000));
        assert_eq!(check_buffer(&m, 0x1fff, 2), Err(Error::Fault));
        assert_eq!(check_buffer(&m, 0xfff, 1), Err(Error::Fault));
    }

    #[test]
    fn sharing_calls_check_names_and_ranges_before_the_share_state_sees_them() {
        use share::call::Request;
        let mut f = fake();
        let len = f.bytes.len() as u64;
        f.bytes[..4].copy_from_slice(b"ring");
        let run = |f: &mut Fake, h: Hostcall, args: [u64; 6]| dispatch(f, h as u64, &args);
        assert_eq!(
            run(&mut f, Hostcall::CpImport, [BASE, 4, 3, 0, 0, 0]),
            Outcome::Return(7)
        );
        let Some(Request::Import { name, slot: 3 }) = f.shared.last().copied() else {
            panic!("{:?}", f.shared)
        };
        assert_eq!(name.as_bytes(), b"ring");
        // A name outside its memory, empty, or longer than any name: refused here.
        assert_eq!(
            run(&mut f, Hostcall::CpImport, [BASE + len - 2, 4, 0, 0, 0, 0]),
            Outcome::Return(Error::Fault.to_result())
        );
        assert_eq!(
            run(&mut f, Hostcall::CpRevoke, [BASE, 0, 0, 0, 0, 0]),
            Outcome::Return(Error::Invalid.to_result())
        );
        assert_eq!(
            run(&mut f, Hostcall::CpImport, [BASE, 33, 0, 0, 0, 0]),
            Outcome::Return(Error::Invalid.to_result())
        );
        // An export must lie in its own memory, overflow included.
        assert_eq!(
            run(&mut f, Hostcall::CpExport, [BASE, 4, BASE + 8, 16, 0, 0]),
            Outcome::Return(7)
        );
        assert_eq!(
            f.shared.last(),
            Some(&Request::Export {
                name: match f.shared[0] {
                    Request::Import { name, .. } => name,
                    _ => unreachable!(),
                },
                range: (BASE + 8, BASE + 24)
            })
        );
        assert_eq!(
            run(
                &mut f,
                Hostcall::CpExport,
                [BASE, 4, BASE + len - 8, 16, 0, 0]
            ),
            Outcome::Return(Error::Fault.to_result())
        );
        assert_eq!(
            run(
                &mut f,
                Hostcall::CpExport,
                [BASE, 4, u64::MAX - 4, 16, 0, 0]
            ),
            Outcome::Return(Error::Fault.to_result())
        );
        assert_eq!(
            run(&mut f, Hostcall::CpDrop, [5, 0, 0, 0, 0, 0]),
            Outcome::Return(7)
        );
        assert_eq!(f.shared.last(), Some(&Request::Drop { slot: 5 }));
        assert_eq!(
            f.shared.len(),
            3,
            "refused calls never reach the share state"
        );
    }
}
