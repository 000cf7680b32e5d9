//! CHERI-RISC-V (ISAv9, as CHERI QEMU `riscv64cheri` implements it) instruction words
//! (cheri.md §B.1) and the special capability register (SCR) numbers for CSpecialRW.
//!
//! Capability register cN and integer register xN share the number N (ABI names: ra = 1,
//! sp = 2, t0 = 5, a0 = 10, t6 = 31, …); 0 is x0 / the null capability. Emit the words with
//! `.4byte` / `.insn` in `asm!`; upstream LLVM cannot assemble the mnemonics.

use super::register;

/// The major opcode of the CHERI instructions ("custom-2").
const OPCODE_CHERI: u32 = 0x5B;
/// funct7 of the two-operand group, whose rs2 field selects the operation.
const FUNCT7_TWO_OPERAND: u32 = 0x7F;

/// R-type: `funct7 | rs2 | rs1 | funct3 | rd | opcode`.
const fn r_type(funct7: u32, rs2: u32, rs1: u32, funct3: u32, rd: u32, opcode: u32) -> u32 {
    funct7 << 25
        | register(rs2) << 20
        | register(rs1) << 15
        | funct3 << 12
        | register(rd) << 7
        | opcode
}

/// I-type with a 12-bit immediate field (already two's-complement encoded).
const fn i_type(imm12: u32, rs1: u32, funct3: u32, rd: u32, opcode: u32) -> u32 {
    (imm12 & 0xFFF) << 20 | register(rs1) << 15 | funct3 << 12 | register(rd) << 7 | opcode
}

/// A signed 12-bit immediate, checked to fit.
const fn signed_imm12(imm: i32) -> u32 {
    assert!(
        imm >= -2048 && imm <= 2047,
        "immediate must fit in 12 signed bits"
    );
    (imm as u32) & 0xFFF
}

/// `funct7 = op, funct3 = 0` three-operand CHERI instruction.
const fn three_operand(funct7: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    r_type(funct7, rs2, rs1, 0, rd, OPCODE_CHERI)
}

/// Two-operand CHERI instruction: funct7 0x7F with the operation in the rs2 field.
const fn two_operand(selector: u32, rd: u32, rs1: u32) -> u32 {
    r_type(FUNCT7_TWO_OPERAND, selector, rs1, 0, rd, OPCODE_CHERI)
}

/// Special capability register numbers for [`cspecialrw`] (`enum CheriSCR` in QEMU). All but
/// PCC and DDC need AccessSystemRegisters in PCC and the listed privilege.
pub mod scr {
    /// Program counter capability (read only).
    pub const PCC: u32 = 0;
    /// Default data capability (not banked by privilege).
    pub const DDC: u32 = 1;
    pub const UTCC: u32 = 4;
    pub const UTDC: u32 = 5;
    pub const USCRATCHC: u32 = 6;
    pub const UEPCC: u32 = 7;
    pub const STCC: u32 = 12;
    pub const STDC: u32 = 13;
    pub const SSCRATCHC: u32 = 14;
    pub const SEPCC: u32 = 15;
    /// Machine trap vector capability (extends mtvec).
    pub const MTCC: u32 = 28;
    /// Machine trap data capability.
    pub const MTDC: u32 = 29;
    /// Machine scratch capability (holds the monitor's DDC across traps).
    pub const MSCRATCHC: u32 = 30;
    /// Machine exception PC capability (extends mepc).
    pub const MEPCC: u32 = 31;
}

/// `CSpecialRW cd, scr, cs1`: cd := SCR; SCR := cs1 unless cs1 = c0 (so it doubles as a swap
/// and as a plain read). `scr` is one of [`scr`].
pub const fn cspecialrw(cd: u32, scr: u32, cs1: u32) -> u32 {
    three_operand(0x01, cd, cs1, scr)
}

/// `CSetBounds cd, cs1, rs2`: bounds `[cs1.addr, +rs2)` rounded outward.
pub const fn csetbounds(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x08, cd, cs1, rs2)
}

/// `CSetBoundsExact cd, cs1, rs2`: exact bounds `[cs1.addr, +rs2)`, or a fault.
pub const fn csetboundsexact(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x09, cd, cs1, rs2)
}

/// `CSeal cd, cs1, cs2`: seal cs1 with otype cs2.addr.
pub const fn cseal(cd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x0B, cd, cs1, cs2)
}

/// `CUnseal cd, cs1, cs2`: unseal cs1 with authority cs2.
pub const fn cunseal(cd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x0C, cd, cs1, cs2)
}

