//! Morello capability operations on 16-byte slots in memory. A capability never lives in a
//! Rust variable: each operation is one `asm!` block that loads slots into scratch capability
//! registers, works on them and stores the result, so no integer move can strip a tag.
//!
//! Scratch registers: c9/c10 (x9/x10 declared clobbered), with x11..x13 for integer operands.

use core::arch::asm;

use crate::arch::insn::morello::{self as m, sysreg};

/// A capability-sized, capability-aligned slot. Not `Copy`/`Clone`: a byte copy would strip
/// the tag; use [`copy`].
#[repr(C, align(16))]
pub struct CapSlot(pub [u64; 2]);

impl CapSlot {
    pub const fn null() -> Self {
        CapSlot([0; 2])
    }
}

/// Stores the monitor's current DDC (the root at EL2 after reset) into `slot`.
pub fn capture_ddc(slot: &mut [u64; 2]) {
    // SAFETY: reads DDC into c9 and stores it to `slot`, a 16-byte aligned slot (every
    // caller passes a field of a `repr(align(16))` struct at a 16-byte offset).
    unsafe {
        asm!(
            ".inst {mrs}",      // mrs c9, DDC
            ".inst {st}",       // str c9, [x10]
            mrs = const m::mrs_cap(9, sysreg::DDC),
            st = const m::str_cap(9, 10, 0),
            in("x10") slot.as_mut_ptr(),
            out("x9") _,
        );
    }
}

/// `dst = src` with address `base`, exact bounds `[base, base + length)` and the permission
/// bits in `clear` (GCPERM layout) removed. The tag is lost if the bounds are inexact or
/// outside `src`; [`inspect`] tells.
pub fn derive(dst: &mut [u64; 2], src: &[u64; 2], base: u64, length: u64, clear: u64) {
    // SAFETY: loads `src` (16-byte aligned slot) into c9, derives with SCVALUE/SCBNDSE/CLRPERM
    // (which can only shrink authority), and stores c9 to `dst` (16-byte aligned).
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {scvalue}",  // scvalue c9, c9, x11
            ".inst {scbndse}",  // scbndse c9, c9, x12
            ".inst {clrperm}",  // clrperm c9, c9, x13
            ".inst {st}",       // str c9, [x14]
            ld = const m::ldr_cap(9, 10, 0),
            scvalue = const m::scvalue(9, 9, 11),
            scbndse = const m::scbndse(9, 9, 12),
            clrperm = const m::clrperm(9, 9, 13),
            st = const m::str_cap(9, 14, 0),
            in("x10") src.as_ptr(),
            in("x11") base,
            in("x12") length,
            in("x13") clear,
            in("x14") dst.as_mut_ptr(),
            out("x9") _,
        );
    }
}

/// `dst = src` with its address moved to `address` (the tag is lost if unrepresentable).
pub fn with_address(dst: &mut [u64; 2], src: &[u64; 2], address: u64) {
    // SAFETY: as in `derive`; SCVALUE only changes the address.
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {scvalue}",  // scvalue c9, c9, x11
            ".inst {st}",       // str c9, [x12]
            ld = const m::ldr_cap(9, 10, 0),
            scvalue = const m::scvalue(9, 9, 11),
            st = const m::str_cap(9, 12, 0),
            in("x10") src.as_ptr(),
            in("x11") address,
            in("x12") dst.as_mut_ptr(),
            out("x9") _,
        );
    }
}

/// `dst = src` sealed as a sentry (SEAL rb; the tag is lost if `src` is already sealed).
pub fn seal_entry(dst: &mut [u64; 2], src: &[u64; 2]) {
    // SAFETY: as in `derive`; SEAL rb only seals (a sentry can be unsealed only by branching
    // to it, so it grants nothing the unsealed capability did not).
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {seal}",     // seal c9, c9, rb
            ".inst {st}",       // str c9, [x11]
            ld = const m::ldr_cap(9, 10, 0),
            seal = const m::seal_imm(9, 9, m::seal_form::RB),
            st = const m::str_cap(9, 11, 0),
            in("x10") src.as_ptr(),
            in("x11") dst.as_mut_ptr(),
            out("x9") _,
        );
    }
}

