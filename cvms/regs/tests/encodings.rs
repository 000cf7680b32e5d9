//! The raw CHERI instruction words in `src/main.rs`, checked against the monitor's tested
//! encoders (`monitor/src/arch/insn`). Each expression below is the one in the asm (with the
//! `.irp` register `\r` as `r`); a word that drifts from the encoder fails here.

use capmon::arch::insn::{cheri_riscv as rv, morello as m};

/// The registers the asm fills and checks (`.irp` lists in `src/main.rs`).
const MORELLO_REGS: [u32; 29] = [
    1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
    28, 29, 30,
];
const RISCV_REGS: [u32; 28] = [
    1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31,
];

#[test]
fn morello_words_match_the_encoders() {
    let ddc = m::sysreg::DDC;
    assert_eq!(0xc29b4120, m::mrs_cap(0, ddc), "mrs c0, DDC");
    assert_eq!(0xc2c01008, m::gcbase(8, 0), "gcbase x8, c0");
    assert_eq!(0xc29b4121, m::mrs_cap(1, ddc), "mrs c1, DDC");
    assert_eq!(0xc2c09020, m::gctag(0, 1), "gctag x0, c1");
    assert_eq!(0xc2c01020, m::gcbase(0, 1), "gcbase x0, c1");
    assert_eq!(0xc2c03020, m::gclen(0, 1), "gclen x0, c1");
    assert_eq!(0xc2c05020, m::gcvalue(0, 1), "gcvalue x0, c1");
    for r in MORELLO_REGS {
        assert_eq!(0xc29b4120 | r, m::mrs_cap(r, ddc), "mrs c{r}, DDC");
        assert_eq!(
            0xc2c04000 | (r << 5) | r,
            m::scvalue(r, r, 0),
            "scvalue c{r}, c{r}, x0"
        );
        // The asm always uses the LSL #4 form; the encoder picks the plain form below 64.
        let scbnds = 0xc2c03800 | ((r + 1) << 15) | (1 << 14) | (r << 5) | r;
        if 16 * (r + 1) > 63 {
            assert_eq!(
                scbnds,
                m::scbnds_imm(r, r, 16 * (r + 1)),
                "scbnds c{r}, c{r}, #{}",
                16 * (r + 1)
            );
        } else {
            assert_eq!(
                scbnds & !(0x3f << 15 | 1 << 14),
                m::scbnds_imm(r, r, 0),
                "scbnds c{r} opcode and registers"
            );
        }
        assert_eq!(
            0x02000000 | (r << 10) | (r << 5) | r,
            m::add_imm(r, r, r),
            "add c{r}, c{r}, #{r}"
        );
        assert_eq!(0xc2c09000 | (r << 5), m::gctag(0, r), "gctag x0, c{r}");
        assert_eq!(0xc2c01000 | (r << 5), m::gcbase(0, r), "gcbase x0, c{r}");
        assert_eq!(0xc2c03000 | (r << 5), m::gclen(0, r), "gclen x0, c{r}");
        assert_eq!(0xc2c05000 | (r << 5), m::gcvalue(0, r), "gcvalue x0, c{r}");
    }
}

#[test]
fn cheri_riscv_words_match_the_encoders() {
    let ddc = rv::scr::DDC;
    assert_eq!(0x0210055b, rv::cspecialrw(10, ddc, 0), "cspecialr ca0, ddc");
    assert_eq!(0xfe2508db, rv::cgetbase(17, 10), "cgetbase a7, ca0");
    assert_eq!(0x021005db, rv::cspecialrw(11, ddc, 0), "cspecialr ca1, ddc");
    assert_eq!(0xfe45855b, rv::cgettag(10, 11), "cgettag a0, ca1");
    assert_eq!(0xfe25855b, rv::cgetbase(10, 11), "cgetbase a0, ca1");
    assert_eq!(0xfe35855b, rv::cgetlen(10, 11), "cgetlen a0, ca1");
    assert_eq!(0xfef5855b, rv::cgetaddr(10, 11), "cgetaddr a0, ca1");
    for r in RISCV_REGS {
        assert_eq!(
            0x0210005b | (r << 7),
            rv::cspecialrw(r, ddc, 0),
            "cspecialr c{r}, ddc"
        );
        assert_eq!(
            0x2000005b | (10 << 20) | (r << 15) | (r << 7),
            rv::csetaddr(r, r, 10),
            "csetaddr c{r}, c{r}, a0"
        );
        assert_eq!(
            0x0000205b | ((16 * (r + 1)) << 20) | (r << 15) | (r << 7),
            rv::csetboundsimm(r, r, 16 * (r + 1)),
            "csetboundsimm c{r}"
        );
        assert_eq!(
            0x0000105b | (r << 20) | (r << 15) | (r << 7),
            rv::cincoffsetimm(r, r, r as i32),
            "cincoffsetimm c{r}, c{r}, {r}"
        );
        assert_eq!(
            0xfe40055b | (r << 15),
            rv::cgettag(10, r),
            "cgettag a0, c{r}"
        );
        assert_eq!(
            0xfe20055b | (r << 15),
            rv::cgetbase(10, r),
            "cgetbase a0, c{r}"
        );
        assert_eq!(
            0xfe30055b | (r << 15),
            rv::cgetlen(10, r),
            "cgetlen a0, c{r}"
        );
        assert_eq!(
            0xfef0055b | (r << 15),
            rv::cgetaddr(10, r),
            "cgetaddr a0, c{r}"
        );
    }
}
