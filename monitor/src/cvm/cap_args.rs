//! Hostcall buffers from pure-capability cVMs: each buffer argument is a capability, and the
//! monitor checks the capability itself before [`super::hostcall::dispatch`] touches memory.
//!
//! A pure cVM passes a buffer as a capability in the argument register (c0..c5 / ca0..ca5)
//! whose address is the buffer's start; its length stays an integer in its own register, as
//! for hybrid cVMs. For every buffer the call names ([`buffers`]), the capability must be
//! 1. tagged (not forged from an integer, not widened: set-bounds beyond its parent clears
//!    the tag),
//! 2. unsealed,
//! 3. permitted to Load (a buffer the monitor reads) or Store (one it writes),
//! 4. with bounds covering `[address, address + length)`,
//! 5. and bounds inside the memory the caller owns (its region minus its code: a capability
//!    over its own code, which it may hold, is not a buffer).
//!
//! A failed check is `Error::Fault` and nothing is touched; the reason is logged naming the
//! cVM. A capability that passes is only ever used through its address, which `dispatch`
//! checks again against the same memory, so hybrid and pure cVMs share one copy path. Hybrid
//! cVMs never come here: their hostcalls keep the integer path.
//!
//! The architecture only reads the saved register's fields ([`CapArg`]); the logic is here,
//! host-tested with a fake register file.

use core::fmt;
use core::ops::Range;

use capmon_abi::{Hostcall, NetInfo, WhoAmI, SECTOR_SIZE};

/// What the hardware says about one capability argument register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CapArg {
    pub tag: bool,
    pub sealed: bool,
    pub base: u64,
    /// Saturated at `u64::MAX` for a 2^64 length.
    pub length: u64,
    pub address: u64,
    /// It carries Load / Store.
    pub load: bool,
    pub store: bool,
}

/// What the monitor does with a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// It reads the buffer (the capability needs Load).
    Read,
    /// It writes the buffer (the capability needs Store).
    Write,
}

/// How long a buffer is, from the call's integer arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Len {
    /// Argument `n` is the length in bytes.
    Arg(usize),
    /// Argument `n` counts disk sectors.
    Sectors(usize),
    /// A record of this many bytes, if argument `n` (the space offered) is at least that.
    Record(usize, u64),
    /// Argument `n` counts 8-byte words (`cp_poll`'s handles).
    Words(usize),
}

/// One buffer argument of a hostcall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// The argument register holding the capability.
    pub arg: usize,
    len: Len,
    pub usage: Use,
}

const fn buffer(arg: usize, len: Len, usage: Use) -> Buffer {
    Buffer { arg, len, usage }
}

const WHOAMI_SIZE: u64 = core::mem::size_of::<WhoAmI>() as u64;
const NET_INFO_SIZE: u64 = NetInfo::SIZE as u64;
const CHILD_INFO_SIZE: u64 = core::mem::size_of::<capmon_abi::ChildInfo>() as u64;
const CHILD_EVENT_SIZE: u64 = core::mem::size_of::<capmon_abi::ChildEvent>() as u64;

