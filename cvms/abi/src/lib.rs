//! The capmon hostcall ABI, shared by the monitor and the cVM SDK so the two cannot disagree.
//!
//! A cVM calls the monitor with `svc #0` (aarch64) or `ecall` (riscv64):
//!
//! | register (aarch64 / riscv64) | on entry | on return |
//! |---|---|---|
//! | `x8` / `a7` | hostcall number ([`Hostcall`]) | preserved |
//! | `x0`..`x5` / `a0`..`a5` | arguments | `x0`/`a0`: result (≥ 0) or a negative [`Error`] code; the other argument registers are preserved |
//!
//! Every other register is preserved. Pointers are addresses in the cVM's own data region;
//! the monitor checks each pointer and length against the caller's bounds before touching
//! memory and returns [`Error::Fault`] for anything outside.
//!
//! On entry to a cVM, `x0`/`a0` = argc and `x1`/`a1` = argv: an array of `argc` pointers to
//! NUL-terminated strings followed by a null pointer, at the top of the cVM's stack. On the
//! CHERI boards `c3`/`ca3` also holds the capability-store capability ([`CAP_STORE_SLOTS`]),
//! which stays in RCTPIDR_EL0 / ctp for the cVM's whole run.
#![no_std]

/// Hostcall numbers. The numbering is stable: new calls get new numbers.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostcall {
    /// `write(buf, len) -> written`: writes bytes to the console, prefixed per line by the
    /// cVM's console label.
    ConsoleWrite = 0,
    /// `read(buf, len) -> read`: copies up to `len` bytes of console input that arrived
    /// while this cVM had the input focus; 0 when none is waiting (never blocks).
    ConsoleRead = 1,
    /// `exit(code) -> !`: ends the cVM. 0 is success; anything else is reported as failure.
    Exit = 2,
    /// `yield() -> 0`: gives the rest of this time slice to the next runnable cVM.
    Yield = 3,
    /// `clock() -> ns`: monotonic nanoseconds since the monitor booted.
    ClockNs = 4,
    /// `sleep(ns) -> 0`: not runnable for at least `ns` nanoseconds.
    SleepNs = 5,
    /// `whoami(buf, len) -> size`: fills a [`WhoAmI`] record (`len` ≥ its size).
    WhoAmI = 6,
    /// `disk_capacity() -> sectors`: the size of the caller's disk grant, in [`SECTOR_SIZE`]
    /// sectors. [`Error::Denied`] without a grant.
    DiskCapacity = 7,
    /// `disk_read(sector, buf, count) -> count`: reads `count` sectors starting at grant-relative
    /// `sector` into `buf` (`count * SECTOR_SIZE` bytes). At most [`DISK_MAX_SECTORS`] are read
    /// per call; the result says how many. [`Error::Denied`] without a grant,
    /// [`Error::Invalid`] for sectors outside it, [`Error::Fault`] for a bad buffer,
    /// [`Error::Io`] when the device failed. The device may write `buf` itself (a buffer on a
    /// 16-byte boundary, for a device coherent with the caches; 128 otherwise), so after
    /// [`Error::Io`] `buf` may hold part of what the device wrote; every byte outside it is
    /// untouched, and `buf`'s capability tags are cleared as by any write.
    DiskRead = 8,
    /// `disk_write(sector, buf, count) -> count`: like `disk_read`, the other way;
    /// [`Error::Denied`] also on a read-only grant.
    DiskWrite = 9,
    /// `disk_flush() -> 0`: returns once every write completed so far is on stable storage.
    /// [`Error::Denied`] without a grant or on a read-only one.
    DiskFlush = 10,
    /// `net_info(buf, len) -> size`: fills a [`NetInfo`] record (`len` ≥ its size) about the
    /// caller's network grant. [`Error::Denied`] without a grant.
    NetInfo = 11,
    /// `net_send(frame, len) -> len`: queues one Ethernet frame (destination, source, type,
    /// payload; no frame check sequence) for sending. Its source address must be the cVM's own
    /// MAC ([`Error::Denied`] otherwise, so a cVM cannot pose as another); [`Error::Invalid`]
    /// for a length outside [`NET_MIN_FRAME`]..=[`NET_MAX_FRAME`]; [`Error::Again`] when the
    /// transmit queue is full (the frame was not taken); [`Error::Io`] when the device failed.
    NetSend = 12,
    /// `net_recv(buf, len) -> len`: takes the oldest frame waiting for the caller (addressed to
    /// its MAC, or broadcast). Never blocks: [`Error::Again`] when none is waiting;
    /// [`Error::Invalid`] when `len` is shorter than that frame (which stays queued).
    NetRecv = 13,
    /// `net_wait(timeout_ns) -> waiting`: the caller is not runnable until a frame is waiting
    /// for it or `timeout_ns` has passed; returns how many frames are waiting (0: timed out).
    /// A timeout of 0 only asks. [`Error::Denied`] without a grant.
    NetWait = 14,
    /// `child_info(handle, buf, len) -> size`: fills a [`ChildInfo`] record about the caller's
    /// child `handle` (its children are numbered 0, 1, ... in manifest order; the handle means
    /// nothing to any other cVM). [`Error::Denied`] for a cVM without children,
    /// [`Error::Invalid`] for a handle it does not have.
    ChildInfo = 20,
    /// `child_start(handle) -> 0`: starts a child that has ended (or was stopped), from a fresh
    /// image in zeroed memory. [`Error::Again`] while it runs.
    ChildStart = 21,
    /// `child_stop(handle) -> 0`: stops a child and its own children; their memory is zeroed
    /// before `child_stop` returns, so the parent may reuse it.
    ChildStop = 22,
    /// `child_wait(buf, len, timeout_ns) -> 1 | 0`: the caller is not runnable until one of its
    /// children has something for it ([`ChildEvent`]: a hostcall to serve, an exit, a fault)
    /// or `timeout_ns` has passed; fills the record (`len` ≥ its size) and returns 1, or 0 on
    /// time-out. A time-out of 0 only asks.
    ChildWait = 23,
    /// `child_reply(handle, value) -> 0`: completes the child's hostcall that the caller is
    /// serving: the child resumes with `value` as its result. [`Error::Invalid`] when that child
    /// has no hostcall waiting.
    ChildReply = 24,
    /// `child_forward(handle) -> 0`: passes the child's waiting hostcall on to the monitor,
    /// which serves it as the child's own (every buffer checked against the child's bounds).
    ChildForward = 25,
    /// `child_reply_wait(handle, value, buf, len, timeout_ns) -> 1 | 0`: `child_reply` then
    /// `child_wait`, in one crossing: the loop of a parent that serves its children.
    ChildReplyWait = 26,
    /// `cp_import(name, name_len, slot) -> length`: puts a capability to the shared object
    /// `name` (a `files` entry of the manifest) into slot `slot` (0..[`CAP_STORE_SLOTS`]) of the
    /// caller's capability store: exact bounds over the object, Load (and Store when the
    /// manifest lets the caller import it read-write), never Execute, LoadCap, StoreCap or
    /// Global. Returns the object's length in bytes. [`Error::Denied`] when the manifest does
    /// not name the caller as an importer (or the caller is its exporter), [`Error::Invalid`]
    /// for an unknown name or a slot out of range, [`Error::Again`] for a run-time object its
    /// exporter has not exported (or has revoked). A slot's previous content is replaced.
    CpImport = 30,
    /// `cp_export(name, name_len, ptr, len) -> 0`: the exporter of the run-time object `name`
    /// shares `[ptr, ptr + len)` of its own memory (any byte length up to the object's `size`);
    /// its importers may then `cp_import` it. [`Error::Denied`] unless the caller is the
    /// object's exporter, [`Error::Fault`] for a range outside its memory, [`Error::Invalid`]
    /// for a length of 0 or above `size`, [`Error::Again`] while it is exported already.
    CpExport = 31,
    /// `cp_revoke(name, name_len) -> cleared`: the exporter takes the object back. When the
    /// call returns, no register, saved context or capability store of any other cVM holds a
    /// tagged capability to it; returns how many capabilities were cleared. The object can be
    /// exported again. [`Error::Denied`] unless the caller is its exporter, [`Error::Again`]
    /// when it is not exported.
    CpRevoke = 32,
    /// `cp_drop(slot) -> 0`: clears slot `slot` of the caller's capability store.
    CpDrop = 33,
    /// `cp_call_export(name, name_len, gate, entry, stack, stack_len) -> 0`: the exporter of
    /// the call `name` (a `calls` entry of the manifest) offers `entry`, a function of its own
    /// code entered through `gate` (the SDK's callee gate), and `[stack, stack + stack_len)` of
    /// its own memory, split into one call stack per importer. [`Error::Denied`] unless the
    /// caller is the call's exporter, [`Error::Fault`] for a gate or entry outside its code or
    /// a stack outside its memory, [`Error::Invalid`] for a stack too small for every
    /// importer, [`Error::Again`] while exported already.
    CpCallExport = 34,
    /// `cp_call_import(name, name_len, slot, return_stub) -> 0`: puts the sealed pair of the
    /// call `name` into slots `slot` (code) and `slot + 1` (data) of the caller's capability
    /// store, both sealed with the exporter's own object type; `return_stub` (the SDK's return
    /// stub, in the caller's code) is where the callee's gate returns, through a pair sealed
    /// with the caller's type. [`Error::Denied`] unless the manifest names the caller as an
    /// importer, [`Error::Invalid`] for an unknown name or `slot` out of
    /// `0..=`[`CALL_LAST_PAIR_SLOT`], [`Error::Fault`] for a stub outside its code,
    /// [`Error::Again`] until the exporter has exported it (and after it ended).
    CpCallImport = 35,
    /// `stream_register(name, name_len, ptr, len) -> handle`: the receiver of stream `name`
    /// (a `streams` entry of the manifest) registers `[ptr, ptr + len)` of its own memory as the
    /// stream's ring: a [`STREAM_HEADER`]-byte header (which the monitor zeroes) and the data
    /// after it. Returns the stream's handle (for [`Hostcall::CpPoll`] and
    /// [`Hostcall::StreamNotify`]). [`Error::Denied`] unless the caller is its receiver,
    /// [`Error::Invalid`] for an unknown name or a length not above the header or above the
    /// stream's `size`, [`Error::Again`] while it is registered already.
    StreamRegister = 40,
    /// `stream_open(name, name_len, slot) -> length << 16 | handle`: the sender of stream
    /// `name` gets a capability to the ring in capability-store slot `slot` (Load and Store,
    /// exact bounds, like a read-write `cp_import`); the result carries the ring's length (as
    /// the monitor knows it, not as the header says) and the stream's handle.
    /// [`Error::Again`] while the receiver has not registered it, [`Error::Denied`] unless the
    /// caller is its sender.
    StreamOpen = 41,
    /// `stream_close(handle) -> cleared`: the receiver takes its ring back (revoked from the
    /// sender like `cp_revoke`; returns the capabilities cleared); the sender marks the
    /// stream ended (the receiver's reads return what is left, then end) and wakes the receiver.
    StreamClose = 42,
    /// `cp_poll(handles, count, timeout_ns) -> ready`: `handles` is an array of `count`
    /// (1..=[`POLL_MAX`]) u64 stream handles of the caller; bit i of the result says entry i is
    /// ready (receiver: bytes to read or the stream ended; sender: room to write or the
    /// receiver gone). With none ready and a time-out above 0 the caller blocks until one is or
    /// the time-out passes (then the result is 0) — it does not run meanwhile.
    CpPoll = 43,
    /// `stream_notify(handle) -> 0`: the peer of the caller on stream `handle` is woken if it
    /// is blocked in `cp_poll` on it. The SDK calls it only when the header's waiting word for
    /// the peer is set; the caller's turn ends (the peer runs soon).
    StreamNotify = 44,
}

