//! Morello instruction words (cheri.md §A.1.1) and capability system-register encodings for
//! MSR/MRS (§A.1.2).
//!
//! Operand letters follow the Arm syntax: `d`/`t` go in bits 4:0, `n` in 9:5, `m` in 20:16.
//! Whether a field names a C or an X register, and what 31 means there, is in each doc comment
//! (see the module conventions in [`super`]).

use super::register;

/// Places a register number in the field its operand letter names.
mod field {
    use super::register;
    /// Destination (bits 4:0).
    pub(super) const fn d(number: u32) -> u32 {
        register(number)
    }
    /// Transferred register of a load/store or MSR/MRS (bits 4:0).
    pub(super) const fn t(number: u32) -> u32 {
        register(number)
    }
    /// First source / base (bits 9:5).
    pub(super) const fn n(number: u32) -> u32 {
        register(number) << 5
    }
    /// Second source (bits 20:16).
    pub(super) const fn m(number: u32) -> u32 {
        register(number) << 16
    }
}

/// Defines `pub const fn name(operands…) -> u32 { BASE | fields }` for the instructions whose
/// operands are only registers in the standard fields.
macro_rules! register_form {
    ($( $(#[$doc:meta])* fn $name:ident($($operand:ident),*) = $base:literal; )*) => {
        $(
            $(#[$doc])*
            pub const fn $name($($operand: u32),*) -> u32 {
                $base $( | field::$operand($operand) )*
            }
        )*
    };
}

register_form! {
    /// `CPY Cd, Cn` (alias `MOV Cd, Cn`): full copy including the tag. 31 = CSP.
    fn cpy(d, n) = 0xC2C1_D000;
    /// `CLRTAG Cd, Cn`: copy with the tag cleared. 31 = CSP.
    fn clrtag(d, n) = 0xC2C1_9000;
    /// `SCBNDS Cd, Cn, Xm`: bounds `[Cn.value, +Xm)` rounded outward; the tag is cleared if that
    /// exceeds Cn's bounds. Cd/Cn 31 = CSP, Xm 31 = XZR.
    fn scbnds(d, n, m) = 0xC2C0_0000;
    /// `SCBNDSE Cd, Cn, Xm`: exact bounds `[Cn.value, +Xm)`, or the **tag is cleared** (no trap).
    /// Cd/Cn 31 = CSP, Xm 31 = XZR.
    fn scbndse(d, n, m) = 0xC2C0_2000;
    /// `SCVALUE Cd, Cn, Xm`: set the address; the tag is cleared if unrepresentable.
    /// Cd/Cn 31 = CSP, Xm 31 = XZR.
    fn scvalue(d, n, m) = 0xC2C0_4000;
    /// `SCOFF Cd, Cn, Xm`: address := Cn.base + Xm. Cd/Cn 31 = CSP, Xm 31 = XZR.
    fn scoff(d, n, m) = 0xC2C0_6000;
    /// `CLRPERM Cd, Cn, Xm`: clear the permissions set in Xm (GCPERM layout). Cd/Cn 31 = CSP,
    /// Xm 31 = XZR.
    fn clrperm(d, n, m) = 0xC2C0_A000;
    /// `SEAL Cd, Cn, Cm`: seal Cn with otype Cm.value. 31 = CZR in every field.
    fn seal(d, n, m) = 0xC2C0_0800;
    /// `UNSEAL Cd, Cn, Cm`: unseal Cn with authority Cm. 31 = CZR in every field.
    fn unseal(d, n, m) = 0xC2C0_4800;
    /// `CSEAL Cd, Cn, Cm`: conditional seal, sets NZCV. 31 = CZR in every field.
    fn cseal(d, n, m) = 0xC2C0_4400;
    /// `BUILD Cd, Cn, Cm`: rederive a tag for untagged Cn from authority Cm.
    fn build(d, n, m) = 0xC2C0_0400;
    /// `CPYTYPE Cd, Cn, Cm`: 31 = CZR in every field.
    fn cpytype(d, n, m) = 0xC2C0_2400;
    /// `CPYVALUE Cd, Cn, Cm`: 31 = CZR in every field.
    fn cpyvalue(d, n, m) = 0xC2C0_6400;
    /// `CHKSSU Cd, Cn, Cm`: check subset and unseal.
    fn chkssu(d, n, m) = 0xC2C0_8800;
    /// `GCBASE Xd, Cn`: base of Cn. Cn 31 = CSP, Xd 31 = XZR.
    fn gcbase(d, n) = 0xC2C0_1000;
    /// `GCLEN Xd, Cn`: length (2^64 saturates to all-ones). Cn 31 = CSP.
    fn gclen(d, n) = 0xC2C0_3000;
    /// `GCVALUE Xd, Cn`: the address. Cn 31 = CSP.
    fn gcvalue(d, n) = 0xC2C0_5000;
    /// `GCOFF Xd, Cn`: address − base. Cn 31 = CSP.
    fn gcoff(d, n) = 0xC2C0_7000;
    /// `GCTAG Xd, Cn`: the tag. Cn 31 = CSP.
    fn gctag(d, n) = 0xC2C0_9000;
    /// `GCSEAL Xd, Cn`: whether sealed. Cn 31 = CSP.
    fn gcseal(d, n) = 0xC2C0_B000;
    /// `GCPERM Xd, Cn`: permissions in bits 17:0. Cn 31 = CSP.
    fn gcperm(d, n) = 0xC2C0_D000;
    /// `GCTYPE Xd, Cn`: the object type. Cn 31 = CSP.
    fn gctype(d, n) = 0xC2C0_F000;
    /// `GCLIM Xd, Cn`: the limit (top). Cn 31 = CSP.
    fn gclim(d, n) = 0xC2C1_1000;
    /// `GCFLGS Xd, Cn`: the flag byte. Cn 31 = CSP.
    fn gcflgs(d, n) = 0xC2C1_3000;
    /// `CFHI Xd, Cn`: copy the high 64 bits. Cn 31 = CSP.
    fn cfhi(d, n) = 0xC2C1_5000;
    /// `CTHI Cd, Cn, Xm`: set the high 64 bits (untags). Xm 31 = XZR.
    fn cthi(d, n, m) = 0xC2C0_E800;
    /// `SCTAG Cd, Cn, Xm`: set the tag (EL>0, PCC needs System, CxCR.SETTAG = 0).
    fn sctag(d, n, m) = 0xC2C0_8000;
    /// `SCFLGS Cd, Cn, Xm`: set the flag byte. Xm 31 = XZR.
    fn scflgs(d, n, m) = 0xC2C0_E000;
    /// `RRLEN Xd, Xn` (CRRL): representable length for Xn. 31 = XZR.
    fn rrlen(d, n) = 0xC2C7_1000;
    /// `RRMASK Xd, Xn` (CRAM): alignment mask for length Xn. 31 = XZR.
    fn rrmask(d, n) = 0xC2C7_3000;
    /// `CHKTGD Cn`: C flag := tag (read it with `cset xN, cs`).
    fn chktgd(n) = 0xC2C2_3001;
    /// `CHKSLD Cn`: C flag := sealed.
    fn chksld(n) = 0xC2C2_1001;
    /// `CHKEQ Cn, Cm`: Z := (Cn == Cm, tag included). Cm 31 = CZR.
    fn chkeq(n, m) = 0xC2C0_A401;
    /// `CHKSS Cn, Cm`: N := Cn ⊆ Cm (and tags equal).
    fn chkss(n, m) = 0xC2C0_8401;
    /// `CVTP Cd, Xn`: capability from PCC with address Xn (the usual way to make a cap from an
    /// A64 address). Xn 31 = XZR.
    fn cvtp(d, n) = 0xC2C5_B000;
    /// `CVTD Cd, Xn`: capability from DDC with address Xn. Xn 31 = XZR.
    fn cvtd(d, n) = 0xC2C5_9000;
    /// `CVTPZ Cd, Xn`: like CVTP, but Xn = 0 gives the null capability.
    fn cvtpz(d, n) = 0xC2C5_F000;
    /// `CVTDZ Cd, Xn`: like CVTD, but Xn = 0 gives the null capability.
    fn cvtdz(d, n) = 0xC2C5_D000;
    /// `CVTP Xd, Cn`: Cn's address as an offset from PCC's base.
    fn cvtp_to_offset(d, n) = 0xC2C5_3000;
    /// `CVTD Xd, Cn`: Cn's address as an offset from DDC's base.
    fn cvtd_to_offset(d, n) = 0xC2C5_1000;
    /// `BR Cn`: branch (sentries are unsealed; PSTATE.C64 := target bit 0). Cn 31 = CZR.
    fn br(n) = 0xC2C2_1000;
    /// `BLR Cn`: branch with link to C30. Cn 31 = CZR.
    fn blr(n) = 0xC2C2_3000;
    /// `RET Cn`: return (write 30 for the usual `RET C30`). Cn 31 = CZR.
    fn ret(n) = 0xC2C2_5000;
    /// `BRS Cn`: branch "sealed" (must be a sentry if CCTLR.SBL = 1).
    fn brs(n) = 0xC2C2_1002;
    /// `BLRS Cn`: branch with link, sealed.
    fn blrs(n) = 0xC2C2_3002;
    /// `RETS Cn`: return, sealed.
    fn rets(n) = 0xC2C2_5002;
    /// `BRR Cn`: branch that may drop Executive (enter Restricted).
    fn brr(n) = 0xC2C2_1003;
    /// `BLRR Cn`: branch with link that may drop Executive.
    fn blrr(n) = 0xC2C2_3003;
    /// `RETR Cn`: return that may drop Executive.
    fn retr(n) = 0xC2C2_5003;
    /// `BRS Cn, Cm`: branch to sealed pair; Cm (data) lands in C29. Cm 31 = CZR.
    fn brs_pair(n, m) = 0xC2C0_8400;
    /// `BLRS Cn, Cm`: sealed-pair call (the CInvoke equivalent). Cm 31 = CZR.
    fn blrs_pair(n, m) = 0xC2C0_A400;
    /// `RETS Cn, Cm`: sealed-pair return. Cm 31 = CZR.
    fn rets_pair(n, m) = 0xC2C0_C400;
    /// `LDPBR Ct, [Cn]`: load [Cn] → Ct and branch to [Cn + 16].
    fn ldpbr(t, n) = 0xC2C4_1000;
    /// `LDPBLR Ct, [Cn]`: like LDPBR, with link.
    fn ldpblr(t, n) = 0xC2C4_3000;
    /// `LDCT Xt, [Xn]`: load the 4 tags of a 64-byte granule. Xn 31 = SP.
    fn ldct(t, n) = 0xC2C4_B000;
    /// `STCT Xt, [Xn]`: store 4 tags (EL>0, System, SETTAG = 0). Xn 31 = SP.
    fn stct(t, n) = 0xC2C4_9000;
    /// `LDAR Ct, [Xn]`: load-acquire a capability. Ct 31 = CZR, Xn 31 = SP.
    fn ldar_cap(t, n) = 0x425F_FC00;
    /// `STLR Ct, [Xn]`: store-release a capability. Ct 31 = CZR, Xn 31 = SP.
    fn stlr_cap(t, n) = 0x421F_FC00;
    /// `LDXR Ct, [Xn]`: load-exclusive a capability. Ct 31 = CZR, Xn 31 = SP.
    fn ldxr_cap(t, n) = 0x225F_7C00;
}

/// `STXR Ws, Ct, [Xn]`: store-exclusive a capability; Ws := 0 on success. Ct 31 = CZR,
/// Xn 31 = SP.
pub const fn stxr_cap(s: u32, t: u32, n: u32) -> u32 {
    0x2200_7C00 | register(s) << 16 | field::n(n) | field::t(t)
}

/// `BX #4`: toggle PSTATE.C64 (A64 ↔ C64); not a branch.
pub const BX_4: u32 = 0xC2C2_73E0;

/// `SCBNDS Cd, Cn, #length`: exact bounds `[Cn.value, +length)` (QEMU: csetboundsexact).
/// Lengths 0..=63 use the plain form, multiples of 16 up to 1008 the `LSL #4` form.
/// Cd/Cn 31 = CSP.
pub const fn scbnds_imm(d: u32, n: u32, length: u32) -> u32 {
    let (imm6, lsl4) = if length <= 63 {
        (length, 0)
    } else {
        assert!(
            length.is_multiple_of(16) && length / 16 <= 63,
            "SCBNDS #imm takes 0..=63 or 16·(0..=63)"
        );
        (length / 16, 1)
    };
    0xC2C0_3800 | imm6 << 15 | lsl4 << 14 | field::n(n) | field::d(d)
}

/// Shared by ADD/SUB (immediate): `imm` is 0..=4095, or a multiple of 4096 up to 4095·4096
/// (the `LSL #12` form).
const fn add_sub_imm(base: u32, d: u32, n: u32, imm: u32) -> u32 {
    let (imm12, shift12) = if imm <= 0xFFF {
        (imm, 0)
    } else {
        assert!(
            imm & 0xFFF == 0 && imm >> 12 <= 0xFFF,
            "immediate must be imm12 or imm12 << 12"
        );
        (imm >> 12, 1)
    };
    base | shift12 << 22 | imm12 << 10 | field::n(n) | field::d(d)
}

/// `ADD Cd, Cn, #imm{, LSL #12}`: increment the address. Cd/Cn 31 = CSP.
pub const fn add_imm(d: u32, n: u32, imm: u32) -> u32 {
    add_sub_imm(0x0200_0000, d, n, imm)
}

/// `SUB Cd, Cn, #imm{, LSL #12}`: decrement the address. Cd/Cn 31 = CSP.
pub const fn sub_imm(d: u32, n: u32, imm: u32) -> u32 {
    add_sub_imm(0x0280_0000, d, n, imm)
}

/// Extend options of `ADD Cd, Cn, Xm, <extend>` and register-offset loads/stores.
pub mod extend {
    pub const UXTB: u32 = 0b000;
    pub const UXTH: u32 = 0b001;
    pub const UXTW: u32 = 0b010;
    /// Also written `LSL` in register-offset loads and stores.
    pub const UXTX: u32 = 0b011;
    pub const SXTB: u32 = 0b100;
    pub const SXTH: u32 = 0b101;
    pub const SXTW: u32 = 0b110;
    pub const SXTX: u32 = 0b111;
}

/// `ADD Cd, Cn, Xm, <extend> #amount`: address += extend(Xm) << amount (amount 0..=4).
/// Cd/Cn 31 = CSP, Xm 31 = XZR.
pub const fn add_ext(d: u32, n: u32, m: u32, extend: u32, amount: u32) -> u32 {
    assert!(
        extend <= 7 && amount <= 4,
        "extend is 0..=7 and amount 0..=4"
    );
    0xC2A0_0000 | field::m(m) | extend << 13 | amount << 10 | field::n(n) | field::d(d)
}

/// Permission bits of `CLRPERM Cd, Cn, <r|w|x>` (combine with `|`).
pub mod clrperm_bits {
    /// x: Execute (GCPERM bit 15).
    pub const EXECUTE: u32 = 1;
    /// w: Store (bit 16).
    pub const STORE: u32 = 2;
    /// r: Load (bit 17).
    pub const LOAD: u32 = 4;
}

/// `CLRPERM Cd, Cn, <r|w|x>`: clear Load/Store/Execute; `perms` is an OR of
/// [`clrperm_bits`]. Cd/Cn 31 = CSP.
pub const fn clrperm_imm(d: u32, n: u32, perms: u32) -> u32 {
    assert!(perms <= 7, "perms is an OR of clrperm_bits");
    0xC2C6_1000 | perms << 13 | field::n(n) | field::d(d)
}

/// Forms of `SEAL Cd, Cn, <form>`, giving the sealed capability's otype.
pub mod seal_form {
    /// `rb`: sentry, otype 1.
    pub const RB: u32 = 1;
    /// `lpb`: load-pair-branch, otype 2.
    pub const LPB: u32 = 2;
    /// `lb`: load-branch, otype 3.
    pub const LB: u32 = 3;
}

/// `SEAL Cd, Cn, <rb|lpb|lb>`: seal with a fixed otype; `form` is one of [`seal_form`].
/// Cd/Cn 31 = CSP.
pub const fn seal_imm(d: u32, n: u32, form: u32) -> u32 {
    assert!(form >= 1 && form <= 3, "form is seal_form::RB, LPB or LB");
    0xC2C3_1000 | form << 13 | field::n(n) | field::d(d)
}

/// A signed byte offset as an `imm_bits`-wide field of `offset / scale`, checked.
const fn scaled_signed(offset: i32, scale: i32, imm_bits: u32) -> u32 {
    assert!(
        offset % scale == 0,
        "offset must be a multiple of the access size"
    );
    let scaled = offset / scale;
    let limit = 1 << (imm_bits - 1);
    assert!(scaled >= -limit && scaled < limit, "offset out of range");
    (scaled as u32) & ((1 << imm_bits) - 1)
}

/// An unsigned byte offset as an `imm_bits`-wide field of `offset / scale`, checked.
const fn scaled_unsigned(offset: u32, scale: u32, imm_bits: u32) -> u32 {
    assert!(
        offset.is_multiple_of(scale),
        "offset must be a multiple of the access size"
    );
    assert!(offset / scale < 1 << imm_bits, "offset out of range");
    offset / scale
}

/// `BR [Cn, #offset]`: load a capability from Cn + offset and branch to it (an `lb` sentry is
/// unsealed only if Cn = C29). `offset` is a multiple of 16 in −1024..=1008.
pub const fn br_mem(n: u32, offset: i32) -> u32 {
    0xC2D0_1000 | scaled_signed(offset, 16, 7) << 13 | field::n(n)
}

/// `BLR [Cn, #offset]`: like [`br_mem`], with link.
pub const fn blr_mem(n: u32, offset: i32) -> u32 {
    0xC2D0_1001 | scaled_signed(offset, 16, 7) << 13 | field::n(n)
}

/// `MSR <capsysreg>, Ct`: write a capability system register; `sysreg` is a [`sysreg`]
/// constant.
pub const fn msr_cap(sysreg: u32, t: u32) -> u32 {
    0xC280_0000 | sysreg::checked(sysreg) | field::t(t)
}

/// `MRS Ct, <capsysreg>`: read a capability system register; `sysreg` is a [`sysreg`]
/// constant.
pub const fn mrs_cap(t: u32, sysreg: u32) -> u32 {
    0xC290_0000 | sysreg::checked(sysreg) | field::t(t)
}

/// `MSR <sysreg>, Xt`: the ordinary AArch64 integer write, for Morello's non-capability
/// control registers ([`sysreg::CCTLR_EL2`], …) by number, since not every assembler knows
/// their names. Xt 31 = XZR.
pub const fn msr_x(sysreg: u32, t: u32) -> u32 {
    0xD510_0000 | sysreg::checked(sysreg) | field::t(t)
}

/// `MRS Xt, <sysreg>`: the ordinary AArch64 integer read. Xt 31 = XZR.
pub const fn mrs_x(t: u32, sysreg: u32) -> u32 {
    0xD530_0000 | sysreg::checked(sysreg) | field::t(t)
}

/// `LDR Ct, [Xn|SP, #offset]` (A64: Xn checked against DDC; C64: Cn): offset a multiple of 16,
/// 0..=65520. Ct 31 = CZR, Xn 31 = SP.
pub const fn ldr_cap(t: u32, n: u32, offset: u32) -> u32 {
    0xC240_0000 | scaled_unsigned(offset, 16, 12) << 10 | field::n(n) | field::t(t)
}

/// `STR Ct, [Xn|SP, #offset]`: see [`ldr_cap`].
pub const fn str_cap(t: u32, n: u32, offset: u32) -> u32 {
    0xC200_0000 | scaled_unsigned(offset, 16, 12) << 10 | field::n(n) | field::t(t)
}

/// `LDUR Ct, [Xn|SP, #offset]`: unscaled offset −256..=255. Ct 31 = CZR, Xn 31 = SP.
pub const fn ldur_cap(t: u32, n: u32, offset: i32) -> u32 {
    0xA240_0000 | scaled_signed(offset, 1, 9) << 12 | field::n(n) | field::t(t)
}

/// `STUR Ct, [Xn|SP, #offset]`: see [`ldur_cap`].
pub const fn stur_cap(t: u32, n: u32, offset: i32) -> u32 {
    0xA200_0000 | scaled_signed(offset, 1, 9) << 12 | field::n(n) | field::t(t)
}

/// `LDR Ct, [Xn|SP, #offset]!` (pre-index): offset a multiple of 16 in −4096..=4080.
pub const fn ldr_cap_pre(t: u32, n: u32, offset: i32) -> u32 {
    0xA240_0C00 | scaled_signed(offset, 16, 9) << 12 | field::n(n) | field::t(t)
}

/// `LDR Ct, [Xn|SP], #offset` (post-index): see [`ldr_cap_pre`].
pub const fn ldr_cap_post(t: u32, n: u32, offset: i32) -> u32 {
    0xA240_0400 | scaled_signed(offset, 16, 9) << 12 | field::n(n) | field::t(t)
}

/// `STR Ct, [Xn|SP, #offset]!` (pre-index): see [`ldr_cap_pre`].
pub const fn str_cap_pre(t: u32, n: u32, offset: i32) -> u32 {
    0xA200_0C00 | scaled_signed(offset, 16, 9) << 12 | field::n(n) | field::t(t)
}

/// `STR Ct, [Xn|SP], #offset` (post-index): see [`ldr_cap_pre`].
pub const fn str_cap_post(t: u32, n: u32, offset: i32) -> u32 {
    0xA200_0400 | scaled_signed(offset, 16, 9) << 12 | field::n(n) | field::t(t)
}

const fn pair(base: u32, t: u32, t2: u32, n: u32, offset: i32) -> u32 {
    base | scaled_signed(offset, 16, 7) << 15 | register(t2) << 10 | field::n(n) | field::t(t)
}

/// `LDP Ct, Ct2, [Xn|SP, #offset]`: offset a multiple of 16 in −1024..=1008. Ct 31 = CZR.
pub const fn ldp_cap(t: u32, t2: u32, n: u32, offset: i32) -> u32 {
    pair(0x42C0_0000, t, t2, n, offset)
}

/// `STP Ct, Ct2, [Xn|SP, #offset]`: see [`ldp_cap`].
pub const fn stp_cap(t: u32, t2: u32, n: u32, offset: i32) -> u32 {
    pair(0x4280_0000, t, t2, n, offset)
}

/// `LDP Ct, Ct2, [Xn|SP], #offset` (post-index): see [`ldp_cap`].
pub const fn ldp_cap_post(t: u32, t2: u32, n: u32, offset: i32) -> u32 {
    pair(0x22C0_0000, t, t2, n, offset)
}

/// `STP Ct, Ct2, [Xn|SP, #offset]!` (pre-index): see [`ldp_cap`].
pub const fn stp_cap_pre(t: u32, t2: u32, n: u32, offset: i32) -> u32 {
    pair(0x6280_0000, t, t2, n, offset)
}

const fn register_offset(base: u32, t: u32, n: u32, m: u32, extend: u32, shift4: bool) -> u32 {
    assert!(
        extend == extend::UXTW
            || extend == extend::UXTX
            || extend == extend::SXTW
            || extend == extend::SXTX,
        "register-offset loads take UXTW, LSL (UXTX), SXTW or SXTX"
    );
    base | field::m(m) | extend << 13 | (shift4 as u32) << 12 | field::n(n) | field::t(t)
}

/// `LDR Ct, [Xn, Xm{, <extend> {#4}}]`: `extend` is UXTW, UXTX (= LSL), SXTW or SXTX from
/// [`extend`]; `shift4` scales Xm by 16. Ct 31 = CZR, Xn 31 = SP, Xm 31 = XZR.
pub const fn ldr_cap_reg(t: u32, n: u32, m: u32, extend: u32, shift4: bool) -> u32 {
    register_offset(0xA260_0800, t, n, m, extend, shift4)
}

/// `STR Ct, [Xn, Xm{, <extend> {#4}}]`: see [`ldr_cap_reg`].
pub const fn str_cap_reg(t: u32, n: u32, m: u32, extend: u32, shift4: bool) -> u32 {
    register_offset(0xA220_0800, t, n, m, extend, shift4)
}

/// Alternate-base access: in A64 the base is capability Cn (in C64 it would be Xn + DDC).
const fn alternate_base(base: u32, t: u32, n: u32, offset: u32, size: u32) -> u32 {
    base | scaled_unsigned(offset, size, 9) << 12 | field::n(n) | field::t(t)
}

/// Alternate base `LDR Ct, [Cn, #offset]`: offset a multiple of 16, 0..=8176. Ct 31 = CZR,
/// Cn 31 = CSP.
pub const fn aldr_cap(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8260_0000, t, n, offset, 16)
}

/// Alternate base `STR Ct, [Cn, #offset]`: see [`aldr_cap`].
pub const fn astr_cap(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8240_0000, t, n, offset, 16)
}

/// Alternate base `LDR Xt, [Cn, #offset]`: offset a multiple of 8, 0..=4088. Xt 31 = XZR.
pub const fn aldr_x(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8260_0C00, t, n, offset, 8)
}

