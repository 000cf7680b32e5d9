//! Sharing's register-level work on CHERI-RISC-V: every capability slot of a saved cVM
//! context (for the revocation sweep), where a hybrid cVM finds its capability store (ctp =
//! c4, a register compilers never allocate), deriving a granted capability from an authority
//! slot, and opening the PMP window onto the capability store and imported objects.

use core::ops::Range;

use super::caps;
use super::cvm::CvmCpu;
use super::switch::CvmContext;
use crate::cap::Capability;
use crate::cvm::share::sweep::{Seen, Slots};

type Format = super::cvm::Format;

/// Capability slots in a CHERI-RISC-V context: c0..c31 (c0 is never loaded; it is swept
/// anyway), the PC (MEPCC) and DDC. The assertion fails the build if a capability field is
/// added before `monitor_sp` without growing this count; the switcher loads no other
/// capability register per cVM. (The running cVM's c31, DDC and PC live in MScratchC, MTDC and
/// MEPCC during a hostcall; sweeps never visit the running cVM: it is always the exporter
/// being spared, and every other cVM left through `run_cvm`, which spilled them.)
pub const CONTEXT_SLOTS: usize = 32 + 2;
const _: () = assert!(core::mem::size_of::<[[u64; 2]; 32]>() + 32 == CONTEXT_SLOTS * 16);

/// A saved context as a set of slots for the sweep.
pub struct ContextSlots<'a>(pub &'a mut CvmContext);

impl ContextSlots<'_> {
    fn slot(&self, i: usize) -> &[u64; 2] {
        match i {
            0..=31 => &self.0.regs[i],
            32 => &self.0.pc,
            _ => &self.0.ddc,
        }
    }
    fn slot_mut(&mut self, i: usize) -> &mut [u64; 2] {
        match i {
            0..=31 => &mut self.0.regs[i],
            32 => &mut self.0.pc,
            _ => &mut self.0.ddc,
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

/// Clears a slot's tag with a data store (see the Morello twin).
pub fn clear_tag(slot: &mut [u64; 2]) {
    let high = slot[1];
    // SAFETY: `slot` is a valid, aligned 8-byte location.
    unsafe { core::ptr::write_volatile(&mut slot[1], high) };
}

/// The cVM's data capability: the authority its exports are derived from.
pub fn data_capability(cpu: &CvmCpu) -> &[u64; 2] {
    &cpu.context.ddc
}

/// Puts the capability-store capability where a hybrid cVM finds it: ctp (c4).
/// Also in ca3 (c13) at entry (arg3 of the shared register ABI; cap-unaware code ignores it).
pub fn install_store(cpu: &mut CvmCpu, store: &[u64; 2], base: u64) {
    caps::with_address(&mut cpu.context.regs[4], store, base);
    caps::with_address(&mut cpu.context.regs[13], store, base);
}

/// Derives `model` from `authority` into `dst`; false if the result lost its tag or differs.
pub fn derive(dst: &mut [u64; 2], authority: &[u64; 2], model: &Capability<Format>) -> bool {
    let keep = u64::from(model.perms().bits());
    let length = u64::try_from(model.length()).unwrap_or(u64::MAX);
    caps::derive(dst, authority, model.base(), length, keep);
    let hw = caps::inspect(dst);
    hw.tag && hw.base == model.base() && hw.length == length && hw.perms == keep
}

/// Derives from the root capability (only the share pool's own capability is).
pub fn derive_from_root(dst: &mut [u64; 2], model: &Capability<Format>) -> bool {
    let root = super::cvm::ROOT.lock();
    derive(dst, &root.0, model)
}

/// Whether cVMs have PMP windows to keep in step with their imports (RISC-V).
pub const WINDOWS: bool = true;

/// Opens the cVM's PMP window onto `ranges` (read-write; its capabilities decide the rest).
pub fn set_shared_window(cpu: &mut CvmCpu, ranges: &[Range<u64>]) {
    cpu.set_shared(ranges);
}

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
    (hw.tag && hw.otype == u64::MAX).then(|| hw.base..hw.base.saturating_add(hw.length))
}

/// Ends a call the monitor had to stop (its callee faulted or ran past its budget): the
/// caller resumes at its return stub (`code`, unsealed) with its capability store in the
/// register where the return pair's data would land (c31), the error in the value
/// register and [`capmon_abi::CALL_FAILED`] in the status register.
pub fn fail_call(cpu: &mut CvmCpu, code: &[u64; 2], store: &[u64; 2], error: u64) {
    caps::copy(&mut cpu.context.pc, code);
    caps::copy(&mut cpu.context.regs[31], store);
    cpu.context.regs[10] = [error, 0];
    cpu.context.regs[11] = [capmon_abi::CALL_FAILED, 0];
}