impl Hostcall {
    /// Decodes a hostcall number; `None` for numbers this monitor does not know.
    pub const fn from_number(n: u64) -> Option<Self> {
        Some(match n {
            0 => Hostcall::ConsoleWrite,
            1 => Hostcall::ConsoleRead,
            2 => Hostcall::Exit,
            3 => Hostcall::Yield,
            4 => Hostcall::ClockNs,
            5 => Hostcall::SleepNs,
            6 => Hostcall::WhoAmI,
            7 => Hostcall::DiskCapacity,
            8 => Hostcall::DiskRead,
            9 => Hostcall::DiskWrite,
            10 => Hostcall::DiskFlush,
            11 => Hostcall::NetInfo,
            12 => Hostcall::NetSend,
            13 => Hostcall::NetRecv,
            14 => Hostcall::NetWait,
            20 => Hostcall::ChildInfo,
            21 => Hostcall::ChildStart,
            22 => Hostcall::ChildStop,
            23 => Hostcall::ChildWait,
            24 => Hostcall::ChildReply,
            25 => Hostcall::ChildForward,
            26 => Hostcall::ChildReplyWait,
            30 => Hostcall::CpImport,
            31 => Hostcall::CpExport,
            32 => Hostcall::CpRevoke,
            33 => Hostcall::CpDrop,
            34 => Hostcall::CpCallExport,
            35 => Hostcall::CpCallImport,
            40 => Hostcall::StreamRegister,
            41 => Hostcall::StreamOpen,
            42 => Hostcall::StreamClose,
            43 => Hostcall::CpPoll,
            44 => Hostcall::StreamNotify,
            _ => return None,
        })
    }
}

