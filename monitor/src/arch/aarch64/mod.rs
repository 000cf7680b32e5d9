//! The aarch64 backend: capmon runs at EL2 (non-secure) as a VHE host (HCR_EL2.E2H = 1,
//! TGE = 1), identity-mapped with the MMU and caches on (`mmu.rs`), and is the only
//! privileged code. Entry, vectors and exception returns are in `entry.S`.
//!
//! Interrupt policy: the monitor runs with IRQs masked and unmasks them only while idle
//! (`wait_for_interrupt`), so no monitor code is ever preempted and no capability sits
//! in a register when an interrupt arrives.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU8, Ordering};

use aarch64_cpu::registers::{
    CurrentEL, Readable, Writeable, CNTFRQ_EL0, CNTHP_CTL_EL2, CNTPCT_EL0,
};
use arm_gic::gicv3::registers::{Gicd, GicrSgi};
use arm_gic::gicv3::{GicCpuInterface, GicV3};
use arm_gic::{IntId, InterruptGroup, UniqueMmioPointer};
use spin::Mutex;

use crate::arch::syndrome::ArmSyndrome;
use crate::platform::{IrqController, Platform, PsciMethod};

global_asm!(include_str!("entry.S"));

#[cfg(feature = "cheri")]
pub const ARCH_NAME: &str = "aarch64 (morello)";
#[cfg(not(feature = "cheri"))]
pub const ARCH_NAME: &str = "aarch64";

/// Registers saved by `exception_common` in `entry.S` (the offsets there must match).
#[repr(C)]
pub struct ExceptionFrame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    _pad: [u64; 2],
}

/// The exception level capmon was entered at, and whether it is the one capmon needs.
pub fn privilege_level() -> (&'static str, bool) {
    match CurrentEL.read(CurrentEL::EL) {
        2 => ("EL2", true),
        3 => ("EL3", false),
        1 => ("EL1", false),
        _ => ("EL0", false),
    }
}

/// On Morello: checks that capability instructions work at EL2, before the first one runs.
/// `mmu::enter_host_mode` has already set CPTR_EL2.CEN (TF-A leaves CPTR_EL2 unknown). If EL3
/// firmware left them disabled (TF-A built without ENABLE_MORELLO_CAP), the first capability
/// instruction traps to EL3 and never returns: the console then stops right after the line
/// printed before this call.
#[cfg(feature = "cheri")]
pub fn enable_capabilities() -> Result<(), &'static str> {
    let tag: u64;
    // SAFETY: reads DDC into c9 and its tag into x10; c9/x9 and x10 are declared clobbered.
    unsafe {
        asm!(
            ".inst {mrs}",      // mrs c9, DDC
            ".inst {gctag}",    // gctag x10, c9
            mrs = const crate::arch::insn::morello::mrs_cap(9, crate::arch::insn::morello::sysreg::DDC),
            gctag = const crate::arch::insn::morello::gctag(10, 9),
            out("x9") _,
            out("x10") tag,
            options(nomem, nostack),
        );
    }
    if tag == 0 {
        return Err("the DDC capmon was entered with is untagged, so every access would fault");
    }
    Ok(())
}

/// Points VBAR_EL2 (on Morello: CVBAR_EL2, a capability) at `capmon_exception_vectors`.
pub fn install_exception_vectors() {
    #[cfg(not(feature = "cheri"))]
    // SAFETY: the vector table is code in this image, 2 KiB aligned by entry.S; writing
    // VBAR_EL2 at EL2 only changes where this monitor's own exceptions go.
    unsafe {
        asm!(
            "adr {v}, capmon_exception_vectors",
            "msr vbar_el2, {v}",
            "isb",
            v = out(reg) _,
        );
    }
    #[cfg(feature = "cheri")]
    // SAFETY: as above. On Morello exception entry installs CVBAR_EL2 as PCC, so it must be a
    // tagged executable capability: CVTP derives one from PCC (root at reset) with the vector
    // address. x9/c9 is scratch and declared clobbered; no capability outlives the block.
    unsafe {
        asm!(
            "adr x9, capmon_exception_vectors",
            ".inst {cvtp}",          // cvtp c9, x9
            ".inst {msr}",           // msr CVBAR_EL2, c9
            "isb",
            cvtp = const crate::arch::insn::morello::cvtp(9, 9),
            msr = const crate::arch::insn::morello::msr_cap(crate::arch::insn::morello::sysreg::CVBAR_EL2, 9),
            out("x9") _,
        );
    }
}

