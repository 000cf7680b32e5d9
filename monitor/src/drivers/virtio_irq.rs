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
/// Interrupts in a row on which slot `s`'s device reported nothing.
static EMPTY_IN_ROW: [AtomicU32; SLOTS] = [const { AtomicU32::new(0) }; SLOTS];
/// Bit `s`: slot `s`'s line kept firing with nothing to report and was switched off; its
/// driver polls it instead.
static STORMED: AtomicU32 = AtomicU32::new(0);
/// Interrupts in a row with an empty InterruptStatus before a line counts as stuck. A level
/// line a device keeps asserted without reporting anything would otherwise be taken again as
/// soon as it is acknowledged, for ever; a shared line's neighbour never comes near this.
pub const STORM_LIMIT: u32 = 1000;

/// A registered device's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// Interrupts this device took.
    pub fn count(self) -> u64 {
        TAKEN[self.0].load(Ordering::Relaxed)
    }

    /// Whether its line was switched off for firing with nothing to report: poll the device.
    pub fn stormed(self) -> bool {
        STORMED.load(Ordering::Relaxed) & (1 << self.0) != 0
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

/// Routes a device's interrupt (`irq` from the device tree) to its transport at `base` and
/// enables it; appends how it will be served to the device's boot line. `None`: the device is
/// polled.
#[cfg(target_os = "none")]
pub fn enable(irq: Option<u32>, base: usize, line: &mut alloc::string::String) -> Option<Slot> {
    use alloc::format;
    let Some(n) = irq else {
        line.push_str(", no interrupt: polling");
        return None;
    };
    // The handler must know the device before its interrupt can arrive.
    let Some(slot) = register(n, base) else {
        line.push_str(&format!(", irq {n}: no routing slot left: polling"));
        return None;
    };
    if crate::arch::current::enable_irq(n) {
        line.push_str(&format!(", irq {n}"));
        Some(slot)
    } else {
        line.push_str(&format!(", irq {n} refused: polling"));
        None
    }
}

/// Bit `s` set: slot `s`'s line was switched off ([`Slot::stormed`]).
pub fn stormed_mask() -> u32 {
    STORMED.load(Ordering::Relaxed)
}

/// What [`on_interrupt`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The line belongs to no registered device.
    NotOurs,
    /// Acknowledged.
    Handled,
    /// The line fired [`STORM_LIMIT`] times in a row with nothing to report: the caller must
    /// switch it off at the interrupt controller (its devices are polled from now on).
    Stuck,
}

/// Interrupt dispatch. Acknowledges every transport on the line (its level stays asserted until
/// then) and says whether the line must be switched off.
pub fn on_interrupt(irq: u32) -> Taken {
    let mut ours = false;
    let mut stuck = false;
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
        let status = unsafe { core::ptr::read_volatile((base + INTERRUPT_STATUS) as *const u32) };
        if status != 0 {
            // SAFETY: as above: InterruptACK of the same transport.
            unsafe { core::ptr::write_volatile((base + INTERRUPT_ACK) as *mut u32, status) };
            TAKEN[slot].fetch_add(1, Ordering::Relaxed);
            PENDING.fetch_or(1 << slot, Ordering::AcqRel);
            EMPTY_IN_ROW[slot].store(0, Ordering::Relaxed);
        } else if EMPTY_IN_ROW[slot].fetch_add(1, Ordering::Relaxed) + 1 >= STORM_LIMIT {
            STORMED.fetch_or(1 << slot, Ordering::AcqRel);
            // Its driver polls it now: whatever it completed is looked at.
            PENDING.fetch_or(1 << slot, Ordering::AcqRel);
            stuck = true;
        }
        ours = true;
    }
    match (ours, stuck) {
        (false, _) => Taken::NotOurs,
        (true, false) => Taken::Handled,
        (true, true) => Taken::Stuck,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport's registers, as far as the handler reads and writes them.
    #[repr(C, align(4))]
    struct Registers([u32; 32]);

    #[test]
    fn completions_are_acknowledged_and_a_silent_stuck_line_is_given_up() {
        let mut regs = Registers([0; 32]);
        let words = regs.0.as_mut_ptr();
        let base = words as usize;
        // The "device" side: every access goes through the same pointer as the handler's, and
        // is volatile, as the handler's are.
        let set_status = |v: u32| {
            // SAFETY: `words` points at 32 live u32s (`regs` outlives the test); the index is
            // in range.
            unsafe { words.add(INTERRUPT_STATUS / 4).write_volatile(v) }
        };
        let acked = || {
            // SAFETY: as for `set_status`.
            unsafe { words.add(INTERRUPT_ACK / 4).read_volatile() }
        };
        let slot = register(4242, base).expect("a free slot");
        assert_eq!(on_interrupt(4343), Taken::NotOurs);
        set_status(1);
        assert_eq!(on_interrupt(4242), Taken::Handled);
        assert_eq!(acked(), 1, "acknowledged what it reported");
        assert!(slot.take_pending() && !slot.take_pending());
        assert_eq!(slot.count(), 1);
        // A line that keeps firing with nothing to report: given up at the limit, not before.
        set_status(0);
        for _ in 1..STORM_LIMIT {
            assert_eq!(on_interrupt(4242), Taken::Handled);
        }
        assert!(!slot.stormed());
        assert_eq!(on_interrupt(4242), Taken::Stuck);
        assert!(
            slot.stormed() && slot.take_pending(),
            "its driver is told to poll"
        );
        assert_eq!(slot.count(), 1, "empty interrupts are not completions");
    }
}