/// Alternate base `STR Xt, [Cn, #offset]`: see [`aldr_x`].
pub const fn astr_x(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8240_0C00, t, n, offset, 8)
}

/// Alternate base `LDR Wt, [Cn, #offset]`: offset a multiple of 4, 0..=2044. Wt 31 = WZR.
pub const fn aldr_w(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8260_0800, t, n, offset, 4)
}

/// Alternate base `STR Wt, [Cn, #offset]`: see [`aldr_w`].
pub const fn astr_w(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8240_0800, t, n, offset, 4)
}

/// Alternate base `LDRB Wt, [Cn, #offset]`: offset 0..=511 (MMIO through a capability).
pub const fn aldrb(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8260_0400, t, n, offset, 1)
}

/// Alternate base `STRB Wt, [Cn, #offset]`: see [`aldrb`].
pub const fn astrb(t: u32, n: u32, offset: u32) -> u32 {
    alternate_base(0x8240_0400, t, n, offset, 1)
}

/// System-register numbers for [`msr_cap`] / [`mrs_cap`] (capability registers) and
/// [`msr_x`] / [`mrs_x`] (integer control registers): the (op0, op1, CRn, CRm, op2) fields
/// already in place, to be ORed into the instruction (cheri.md §A.1.2).
///
/// The capability view of a register has the same number as its AArch64 integer counterpart
/// (CELR_EL2 = ELR_EL2, CVBAR_EL2 = VBAR_EL2, CSP_EL0 = SP_EL0, CTPIDR_EL0 = TPIDR_EL0).
pub mod sysreg {
    /// The field value for `S<op0>_<op1>_C<crn>_C<crm>_<op2>`.
    pub const fn encode(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
        assert!(op0 == 2 || op0 == 3, "op0 is 2 or 3");
        assert!(
            op1 <= 7 && crn <= 15 && crm <= 15 && op2 <= 7,
            "field out of range"
        );
        (op0 - 2) << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5
    }