/// The buffer arguments of hostcall `number` (none for calls that take no buffer, and for
/// unknown numbers, which `dispatch` answers with `NoSys`). Hostcalls added later that take a
/// buffer must be listed here.
pub fn buffers(number: u64) -> &'static [Buffer] {
    const READ_0: [Buffer; 1] = [buffer(0, Len::Arg(1), Use::Read)];
    const WRITE_0: [Buffer; 1] = [buffer(0, Len::Arg(1), Use::Write)];
    const WHOAMI: [Buffer; 1] = [buffer(0, Len::Record(1, WHOAMI_SIZE), Use::Write)];
    const NET_INFO: [Buffer; 1] = [buffer(0, Len::Record(1, NET_INFO_SIZE), Use::Write)];
    const DISK_READ: [Buffer; 1] = [buffer(1, Len::Sectors(2), Use::Write)];
    const DISK_WRITE: [Buffer; 1] = [buffer(1, Len::Sectors(2), Use::Read)];
    const NAME_0: [Buffer; 1] = [buffer(0, Len::Arg(1), Use::Read)];
    const EXPORT: [Buffer; 2] = [
        buffer(0, Len::Arg(1), Use::Read),
        buffer(2, Len::Arg(3), Use::Read),
    ];
    const POLL: [Buffer; 1] = [buffer(0, Len::Words(1), Use::Read)];
    const CHILD_INFO: [Buffer; 1] = [buffer(1, Len::Record(2, CHILD_INFO_SIZE), Use::Write)];
    const CHILD_WAIT: [Buffer; 1] = [buffer(0, Len::Record(1, CHILD_EVENT_SIZE), Use::Write)];
    const CHILD_REPLY_WAIT: [Buffer; 1] = [buffer(2, Len::Record(3, CHILD_EVENT_SIZE), Use::Write)];
    match Hostcall::from_number(number) {
        Some(Hostcall::ConsoleWrite | Hostcall::NetSend) => &READ_0,
        Some(Hostcall::ConsoleRead | Hostcall::NetRecv) => &WRITE_0,
        Some(Hostcall::WhoAmI) => &WHOAMI,
        Some(Hostcall::NetInfo) => &NET_INFO,
        Some(Hostcall::DiskRead) => &DISK_READ,
        Some(Hostcall::DiskWrite) => &DISK_WRITE,
        Some(
            Hostcall::CpImport
            | Hostcall::CpRevoke
            | Hostcall::CpCallExport
            | Hostcall::CpCallImport
            | Hostcall::StreamOpen,
        ) => &NAME_0,
        Some(Hostcall::CpExport | Hostcall::StreamRegister) => &EXPORT,
        Some(Hostcall::CpPoll) => &POLL,
        Some(Hostcall::ChildInfo) => &CHILD_INFO,
        Some(Hostcall::ChildWait) => &CHILD_WAIT,
        Some(Hostcall::ChildReplyWait) => &CHILD_REPLY_WAIT,
        Some(
            Hostcall::Exit
            | Hostcall::Yield
            | Hostcall::ClockNs
            | Hostcall::SleepNs
            | Hostcall::DiskCapacity
            | Hostcall::DiskFlush
            | Hostcall::NetWait
            | Hostcall::ChildStart
            | Hostcall::ChildStop
            | Hostcall::ChildReply
            | Hostcall::ChildForward
            | Hostcall::CpDrop
            | Hostcall::StreamClose
            | Hostcall::StreamNotify,
        )
        | None => &[],
    }
}

/// Bit `n` set: hostcall `n` takes a buffer ([`buffers`] is not empty). The hostcall fast path
/// tests this one word instead of walking the table (a pure cVM's null hostcall then costs
/// what a hybrid one does); a unit test keeps it equal to the table.
const BUFFER_CALLS: u64 = 1 << Hostcall::ConsoleWrite as u64
    | 1 << Hostcall::ConsoleRead as u64
    | 1 << Hostcall::WhoAmI as u64
    | 1 << Hostcall::DiskRead as u64
    | 1 << Hostcall::DiskWrite as u64
    | 1 << Hostcall::NetInfo as u64
    | 1 << Hostcall::NetSend as u64
    | 1 << Hostcall::NetRecv as u64
    | 1 << Hostcall::ChildInfo as u64
    | 1 << Hostcall::ChildWait as u64
    | 1 << Hostcall::ChildReplyWait as u64
    | 1 << Hostcall::CpImport as u64
    | 1 << Hostcall::CpExport as u64
    | 1 << Hostcall::CpRevoke as u64
    | 1 << Hostcall::CpCallExport as u64
    | 1 << Hostcall::CpCallImport as u64
    | 1 << Hostcall::StreamRegister as u64
    | 1 << Hostcall::StreamOpen as u64
    | 1 << Hostcall::CpPoll as u64;

/// Hostcall `number` takes at least one buffer argument.
#[inline(always)]
pub fn has_buffers(number: u64) -> bool {
    number < 64 && BUFFER_CALLS & (1 << number) != 0
}