/// `CAndPerm cd, cs1, rs2`: keep only the permissions set in rs2 (CGetPerm layout).
pub const fn candperm(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x0D, cd, cs1, rs2)
}

/// `CSetFlags cd, cs1, rs2`: set the flags (bit 0 = capability mode).
pub const fn csetflags(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x0E, cd, cs1, rs2)
}

/// `CSetOffset cd, cs1, rs2`: address := base + rs2.
pub const fn csetoffset(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x0F, cd, cs1, rs2)
}

/// `CSetAddr cd, cs1, rs2`: address := rs2.
pub const fn csetaddr(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x10, cd, cs1, rs2)
}

/// `CIncOffset cd, cs1, rs2`: address += rs2.
pub const fn cincoffset(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x11, cd, cs1, rs2)
}

/// `CToPtr rd, cs1, cs2`: cs1's address as an offset from cs2's base (0 if untagged).
pub const fn ctoptr(rd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x12, rd, cs1, cs2)
}

/// `CFromPtr cd, cs1, rs2`: cs1 with offset rs2 (null if rs2 = 0).
pub const fn cfromptr(cd: u32, cs1: u32, rs2: u32) -> u32 {
    three_operand(0x13, cd, cs1, rs2)
}

/// `CSub rd, cs1, cs2`: cs1.addr − cs2.addr.
pub const fn csub(rd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x14, rd, cs1, cs2)
}

/// `CBuildCap cd, cs1, cs2`: rederive untagged cs2 from authority cs1.
pub const fn cbuildcap(cd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x1D, cd, cs1, cs2)
}

/// `CCopyType cd, cs1, cs2`: cs1 with address := cs2's otype.
pub const fn ccopytype(cd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x1E, cd, cs1, cs2)
}

/// `CCSeal cd, cs1, cs2`: conditional seal.
pub const fn ccseal(cd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x1F, cd, cs1, cs2)
}

/// `CTestSubset rd, cs1, cs2`: rd := cs2 ⊆ cs1.
pub const fn ctestsubset(rd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x20, rd, cs1, cs2)
}

/// `CSEQX rd, cs1, cs2`: rd := cs1 and cs2 are identical, tag included.
pub const fn cseqx(rd: u32, cs1: u32, cs2: u32) -> u32 {
    three_operand(0x21, rd, cs1, cs2)
}

/// `CGetPerm rd, cs1`: permissions (hardware bits 11:0, user bits 18:15).
pub const fn cgetperm(rd: u32, cs1: u32) -> u32 {
    two_operand(0, rd, cs1)
}

/// `CGetType rd, cs1`: otype, sign-extended (−1 = unsealed).
pub const fn cgettype(rd: u32, cs1: u32) -> u32 {
    two_operand(1, rd, cs1)
}

/// `CGetBase rd, cs1`.
pub const fn cgetbase(rd: u32, cs1: u32) -> u32 {
    two_operand(2, rd, cs1)
}

/// `CGetLen rd, cs1`: length (2^64 saturates).
pub const fn cgetlen(rd: u32, cs1: u32) -> u32 {
    two_operand(3, rd, cs1)
}

/// `CGetTag rd, cs1`.
pub const fn cgettag(rd: u32, cs1: u32) -> u32 {
    two_operand(4, rd, cs1)
}

/// `CGetSealed rd, cs1`.
pub const fn cgetsealed(rd: u32, cs1: u32) -> u32 {
    two_operand(5, rd, cs1)
}

/// `CGetOffset rd, cs1`: address − base.
pub const fn cgetoffset(rd: u32, cs1: u32) -> u32 {
    two_operand(6, rd, cs1)
}

/// `CGetFlags rd, cs1`.
pub const fn cgetflags(rd: u32, cs1: u32) -> u32 {
    two_operand(7, rd, cs1)
}

/// `CRRL rd, rs1`: representable length for length rs1.
pub const fn crrl(rd: u32, rs1: u32) -> u32 {
    two_operand(8, rd, rs1)
}

/// `CRAM rd, rs1`: alignment mask for length rs1.
pub const fn cram(rd: u32, rs1: u32) -> u32 {
    two_operand(9, rd, rs1)
}

/// `CMove cd, cs1`: copy including the tag.
pub const fn cmove(cd: u32, cs1: u32) -> u32 {
    two_operand(10, cd, cs1)
}

/// `CClearTag cd, cs1`.
pub const fn ccleartag(cd: u32, cs1: u32) -> u32 {
    two_operand(11, cd, cs1)
}