/// Error codes, returned negated in the result register.
#[repr(i64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A pointer or length reaches outside the caller's own memory.
    Fault = 1,
    /// No such hostcall.
    NoSys = 2,
    /// An argument is out of range.
    Invalid = 3,
    /// The caller has no grant for this resource.
    Denied = 4,
    /// Nothing to do now; try again later.
    Again = 5,
    /// The device behind a grant failed the request, or was disabled for misbehaving.
    Io = 6,
}

impl Error {
    /// The value placed in the result register.
    pub const fn to_result(self) -> u64 {
        (-(self as i64)) as u64
    }
    /// Decodes a result register: `Ok(value)` or the error it carries.
    pub const fn check(result: u64) -> Result<u64, Error> {
        Err(match result as i64 {
            -1 => Error::Fault,
            -2 => Error::NoSys,
            -3 => Error::Invalid,
            -4 => Error::Denied,
            -5 => Error::Again,
            -6 => Error::Io,
            _ => return Ok(result),
        })
    }
}

/// Bytes per disk sector: every disk hostcall counts in sectors of this size.
pub const SECTOR_SIZE: u64 = 512;
/// Most sectors one `disk_read`/`disk_write` moves (64 KiB); larger requests are cut and the
/// result says how many sectors were done, so one call can't hold the monitor for long.
pub const DISK_MAX_SECTORS: u64 = 128;

