//! The other cores on aarch64: started with PSCI CPU_ON (the conduit the tree's `psci` node
//! names), told apart by TPIDR_EL1 (the core index; EL1 never runs under TGE = 1, and no EL0
//! code can read it), and kicked with SGI 0.
//!
//! A secondary core enters `capmon_secondary_entry` (entry.S) at EL2 with its MMU off. The
//! boot core hands it a [`StartRecord`] (cleaned to the point of coherency, since the new core
//! reads it uncached): its stack and the boot core's host-mode, translation and cache
//! settings. The entry code installs those before any Rust runs, so Rust code never runs with
//! the MMU off (Device memory, where an unaligned access faults), then calls
//! [`capmon_secondary_main`], which sets up what is per core (vectors, capability and EL0
//! controls, its GIC redistributor and CPU interface) and joins the run loop.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, HCR_EL2, MAIR_EL2, TCR_EL2, TTBR0_EL2};
use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::platform::Platform;
use crate::smp::{PerCore, MAX_CORES};

/// Everything a starting core needs before it can run Rust. Offsets are fixed: entry.S reads
/// them (`record_layout_matches_entry` checks).
#[repr(C, align(64))]
pub struct StartRecord {
    stack_top: u64,
    core: u64,
    hcr: u64,
    cptr: u64,
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    sctlr: u64,
    /// Set by the new core once it is ready for cVMs.
    up: AtomicU64,
}

/// Each core's MPIDR affinity (its `reg` in the tree), for SGI targets.
static MPIDR: PerCore = PerCore::new(0);

/// A core's stack. 64 KiB, as the boot core's (linker/capmon.ld).
const STACK_BYTES: usize = 64 << 10;

/// The core running this code (TPIDR_EL1; the boot core writes 0 before anything reads it).
#[inline(always)]
pub fn core_index() -> usize {
    let core: u64;
    // SAFETY: reading TPIDR_EL1 at EL2 has no side effects.
    unsafe { asm!("mrs {}, tpidr_el1", out(reg) core, options(nomem, nostack, preserves_flags)) };
    usize::try_from(core).unwrap_or(0)
}

/// Names this core `core` (the boot core calls it with 0 first thing).
pub fn set_core_index(core: usize, mpidr: u64) {
    // SAFETY: TPIDR_EL1 is a scratch register no code below EL2 can run to see (HCR_EL2.TGE
    // sends EL0's exceptions to EL2 and EL1 never runs); capmon keeps the core index there.
    unsafe { asm!("msr tpidr_el1, {}", in(reg) core as u64, options(nomem, nostack)) };
    MPIDR.set(core, mpidr);
}

/// SGI 0: "leave your cVM, look at the run queue".
pub const IPI_INTID: u32 = 0;

/// Sends SGI 0 to `core`.
pub fn send_ipi(core: usize) {
    let mpidr = MPIDR.get(core);
    let target = arm_gic::gicv3::SgiTarget::List {
        affinity3: ((mpidr >> 32) & 0xff) as u8,
        affinity2: ((mpidr >> 16) & 0xff) as u8,
        affinity1: ((mpidr >> 8) & 0xff) as u8,
        target_list: 1 << (mpidr & 0xf),
    };
    let _ = arm_gic::gicv3::GicCpuInterface::send_sgi(
        arm_gic::IntId::sgi(IPI_INTID),
        target,
        arm_gic::gicv3::SgiTargetGroup::CurrentGroup1,
    );
}

const PSCI_CPU_ON: u64 = 0xc400_0003;

extern "C" {
    fn capmon_secondary_entry();
}