    /// Bits 20:5, where a system-register number lives.
    const FIELD_MASK: u32 = 0x001F_FFE0;

    pub(super) const fn checked(sysreg: u32) -> u32 {
        assert!(
            sysreg & !FIELD_MASK == 0,
            "not a system-register number (use sysreg::encode)"
        );
        sysreg
    }

    /// DDC of the current EL and SP selection (banked). EL0+, no System permission needed.
    pub const DDC: u32 = encode(3, 3, 4, 1, 1);
    /// DDC_EL0. EL1+, Executive only.
    pub const DDC_EL0: u32 = encode(3, 0, 4, 1, 1);
    /// DDC_EL1. EL2+.
    pub const DDC_EL1: u32 = encode(3, 4, 4, 1, 1);
    /// DDC_EL2. EL3 only (at EL2 use [`DDC`]).
    pub const DDC_EL2: u32 = encode(3, 6, 4, 1, 1);
    /// RDDC_EL0: the DDC of Restricted mode. EL0+, Executive only.
    pub const RDDC_EL0: u32 = encode(3, 3, 4, 3, 1);
    /// CELR_EL1: exception return capability. No System needed.
    pub const CELR_EL1: u32 = encode(3, 0, 4, 0, 1);
    /// CELR_EL2.
    pub const CELR_EL2: u32 = encode(3, 4, 4, 0, 1);
    /// CELR_EL3.
    pub const CELR_EL3: u32 = encode(3, 6, 4, 0, 1);
    /// CVBAR_EL1: vector base capability. Needs System.
    pub const CVBAR_EL1: u32 = encode(3, 0, 12, 0, 0);
    /// CVBAR_EL2.
    pub const CVBAR_EL2: u32 = encode(3, 4, 12, 0, 0);
    /// CVBAR_EL3.
    pub const CVBAR_EL3: u32 = encode(3, 6, 12, 0, 0);
    /// CSP_EL0. EL1+, Executive only.
    pub const CSP_EL0: u32 = encode(3, 0, 4, 1, 0);
    /// CSP_EL1. EL2+.
    pub const CSP_EL1: u32 = encode(3, 4, 4, 1, 0);
    /// CSP_EL2. EL3.
    pub const CSP_EL2: u32 = encode(3, 6, 4, 1, 0);
    /// RCSP_EL0: the stack capability of Restricted mode. Executive only.
    pub const RCSP_EL0: u32 = encode(3, 7, 4, 1, 3);
    /// CTPIDR_EL0.
    pub const CTPIDR_EL0: u32 = encode(3, 3, 13, 0, 2);
    /// CTPIDRRO_EL0.
    pub const CTPIDRRO_EL0: u32 = encode(3, 3, 13, 0, 3);
    /// CTPIDR_EL1.
    pub const CTPIDR_EL1: u32 = encode(3, 0, 13, 0, 4);
    /// CTPIDR_EL2.
    pub const CTPIDR_EL2: u32 = encode(3, 4, 13, 0, 2);
    /// CTPIDR_EL3.
    pub const CTPIDR_EL3: u32 = encode(3, 6, 13, 0, 2);
    /// RCTPIDR_EL0: Restricted-mode thread pointer.
    pub const RCTPIDR_EL0: u32 = encode(3, 3, 13, 0, 4);
    /// CID_EL0: compartment ID. EL0+, no System needed.
    pub const CID_EL0: u32 = encode(3, 3, 13, 0, 7);
    /// CELR_EL12 (VHE alias). Standard VHE numbering; unverified in the capability form.
    pub const CELR_EL12: u32 = encode(3, 5, 4, 0, 1);
    /// CVBAR_EL12 (VHE alias). Standard VHE numbering; unverified in the capability form.
    pub const CVBAR_EL12: u32 = encode(3, 5, 12, 0, 0);

