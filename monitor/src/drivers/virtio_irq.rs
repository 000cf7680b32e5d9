//! Interrupt routing for virtio-mmio devices, readable without a lock: the handler
//! acknowledges a transport's interrupt by its register base and counts it, while the driver
//! that owns the device may be holding its own lock (a disk request waits with its lock held).
//!
//! Each driver registers a device once, before enabling its interrupt, and gets a slot; the
//! handler marks the slot pending, and the driver takes the pending marks when it polls.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Most virtio devices with an interrupt (QEMU's virt machines have 32 or 8 transports).
pub const SLOTS: usize = 32;
const NO_IRQ: u32 = u32::MAX;
/// virtio-mmio InterruptStatus / InterruptACK (the same in legacy and modern transports).
const INTERRUPT_STATUS: usize = 0x60;
const INTERRUPT_ACK: usize = 0x64;

static LINE: [AtomicU32; SLOTS] = [const { AtomicU32::new(NO_IRQ) }; SLOTS];
static BASE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static TAKEN: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static USED: AtomicUsize = AtomicUsize::new(0);
/// Bit `s`: slot `s` took an interrupt its driver has not looked at yet.
static PENDING: AtomicU32 = AtomicU32::new(0);

/// A registered device's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// Interrupts this device took.
    pub fn count(self) -> u64 {
        TAKEN[self.0].load(Ordering::Relaxed)
    }

    /// Whether it took an interrupt since the last call (and forgets it).
    pub fn take_pending(self) -> bool {
        let bit = 1u32 << self.0;
        PENDING.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }
}

/// Routes `irq` to the transport at `base`. Call before enabling the interrupt; `None` when
/// every slot is taken (the device is then polled).
pub fn register(irq: u32, base: usize) -> Option<Slot> {
    let slot = USED.fetch_add(1, Ordering::Relaxed);
    if slot >= SLOTS {
        return None;
    }
    BASE[slot].store(base, Ordering::Relaxed);
    LINE[slot].store(irq, Ordering::Release);
    Some(Slot(slot))
}

impl Slot {
    /// The slot's bit in [`pending_mask`].
    pub fn bit(self) -> u32 {
        1 << self.0
    }
}

/// Bit `s` set: slot `s` took an interrupt its driver has not taken with
/// [`Slot::take_pending`].
pub fn pending_mask() -> u32 {
    PENDING.load(Ordering::Acquire)
}

/// Interrupt dispatch: true if `irq` belongs to a registered device. Acknowledges every
/// transport on the line (its level stays asserted until then).
pub fn on_interrupt(irq: u32) -> bool {
    let mut ours = false;
    let used = USED.load(Ordering::Relaxed).min(SLOTS);
    for slot in 0..used {
        if LINE[slot].load(Ordering::Acquire) != irq {
            continue;
        }
        let base = BASE[slot].load(Ordering::Relaxed);
        // SAFETY: `base` is the register window of a virtio-mmio transport its driver
        // registered (written before the line, which is read with Acquire above);
        // InterruptStatus and InterruptACK are 32-bit registers, and reading/acknowledging
        // them does not disturb requests in flight.
        unsafe {
            let status = core::ptr::read_volatile((base + INTERRUPT_STATUS) as *const u32);
            if status != 0 {
                core::ptr::write_volatile((base + INTERRUPT_ACK) as *mut u32, status);
                TAKEN[slot].fetch_add(1, Ordering::Relaxed);
                PENDING.fetch_or(1 << slot, Ordering::AcqRel);
            }
        }
        ours = true;
    }
    ours
}