static PSCI: AtomicU8 = AtomicU8::new(PSCI_NONE);
const PSCI_NONE: u8 = 0;
const PSCI_SMC: u8 = 1;
const PSCI_HVC: u8 = 2;

/// Remembers how to reach PSCI, from the device tree or the board's fallback.
pub fn set_psci_method(method: Option<PsciMethod>) {
    let code = match method {
        Some(PsciMethod::Smc) => PSCI_SMC,
        Some(PsciMethod::Hvc) => PSCI_HVC,
        None => PSCI_NONE,
    };
    PSCI.store(code, Ordering::Relaxed);
}

const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// A PSCI call through the tree's conduit: `function` with three arguments; PSCI's answer in
/// x0, or None when there is no conduit.
pub fn psci_call(function: u64, a1: u64, a2: u64, a3: u64) -> Option<u64> {
    let answer: u64;
    match PSCI.load(Ordering::Relaxed) {
        // SAFETY: a PSCI call per the SMC calling convention: x0-x3 in, x0-x3 may change
        // (declared); firmware (or QEMU) handles it and returns here.
        PSCI_SMC => unsafe {
            asm!("smc #0", inout("x0") function => answer, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _);
        },
        // SAFETY: as above, through the hypervisor conduit.
        PSCI_HVC => unsafe {
            asm!("hvc #0", inout("x0") function => answer, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _);
        },
        _ => return None,
    }
    Some(answer)
}

/// Powers the machine off through PSCI SYSTEM_OFF. The verdict was already printed; PSCI has
/// no exit code, so on Arm the console line is what tells pass from fail.
pub fn power_off(_pass: bool) -> ! {
    match PSCI.load(Ordering::Relaxed) {
        // SAFETY: SYSTEM_OFF does not return on success; if it does (no PSCI firmware), it
        // only clobbers x0-x3 as the SMC calling convention allows, declared below.
        PSCI_SMC => unsafe {
            asm!("smc #0", inout("x0") PSCI_SYSTEM_OFF => _, out("x1") _, out("x2") _, out("x3") _);
        },
        // SAFETY: as above, through the hypervisor conduit.
        PSCI_HVC => unsafe {
            asm!("hvc #0", inout("x0") PSCI_SYSTEM_OFF => _, out("x1") _, out("x2") _, out("x3") _);
        },
        _ => {}
    }
    crate::println!("capmon: no way to power off; halting");
    halt()
}