    /// CCTLR_EL0 (integer register, use [`super::msr_x`]): capability control of EL0.
    pub const CCTLR_EL0: u32 = encode(3, 3, 1, 2, 2);
    /// CCTLR_EL1.
    pub const CCTLR_EL1: u32 = encode(3, 0, 1, 2, 2);
    /// CCTLR_EL2. Newer disassemblers call this encoding `hcrx_el2`; on Morello it is CCTLR.
    pub const CCTLR_EL2: u32 = encode(3, 4, 1, 2, 2);
    /// CCTLR_EL3.
    pub const CCTLR_EL3: u32 = encode(3, 6, 1, 2, 2);
    /// CHCR_EL2: bit 0 SETTAG (1 = forbid SCTAG/STCT below EL2).
    pub const CHCR_EL2: u32 = encode(3, 4, 1, 2, 3);
    /// CSCR_EL3: bit 0 SETTAG.
    pub const CSCR_EL3: u32 = encode(3, 6, 1, 2, 3);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts each (encoded, expected) pair, naming the first mismatch.
    fn check(cases: &[(&str, u32, u32)]) {
        for &(name, got, expected) in cases {
            assert_eq!(
                got, expected,
                "{name}: got {got:#010x}, expected {expected:#010x}"
            );
        }
    }

