//! The riscv64 backend: capmon runs in M-mode on hart 0, and is the only privileged code
//! (no SBI firmware: QEMU boots it with `-bios none`). Entry and the trap vector are in
//! `entry.S`.
//!
//! Interrupt policy, as on Arm: the monitor runs with mstatus.MIE clear and enables
//! interrupts only while idle (`wait_for_interrupt`).

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::Mutex;

use crate::arch::syndrome::RiscvCause;
use crate::drivers::clint::Clint;
use crate::drivers::plic::Plic;
use crate::platform::{IrqController, Platform};

global_asm!(include_str!("entry.S"));

#[cfg(feature = "cheri")]
pub mod caps;
#[cfg(feature = "cheri")]
use crate::arch::insn::cheri_riscv as r;
pub mod cvm;
#[cfg(feature = "cheri")]
pub mod share;
pub mod smp;
pub mod switch;

pub use smp::{core_index, send_ipi, start_secondaries};

#[cfg(feature = "cheri")]
pub const ARCH_NAME: &str = "riscv64 (cheri)";
#[cfg(not(feature = "cheri"))]
pub const ARCH_NAME: &str = "riscv64";

/// Registers saved by `capmon_trap_vector` (offsets must match entry.S).
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 32],
    pub mepc: u64,
    pub mstatus: u64,
    pub mcause: u64,
    pub mtval: u64,
}

pub fn privilege_level() -> (&'static str, bool) {
    // Nothing below M-mode can run capmon's entry (QEMU -bios none starts in M-mode), and
    // M-mode cannot be asked which mode it is in without trapping.
    ("M-mode", true)
}

/// `entry.S` installs the trap vector before any Rust code runs; nothing left to do.
pub fn install_exception_vectors() {}

const MIE_MSIE: usize = 1 << 3;
const MIE_MTIE: usize = 1 << 7;
const MIE_MEIE: usize = 1 << 11;
const MSTATUS_MIE: usize = 1 << 3;

struct Devices {
    plic: Option<Plic>,
}

/// Lock order: `DEVICES` is taken only with interrupts masked and takes no other lock.
static DEVICES: Mutex<Option<Devices>> = Mutex::new(None);
static TIMEBASE_HZ: AtomicUsize = AtomicUsize::new(0);
static POWEROFF: AtomicUsize = AtomicUsize::new(0);

/// Brings up the CLINT (timer) and the PLIC (device interrupts) the tree names.
pub fn init_interrupts(platform: &Platform) -> Result<(), &'static str> {
    let clint = platform
        .clint
        .ok_or("the device tree names no CLINT (machine timer)")?;
    let plic = match platform.irq {
        Some(IrqController::Plic { base, ndev }) => {
            // SAFETY: the PLIC's address and size come from its device-tree node; capmon
            // drives it alone. Context 0 is hart 0's M-mode context on QEMU virt.
            Some(unsafe { Plic::new(base.start.as_usize(), ndev, 0) })
        }
        _ => None,
    };
    if let Some(p) = &plic {
        p.init();
    }
    let freq = platform
        .timer
        .freq_hz
        .ok_or("the device tree gives no timebase-frequency")?;
    TIMEBASE_HZ.store(
        usize::try_from(freq).map_err(|_| "timebase-frequency too large")?,
        Ordering::Relaxed,
    );
    // The CLINT's address comes from its device-tree node; `clint()` relies on that.
    CLINT_BASE.store(clint.start.as_usize(), Ordering::Relaxed);
    *DEVICES.lock() = Some(Devices { plic });
    // SAFETY: enabling the machine timer and external interrupt sources in mie only takes
    // effect while mstatus.MIE is set, which only `wait_for_interrupt` does.
    unsafe { asm!("csrs mie, {}", in(reg) MIE_MTIE | MIE_MEIE | MIE_MSIE) };
    Ok(())
}

