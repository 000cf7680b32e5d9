//! CHERI-RISC-V capability operations on 16-byte slots in memory. As on Morello, a capability
//! never lives in a Rust variable: each operation is one `asm!` block that loads a slot into
//! the scratch register c6 (x6 declared clobbered), works on it and stores the result.

use core::arch::asm;

use crate::arch::insn::cheri_riscv::{self as r, scr};

/// A capability-sized, capability-aligned slot. Not `Copy`/`Clone`: a byte copy would strip
/// the tag.
#[repr(C, align(16))]
pub struct CapSlot(pub [u64; 2]);

impl CapSlot {
    pub const fn null() -> Self {
        CapSlot([0; 2])
    }
}

/// Stores the current DDC (the root in M-mode after reset) into `slot`.
pub fn capture_ddc(slot: &mut [u64; 2]) {
    // SAFETY: reads DDC into c6 and stores it to `slot`, which is 16-byte aligned (a field at
    // a 16-byte offset of a `repr(align(16))` struct).
    unsafe {
        asm!(
            ".word {read}",   // cspecialrw c6, ddc, c0
            ".word {st}",     // sc c6, 0(a0)
            read = const r::cspecialrw(6, scr::DDC, 0),
            st = const r::sc(6, 10, 0),
            in("x10") slot.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `dst = src` with address `base`, exact bounds `[base, base + length)` and only the
/// permissions in `keep` (CGetPerm layout). The tag is lost if the bounds are inexact or
/// outside `src`; [`inspect`] tells.
pub fn derive(dst: &mut [u64; 2], src: &[u64; 2], base: u64, length: u64, keep: u64) {
    // SAFETY: loads the aligned `src` slot into c6, shrinks it with CSetAddr /
    // CSetBoundsExact / CAndPerm (which never add authority), stores it to the aligned `dst`.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {setaddr}",  // csetaddr c6, c6, a1
            ".word {bounds}",   // csetboundsexact c6, c6, a2
            ".word {andperm}",  // candperm c6, c6, a3
            ".word {st}",       // sc c6, 0(a4)
            ld = const r::lc(6, 10, 0),
            setaddr = const r::csetaddr(6, 6, 11),
            bounds = const r::csetboundsexact(6, 6, 12),
            andperm = const r::candperm(6, 6, 13),
            st = const r::sc(6, 14, 0),
            in("x10") src.as_ptr(),
            in("x11") base,
            in("x12") length,
            in("x13") keep,
            in("x14") dst.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `dst = src` with its address moved to `address` (untagged if unrepresentable).
pub fn with_address(dst: &mut [u64; 2], src: &[u64; 2], address: u64) {
    // SAFETY: as in `derive`; CSetAddr only moves the address.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {setaddr}",  // csetaddr c6, c6, a1
            ".word {st}",       // sc c6, 0(a2)
            ld = const r::lc(6, 10, 0),
            setaddr = const r::csetaddr(6, 6, 11),
            st = const r::sc(6, 12, 0),
            in("x10") src.as_ptr(),
            in("x11") address,
            in("x12") dst.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `slot` sealed in place with object type `otype`, using `sealer` (a capability with Seal
/// whose bounds hold `otype`: the monitor's root). The tag is lost if `slot` was sealed or
/// `otype` is outside the sealer; [`inspect`] tells.
pub fn seal(slot: &mut [u64; 2], sealer: &[u64; 2], otype: u64) {
    // SAFETY: loads the aligned `slot` into c6 and `sealer` into c7, points c7 at `otype`
    // (CSetAddr), seals c6 with it (CSeal: only restricts what c6 can be used for) and stores
    // c6 back to the aligned `slot`. c7, the sealer, never leaves the registers.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {lds}",      // lc c7, 0(a1)
            ".word {setaddr}",  // csetaddr c7, c7, a2
            ".word {seal}",     // cseal c6, c6, c7
            ".word {st}",       // sc c6, 0(a0)
            ".word {clear}",    // ccleartag c7, c7
            ld = const r::lc(6, 10, 0),
            lds = const r::lc(7, 11, 0),
            setaddr = const r::csetaddr(7, 7, 12),
            seal = const r::cseal(6, 6, 7),
            st = const r::sc(6, 10, 0),
            clear = const r::ccleartag(7, 7),
            in("x10") slot.as_mut_ptr(),
            in("x11") sealer.as_ptr(),
            in("x12") otype,
            out("x6") _,
            out("x7") _,
        );
    }
}

/// `dst = src` with its flags set to `flags` (bit 0: capability mode when installed as PCC).
pub fn set_flags(dst: &mut [u64; 2], src: &[u64; 2], flags: u64) {
    // SAFETY: as in `derive`; CSetFlags changes only the flags field.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {flags}",    // csetflags c6, c6, a1
            ".word {st}",       // sc c6, 0(a2)
            ld = const r::lc(6, 10, 0),
            flags = const r::csetflags(6, 6, 11),
            st = const r::sc(6, 12, 0),
            in("x10") src.as_ptr(),
            in("x11") flags,
            in("x12") dst.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `dst = src` sealed as a sentry (CSealEntry; traps if `src` lacks Execute or is sealed, so
/// callers seal only what the model says is an unsealed executable capability).
pub fn seal_entry(dst: &mut [u64; 2], src: &[u64; 2]) {
    // SAFETY: as in `derive`; CSealEntry only seals (a sentry can be unsealed only by jumping
    // to it, so it grants nothing the unsealed capability did not).
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {seal}",     // csealentry c6, c6
            ".word {st}",       // sc c6, 0(a1)
            ld = const r::lc(6, 10, 0),
            seal = const r::csealentry(6, 6),
            st = const r::sc(6, 11, 0),
            in("x10") src.as_ptr(),
            in("x11") dst.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `dst = src`, tag included (a capability load and store, never an integer copy).
pub fn copy(dst: &mut [u64; 2], src: &[u64; 2]) {
    // SAFETY: loads the 16-byte aligned `src` into c6 and stores it to the 16-byte aligned
    // `dst`; the capability is unchanged.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {st}",       // sc c6, 0(a1)
            ld = const r::lc(6, 10, 0),
            st = const r::sc(6, 11, 0),
            in("x10") src.as_ptr(),
            in("x11") dst.as_mut_ptr(),
            out("x6") _,
        );
    }
}

/// `dst = src` with its address moved to `address` and its flags set to `flags` (bit 0:
/// capability encoding mode, for a PCC a pure cVM starts with). Untagged if unrepresentable.
pub fn with_address_and_flags(dst: &mut [u64; 2], src: &[u64; 2], address: u64, flags: u64) {
    // SAFETY: as in `derive`; CSetAddr moves the address, CSetFlags only changes the flags
    // (no authority).
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {setaddr}",  // csetaddr c6, c6, a1
            ".word {setflags}", // csetflags c6, c6, a3
            ".word {st}",       // sc c6, 0(a2)
            ld = const r::lc(6, 10, 0),
            setaddr = const r::csetaddr(6, 6, 11),
            setflags = const r::csetflags(6, 6, 13),
            st = const r::sc(6, 12, 0),
            in("x10") src.as_ptr(),
            in("x11") address,
            in("x12") dst.as_mut_ptr(),
            in("x13") flags,
            out("x6") _,
        );
    }
}

/// What the hardware says a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HwCap {
    pub tag: bool,
    pub base: u64,
    pub length: u64,
    pub address: u64,
    pub perms: u64,
    /// As CGetType reports it: the reserved types sign-extended (unsealed = −1).
    pub otype: u64,
    /// CGetFlags: bit 0 = capability encoding mode.
    pub flags: u64,
}

pub fn inspect(slot: &[u64; 2]) -> HwCap {
    let (tag, base, length, address, perms, otype, flags): (u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: loads the aligned slot into c6 and reads its fields; nothing is stored.
    unsafe {
        asm!(
            ".word {ld}",       // lc c6, 0(a0)
            ".word {gettag}",   // cgettag a1, c6
            ".word {getbase}",  // cgetbase a2, c6
            ".word {getlen}",   // cgetlen a3, c6
            ".word {getaddr}",  // cgetaddr a4, c6
            ".word {getperm}",  // cgetperm a5, c6
            ".word {gettype}",  // cgettype a6, c6
            ".word {getflags}", // cgetflags a7, c6
            ld = const r::lc(6, 10, 0),
            gettag = const r::cgettag(11, 6),
            getbase = const r::cgetbase(12, 6),
            getlen = const r::cgetlen(13, 6),
            getaddr = const r::cgetaddr(14, 6),
            getperm = const r::cgetperm(15, 6),
            gettype = const r::cgettype(16, 6),
            getflags = const r::cgetflags(17, 6),
            in("x10") slot.as_ptr(),
            out("x6") _,
            out("x11") tag, out("x12") base, out("x13") length, out("x14") address, out("x15") perms,
            out("x16") otype, out("x17") flags,
        );
    }
    HwCap {
        tag: tag != 0,
        base,
        length,
        address,
        perms,
        otype,
        flags,
    }
}
