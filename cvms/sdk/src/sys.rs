//! The raw hostcall: `svc #0` on aarch64, `ecall` on riscv64 (register use in `capmon_abi`),
//! and, for host builds, a stand-in backed by std so cVM code also builds and runs as a plain
//! host program (handy for unit tests and trying output formats without QEMU).

use capmon_abi::Hostcall;

/// Performs hostcall `call` with six argument words; returns the raw result register.
///
/// # Safety
///
/// The monitor writes into the cVM's memory for some calls (`ConsoleRead`, `WhoAmI`): the
/// caller must make sure every pointer argument of such a call designates memory that may be
/// overwritten with the given length (the monitor only checks that it lies in the cVM's own
/// region, not that Rust considers it writable).
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[inline(always)]
pub unsafe fn hostcall(call: Hostcall, args: [u64; 6]) -> u64 {
    let result: u64;
    // SAFETY: `svc #0` traps to the monitor, which follows the capmon ABI: it reads x8 and
    // x0..x5, writes only x0 and preserves every other register. Memory it writes is the
    // caller's responsibility (see above), so the asm is not marked `nomem`; it never touches
    // the stack.
    unsafe {
        core::arch::asm!(
            "svc #0",
            in("x8") call as u64,
            inlateout("x0") args[0] => result,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            options(nostack),
        );
    }
    result
}

/// Performs hostcall `call` with six argument words; returns the raw result register.
///
/// # Safety
///
/// As for aarch64: pointer arguments of calls that write must designate writable memory.
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
#[inline(always)]
pub unsafe fn hostcall(call: Hostcall, args: [u64; 6]) -> u64 {
    let result: u64;
    // SAFETY: `ecall` from U-mode traps to the monitor, which reads a7 and a0..a5, writes only
    // a0 and preserves every other register; memory writes are the caller's responsibility.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") call as u64,
            inlateout("a0") args[0] => result,
            in("a1") args[1],
            in("a2") args[2],
            in("a3") args[3],
            in("a4") args[4],
            in("a5") args[5],
            options(nostack),
        );
    }
    result
}

#[cfg(all(
    target_os = "none",
    not(any(target_arch = "aarch64", target_arch = "riscv64"))
))]
compile_error!("capmon cVMs run on aarch64 or riscv64 only");

/// Host stand-in for the monitor: the same calls, done with std for the current process.
///
/// # Safety
///
/// Pointer arguments must be valid for the length given (read for `ConsoleWrite`, written for
/// `ConsoleRead` and `WhoAmI`): there is no monitor here to check them.
#[cfg(not(target_os = "none"))]
pub unsafe fn hostcall(call: Hostcall, args: [u64; 6]) -> u64 {
    use std::io::Write;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    static BOOT: OnceLock<Instant> = OnceLock::new();
    let boot = *BOOT.get_or_init(Instant::now);
    let len = usize::try_from(args[1]).unwrap_or(usize::MAX);
    match call {
        Hostcall::ConsoleWrite => {
            // SAFETY: the caller guarantees [args[0], +len) is readable.
            let bytes = unsafe { core::slice::from_raw_parts(args[0] as *const u8, len) };
            let mut out = std::io::stdout().lock();
            match out.write_all(bytes).and_then(|()| out.flush()) {
                Ok(()) => args[1],
                Err(_) => capmon_abi::Error::Fault.to_result(),
            }
        }
        // Console input belongs to the monitor's focus rules; on the host there is none.
        Hostcall::ConsoleRead => 0,
        // exit() passes an i32 sign-extended, so the low 32 bits are the whole code.
        #[allow(clippy::cast_possible_truncation)]
        Hostcall::Exit => std::process::exit(args[0] as i32),
        Hostcall::Yield => {
            std::thread::yield_now();
            0
        }
        Hostcall::ClockNs => u64::try_from(boot.elapsed().as_nanos()).unwrap_or(u64::MAX),
        Hostcall::SleepNs => {
            std::thread::sleep(Duration::from_nanos(args[0]));
            0
        }
        Hostcall::WhoAmI => {
            let size = core::mem::size_of::<capmon_abi::WhoAmI>();
            if len < size {
                return capmon_abi::Error::Invalid.to_result();
            }
            let mut me = capmon_abi::WhoAmI {
                id: 0,
                region_base: 0,
                region_size: 0,
                name: [0; capmon_abi::NAME_MAX],
            };
            me.name[..4].copy_from_slice(b"host");
            // SAFETY: the caller guarantees [args[0], +len) is writable and len ≥ size; the
            // write is unaligned-safe.
            unsafe { (args[0] as *mut capmon_abi::WhoAmI).write_unaligned(me) };
            size as u64
        }
        // A host process has no disk or network grant.
        Hostcall::DiskCapacity
        | Hostcall::DiskRead
        | Hostcall::DiskWrite
        | Hostcall::DiskFlush
        | Hostcall::NetInfo
        | Hostcall::NetSend
        | Hostcall::NetRecv
        | Hostcall::NetWait => capmon_abi::Error::Denied.to_result(),
        // Nor children.
        Hostcall::ChildInfo
        | Hostcall::ChildStart
        | Hostcall::ChildStop
        | Hostcall::ChildWait
        | Hostcall::ChildReply
        | Hostcall::ChildForward
        | Hostcall::ChildReplyWait => capmon_abi::Error::Denied.to_result(),
        // Sharing needs the monitor's capabilities.
        Hostcall::CpImport
        | Hostcall::CpExport
        | Hostcall::CpRevoke
        | Hostcall::CpDrop
        | Hostcall::CpCallExport
        | Hostcall::CpCallImport
        | Hostcall::StreamRegister
        | Hostcall::StreamOpen
        | Hostcall::StreamClose
        | Hostcall::CpPoll
        | Hostcall::StreamNotify => capmon_abi::Error::NoSys.to_result(),
    }
}
