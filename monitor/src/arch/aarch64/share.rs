//! Sharing's register-level work on Morello: every capability slot of a saved cVM context
//! (for the revocation sweep), where a hybrid cVM finds its capability store (RCTPIDR_EL0, the
//! context's `tls` slot), and deriving a granted capability from an authority slot.

use core::ops::Range;

use super::caps;
use super::cvm::CvmCpu;
use super::switch::CvmContext;
use crate::cap::Capability;
use crate::cvm::share::sweep::{Seen, Slots};

type Format = super::cvm::Format;

/// Capability slots in a Morello context: c0..c30, then RCSP_EL0, CELR_EL2 (the PC), RDDC_EL0
/// and RCTPIDR_EL0. Everything the switcher restores as a capability is one of these: the
/// assertion below fails the build if a capability field is added before `spsr` without
/// growing this count, and the switcher loads no other capability register per cVM (the
/// executive bank and CTPIDRRO_EL0 are null from boot, CID_EL0 is nulled on every entry).
pub const CONTEXT_SLOTS: usize = 31 + 4;
const _: () = assert!(core::mem::offset_of!(CvmContext, spsr) == CONTEXT_SLOTS * 16);

/// A saved context as a set of slots for the sweep.
pub struct ContextSlots<'a>(pub &'a mut CvmContext);

impl ContextSlots<'_> {
    fn slot(&self, i: usize) -> &[u64; 2] {
        let c = &self.0;
        match i {
            0..=30 => &c.regs[i],
            31 => &c.sp,
            32 => &c.pc,
            33 => &c.ddc,
            _ => &c.tls,
        }
    }
    fn slot_mut(&mut self, i: usize) -> &mut [u64; 2] {
        let c = &mut self.0;
        match i {
            0..=30 => &mut c.regs[i],
            31 => &mut c.sp,
            32 => &mut c.pc,
            33 => &mut c.ddc,
            _ => &mut c.tls,
        }
    }
}

impl Slots for ContextSlots<'_> {
    fn count(&self) -> usize {
        CONTEXT_SLOTS
    }
    fn seen(&self, i: usize) -> Seen {
        seen(self.slot(i))
    }
    fn clear_tag(&mut self, i: usize) {
        clear_tag(self.slot_mut(i));
    }
}

/// What the hardware says a slot holds, for the sweep.
pub fn seen(slot: &[u64; 2]) -> Seen {
    let hw = caps::inspect(slot);
    // GCLEN saturates a 2^64 length to all-ones: treat that as reaching the top.
    let top = if hw.length == u64::MAX {
        1u128 << 64
    } else {
        u128::from(hw.base) + u128::from(hw.length)
    };
    Seen {
        tag: hw.tag,
        base: hw.base,
        top,
    }
}

/// Clears a slot's tag: any data (non-capability) store to a capability granule clears its
/// tag, so rewriting the high word with itself keeps the bits (for fault reports) and drops
/// the authority.
pub fn clear_tag(slot: &mut [u64; 2]) {
    let high = slot[1];
    // SAFETY: `slot` is a valid, aligned 8-byte location; the volatile write keeps the
    // compiler from eliding a store of the value already there.
    unsafe { core::ptr::write_volatile(&mut slot[1], high) };
}

/// The cVM's data capability: the authority its exports are derived from.
pub fn data_capability(cpu: &CvmCpu) -> &[u64; 2] {
    &cpu.context.ddc
}

/// Puts the capability-store capability where a hybrid cVM finds it: RCTPIDR_EL0, which a
/// Restricted-mode cVM reads as `CTPIDR_EL0` (banked like DDC and SP; checked on CHERI QEMU:
/// the RCTPIDR_EL0 name itself is undefined in Restricted mode).
/// Also in c3 at entry (arg3 of the shared register ABI; cap-unaware code just ignores it).
pub fn install_store(cpu: &mut CvmCpu, store: &[u64; 2], base: u64) {
    caps::with_address(&mut cpu.context.tls, store, base);
    caps::with_address(&mut cpu.context.regs[3], store, base);
}

/// Derives `model` (its bounds and permissions) from `authority` into `dst`; false if the
/// result lost its tag (bounds outside the authority or inexact).
pub fn derive(dst: &mut [u64; 2], authority: &[u64; 2], model: &Capability<Format>) -> bool {
    let keep = u64::from(model.perms().bits());
    let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
    caps::derive(dst, authority, model.base(), length, !keep & 0x3_ffff);
    let hw = caps::inspect(dst);
    hw.tag && hw.base == model.base() && hw.length == length && hw.perms == keep
}

/// Derives from the root capability (only the share pool's own capability is).
pub fn derive_from_root(dst: &mut [u64; 2], model: &Capability<Format>) -> bool {
    let root = super::cvm::ROOT.lock();
    derive(dst, &root.0, model)
}

/// Whether cVMs have PMP windows to keep in step with their imports (RISC-V).
pub const WINDOWS: bool = false;

/// Morello has no PMP: the page tables give EL0 the whole cVM pool, capabilities confine.
pub fn set_shared_window(_cpu: &mut CvmCpu, _ranges: &[Range<u64>]) {}

/// Seals `slot` in place with `otype`; the monitor's root is the sealer, and no sealing
/// capability ever leaves the monitor. False unless the result is tagged and sealed with
/// `otype`.
pub fn seal(slot: &mut [u64; 2], otype: u32) -> bool {
    {
        let root = super::cvm::ROOT.lock();
        caps::seal(slot, &root.0, u64::from(otype));
    }
    let hw = caps::inspect(slot);
    hw.tag && hw.otype == u64::from(otype)
}

/// Derives `model` from `authority` into `dst`, then moves its address to `address`; false
/// if the result lost its tag or differs from the model.
pub fn derive_at(
    dst: &mut [u64; 2],
    authority: &[u64; 2],
    model: &Capability<Format>,
    address: u64,
) -> bool {
    let mut at = caps::CapSlot::null();
    if !derive(&mut at.0, authority, model) {
        return false;
    }
    caps::with_address(dst, &at.0, address);
    let hw = caps::inspect(dst);
    hw.tag && hw.address == address
}

/// `dst = src`, tag included.
pub fn copy(dst: &mut [u64; 2], src: &[u64; 2]) {
    caps::copy(dst, src);
}

/// The bounds `[base, base + length)` of the PCC the cVM's context resumes with, when it is a
/// tagged, unsealed capability: during a call, the callee's code window.
pub fn resume_code(cpu: &CvmCpu) -> Option<Range<u64>> {
    let hw = caps::inspect(&cpu.context.pc);
    (hw.tag && hw.otype == 0).then(|| hw.base..hw.base.saturating_add(hw.length))
}

/// Ends a call the monitor had to stop (its callee faulted or ran past its budget): the
/// caller resumes at its return stub (`code`, unsealed) with its capability store in the
/// register where the return pair's data would land (c29), the error in the value
/// register and [`capmon_abi::CALL_FAILED`] in the status register.
pub fn fail_call(cpu: &mut CvmCpu, code: &[u64; 2], store: &[u64; 2], error: u64) {
    caps::copy(&mut cpu.context.pc, code);
    caps::copy(&mut cpu.context.regs[29], store);
    cpu.context.regs[0] = [error, 0];
    cpu.context.regs[1] = [capmon_abi::CALL_FAILED, 0];
}