/// Why a buffer capability was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Untagged,
    Sealed,
    NoLoad,
    NoStore,
    /// Its bounds do not cover the buffer (or the length overflows).
    TooShort,
    /// Its bounds reach outside the caller's memory.
    NotOwned,
}

/// A refused argument: which register and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub arg: usize,
    pub why: Refusal,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Untagged => "is untagged (forged, widened or not a capability)",
            Refusal::Sealed => "is sealed",
            Refusal::NoLoad => "lacks Load for a buffer the monitor reads",
            Refusal::NoStore => "lacks Store for a buffer the monitor writes",
            Refusal::TooShort => "does not cover the length",
            Refusal::NotOwned => "reaches outside the caller's memory",
        })
    }
}

/// Every buffer of hostcall `number` as (address, length) from its integer arguments (a
/// length that overflows is `u64::MAX`, which no memory check passes). How the monitor checks
/// a child's buffers before a serving parent sees the call (`cvm/nest.rs`).
pub fn buffer_ranges(number: u64, args: &[u64; 6]) -> impl Iterator<Item = (u64, u64)> + '_ {
    buffers(number).iter().map(move |b| {
        (
            args.get(b.arg).copied().unwrap_or(0),
            length(b.len, args).unwrap_or(u64::MAX),
        )
    })
}

/// The buffer's length, from the call's integer arguments.
fn length(len: Len, args: &[u64; 6]) -> Option<u64> {
    let arg = |n: usize| args.get(n).copied();
    match len {
        Len::Arg(n) => arg(n),
        Len::Sectors(n) => arg(n)?.checked_mul(SECTOR_SIZE),
        Len::Words(n) => arg(n)?.checked_mul(8),
        // A short record space is the call's own `Invalid`; only what it would write counts.
        Len::Record(n, size) => Some(arg(n)?.min(size)),
    }
}

/// Checks one capability for a buffer of `len` bytes used as `usage`, in a caller owning
/// `owned`.
pub fn check_one(cap: &CapArg, len: u64, usage: Use, owned: &Range<u64>) -> Result<(), Refusal> {
    if !cap.tag {
        return Err(Refusal::Untagged);
    }
    if cap.sealed {
        return Err(Refusal::Sealed);
    }
    match usage {
        Use::Read if !cap.load => return Err(Refusal::NoLoad),
        Use::Write if !cap.store => return Err(Refusal::NoStore),
        _ => {}
    }
    let top = u128::from(cap.base) + u128::from(cap.length);
    let end = u128::from(cap.address) + u128::from(len);
    if cap.address < cap.base || end > top {
        return Err(Refusal::TooShort);
    }
    if cap.base < owned.start || top > u128::from(owned.end) {
        return Err(Refusal::NotOwned);
    }
    Ok(())
}