/// Shortest frame `net_send` takes: an Ethernet header (two MACs and the type).
pub const NET_MIN_FRAME: u64 = 14;
/// Longest frame `net_send` takes and `net_recv` returns: a 1500-byte payload and its header.
pub const NET_MAX_FRAME: u64 = 1514;
/// The largest payload ([`NET_MAX_FRAME`] minus the header).
pub const NET_MTU: u32 = 1500;

/// What `net_info` returns. Plain integers, little-endian, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetInfo {
    /// The cVM's own MAC address: the only source address `net_send` accepts, and (with
    /// broadcast) the only destination `net_recv` delivers.
    pub mac: [u8; 6],
    /// 1 when the device reports its link up (or cannot say), 0 when down.
    pub link_up: u8,
    /// Index of the granted virtio-net device.
    pub device: u8,
    /// Largest payload, [`NET_MTU`].
    pub mtu: u32,
    /// Frames for this cVM dropped because its receive queue was full, since it started.
    pub rx_dropped: u32,
}

impl NetInfo {
    /// The record's size on the wire.
    pub const SIZE: usize = 16;

    /// The bytes the monitor writes.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..6].copy_from_slice(&self.mac);
        b[6] = self.link_up;
        b[7] = self.device;
        b[8..12].copy_from_slice(&self.mtu.to_le_bytes());
        b[12..16].copy_from_slice(&self.rx_dropped.to_le_bytes());
        b
    }

    /// Reads the record the monitor wrote.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&b[0..6]);
        NetInfo {
            mac,
            link_up: b[6],
            device: b[7],
            mtu: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            rx_dropped: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}