    #[test]
    fn register_forms_with_all_registers_zero_give_the_table_base() {
        check(&[
            ("CPY", cpy(0, 0), 0xC2C1D000),
            ("CLRTAG", clrtag(0, 0), 0xC2C19000),
            ("SCBNDS", scbnds(0, 0, 0), 0xC2C00000),
            ("SCBNDSE", scbndse(0, 0, 0), 0xC2C02000),
            ("SCBNDS imm", scbnds_imm(0, 0, 0), 0xC2C03800),
            ("SCVALUE", scvalue(0, 0, 0), 0xC2C04000),
            ("SCOFF", scoff(0, 0, 0), 0xC2C06000),
            ("ADD imm", add_imm(0, 0, 0), 0x02000000),
            ("SUB imm", sub_imm(0, 0, 0), 0x02800000),
            ("ADD ext", add_ext(0, 0, 0, extend::UXTB, 0), 0xC2A00000),
            ("CLRPERM", clrperm(0, 0, 0), 0xC2C0A000),
            ("CLRPERM imm", clrperm_imm(0, 0, 0), 0xC2C61000),
            ("SEAL", seal(0, 0, 0), 0xC2C00800),
            (
                "SEAL imm, rb",
                seal_imm(0, 0, seal_form::RB),
                0xC2C31000 | 1 << 13,
            ),
            ("UNSEAL", unseal(0, 0, 0), 0xC2C04800),
            ("CSEAL", cseal(0, 0, 0), 0xC2C04400),
            ("BUILD", build(0, 0, 0), 0xC2C00400),
            ("CPYTYPE", cpytype(0, 0, 0), 0xC2C02400),
            ("CPYVALUE", cpyvalue(0, 0, 0), 0xC2C06400),
            ("CHKSSU", chkssu(0, 0, 0), 0xC2C08800),
            ("GCBASE", gcbase(0, 0), 0xC2C01000),
            ("GCLEN", gclen(0, 0), 0xC2C03000),
            ("GCVALUE", gcvalue(0, 0), 0xC2C05000),
            ("GCOFF", gcoff(0, 0), 0xC2C07000),
            ("GCTAG", gctag(0, 0), 0xC2C09000),
            ("GCSEAL", gcseal(0, 0), 0xC2C0B000),
            ("GCPERM", gcperm(0, 0), 0xC2C0D000),
            ("GCTYPE", gctype(0, 0), 0xC2C0F000),
            ("GCLIM", gclim(0, 0), 0xC2C11000),
            ("GCFLGS", gcflgs(0, 0), 0xC2C13000),
            ("CFHI", cfhi(0, 0), 0xC2C15000),
            ("CTHI", cthi(0, 0, 0), 0xC2C0E800),
            ("SCTAG", sctag(0, 0, 0), 0xC2C08000),
            ("SCFLGS", scflgs(0, 0, 0), 0xC2C0E000),
            ("RRLEN", rrlen(0, 0), 0xC2C71000),
            ("RRMASK", rrmask(0, 0), 0xC2C73000),
            ("CHKTGD", chktgd(0), 0xC2C23001),
            ("CHKSLD", chksld(0), 0xC2C21001),
            ("CHKEQ", chkeq(0, 0), 0xC2C0A401),
            ("CHKSS", chkss(0, 0), 0xC2C08401),
            ("CVTP Cd, Xn", cvtp(0, 0), 0xC2C5B000),
            ("CVTD Cd, Xn", cvtd(0, 0), 0xC2C59000),
            ("CVTPZ", cvtpz(0, 0), 0xC2C5F000),
            ("CVTDZ", cvtdz(0, 0), 0xC2C5D000),
            ("CVTP Xd, Cn", cvtp_to_offset(0, 0), 0xC2C53000),
            ("CVTD Xd, Cn", cvtd_to_offset(0, 0), 0xC2C51000),
            ("BR", br(0), 0xC2C21000),
            ("BLR", blr(0), 0xC2C23000),
            ("RET", ret(0), 0xC2C25000),
            ("BRS", brs(0), 0xC2C21002),
            ("BLRS", blrs(0), 0xC2C23002),
            ("RETS", rets(0), 0xC2C25002),
            ("BRR", brr(0), 0xC2C21003),
            ("BLRR", blrr(0), 0xC2C23003),
            ("RETR", retr(0), 0xC2C25003),
            ("BRS pair", brs_pair(0, 0), 0xC2C08400),
            ("BLRS pair", blrs_pair(0, 0), 0xC2C0A400),
            ("RETS pair", rets_pair(0, 0), 0xC2C0C400),
            ("LDPBR", ldpbr(0, 0), 0xC2C41000),
            ("LDPBLR", ldpblr(0, 0), 0xC2C43000),
            ("BR [Cn, #imm]", br_mem(0, 0), 0xC2D01000),
            ("BLR [Cn, #imm]", blr_mem(0, 0), 0xC2D01001),
            ("BX #4", BX_4, 0xC2C273E0),
            ("MSR cap", msr_cap(0, 0), 0xC2800000),
            ("MRS cap", mrs_cap(0, 0), 0xC2900000),
            ("LDR Ct, [Xn, #uimm]", ldr_cap(0, 0, 0), 0xC2400000),
            ("STR Ct, [Xn, #uimm]", str_cap(0, 0, 0), 0xC2000000),
            ("LDUR", ldur_cap(0, 0, 0), 0xA2400000),
            ("STUR", stur_cap(0, 0, 0), 0xA2000000),
            ("LDR pre", ldr_cap_pre(0, 0, 0), 0xA2400C00),
            ("LDR post", ldr_cap_post(0, 0, 0), 0xA2400400),
            ("STR pre", str_cap_pre(0, 0, 0), 0xA2000C00),
            ("STR post", str_cap_post(0, 0, 0), 0xA2000400),
            ("LDP", ldp_cap(0, 0, 0, 0), 0x42C00000),
            ("STP", stp_cap(0, 0, 0, 0), 0x42800000),
            ("LDP post", ldp_cap_post(0, 0, 0, 0), 0x22C00000),
            ("STP pre", stp_cap_pre(0, 0, 0, 0), 0x62800000),
            ("ALDR Ct", aldr_cap(0, 0, 0), 0x82600000),
            ("ASTR Ct", astr_cap(0, 0, 0), 0x82400000),
            ("ALDR Xt", aldr_x(0, 0, 0), 0x82600C00),
            ("ASTR Xt", astr_x(0, 0, 0), 0x82400C00),
            ("ALDR Wt", aldr_w(0, 0, 0), 0x82600800),
            ("ASTR Wt", astr_w(0, 0, 0), 0x82400800),
            ("ALDRB", aldrb(0, 0, 0), 0x82600400),
            ("ASTRB", astrb(0, 0, 0), 0x82400400),
            ("LDCT", ldct(0, 0), 0xC2C4B000),
            ("STCT", stct(0, 0), 0xC2C49000),
            ("LDAR", ldar_cap(0, 0), 0x425FFC00),
            ("STLR", stlr_cap(0, 0), 0x421FFC00),
            ("LDXR", ldxr_cap(0, 0), 0x225F7C00),
            ("STXR", stxr_cap(0, 0, 0), 0x22007C00),
        ]);
    }