/// `slot` sealed in place with object type `otype`, using `sealer` (a capability with Seal
/// whose bounds hold `otype`: the monitor's root). The tag is lost if `slot` was sealed or
/// `otype` is outside the sealer; [`inspect`] tells.
pub fn seal(slot: &mut [u64; 2], sealer: &[u64; 2], otype: u64) {
    // SAFETY: loads the 16-byte aligned `slot` into c9 and `sealer` into c11, points c11 at
    // `otype` (SCVALUE), seals c9 with it (SEAL only restricts what c9 can be used for), stores
    // c9 back to `slot` and clears c11's tag so the sealer never outlives the block.
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {lds}",      // ldr c11, [x12]
            ".inst {scvalue}",  // scvalue c11, c11, x13
            ".inst {seal}",     // seal c9, c9, c11
            ".inst {st}",       // str c9, [x10]
            ".inst {clear}",    // clrtag c11, c11
            ld = const m::ldr_cap(9, 10, 0),
            lds = const m::ldr_cap(11, 12, 0),
            scvalue = const m::scvalue(11, 11, 13),
            seal = const m::seal(9, 9, 11),
            st = const m::str_cap(9, 10, 0),
            clear = const m::clrtag(11, 11),
            in("x10") slot.as_mut_ptr(),
            in("x12") sealer.as_ptr(),
            in("x13") otype,
            out("x9") _,
            out("x11") _,
        );
    }
}

/// `dst = src`, tag included (a capability load and store, never an integer copy).
pub fn copy(dst: &mut [u64; 2], src: &[u64; 2]) {
    // SAFETY: loads the 16-byte aligned `src` into c9 and stores it to the 16-byte aligned
    // `dst`; the capability is unchanged.
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {st}",       // str c9, [x11]
            ld = const m::ldr_cap(9, 10, 0),
            st = const m::str_cap(9, 11, 0),
            in("x10") src.as_ptr(),
            in("x11") dst.as_mut_ptr(),
            out("x9") _,
        );
    }
}

/// What the hardware says a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwCap {
    pub tag: bool,
    pub base: u64,
    /// GCLEN saturates a 2^64 length to `u64::MAX`.
    pub length: u64,
    pub address: u64,
    pub perms: u64,
    pub otype: u64,
}

pub fn inspect(slot: &[u64; 2]) -> HwCap {
    let (tag, base, length, address, perms, otype): (u64, u64, u64, u64, u64, u64);
    // SAFETY: loads the 16-byte aligned slot into c9 and reads its fields with GC*; nothing
    // is stored.
    unsafe {
        asm!(
            ".inst {ld}",       // ldr c9, [x10]
            ".inst {gctag}",    // gctag x11, c9
            ".inst {gcbase}",   // gcbase x12, c9
            ".inst {gclen}",    // gclen x13, c9
            ".inst {gcvalue}",  // gcvalue x14, c9
            ".inst {gcperm}",   // gcperm x15, c9
            ".inst {gctype}",   // gctype x16, c9
            ld = const m::ldr_cap(9, 10, 0),
            gctag = const m::gctag(11, 9),
            gcbase = const m::gcbase(12, 9),
            gclen = const m::gclen(13, 9),
            gcvalue = const m::gcvalue(14, 9),
            gcperm = const m::gcperm(15, 9),
            gctype = const m::gctype(16, 9),
            in("x10") slot.as_ptr(),
            out("x9") _,
            out("x11") tag, out("x12") base, out("x13") length,
            out("x14") address, out("x15") perms, out("x16") otype,
        );
    }
    HwCap {
        tag: tag != 0,
        base,
        length,
        address,
        perms,
        otype,
    }
}