/// `CJALR cd, cs1`: jump to cs1 (unsealing a sentry), link in cd.
pub const fn cjalr(cd: u32, cs1: u32) -> u32 {
    two_operand(12, cd, cs1)
}

/// `CGetAddr rd, cs1`.
pub const fn cgetaddr(rd: u32, cs1: u32) -> u32 {
    two_operand(15, rd, cs1)
}

/// `CSealEntry cd, cs1`: make a sentry.
pub const fn csealentry(cd: u32, cs1: u32) -> u32 {
    two_operand(17, cd, cs1)
}

/// `CLoadTags rd, cs1`: the tags of the cache line at cs1.
pub const fn cloadtags(rd: u32, cs1: u32) -> u32 {
    two_operand(18, rd, cs1)
}

/// `JALR.PCC rd, rs1`: integer jump with PCC-relative target.
pub const fn jalr_pcc(rd: u32, rs1: u32) -> u32 {
    two_operand(20, rd, rs1)
}

/// `CGetHigh rd, cs1`: the high 64 bits as stored in memory.
pub const fn cgethigh(rd: u32, cs1: u32) -> u32 {
    two_operand(23, rd, cs1)
}

/// `CInvoke cs1, cs2`: jump to sealed code cs1, unsealing data cs2 into c31 (t6).
pub const fn cinvoke(cs1: u32, cs2: u32) -> u32 {
    r_type(0x7E, cs2, cs1, 0, 1, OPCODE_CHERI)
}

/// `CIncOffsetImm cd, cs1, imm`: address += imm (−2048..=2047).
pub const fn cincoffsetimm(cd: u32, cs1: u32, imm: i32) -> u32 {
    i_type(signed_imm12(imm), cs1, 1, cd, OPCODE_CHERI)
}

/// `CSetBoundsImm cd, cs1, length`: bounds `[cs1.addr, +length)`, length 0..=4095. The
/// immediate is unsigned in hardware (an assembler's `.insn i` wants length − 4096 for
/// length ≥ 2048; this encoder takes the length itself).
pub const fn csetboundsimm(cd: u32, cs1: u32, length: u32) -> u32 {
    assert!(length <= 0xFFF, "CSetBoundsImm length is 0..=4095");
    i_type(length, cs1, 2, cd, OPCODE_CHERI)
}

/// RV64 `LC cd, offset(rs1)` (the LQ encoding): load a capability. Collides with `cbo.*`
/// when cd = 0.
pub const fn lc(cd: u32, rs1: u32, offset: i32) -> u32 {
    i_type(signed_imm12(offset), rs1, 2, cd, 0x0F)
}

/// RV64 `SC cs2, offset(rs1)` (the SQ encoding): store a capability.
pub const fn sc(cs2: u32, rs1: u32, offset: i32) -> u32 {
    let imm = signed_imm12(offset);
    (imm >> 5) << 25
        | register(cs2) << 20
        | register(rs1) << 15
        | 4 << 12
        | (imm & 0x1F) << 7
        | 0x23
}

/// `LD.DDC rd, (rs1)`: a 64-bit load from the integer address rs1, checked against DDC even
/// in capability encoding mode (funct7 0x7D, selector 3: `insn32-cheri.decode`'s `ld_ddc`).
/// How a pure cVM shows that an integer access meets its null DDC.
pub const fn ld_ddc(rd: u32, rs1: u32) -> u32 {
    r_type(0x7D, 3, rs1, 0, rd, OPCODE_CHERI)
}

/// funct7 of the loads through an explicit capability or DDC (`rs2` selects width and type).
const FUNCT7_LOAD_EXPLICIT: u32 = 0x7D;
/// funct7 of the stores through an explicit capability or DDC (`rd` selects width and type).
const FUNCT7_STORE_EXPLICIT: u32 = 0x7C;

/// `LBU.CAP rd, (cs1)`: load a byte, zero-extended, through capability cs1 (in integer mode,
/// where ordinary loads go through DDC). The address is cs1's; there is no offset.
pub const fn lbu_cap(rd: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_LOAD_EXPLICIT, 0x0C, cs1, 0, rd, OPCODE_CHERI)
}

/// `LD.CAP rd, (cs1)`: load a doubleword through capability cs1.
pub const fn ld_cap(rd: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_LOAD_EXPLICIT, 0x0B, cs1, 0, rd, OPCODE_CHERI)
}

/// `LC.CAP cd, (cs1)` (RV64): load a capability through capability cs1.
pub const fn lc_cap(cd: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_LOAD_EXPLICIT, 0x1F, cs1, 0, cd, OPCODE_CHERI)
}