/// Checks every buffer capability hostcall `number` takes. `register(n)` reads argument
/// register `n`; `args` are the same registers' integer views (lengths). `Ok` means the call
/// may go to `dispatch` as it is: each buffer's address is its capability's address.
pub fn check(
    number: u64,
    args: &[u64; 6],
    register: impl Fn(usize) -> CapArg,
    owned: &Range<u64>,
) -> Result<(), Refused> {
    for b in buffers(number) {
        let cap = register(b.arg);
        let refused = |why| Refused { arg: b.arg, why };
        let len = length(b.len, args).ok_or(refused(Refusal::TooShort))?;
        check_one(&cap, len, b.usage, owned).map_err(refused)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::cvm::hostcall::tests::{fake, BASE};
    use crate::cvm::hostcall::{dispatch, Outcome};
    use capmon_abi::Error;

    /// The fake cVM of the hostcall tests owns `[BASE, BASE + 0x100)`; "hi!\n" is at +0x10.
    const OWNED: Range<u64> = BASE..BASE + 0x100;

    fn good(address: u64, length: u64) -> CapArg {
        CapArg {
            tag: true,
            sealed: false,
            base: address,
            length,
            address,
            load: true,
            store: true,
        }
    }

    /// Checks, then dispatches only what passed: what the run loop does.
    fn call(
        f: &mut crate::cvm::hostcall::tests::Fake,
        h: Hostcall,
        regs: [CapArg; 2],
        a1: u64,
    ) -> Outcome {
        let args = [regs[0].address, a1, 0, 0, 0, 0];
        match check(
            h as u64,
            &args,
            |n| regs.get(n).copied().unwrap_or_default(),
            &OWNED,
        ) {
            Ok(()) => dispatch(f, h as u64, &args),
            Err(_) => Outcome::Return(Error::Fault.to_result()),
        }
    }

    #[test]
    fn a_good_capability_passes_and_the_call_runs() {
        let mut f = fake();
        let cap = good(BASE + 0x10, 4);
        assert_eq!(
            call(&mut f, Hostcall::ConsoleWrite, [cap, CapArg::default()], 4),
            Outcome::Return(4)
        );
        assert_eq!(f.printed, b"hi!\n");
        // A buffer inside a larger capability, at an offset.
        let wide = CapArg {
            base: BASE,
            length: 0x100,
            ..cap
        };
        assert_eq!(
            call(&mut f, Hostcall::ConsoleWrite, [wide, CapArg::default()], 3),
            Outcome::Return(3)
        );
    }

    #[test]
    fn bad_capabilities_fault_and_touch_nothing() {
        let fault = Outcome::Return(Error::Fault.to_result());
        let cap = good(BASE + 0x10, 4);
        let cases = [
            (CapArg { tag: false, ..cap }, Refusal::Untagged),
            (CapArg::default(), Refusal::Untagged),
            (
                CapArg {
                    sealed: true,
                    ..cap
                },
                Refusal::Sealed,
            ),
            (CapArg { load: false, ..cap }, Refusal::NoLoad),
            (CapArg { length: 3, ..cap }, Refusal::TooShort),
            (
                CapArg {
                    address: BASE + 0xf,
                    ..cap
                },
                Refusal::TooShort,
            ),
            (
                CapArg {
                    address: BASE + 0x11,
                    ..cap
                },
                Refusal::TooShort,
            ),
            // Tagged, unsealed, Load, covering: but over the caller's code, or the monitor.
            (
                CapArg {
                    base: BASE - 0x10,
                    length: 0x30,
                    ..cap
                },
                Refusal::NotOwned,
            ),
            (
                CapArg {
                    base: 0x4020_0000,
                    length: 4,
                    address: 0x4020_0000,
                    ..cap
                },
                Refusal::NotOwned,
            ),
            (
                CapArg {
                    base: BASE,
                    length: u64::MAX,
                    ..cap
                },
                Refusal::NotOwned,
            ),
        ];
        for (bad, why) in cases {
            let mut f = fake();
            assert_eq!(
                call(&mut f, Hostcall::ConsoleWrite, [bad, CapArg::default()], 4),
                fault,
                "{bad:?}"
            );
            assert!(f.printed.is_empty(), "{bad:?}");
            let args = [bad.address, 4, 0, 0, 0, 0];
            assert_eq!(
                check(0, &args, |_| bad, &OWNED),
                Err(Refused { arg: 0, why }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn writes_need_store_and_reads_need_load() {
        let mut f = fake();
        let read_only = CapArg {
            store: false,
            ..good(BASE + 0x40, 16)
        };
        assert_eq!(
            call(
                &mut f,
                Hostcall::ConsoleRead,
                [read_only, CapArg::default()],
                16
            ),
            Outcome::Return(Error::Fault.to_result())
        );
        assert_eq!(f.input, b"typed", "a refused read consumes no input");
        assert!(
            f.bytes[0x40..0x50].iter().all(|&b| b == 0),
            "nothing written"
        );
        let writable = good(BASE + 0x40, 16);
        assert_eq!(
            call(
                &mut f,
                Hostcall::ConsoleRead,
                [writable, CapArg::default()],
                16
            ),
            Outcome::Return(5)
        );
        assert_eq!(&f.bytes[0x40..0x45], b"typed");
        let args = [BASE, 1, 0, 0, 0, 0];
        let no_load = CapArg {
            load: false,
            ..good(BASE, 1)
        };
        assert_eq!(
            check(Hostcall::NetSend as u64, &args, |_| no_load, &OWNED)
                .unwrap_err()
                .why,
            Refusal::NoLoad
        );
        let no_store = CapArg {
            store: false,
            ..good(BASE, 1)
        };
        assert_eq!(
            check(Hostcall::NetRecv as u64, &args, |_| no_store, &OWNED)
                .unwrap_err()
                .why,
            Refusal::NoStore
        );
    }

    #[test]
    fn lengths_come_from_the_right_argument() {
        // disk_read(sector, buffer, count): the buffer is arg 1, count sectors of 512 bytes.
        let owned = 0..u64::MAX;
        let regs = |n: usize| {
            if n == 1 {
                good(0x1000, 1024)
            } else {
                CapArg::default()
            }
        };
        assert_eq!(
            check(
                Hostcall::DiskRead as u64,
                &[0, 0x1000, 2, 0, 0, 0],
                regs,
                &owned
            ),
            Ok(())
        );
        let err = check(
            Hostcall::DiskRead as u64,
            &[0, 0x1000, 3, 0, 0, 0],
            regs,
            &owned,
        )
        .unwrap_err();
        assert_eq!(
            err,
            Refused {
                arg: 1,
                why: Refusal::TooShort
            }
        );
        let err = check(
            Hostcall::DiskWrite as u64,
            &[0, 0x1000, u64::MAX, 0, 0, 0],
            regs,
            &owned,
        )
        .unwrap_err();
        assert_eq!(err.why, Refusal::TooShort, "an overflowing sector count");
        // whoami(buffer, space): only the record's size needs covering, however much is offered.
        let record = |_| good(0x1000, WHOAMI_SIZE);
        assert_eq!(
            check(
                Hostcall::WhoAmI as u64,
                &[0x1000, 4096, 0, 0, 0, 0],
                record,
                &owned
            ),
            Ok(())
        );
        let short = |_| good(0x1000, WHOAMI_SIZE - 1);
        assert!(check(
            Hostcall::WhoAmI as u64,
            &[0x1000, 4096, 0, 0, 0, 0],
            short,
            &owned
        )
        .is_err());
    }

    #[test]
    fn calls_without_buffers_read_no_register() {
        for h in [
            Hostcall::Exit,
            Hostcall::Yield,
            Hostcall::ClockNs,
            Hostcall::SleepNs,
            Hostcall::DiskCapacity,
            Hostcall::DiskFlush,
            Hostcall::NetWait,
        ] {
            assert_eq!(
                check(
                    h as u64,
                    &[0; 6],
                    |_| panic!("{h:?} read a register"),
                    &OWNED
                ),
                Ok(())
            );
        }
        assert_eq!(
            check(
                0xffff,
                &[0; 6],
                |_| panic!("unknown call read a register"),
                &OWNED
            ),
            Ok(())
        );
    }

    #[test]
    fn the_fast_test_agrees_with_the_table() {
        for number in (0..200).chain([u64::MAX, 1 << 40]) {
            assert_eq!(
                has_buffers(number),
                !buffers(number).is_empty(),
                "hostcall {number}"
            );
        }
    }

    #[test]
    fn every_buffer_hostcall_is_listed() {
        // Each call `dispatch` reads or writes memory for has a buffer entry.
        for h in [
            Hostcall::ConsoleWrite,
            Hostcall::ConsoleRead,
            Hostcall::WhoAmI,
            Hostcall::DiskRead,
            Hostcall::DiskWrite,
            Hostcall::NetInfo,
            Hostcall::NetSend,
            Hostcall::NetRecv,
        ] {
            assert_eq!(buffers(h as u64).len(), 1, "{h:?}");
        }
    }
}