const _: () = assert!(core::mem::size_of::<NetInfo>() == NetInfo::SIZE);

/// Slots in each cVM's capability store: the small monitor-allocated array (16 bytes a slot)
/// where `cp_import` puts capabilities. On hybrid cVMs its capability is in RCTPIDR_EL0
/// (Morello) or ctp = c4 (CHERI-RISC-V) from entry; it is the only capability a cVM holds
/// that may store local (non-Global) capabilities, which is what makes revocation complete.
pub const CAP_STORE_SLOTS: u64 = 16;
/// Bytes per capability-store slot.
pub const CAP_SLOT_BYTES: u64 = 16;

/// CP_Call (`cp_call_*`): while a call is outstanding the caller's stub keeps its DDC in this
/// capability-store slot (tagged = "a call is outstanding": the return stub refuses a return
/// without it) and its stack pointer in the next. Calls may not use these slots.
pub const CALL_SAVE_SLOT: u64 = 12;
/// The highest slot a call's sealed pair may start at (it takes this slot and the next).
pub const CALL_LAST_PAIR_SLOT: u64 = CALL_SAVE_SLOT - 2;
/// A call's per-importer descriptor, which the callee's gate gets (unsealed) as its data
/// capability: byte offsets of the callee's data capability (its DDC), its call stack (a
/// capability whose address is the stack's top), the entry point (an integer), and the
/// caller's return pair (code, data), each sealed with the caller's object type.
pub mod call_descriptor {
    pub const DDC: u64 = 0;
    pub const STACK: u64 = 16;
    pub const ENTRY: u64 = 32;
    pub const RETURN_CODE: u64 = 48;
    pub const RETURN_DATA: u64 = 64;
    pub const BYTES: u64 = 80;
}
/// The status a call returns beside its value (x1 / a1): 0 when the callee's entry returned
/// the value, [`CALL_FAILED`] when the monitor ended the call (the callee faulted or ran past
/// its budget) and the value is a negated [`Error`].
pub const CALL_FAILED: u64 = 1;

/// Longest cVM name, in bytes.
pub const NAME_MAX: usize = 32;

/// Bytes at the start of a stream's ring that hold its header: little-endian u64 words at the
/// `STREAM_*` indices below; the data area follows (ring capacity = ring length − header).
pub const STREAM_HEADER: u64 = 64;
/// Header word: total bytes the sender has published (only the sender advances it).
pub const STREAM_TAIL: usize = 0;
/// Header word: total bytes the receiver has consumed (only the receiver advances it).
pub const STREAM_HEAD: usize = 1;
/// Header word: non-zero once the stream has ended (1: the sender closed it; 2: the sender
/// ended or faulted — the monitor writes it).
pub const STREAM_ENDED: usize = 2;
/// Header word: non-zero while the receiver is blocked in `cp_poll` on this stream (the
/// monitor sets it; a sender that publishes and sees it calls `stream_notify`).
pub const STREAM_RX_WAITING: usize = 3;
/// Header word: non-zero while the sender is blocked in `cp_poll` for room.
pub const STREAM_TX_WAITING: usize = 4;
/// Header word: the ring's length in bytes (the monitor writes it at registration).
pub const STREAM_SIZE: usize = 5;
/// Most handles one `cp_poll` watches.
pub const POLL_MAX: u64 = 16;