    #[test]
    fn register_fields_land_where_the_reference_examples_say() {
        check(&[
            // §A.1.0 and the QEMU -d instr trace.
            ("SCBNDSE c2, c1, x3", scbndse(2, 1, 3), 0xc2c32022),
            ("SCBNDSE c2, c2, x5", scbndse(2, 2, 5), 0xc2c52042),
            ("MSR DDC_EL0, c5", msr_cap(sysreg::DDC_EL0, 5), 0xc2884125),
            ("MRS c1, DDC", mrs_cap(1, sysreg::DDC), 0xc29b4121),
            // §A.2.6 bring-up sequence.
            ("CVTP c16, x4", cvtp(16, 4), 0xC2C5B090),
            (
                "MSR CVBAR_EL2, c16",
                msr_cap(sysreg::CVBAR_EL2, 16),
                0xC28CC010,
            ),
            // BX #4 is the Cn = 31 form of the BLR_BR_RET_CHKD group.
            ("BX #4 as a field pattern", 0xC2C27000 | 31 << 5, BX_4),
            // LDR Ct, [Xn, Xm, LSL #4] = 0xA2607800 | m<<16 | n<<5 | t.
            (
                "LDR c1, [x2, x3, LSL #4]",
                ldr_cap_reg(1, 2, 3, extend::UXTX, true),
                0xA2607800 | 3 << 16 | 2 << 5 | 1,
            ),
            (
                "STR c1, [x2, x3, LSL #4]",
                str_cap_reg(1, 2, 3, extend::UXTX, true),
                0xA2207800 | 3 << 16 | 2 << 5 | 1,
            ),
            (
                "STXR w4, c1, [x2]",
                stxr_cap(4, 1, 2),
                0x22007C00 | 4 << 16 | 2 << 5 | 1,
            ),
        ]);
    }