/// A secondary hart's interrupts: its timer and the kick (device interrupts go to hart 0,
/// whose PLIC context is the one `init_interrupts` set up).
pub fn enable_core_interrupts() {
    // SAFETY: as in `init_interrupts`: mie only takes effect while mstatus.MIE is set.
    unsafe { asm!("csrs mie, {}", in(reg) MIE_MTIE | MIE_MSIE) };
}

pub fn enable_irq(irq: u32) -> bool {
    DEVICES
        .lock()
        .as_ref()
        .and_then(|d| d.plic.as_ref())
        .is_some_and(|p| p.enable(irq))
}

/// Switches an interrupt off at the PLIC (a device that keeps it asserted for nothing).
pub fn disable_irq(irq: u32) -> bool {
    DEVICES
        .lock()
        .as_ref()
        .and_then(|d| d.plic.as_ref())
        .is_some_and(|p| p.disable(irq))
}

pub fn counter_frequency() -> u64 {
    TIMEBASE_HZ.load(Ordering::Relaxed) as u64
}

/// The CLINT's base, set once by `init_interrupts`. The timer is read and armed on every cVM
/// exit, so it takes no lock: each hart only arms its own mtimecmp and raises msip words.
static CLINT_BASE: AtomicUsize = AtomicUsize::new(0);

fn clint() -> Option<Clint> {
    match CLINT_BASE.load(Ordering::Relaxed) {
        0 => None,
        // SAFETY: a non-zero base was stored by `init_interrupts` from the CLINT's device-tree
        // node; capmon is the only software driving it.
        base => Some(unsafe { Clint::new(base) }),
    }
}

pub fn now() -> u64 {
    clint().map_or(0, |c| c.now())
}

/// Arms the machine timer for `deadline`; `u64::MAX` (never) disarms it: masks it (mie.MTIE)
/// and moves mtimecmp to two ticks from now, after which its interrupt is pending but masked
/// and wakes nothing.
///
/// Why not simply mtimecmp = u64::MAX or a value in the past: QEMU's CLINT runs a timer of its
/// own for mtimecmp, and `-icount sleep=off` jumps the clock to it as soon as the CPU idles.
/// u64::MAX arms it at the end of time (an overflowed, arbitrary deadline in older QEMUs; QEMU
/// livelocks on either); a value in the past raises the interrupt but leaves QEMU's timer
/// armed for the previous deadline (e.g. the end of a cVM's slice, milliseconds away), which
/// an idle wait then jumps to. Two ticks ahead replaces that timer with one that expires by
/// itself within 200 ns (at 10 MHz); one tick could already have passed between the read of
/// mtime and the write. Disarming an already disarmed timer does nothing, so a caller that
/// disarms early (the disk requests) has its wait find no QEMU timer left at all.
pub fn set_timer(deadline: u64) {
    if let Some(clint) = clint() {
        if deadline == u64::MAX {
            let mie: usize;
            // SAFETY: reading mie has no side effects.
            unsafe { asm!("csrr {}, mie", out(reg) mie, options(nomem, nostack)) };
            if mie & MIE_MTIE != 0 {
                // SAFETY: clearing mie.MTIE only masks the timer interrupt.
                unsafe { asm!("csrc mie, {}", in(reg) MIE_MTIE, options(nomem, nostack)) };
                clint.set_deadline(core_index(), clint.now().saturating_add(2));
            }
        } else {
            clint.set_deadline(core_index(), deadline);
            // SAFETY: setting mie.MTIE takes effect only while mstatus.MIE is set (in
            // `wait_for_interrupt`) or in U-mode, where the timer is meant to preempt.
            unsafe { asm!("csrs mie, {}", in(reg) MIE_MTIE, options(nomem, nostack)) };
        }
    }
}

/// The deadline the timer is armed for (u64::MAX: none), so code that borrows the timer can
/// put it back.
pub fn timer_deadline() -> u64 {
    let mie: usize;
    // SAFETY: reading mie has no side effects.
    unsafe { asm!("csrr {}, mie", out(reg) mie, options(nomem, nostack)) };
    if mie & MIE_MTIE == 0 {
        return u64::MAX;
    }
    clint().map_or(u64::MAX, |c| c.deadline(core_index()))
}