pub fn halt() -> ! {
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// The generic timer's frequency: CNTFRQ_EL0, which firmware (or QEMU) sets.
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

pub fn now() -> u64 {
    CNTPCT_EL0.get()
}

/// Arms the EL2 physical timer (CNTHP) to fire at counter value `deadline`; `u64::MAX` (never)
/// disables it instead, so that QEMU under `-icount sleep=off` does not count a "never"
/// deadline as the next event to jump the clock to when the CPU idles.
pub fn set_timer(deadline: u64) {
    if deadline == u64::MAX {
        CNTHP_CTL_EL2.write(CNTHP_CTL_EL2::ENABLE::CLEAR + CNTHP_CTL_EL2::IMASK::SET);
        return;
    }
    // SAFETY: CNTHP_CVAL_EL2 is the EL2 timer's compare value; capmon owns this timer.
    unsafe { asm!("msr cnthp_cval_el2, {}", in(reg) deadline) };
    CNTHP_CTL_EL2.write(CNTHP_CTL_EL2::ENABLE::SET + CNTHP_CTL_EL2::IMASK::CLEAR);
}

/// The deadline the timer is armed for (u64::MAX: none), so code that borrows the timer can
/// put it back.
pub fn timer_deadline() -> u64 {
    if !CNTHP_CTL_EL2.is_set(CNTHP_CTL_EL2::ENABLE) {
        return u64::MAX;
    }
    let deadline: u64;
    // SAFETY: reading CNTHP_CVAL_EL2 at EL2 has no side effects.
    unsafe { asm!("mrs {}, cnthp_cval_el2", out(reg) deadline, options(nomem, nostack)) };
    deadline
}

/// The EL2 physical timer's interrupt: PPI 10 (INTID 26) on every machine capmon knows,
/// unless the tree says otherwise.
pub fn timer_irq(platform: &Platform) -> u32 {
    platform.timer.hyp_ppi.unwrap_or(26)
}

struct Gic(GicV3<'static>);
// SAFETY: the GIC driver holds MMIO pointers; it is only used behind `GIC`'s lock, from the
// one CPU capmon runs on.
unsafe impl Send for Gic {}

/// Lock order: `GIC` is taken only with interrupts masked and takes no other lock.
static GIC: Mutex<Option<Gic>> = Mutex::new(None);

/// Brings up the GICv3 from the tree: distributor, this CPU's redistributor and the EL2 CPU
/// interface. Fails with a message when the tree names no usable GICv3.
pub fn init_interrupts(platform: &Platform) -> Result<(), &'static str> {
    let Some(IrqController::GicV3 { dist, redist }) = platform.irq else {
        return Err("the device tree names no GICv3 interrupt controller");
    };
    let gicd =
        core::ptr::NonNull::new(dist.start.as_usize() as *mut Gicd).ok_or("GICD at address 0")?;
    let gicr = core::ptr::NonNull::new(redist.start.as_usize() as *mut GicrSgi)
        .ok_or("GICR at address 0")?;
    let cpus = platform.cpus.len().max(1);
    // SAFETY: the addresses come from the GICv3 node of the device tree; capmon is the only
    // software driving the GIC (it runs with no OS), and the GIC is identity-accessible.
    let mut gic = unsafe { GicV3::new(UniqueMmioPointer::new(gicd), gicr, cpus) }
        .map_err(|_| "GICv3 redistributor layout not understood")?;
    // Physical IRQs already target EL2: `mmu::enter_host_mode` set HCR_EL2 (TGE, IMO, ...).
    // EL2 must enable its own system-register interface before the EL1 one used below.
    GicCpuInterface::enable_system_register_el2(true);
    gic.setup(0);
    GicCpuInterface::set_priority_mask(0xff);
    *GIC.lock() = Some(Gic(gic));
    // The kick from other cores (`smp`), which the boot core takes like any other.
    if !enable_irq(smp::IPI_INTID) {
        return Err("the GIC refused the kick interrupt (SGI 0)");
    }
    Ok(())
}

/// Enables interrupt `intid` (a PPI or SPI; SPIs go to the boot core) towards this core.
/// False if the GIC refuses it.
pub fn enable_irq(intid: u32) -> bool {
    let Some(id) = int_id(intid) else {
        return false;
    };
    let core = smp::core_index();
    let mut gic = GIC.lock();
    let Some(Gic(gic)) = gic.as_mut() else {
        return false;
    };
    gic.set_interrupt_priority(id, Some(core), 0x80).is_ok()
        && gic.enable_interrupt(id, Some(core), true).is_ok()
}

/// A secondary core's share of the GIC: its redistributor awake, its CPU interface on, and its
/// timer PPI and the kick SGI enabled. False if the GIC refuses.
pub fn init_this_core_interrupts(core: usize) -> bool {
    GicCpuInterface::enable_system_register_el2(true);
    {
        let mut gic = GIC.lock();
        let Some(Gic(gic)) = gic.as_mut() else {
            return false;
        };
        gic.init_cpu(core);
    }
    GicCpuInterface::enable_group1(true);
    GicCpuInterface::set_priority_mask(0xff);
    let timer = crate::boot::timer_irq_number();
    enable_irq(timer) && enable_irq(smp::IPI_INTID)
}

/// The GIC's name for a private (16-31) or shared (32-1019) interrupt.
fn int_id(intid: u32) -> Option<IntId> {
    match intid {
        0..=15 => Some(IntId::sgi(intid)),
        16..=31 => Some(IntId::ppi(intid - 16)),
        32..=1019 => Some(IntId::spi(intid - 32)),
        _ => None,
    }
}

/// Switches an interrupt off at the GIC (a device that keeps it asserted for nothing).
pub fn disable_irq(intid: u32) -> bool {
    let Some(id) = int_id(intid) else {
        return false;
    };
    let mut gic = GIC.lock();
    let Some(Gic(gic)) = gic.as_mut() else {
        return false;
    };
    gic.enable_interrupt(id, Some(0), false).is_ok()
}

/// Sleeps until an interrupt is pending, then takes it (handled by `capmon_exception`).
///
/// `wfi` runs with IRQs still masked: a pending interrupt wakes it even then, so one that
/// arrives after the caller last checked its condition ends the wait instead of being taken
/// just before `wfi` and leaving the CPU asleep until the next one. Unmasking afterwards takes
/// it; `isb` makes sure that happens before IRQs are masked again.
pub fn wait_for_interrupt() {
    // SAFETY: unmasking IRQs here is the one place the monitor accepts them; the handler
    // preserves all general registers, and callers hold no lock an interrupt handler takes and
    // no capability register.
    unsafe {
        asm!(
            "wfi",
            "msr daifclr, #2",
            "isb",
            "msr daifset, #2",
            options(nomem, nostack)
        )
    };
}

const KIND_CURRENT_IRQ: u64 = 5;

/// Acknowledges and dispatches every pending interrupt (from the idle loop's vector, or after
/// a cVM exited because of one).
pub fn handle_interrupts() {
    while let Some(id) = GicCpuInterface::get_and_acknowledge_interrupt(InterruptGroup::Group1) {
        // The kick (SGI 0) only makes the core leave its cVM or its idle wait.
        if u32::from(id) != smp::IPI_INTID {
            crate::boot::on_interrupt(id.into());
        }
        GicCpuInterface::end_interrupt(id, InterruptGroup::Group1);
    }
}

/// Called by `exception_common` (switch.rs) for every exception taken from EL2 itself; cVM
/// exceptions go through the switcher instead.
#[no_mangle]
extern "C" fn capmon_exception(frame: &mut ExceptionFrame, kind: u64) {
    match kind {
        KIND_CURRENT_IRQ => handle_interrupts(),
        _ => {
            let far: u64;
            // SAFETY: reading FAR_EL2 at EL2 has no side effects.
            unsafe { asm!("mrs {}, far_el2", out(reg) far, options(nomem, nostack)) };
            let syndrome = ArmSyndrome {
                esr: frame.esr,
                far,
            };
            crate::boot::unexpected_exception(format_args!(
                "{} at pc {:#x}, spsr {:#x}, vector {}",
                syndrome, frame.elr, frame.spsr, kind
            ));
        }
    }
}

#[cfg(feature = "cheri")]
pub mod caps;
pub mod cvm;
pub mod mmu;
#[cfg(feature = "cheri")]
pub mod share;
pub mod smp;
pub mod switch;

pub use smp::{core_index, send_ipi, start_secondaries};

pub use mmu::{dma_clean, dma_fence, dma_invalidate, sync_code};