    #[test]
    fn immediates_are_scaled_and_placed_as_the_table_says() {
        check(&[
            (
                "SCBNDS c2, c1, #48",
                scbnds_imm(2, 1, 48),
                0xC2C03800 | 48 << 15 | 1 << 5 | 2,
            ),
            (
                "SCBNDS c2, c1, #1008",
                scbnds_imm(2, 1, 1008),
                0xC2C03800 | 63 << 15 | 1 << 14 | 1 << 5 | 2,
            ),
            (
                "ADD c1, c2, #16",
                add_imm(1, 2, 16),
                0x02000000 | 16 << 10 | 2 << 5 | 1,
            ),
            (
                "ADD c1, c2, #1, LSL #12",
                add_imm(1, 2, 0x1000),
                0x02000000 | 1 << 22 | 1 << 10 | 2 << 5 | 1,
            ),
            (
                "SUB csp, csp, #32",
                sub_imm(31, 31, 32),
                0x02800000 | 32 << 10 | 31 << 5 | 31,
            ),
            (
                "ADD c0, c1, x2, sxtw #4",
                add_ext(0, 1, 2, extend::SXTW, 4),
                0xC2A00000 | 2 << 16 | 6 << 13 | 4 << 10 | 1 << 5,
            ),
            (
                "CLRPERM c2, c2, x",
                clrperm_imm(2, 2, clrperm_bits::EXECUTE),
                0xC2C61000 | 1 << 13 | 2 << 5 | 2,
            ),
            (
                "CLRPERM c2, c2, rw",
                clrperm_imm(2, 2, clrperm_bits::LOAD | clrperm_bits::STORE),
                0xC2C61000 | 6 << 13 | 2 << 5 | 2,
            ),
            (
                "SEAL c1, c1, lb",
                seal_imm(1, 1, seal_form::LB),
                0xC2C31000 | 3 << 13 | 1 << 5 | 1,
            ),
            (
                "BR [c29, #-16]",
                br_mem(29, -16),
                0xC2D01000 | 0x7F << 13 | 29 << 5,
            ),
            (
                "BLR [c29, #1008]",
                blr_mem(29, 1008),
                0xC2D01001 | 63 << 13 | 29 << 5,
            ),
            (
                "LDR c1, [x2, #65520]",
                ldr_cap(1, 2, 65520),
                0xC2400000 | 4095 << 10 | 2 << 5 | 1,
            ),
            (
                "STR c1, [sp, #32]",
                str_cap(1, 31, 32),
                0xC2000000 | 2 << 10 | 31 << 5 | 1,
            ),
            (
                "LDUR c1, [x2, #-1]",
                ldur_cap(1, 2, -1),
                0xA2400000 | 0x1FF << 12 | 2 << 5 | 1,
            ),
            (
                "STR c1, [sp, #-32]!",
                str_cap_pre(1, 31, -32),
                0xA2000C00 | 0x1FE << 12 | 31 << 5 | 1,
            ),
            (
                "LDR c1, [sp], #32",
                ldr_cap_post(1, 31, 32),
                0xA2400400 | 2 << 12 | 31 << 5 | 1,
            ),
            (
                "STP c0, c1, [sp, #-32]!",
                stp_cap_pre(0, 1, 31, -32),
                0x62800000 | 0x7E << 15 | 1 << 10 | 31 << 5,
            ),
            (
                "LDP c0, c1, [sp], #32",
                ldp_cap_post(0, 1, 31, 32),
                0x22C00000 | 2 << 15 | 1 << 10 | 31 << 5,
            ),
            (
                "ALDR c1, [c2, #8176]",
                aldr_cap(1, 2, 8176),
                0x82600000 | 511 << 12 | 2 << 5 | 1,
            ),
            (
                "ALDR x1, [c2, #8]",
                aldr_x(1, 2, 8),
                0x82600C00 | 1 << 12 | 2 << 5 | 1,
            ),
            (
                "ASTR w1, [c2, #4]",
                astr_w(1, 2, 4),
                0x82400800 | 1 << 12 | 2 << 5 | 1,
            ),
            (
                "ASTRB w1, [c2, #5]",
                astrb(1, 2, 5),
                0x82400400 | 5 << 12 | 2 << 5 | 1,
            ),
        ]);
    }