/// Remembers the `sifive,test` finisher used to end the run.
pub fn set_poweroff_device(base: Option<u64>) {
    POWEROFF.store(
        base.and_then(|b| usize::try_from(b).ok()).unwrap_or(0),
        Ordering::Relaxed,
    );
}

const FINISHER_PASS: u32 = 0x5555;
const FINISHER_FAIL: u32 = 0x3333;

/// Ends the run through the test finisher: QEMU exits with status 0 on pass, 1 on fail.
pub fn power_off(pass: bool) -> ! {
    let base = POWEROFF.load(Ordering::Relaxed);
    if base != 0 {
        let value = if pass {
            FINISHER_PASS
        } else {
            (1 << 16) | FINISHER_FAIL
        };
        // SAFETY: `base` is the sifive,test device from the tree (or the board's fallback);
        // writing its control register ends the machine.
        unsafe { core::ptr::write_volatile(base as *mut u32, value) };
        // QEMU ends the machine asynchronously; wait for it rather than print a false alarm.
        halt()
    }
    crate::println!("capmon: no way to power off; halting");
    halt()
}

pub fn halt() -> ! {
    loop {
        // SAFETY: wfi only waits; with interrupts masked it never returns into a handler.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}

/// Sleeps until an interrupt is pending, then takes it. `wfi` runs with mstatus.MIE clear: an
/// interrupt enabled in `mie` wakes it even then, so one that arrives after the caller last
/// checked its condition ends the wait instead of being taken just before `wfi`.
///
/// MEPCC (mepc) is kept across the interrupt: a hostcall handler waits here (for a disk) while
/// the cVM's PC is in MEPCC (`switch`), and the trap would overwrite it.
pub fn wait_for_interrupt() {
    #[cfg(feature = "cheri")]
    {
        let mut saved = caps::CapSlot::null();
        // SAFETY: setting mstatus.MIE after wfi is the one place the monitor takes interrupts;
        // the trap vector preserves every general register (as integers) and callers hold no
        // lock an interrupt handler takes. MEPCC goes through the scratch c6 (x6 declared
        // clobbered) into `saved`, a 16-byte aligned slot (capability store: the tag is kept),
        // and back after the trap; no capability stays in a register across it.
        unsafe {
            asm!(
                ".word {read}",   // cspecialrw c6, mepcc, c0
                ".word {store}",  // sc c6, 0(a0)
                "wfi", "csrs mstatus, {m}", "csrc mstatus, {m}",
                ".word {load}",   // lc c6, 0(a0)
                ".word {write}",  // cspecialrw c0, mepcc, c6
                read = const r::cspecialrw(6, r::scr::MEPCC, 0),
                store = const r::sc(6, 10, 0),
                load = const r::lc(6, 10, 0),
                write = const r::cspecialrw(0, r::scr::MEPCC, 6),
                m = in(reg) MSTATUS_MIE,
                in("x10") saved.0.as_mut_ptr(),
                out("x6") _,
                options(nostack),
            );
        }
    }
    #[cfg(not(feature = "cheri"))]
    // SAFETY: as above; mepc is kept in a general register, which the trap vector restores.
    unsafe {
        asm!(
            "csrr {e}, mepc", "wfi", "csrs mstatus, {m}", "csrc mstatus, {m}", "csrw mepc, {e}",
            m = in(reg) MSTATUS_MIE,
            e = out(reg) _,
            options(nomem, nostack),
        );
    }
}

/// Handles whatever interrupt made a cVM exit: the machine timer or PLIC sources.
pub fn handle_interrupts() {
    let mip: u64;
    // SAFETY: reading mip has no side effects.
    unsafe { asm!("csrr {}, mip", out(reg) mip, options(nomem, nostack)) };
    let mie: u64;
    // SAFETY: reading mie has no side effects.
    unsafe { asm!("csrr {}, mie", out(reg) mie, options(nomem, nostack)) };
    // A masked timer (`set_timer(u64::MAX)`) stays pending in mip; it is not an interrupt.
    let mip = mip & mie;
    if mip & (1 << 7) != 0 {
        set_timer(u64::MAX);
        crate::boot::on_timer();
    }
    if mip & (1 << 11) != 0 {
        claim_external();
    }
    if mip & (1 << 3) != 0 {
        smp::take_ipi();
    }
}

fn claim_external() {
    loop {
        let claimed = DEVICES
            .lock()
            .as_ref()
            .and_then(|d| d.plic.as_ref())
            .and_then(|p| p.claim());
        let Some(irq) = claimed else { break };
        crate::boot::on_interrupt(irq);
        if let Some(p) = DEVICES.lock().as_ref().and_then(|d| d.plic.as_ref()) {
            p.complete(irq);
        }
    }
}

/// Called by `capmon_trap_vector` in entry.S for every trap taken to M-mode.
#[no_mangle]
extern "C" fn capmon_trap(frame: &mut TrapFrame) {
    let cause = RiscvCause {
        mcause: frame.mcause,
        mtval: frame.mtval,
    };
    if cause.is_interrupt() {
        match cause.code() {
            7 => {
                // Push the deadline out until the tick handler re-arms it.
                set_timer(u64::MAX);
                crate::boot::on_timer();
            }
            11 => claim_external(),
            3 => smp::take_ipi(),
            _ => crate::boot::unexpected_exception(format_args!("{cause} at pc {:#x}", frame.mepc)),
        }
    } else {
        crate::boot::unexpected_exception(format_args!(
            "{cause} at pc {:#x}, mstatus {:#x}",
            frame.mepc, frame.mstatus
        ));
    }
}

/// DMA cache maintenance, the same interface as aarch64's. The RISC-V machines capmon runs on
/// (QEMU virt, M-mode, no translation) keep device DMA coherent with the CPU, so only the
/// ordering remains: every earlier memory access completes before any later one or any MMIO
/// access (e.g. the notify that hands the buffer to the device).
pub fn dma_clean(buffer: *const [u8]) {
    let _ = buffer;
    // SAFETY: a fence only orders this hart's memory and I/O accesses.
    unsafe { asm!("fence iorw, iorw", options(nostack, preserves_flags)) };
}

/// After a device wrote `buffer` (and before it starts): on these coherent machines, ordering only.
pub fn dma_invalidate(buffer: *const [u8]) {
    dma_clean(buffer);
}

/// Ordering around DMA for a coherent device: the same fence.
pub fn dma_fence() {
    dma_clean(core::ptr::slice_from_raw_parts(core::ptr::null(), 0));
}

/// After the monitor wrote code with data stores (the ELF loader): makes this hart's
/// instruction fetches see it.
/// Other harts catch up in [`fetch_current_code`] before they next run a cVM.
pub fn sync_code(range: crate::addr::PhysRange) {
    let _ = range;
    CODE_EPOCH.fetch_add(1, Ordering::SeqCst);
    fetch_current_code();
}

/// Bumped whenever the loader wrote code: a hart whose last `fence.i` is older may fetch stale
/// instructions (fence.i only orders this hart's own fetches).
static CODE_EPOCH: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// The epoch each hart last fenced at.
static FENCED_AT: crate::smp::PerCore = crate::smp::PerCore::new(u64::MAX);

/// Before a hart runs a cVM: `fence.i` if code was loaded since its last one. One load and
/// compare on the switch path.
#[inline(always)]
pub fn fetch_current_code() {
    let core = core_index();
    let epoch = CODE_EPOCH.load(Ordering::SeqCst);
    if FENCED_AT.get(core) != epoch {
        FENCED_AT.set(core, epoch);
        // SAFETY: fence.i only synchronizes this hart's instruction fetches with the stores
        // made before it (the loader's, ordered by the SeqCst load above).
        unsafe { asm!("fence.i", options(nostack, preserves_flags)) };
    }
}