/// What `whoami` returns. Plain integers, little-endian, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhoAmI {
    /// The cVM's index in the manifest.
    pub id: u64,
    /// Its region: every byte it may touch lies in `[region_base, region_base + region_size)`.
    pub region_base: u64,
    pub region_size: u64,
    /// The name, NUL-padded.
    pub name: [u8; NAME_MAX],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_round_trip_through_the_result_register() {
        for e in [
            Error::Fault,
            Error::NoSys,
            Error::Invalid,
            Error::Denied,
            Error::Again,
            Error::Io,
        ] {
            assert_eq!(Error::check(e.to_result()), Err(e));
        }
        assert_eq!(Error::check(42), Ok(42));
    }

    #[test]
    fn numbers_decode() {
        for n in (0..15).chain(20..27).chain(30..36).chain(40..45) {
            assert_eq!(Hostcall::from_number(n).map(|h| h as u64), Some(n));
        }
        for n in (15..20).chain(27..30).chain(36..40).chain(45..50) {
            assert_eq!(Hostcall::from_number(n), None);
        }
    }

    #[test]
    fn net_info_round_trips_through_bytes() {
        let info = NetInfo {
            mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56],
            link_up: 1,
            device: 2,
            mtu: NET_MTU,
            rx_dropped: 7,
        };
        let bytes = info.to_bytes();
        assert_eq!(&bytes[..8], &[0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 2]);
        assert_eq!(NetInfo::from_bytes(&bytes), info);
    }
}

/// What happened to a child, as [`Hostcall::ChildWait`] reports it.
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildEventKind {
    /// The child made a hostcall that waits for its parent: `number` and `args` say which.
    /// Buffer arguments of the monitor's own hostcalls were checked against the child's memory
    /// before the parent sees them (`memory_base`/`memory_size`); for numbers the monitor does
    /// not know, checking is the parent's job.
    Hostcall = 1,
    /// The child exited with `code`.
    Exited = 2,
    /// The child faulted (or ran out of CPU budget): `detail` holds the cause. Its memory
    /// was zeroed.
    Faulted = 3,
}

/// What [`Hostcall::ChildWait`] fills in. Plain integers, little-endian, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildEvent {
    pub handle: u64,
    /// A [`ChildEventKind`] value.
    pub kind: u64,
    pub number: u64,
    pub args: [u64; 6],
    /// The exit code ([`ChildEventKind::Exited`]).
    pub code: i64,
    /// The child's memory: every byte it may pass in a buffer is in [base, base + size).
    pub memory_base: u64,
    pub memory_size: u64,
    /// The child's name, NUL-padded.
    pub name: [u8; NAME_MAX],
    /// For a fault: its cause and where, NUL-padded (cut to fit).
    pub detail: [u8; 96],
}

impl ChildEvent {
    pub const fn zeroed() -> Self {
        ChildEvent {
            handle: 0,
            kind: 0,
            number: 0,
            args: [0; 6],
            code: 0,
            memory_base: 0,
            memory_size: 0,
            name: [0; NAME_MAX],
            detail: [0; 96],
        }
    }
}

/// A child's state, as [`ChildInfo::state`] gives it.
pub mod child_state {
    /// Not started yet, or stopped by its parent.
    pub const STOPPED: u64 = 0;
    pub const RUNNING: u64 = 1;
    /// Its hostcall waits for the parent.
    pub const WAITING_FOR_PARENT: u64 = 2;
    pub const EXITED: u64 = 3;
    pub const FAULTED: u64 = 4;
}

/// What [`Hostcall::ChildInfo`] fills in. Plain integers, little-endian, no pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildInfo {
    /// A [`child_state`] value.
    pub state: u64,
    /// Its exit code once it has exited.
    pub code: i64,
    /// Its whole region (inside the caller's memory).
    pub region_base: u64,
    pub region_size: u64,
    /// How many children it has itself.
    pub children: u64,
    pub name: [u8; NAME_MAX],
}

// The records are copied byte for byte: no padding may hide in them.
const _: () = assert!(core::mem::size_of::<ChildEvent>() == 12 * 8 + NAME_MAX + 96);
const _: () = assert!(core::mem::size_of::<ChildInfo>() == 5 * 8 + NAME_MAX);