    #[test]
    fn capability_system_registers_match_the_msr_mrs_table() {
        // (register, MSR reg, c0, MRS c0, reg) from §A.1.2.
        let table: &[(&str, u32, u32, u32)] = &[
            ("DDC", sysreg::DDC, 0xC28B4120, 0xC29B4120),
            ("DDC_EL0", sysreg::DDC_EL0, 0xC2884120, 0xC2984120),
            ("DDC_EL1", sysreg::DDC_EL1, 0xC28C4120, 0xC29C4120),
            ("DDC_EL2", sysreg::DDC_EL2, 0xC28E4120, 0xC29E4120),
            ("RDDC_EL0", sysreg::RDDC_EL0, 0xC28B4320, 0xC29B4320),
            ("CELR_EL1", sysreg::CELR_EL1, 0xC2884020, 0xC2984020),
            ("CELR_EL2", sysreg::CELR_EL2, 0xC28C4020, 0xC29C4020),
            ("CELR_EL3", sysreg::CELR_EL3, 0xC28E4020, 0xC29E4020),
            ("CVBAR_EL1", sysreg::CVBAR_EL1, 0xC288C000, 0xC298C000),
            ("CVBAR_EL2", sysreg::CVBAR_EL2, 0xC28CC000, 0xC29CC000),
            ("CVBAR_EL3", sysreg::CVBAR_EL3, 0xC28EC000, 0xC29EC000),
            ("CSP_EL0", sysreg::CSP_EL0, 0xC2884100, 0xC2984100),
            ("CSP_EL1", sysreg::CSP_EL1, 0xC28C4100, 0xC29C4100),
            ("CSP_EL2", sysreg::CSP_EL2, 0xC28E4100, 0xC29E4100),
            ("RCSP_EL0", sysreg::RCSP_EL0, 0xC28F4160, 0xC29F4160),
            ("CTPIDR_EL0", sysreg::CTPIDR_EL0, 0xC28BD040, 0xC29BD040),
            ("CTPIDRRO_EL0", sysreg::CTPIDRRO_EL0, 0xC28BD060, 0xC29BD060),
            ("CTPIDR_EL1", sysreg::CTPIDR_EL1, 0xC288D080, 0xC298D080),
            ("CTPIDR_EL2", sysreg::CTPIDR_EL2, 0xC28CD040, 0xC29CD040),
            ("CTPIDR_EL3", sysreg::CTPIDR_EL3, 0xC28ED040, 0xC29ED040),
            ("RCTPIDR_EL0", sysreg::RCTPIDR_EL0, 0xC28BD080, 0xC29BD080),
            ("CID_EL0", sysreg::CID_EL0, 0xC28BD0E0, 0xC29BD0E0),
            ("CELR_EL12", sysreg::CELR_EL12, 0xC28D4020, 0xC29D4020),
            ("CVBAR_EL12", sysreg::CVBAR_EL12, 0xC28DC000, 0xC29DC000),
        ];
        for &(name, register, msr_word, mrs_word) in table {
            assert_eq!(msr_cap(register, 0), msr_word, "MSR {name}, c0");
            assert_eq!(mrs_cap(0, register), mrs_word, "MRS c0, {name}");
        }
    }

    #[test]
    fn integer_control_registers_use_the_generic_numbers() {
        // Generic names from §A.1.2, e.g. CCTLR_EL2 = S3_4_C1_C2_2.
        assert_eq!(sysreg::CCTLR_EL0, sysreg::encode(3, 3, 1, 2, 2));
        assert_eq!(
            sysreg::CCTLR_EL2,
            1 << 19 | 4 << 16 | 1 << 12 | 2 << 8 | 2 << 5
        );
        assert_eq!(sysreg::CHCR_EL2, sysreg::encode(3, 4, 1, 2, 3));
        // The integer MSR/MRS base words are plain AArch64: MSR VBAR_EL2, x0 and MRS x0,
        // CurrentEL, as every assembler emits them.
        assert_eq!(msr_x(sysreg::encode(3, 4, 12, 0, 0), 0), 0xD51CC000);
        assert_eq!(mrs_x(0, sysreg::encode(3, 0, 4, 2, 2)), 0xD5384240);
        assert_eq!(msr_x(sysreg::CCTLR_EL2, 3), 0xD51C1243);
    }

    #[test]
    fn encoders_work_as_const_operands() {
        // What `asm!(".inst {w}", w = const …)` evaluates.
        const WORD: u32 = scbndse(2, 1, 3);
        const MSR: u32 = msr_cap(sysreg::DDC_EL0, 5);
        assert_eq!((WORD, MSR), (0xc2c32022, 0xc2884125));
    }

    #[test]
    #[should_panic(expected = "register numbers are 0..=31")]
    fn register_out_of_range_is_rejected() {
        let _ = cpy(32, 0);
    }

    #[test]
    #[should_panic(expected = "multiple of the access size")]
    fn misaligned_offset_is_rejected() {
        let _ = ldr_cap(0, 1, 8);
    }
}