/// Starts every other core the tree lists (up to [`MAX_CORES`]); returns, per core index,
/// whether it came up. A core that fails is reported (with PSCI's answer) and skipped.
pub fn start_secondaries(platform: &Platform) -> Vec<(usize, Result<(), alloc::string::String>)> {
    let mut results = Vec::new();
    let Some(boot) = platform.cpus.iter().next() else {
        return results;
    };
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    // Core indices are tree order, which is also the GIC's redistributor order.
    if mpidr & 0xff_00ff_ffff != boot.hwid {
        for core in 1..platform.cpus.len() {
            results.push((
                core,
                Err("the boot core is not the tree's first cpu".into()),
            ));
        }
        return results;
    }
    MPIDR.set(0, boot.hwid);
    let cptr = super::mmu::HOST_CPTR;
    let sctlr: u64;
    // SAFETY: reading SCTLR_EL2 has no side effects.
    unsafe { asm!("mrs {}, sctlr_el2", out(reg) sctlr, options(nomem, nostack)) };
    for (core, cpu) in platform.cpus.iter().enumerate().skip(1) {
        if core >= MAX_CORES {
            results.push((
                core,
                Err(alloc::format!("beyond the {MAX_CORES} cores capmon drives")),
            ));
            continue;
        }
        let stack: Box<[u8]> = alloc::vec![0u8; STACK_BYTES].into_boxed_slice();
        let stack = Box::leak(stack);
        let record = Box::leak(Box::new(StartRecord {
            stack_top: stack.as_ptr() as u64 + STACK_BYTES as u64,
            core: core as u64,
            hcr: HCR_EL2.get(),
            cptr,
            mair: MAIR_EL2.get(),
            tcr: TCR_EL2.get(),
            ttbr0: TTBR0_EL2.get(),
            sctlr,
            up: AtomicU64::new(0),
        }));
        MPIDR.set(core, cpu.hwid);
        // The new core reads its record and first stack frames uncached: push both to memory
        // and drop any cached lines, so neither side later reads a stale copy.
        super::dma_invalidate(core::ptr::from_ref::<[u8]>(stack));
        super::dma_invalidate(core::ptr::slice_from_raw_parts(
            core::ptr::from_ref(record).cast::<u8>(),
            core::mem::size_of::<StartRecord>(),
        ));
        let answer = super::psci_call(
            PSCI_CPU_ON,
            cpu.hwid,
            capmon_secondary_entry as *const () as u64,
            core::ptr::from_ref(record) as u64,
        );
        let result = match answer {
            None => Err("no PSCI conduit in the device tree".into()),
            Some(0) => wait_up(record),
            Some(code) => Err(alloc::format!(
                "PSCI CPU_ON answered {}",
                psci_error(code as i64)
            )),
        };
        results.push((core, result));
    }
    results
}

/// Waits (at most a second: under QEMU without threads per core, the new core shares the
/// host thread with this one) for a started core to say it is ready.
fn wait_up(record: &StartRecord) -> Result<(), alloc::string::String> {
    let freq = super::counter_frequency().max(1);
    let give_up = super::now() + freq;
    // Waiting in `wfi` (the new core kicks this one once it is up; a timer bounds each wait):
    // a spinning core would hold the host thread that QEMU without a thread per core shares
    // with the one it waits for.
    while record.up.load(Ordering::Acquire) == 0 {
        let now = super::now();
        if now > give_up {
            super::set_timer(u64::MAX);
            return Err("it did not come up within a second".into());
        }
        super::set_timer(give_up.min(now + freq / 1000));
        super::wait_for_interrupt();
    }
    super::set_timer(u64::MAX);
    Ok(())
}

fn psci_error(code: i64) -> &'static str {
    match code {
        -1 => "NOT_SUPPORTED",
        -2 => "INVALID_PARAMETERS",
        -3 => "DENIED",
        -4 => "ALREADY_ON",
        -5 => "ON_PENDING",
        -6 => "INTERNAL_FAILURE",
        -9 => "INVALID_ADDRESS",
        _ => "an unknown error",
    }
}

/// A secondary core's first Rust code, on its own stack with the MMU on (entry.S).
#[no_mangle]
extern "C" fn capmon_secondary_main(record: &'static StartRecord) -> ! {
    let core = usize::try_from(record.core).unwrap_or(0);
    #[cfg(feature = "cheri")]
    if super::enable_capabilities().is_err() {
        // Not up: the boot core reports the time-out and goes on without it.
        super::halt();
    }
    super::install_exception_vectors();
    super::cvm::init_this_core();
    if !super::init_this_core_interrupts(core) {
        super::halt();
    }
    record.up.store(1, Ordering::Release);
    send_ipi(0);
    crate::cvm::run::serve_core(core)
}

// The offsets entry.S reads.
const _: () = {
    assert!(core::mem::offset_of!(StartRecord, stack_top) == 0);
    assert!(core::mem::offset_of!(StartRecord, core) == 8);
    assert!(core::mem::offset_of!(StartRecord, hcr) == 16);
    assert!(core::mem::offset_of!(StartRecord, cptr) == 24);
    assert!(core::mem::offset_of!(StartRecord, mair) == 32);
    assert!(core::mem::offset_of!(StartRecord, tcr) == 40);
    assert!(core::mem::offset_of!(StartRecord, ttbr0) == 48);
    assert!(core::mem::offset_of!(StartRecord, sctlr) == 56);
};