/// `SB.CAP rs2, (cs1)`: store the low byte of rs2 through capability cs1.
pub const fn sb_cap(rs2: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_STORE_EXPLICIT, rs2, cs1, 0, 0x08, OPCODE_CHERI)
}

/// `SD.CAP rs2, (cs1)`: store a doubleword through capability cs1.
pub const fn sd_cap(rs2: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_STORE_EXPLICIT, rs2, cs1, 0, 0x0B, OPCODE_CHERI)
}

/// `SC.CAP cs2, (cs1)` (RV64): store capability cs2 through capability cs1.
pub const fn sc_cap(cs2: u32, cs1: u32) -> u32 {
    r_type(FUNCT7_STORE_EXPLICIT, cs2, cs1, 0, 0x0C, OPCODE_CHERI)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The explicit-capability loads and stores against the bit patterns of CHERI QEMU's
    /// `target/riscv/insn32-cheri.decode` (`ld_bu_cap 1111101 01100 ..... 000 ..... 1011011`,
    /// `st_b_cap 1111100 ..... ..... 000 01000 1011011`, RV64 `ldcap` = 01011, `ld_c_cap` =
    /// 11111, `st_d_cap` = 01011, `st_c_cap` = 01100), assembled by hand for a0/a1/c28.
    #[test]
    fn explicit_capability_accesses_match_the_decoder_patterns() {
        let word = |funct7: u32, f20: u32, f15: u32, f7: u32| {
            funct7 << 25 | f20 << 20 | f15 << 15 | f7 << 7 | 0x5B
        };
        check(&[
            (
                "lbu.cap a0, (ca1)",
                lbu_cap(A0, A1),
                word(0b111_1101, 0b01100, A1, A0),
            ),
            (
                "ld.cap a0, (ca1)",
                ld_cap(A0, A1),
                word(0b111_1101, 0b01011, A1, A0),
            ),
            (
                "lc.cap ca0, (ct3)",
                lc_cap(A0, 28),
                word(0b111_1101, 0b11111, 28, A0),
            ),
            (
                "sb.cap a0, (ca1)",
                sb_cap(A0, A1),
                word(0b111_1100, A0, A1, 0b01000),
            ),
            (
                "sd.cap a0, (ct3)",
                sd_cap(A0, 28),
                word(0b111_1100, A0, 28, 0b01011),
            ),
            (
                "sc.cap ca0, (ca1)",
                sc_cap(A0, A1),
                word(0b111_1100, A0, A1, 0b01100),
            ),
        ]);
        assert_eq!(lbu_cap(A0, A1), 0xFAC5_855B);
    }

    const RA: u32 = 1;
    const A0: u32 = 10;
    const A1: u32 = 11;
    const A2: u32 = 12;

    fn check(cases: &[(&str, u32, u32)]) {
        for &(name, got, expected) in cases {
            assert_eq!(
                got, expected,
                "{name}: got {got:#010x}, expected {expected:#010x}"
            );
        }
    }

    #[test]
    fn three_operand_forms_match_the_example_words() {
        check(&[
            ("CSpecialRW a0, 28, a1", cspecialrw(A0, 28, A1), 0x03c5855b),
            ("CSetBounds", csetbounds(A0, A1, A2), 0x10c5855b),
            ("CSetBoundsExact", csetboundsexact(A0, A1, A2), 0x12c5855b),
            ("CSeal", cseal(A0, A1, A2), 0x16c5855b),
            ("CUnseal", cunseal(A0, A1, A2), 0x18c5855b),
            ("CAndPerm", candperm(A0, A1, A2), 0x1ac5855b),
            ("CSetFlags", csetflags(A0, A1, A2), 0x1cc5855b),
            ("CSetOffset", csetoffset(A0, A1, A2), 0x1ec5855b),
            ("CSetAddr", csetaddr(A0, A1, A2), 0x20c5855b),
            ("CIncOffset", cincoffset(A0, A1, A2), 0x22c5855b),
            ("CToPtr", ctoptr(A0, A1, A2), 0x24c5855b),
            ("CFromPtr", cfromptr(A0, A1, A2), 0x26c5855b),
            ("CSub", csub(A0, A1, A2), 0x28c5855b),
            ("CBuildCap", cbuildcap(A0, A1, A2), 0x3ac5855b),
            ("CCopyType", ccopytype(A0, A1, A2), 0x3cc5855b),
            ("CCSeal", ccseal(A0, A1, A2), 0x3ec5855b),
            ("CTestSubset", ctestsubset(A0, A1, A2), 0x40c5855b),
            ("CSEQX", cseqx(A0, A1, A2), 0x42c5855b),
        ]);
    }

    #[test]
    fn two_operand_forms_match_the_example_words() {
        check(&[
            ("CGetPerm", cgetperm(A0, A1), 0xfe05855b),
            ("CGetType", cgettype(A0, A1), 0xfe15855b),
            ("CGetBase", cgetbase(A0, A1), 0xfe25855b),
            ("CGetLen", cgetlen(A0, A1), 0xfe35855b),
            ("CGetTag", cgettag(A0, A1), 0xfe45855b),
            ("CGetSealed", cgetsealed(A0, A1), 0xfe55855b),
            ("CGetOffset", cgetoffset(A0, A1), 0xfe65855b),
            ("CGetFlags", cgetflags(A0, A1), 0xfe75855b),
            ("CRRL", crrl(A0, A1), 0xfe85855b),
            ("CRAM", cram(A0, A1), 0xfe95855b),
            ("CMove", cmove(A0, A1), 0xfea5855b),
            ("CClearTag", ccleartag(A0, A1), 0xfeb5855b),
            ("CJALR ra, ca1", cjalr(RA, A1), 0xfec580db),
            ("CGetAddr", cgetaddr(A0, A1), 0xfef5855b),
            ("CSealEntry", csealentry(A0, A1), 0xff15855b),
            ("CLoadTags", cloadtags(A0, A1), 0xff25855b),
            // No example word in the table: selector x20 / x23 in the same pattern.
            ("JALR.PCC", jalr_pcc(A0, A1), 0xff45855b),
            ("CGetHigh", cgethigh(A0, A1), 0xff75855b),
        ]);
    }

    #[test]
    fn other_forms_match_the_example_words() {
        check(&[
            ("CInvoke ca1, ca2", cinvoke(A1, A2), 0xfcc580db),
            (
                "CIncOffsetImm a0, a1, 16",
                cincoffsetimm(A0, A1, 16),
                0x0105955b,
            ),
            (
                "CSetBoundsImm a0, a1, 16",
                csetboundsimm(A0, A1, 16),
                0x0105a55b,
            ),
            ("LC ca0, 16(a1)", lc(A0, A1, 16), 0x0105a50f),
            ("SC ca0, 16(a1)", sc(A0, A1, 16), 0x00a5c823),
            // Immediates at the edges: −1 is all ones; 4095 as an unsigned length.
            (
                "CIncOffsetImm a0, a1, -1",
                cincoffsetimm(A0, A1, -1),
                0xfff5955b,
            ),
            (
                "CSetBoundsImm a0, a1, 4095",
                csetboundsimm(A0, A1, 4095),
                0xfff5a55b,
            ),
            ("SC ca0, -16(a1)", sc(A0, A1, -16), 0xfea5c823),
            // CHERI LLVM's MC test (llvm/test/MC/RISCV/cheri/rv64xcheri-valid.s): `ld.ddc x1, x2`
            // encodes as [0xdb,0x00,0x31,0xfa].
            ("LD.DDC ra, (sp)", ld_ddc(RA, 2), 0xfa3100db),
        ]);
    }

    #[test]
    fn scr_numbers_match_the_reference() {
        let numbers = [
            (scr::PCC, 0),
            (scr::DDC, 1),
            (scr::UTCC, 4),
            (scr::UTDC, 5),
            (scr::USCRATCHC, 6),
            (scr::UEPCC, 7),
            (scr::STCC, 12),
            (scr::STDC, 13),
            (scr::SSCRATCHC, 14),
            (scr::SEPCC, 15),
            (scr::MTCC, 28),
            (scr::MTDC, 29),
            (scr::MSCRATCHC, 30),
            (scr::MEPCC, 31),
        ];
        for (constant, number) in numbers {
            assert_eq!(constant, number);
        }
        // The trap-entry swap of §B.2: CSpecialRW t6, MScratchC, t6.
        assert_eq!(cspecialrw(31, scr::MSCRATCHC, 31), 0x03ef8fdb);
    }

    #[test]
    fn encoders_work_as_const_operands() {
        const WORD: u32 = csetboundsexact(A0, A1, A2);
        assert_eq!(WORD, 0x12c5855b);
    }

    #[test]
    #[should_panic(expected = "12 signed bits")]
    fn immediate_out_of_range_is_rejected() {
        let _ = cincoffsetimm(A0, A1, 2048);
    }
}
