//! Decodes what an exception says about its cause (Arm ESR, RISC-V mcause/mtval), including
//! the CHERI capability causes, into words a person reads in a fault report. Pure logic, so
//! it is unit-tested on the host.

use core::fmt;

/// An Arm exception syndrome (ESR_ELx) with the fault address register beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArmSyndrome {
    pub esr: u64,
    pub far: u64,
}

impl ArmSyndrome {
    pub const fn exception_class(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }
    const fn fault_status(&self) -> u8 {
        (self.esr & 0x3f) as u8
    }
    /// Data and instruction aborts report a fault address; most other classes don't.
    pub const fn has_fault_address(&self) -> bool {
        matches!(
            self.exception_class(),
            0x20 | 0x21 | 0x24 | 0x25 | 0x22 | 0x26
        )
    }
    pub const fn is_write(&self) -> bool {
        self.exception_class() >= 0x24 && self.exception_class() <= 0x25 && (self.esr >> 6) & 1 == 1
    }

    pub fn class_name(&self) -> &'static str {
        match self.exception_class() {
            // CHERI QEMU reports some EL0 traps under TGE (MSR DAIFSet, FP access) as EC 0,
            // so EC 0 is "unknown or trapped instruction", never "no fault".
            0x00 => "unknown or trapped instruction",
            0x01 => "WFI/WFE trapped",
            0x07 => "FP/SIMD access trapped",
            0x0e => "illegal execution state",
            0x15 => "SVC",
            0x16 => "HVC",
            0x17 => "SMC",
            0x18 => "system register access trapped",
            0x20 | 0x21 => "instruction abort",
            0x22 => "PC alignment fault",
            0x24 | 0x25 => "data abort",
            0x26 => "SP alignment fault",
            0x29 => "capability instruction trapped (capabilities disabled)",
            0x2a => "capability system register access trapped",
            0x2f => "SError",
            0x3c => "BRK",
            _ => "other exception",
        }
    }

    /// The fault status of an abort: CHERI capability faults first, then the usual MMU ones.
    pub fn fault_name(&self) -> Option<&'static str> {
        if !matches!(self.exception_class(), 0x20 | 0x21 | 0x24 | 0x25) {
            return None;
        }
        Some(match self.fault_status() {
            0x28 => "capability tag fault",
            0x29 => "capability sealed/type fault",
            0x2a => "capability bounds fault",
            0x2b => "capability permission fault",
            0x2c => "page-table capability permission fault",
            0x21 => "alignment fault",
            0x04..=0x07 => "translation fault",
            0x09..=0x0b => "access flag fault",
            0x0d..=0x0f => "permission fault",
            0x10 => "synchronous external abort",
            _ => "other fault",
        })
    }

    /// True for the capability faults a CHERI cVM can cause (tag, seal, bounds, permission).
    pub fn is_capability_fault(&self) -> bool {
        matches!(self.exception_class(), 0x20 | 0x21 | 0x24 | 0x25)
            && matches!(self.fault_status(), 0x28..=0x2c)
    }
}

impl fmt::Display for ArmSyndrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (ESR {:#x}, EC {:#x}",
            self.class_name(),
            self.esr,
            self.exception_class()
        )?;
        if let Some(fault) = self.fault_name() {
            write!(
                f,
                ", {}{}",
                fault,
                if self.is_write() { " on write" } else { "" }
            )?;
        }
        if self.has_fault_address() {
            write!(f, ", address {:#x}", self.far)?;
        }
        write!(f, ")")
    }
}

/// A RISC-V trap cause (mcause) with mtval beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiscvCause {
    pub mcause: u64,
    pub mtval: u64,
}

/// mcause for a CHERI exception; mtval then holds `cause | register << 5`.
pub const CHERI_MCAUSE: u64 = 0x1c;

impl RiscvCause {
    pub const fn is_interrupt(&self) -> bool {
        self.mcause >> 63 == 1
    }
    pub const fn code(&self) -> u64 {
        self.mcause & !(1 << 63)
    }

    pub fn name(&self) -> &'static str {
        if self.is_interrupt() {
            return match self.code() {
                3 => "machine software interrupt",
                7 => "machine timer interrupt",
                11 => "machine external interrupt",
                _ => "other interrupt",
            };
        }
        match self.code() {
            0 => "instruction address misaligned",
            1 => "instruction access fault",
            2 => "illegal instruction",
            3 => "breakpoint",
            4 => "load address misaligned",
            5 => "load access fault",
            6 => "store address misaligned",
            7 => "store access fault",
            8 => "ecall from U-mode",
            9 => "ecall from S-mode",
            11 => "ecall from M-mode",
            12 => "instruction page fault",
            13 => "load page fault",
            15 => "store page fault",
            0x1a => "capability load page fault",
            0x1b => "capability store page fault",
            CHERI_MCAUSE => "CHERI capability fault",
            _ => "other exception",
        }
    }

    /// For a CHERI fault: the capability cause and the register it names.
    pub fn cheri_cause(&self) -> Option<(&'static str, CheriRegister)> {
        if self.is_interrupt() || self.code() != CHERI_MCAUSE {
            return None;
        }
        let cause = match self.mtval & 0x1f {
            0x01 => "length (bounds) violation",
            0x02 => "tag violation",
            0x03 => "seal violation",
            0x04 => "type violation",
            0x08 => "user-defined violation",
            0x0a => "inexact bounds",
            0x0b => "unaligned base",
            0x0c => "capability load generation",
            0x10 => "global violation",
            0x11 => "permit execute violation",
            0x12 => "permit load violation",
            0x13 => "permit store violation",
            0x14 => "permit load capability violation",
            0x15 => "permit store capability violation",
            0x16 => "permit store local capability violation",
            0x17 => "permit seal violation",
            0x18 => "access system registers violation",
            0x19 => "permit CInvoke violation",
            0x1a => "access CInvoke IDC violation",
            0x1b => "permit unseal violation",
            0x1c => "permit set CID violation",
            _ => "unknown capability cause",
        };
        let reg = ((self.mtval >> 5) & 0x3f) as u8;
        Some((cause, CheriRegister(reg)))
    }
}

/// The register a CHERI-RISC-V fault names: c0..c31, or 32 + a special capability register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheriRegister(pub u8);

impl fmt::Display for CheriRegister {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0..=31 => write!(f, "c{}", self.0),
            32 => write!(f, "PCC"),
            33 => write!(f, "DDC"),
            n => write!(f, "SCR {}", n - 32),
        }
    }
}

impl fmt::Display for RiscvCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (mcause {:#x}", self.name(), self.mcause)?;
        match self.cheri_cause() {
            Some((cause, reg)) => write!(f, ", {cause} via {reg}")?,
            None => write!(f, ", mtval {:#x}", self.mtval)?,
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn morello_bounds_fault_is_named() {
        // Observed on CHERI QEMU: a bounds fault through DDC from EL0 (cheri.md A.2.5).
        let s = ArmSyndrome {
            esr: 0x9200_002a,
            far: 0x1234,
        };
        assert!(s.is_capability_fault());
        assert_eq!(s.fault_name(), Some("capability bounds fault"));
        assert_eq!(
            s.to_string(),
            "data abort (ESR 0x9200002a, EC 0x24, capability bounds fault, address 0x1234)"
        );
        let store = ArmSyndrome {
            esr: 0x9200_006b,
            far: 0,
        };
        assert!(store.is_write());
        assert_eq!(store.fault_name(), Some("capability permission fault"));
    }

    #[test]
    fn morello_ec_zero_is_not_no_fault() {
        let s = ArmSyndrome { esr: 0, far: 0 };
        assert_eq!(s.class_name(), "unknown or trapped instruction");
        assert!(!s.has_fault_address());
        assert_eq!(
            ArmSyndrome {
                esr: 0xa600_0000,
                far: 0
            }
            .exception_class(),
            0x29
        );
    }

    #[test]
    fn riscv_cheri_causes() {
        let c = RiscvCause {
            mcause: 0x1c,
            mtval: 0x421,
        };
        assert_eq!(
            c.cheri_cause(),
            Some(("length (bounds) violation", CheriRegister(33)))
        );
        assert_eq!(
            c.to_string(),
            "CHERI capability fault (mcause 0x1c, length (bounds) violation via DDC)"
        );
        let st = RiscvCause {
            mcause: 0x1c,
            mtval: 0x313,
        };
        assert_eq!(
            st.cheri_cause().map(|(c, r)| (c, r.to_string())),
            Some(("permit store violation", "c24".into()))
        );
        let timer = RiscvCause {
            mcause: (1 << 63) | 7,
            mtval: 0,
        };
        assert!(timer.is_interrupt());
        assert_eq!(timer.name(), "machine timer interrupt");
        assert_eq!(timer.cheri_cause(), None);
    }
}

/// The address a RISC-V load, store or register jump would access, decoded from the
/// instruction and the registers (`x[0]` must be 0). CHERI faults report only the cause and
/// register in mtval (and a bad jump is caught at the jump itself), so the fault report
/// recovers the address this way. `None` for anything else. Covers 32-bit loads, stores and
/// JALR, and the compressed C.LW/C.LD/C.SW/C.SD/C.FLD/C.FSD, their sp-relative forms and
/// C.JR/C.JALR.
pub fn riscv_access_address(insn: u32, x: &[u64; 32]) -> Option<u64> {
    let reg = |n: u32| x[(n & 31) as usize];
    if insn & 3 == 3 {
        let rs1 = (insn >> 15) & 31;
        let imm = match insn & 0x7f {
            0x03 | 0x07 => ((insn as i32) >> 20) as i64, // loads
            0x23 | 0x27 => ((((insn as i32) >> 25) << 5) | ((insn >> 7) & 31) as i32) as i64, // stores
            0x67 => return Some(reg(rs1).wrapping_add((((insn as i32) >> 20) as i64) as u64) & !1), // jalr
            _ => return None,
        };
        return Some(reg(rs1).wrapping_add(imm as u64));
    }
    let insn = insn & 0xffff;
    let funct3 = insn >> 13;
    let rs1_prime = 8 + ((insn >> 7) & 7);
    match (insn & 3, funct3) {
        // C.FLD/C.LW/C.LD/C.FSD/C.SW/C.SD: rs1' + zero-extended offset.
        (0, 1) | (0, 3) | (0, 5) | (0, 7) => {
            let off = ((insn >> 7) & 0x38) | ((insn << 1) & 0xc0);
            Some(reg(rs1_prime).wrapping_add(u64::from(off)))
        }
        (0, 2) | (0, 6) => {
            let off = ((insn >> 7) & 0x38) | ((insn >> 4) & 0x4) | ((insn << 1) & 0x40);
            Some(reg(rs1_prime).wrapping_add(u64::from(off)))
        }
        // C.LWSP / C.LDSP / C.FLDSP: sp + offset.
        (2, 2) => Some(reg(2).wrapping_add(u64::from(
            ((insn >> 7) & 0x20) | ((insn >> 2) & 0x1c) | ((insn << 4) & 0xc0),
        ))),
        (2, 1) | (2, 3) => Some(reg(2).wrapping_add(u64::from(
            ((insn >> 7) & 0x20) | ((insn >> 2) & 0x18) | ((insn << 4) & 0x1c0),
        ))),
        // C.SWSP / C.SDSP / C.FSDSP.
        (2, 6) => Some(reg(2).wrapping_add(u64::from(((insn >> 7) & 0x3c) | ((insn >> 1) & 0xc0)))),
        (2, 5) | (2, 7) => {
            Some(reg(2).wrapping_add(u64::from(((insn >> 7) & 0x38) | ((insn >> 1) & 0x1c0))))
        }
        // C.JR / C.JALR: funct4 100x with rs2 = 0 and rs1 != 0.
        (2, 4) if (insn >> 2) & 31 == 0 && (insn >> 7) & 31 != 0 => {
            Some(reg((insn >> 7) & 31) & !1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod access_address_tests {
    use super::riscv_access_address;

    fn regs() -> [u64; 32] {
        let mut x = [0u64; 32];
        x[2] = 0x1000; // sp
        x[10] = 0x8000_0000; // a0
        x[11] = 0x2000; // a1
        x
    }

    #[test]
    fn full_width_loads_and_stores() {
        // ld a1, 16(a0) = 0x01053583; sd a1, -8(a0) = 0xfeb53c23; lw a1, 0(a0) = 0x00052583
        assert_eq!(
            riscv_access_address(0x0105_3583, &regs()),
            Some(0x8000_0010)
        );
        assert_eq!(
            riscv_access_address(0xfeb5_3c23, &regs()),
            Some(0x7fff_fff8)
        );
        assert_eq!(
            riscv_access_address(0x0005_2583, &regs()),
            Some(0x8000_0000)
        );
        assert_eq!(
            riscv_access_address(0x0000_0013, &regs()),
            None,
            "addi is not an access"
        );
    }

    #[test]
    fn compressed_loads_and_stores() {
        // c.ld a1, 8(a0) = 0x650c; c.sd a1, 0(a0) = 0xe10c; c.ldsp a1, 24(sp) = 0x65e2; c.sdsp a1, 16(sp) = 0xe82e
        assert_eq!(riscv_access_address(0x650c, &regs()), Some(0x8000_0008));
        assert_eq!(riscv_access_address(0xe10c, &regs()), Some(0x8000_0000));
        assert_eq!(riscv_access_address(0x65e2, &regs()), Some(0x1018));
        assert_eq!(riscv_access_address(0xe82e, &regs()), Some(0x1010));
        // c.lw a1, 4(a0) = 0x414c
        assert_eq!(riscv_access_address(0x414c, &regs()), Some(0x8000_0004));
    }

    #[test]
    fn jumps() {
        // jalr ra, 8(a0) = 0x008500e7; c.jalr a0 = 0x9502; c.jr a1 = 0x8582; c.mv a0, a1 is not a jump = 0x852e
        assert_eq!(
            riscv_access_address(0x0085_00e7, &regs()),
            Some(0x8000_0008)
        );
        assert_eq!(riscv_access_address(0x9502, &regs()), Some(0x8000_0000));
        assert_eq!(riscv_access_address(0x8582, &regs()), Some(0x2000));
        assert_eq!(riscv_access_address(0x852e, &regs()), None);
    }
}

/// The capability a Morello load or store executed in C64 went through. ESR does not say
/// (unlike CHERI-RISC-V's mtval), so a pure cVM's data fault is attributed from the instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C64Base {
    /// An alternate-base access: in C64 its integer base is checked against DDC.
    Ddc,
    /// Base register 31: CSP.
    Csp,
    /// Capability register Cn.
    Register(u8),
}

/// Which capability the Morello instruction `insn`, executed in C64, used as its base: Cn
/// (bits 9:5) for an A64 load or store (op0 = x1x0) or a Morello capability load or store
/// (top byte 0x22, 0x42, 0x62 or 0xA2: pairs, exclusives, unscaled and indexed forms; 0xC2
/// with bit 23 clear: `LDR/STR Ct, [Cn, #imm]`), DDC for the alternate-base forms (top byte
/// 0x82 or 0xE2). `None` for anything else.
pub fn morello_c64_access_base(insn: u32) -> Option<C64Base> {
    let top = insn >> 24;
    let base = || match (insn >> 5) & 0x1f {
        31 => C64Base::Csp,
        // The mask keeps 5 bits.
        #[allow(clippy::cast_possible_truncation)]
        n => C64Base::Register(n as u8),
    };
    if top == 0x82 || top == 0xe2 {
        return Some(C64Base::Ddc);
    }
    let a64_load_store = (insn >> 25) & 0b0101 == 0b0100;
    let morello_load_store =
        matches!(top, 0x22 | 0x42 | 0x62 | 0xa2) || insn & 0xff80_0000 == 0xc200_0000;
    (a64_load_store || morello_load_store).then(base)
}

#[cfg(test)]
mod c64_tests {
    use super::*;
    use crate::arch::insn::morello as m;

    #[test]
    fn c64_loads_and_stores_name_their_base() {
        let cases = [
            (m::ldr_cap(3, 2, 16), Some(C64Base::Register(2))), // ldr c3, [c2, #16]
            (m::str_cap(1, 31, 0), Some(C64Base::Csp)),         // str c1, [csp]
            (m::ldur_cap(0, 5, -16), Some(C64Base::Register(5))), // ldur c0, [c5, #-16]
            (m::stp_cap(0, 1, 7, 32), Some(C64Base::Register(7))), // stp c0, c1, [c7, #32]
            (m::ldr_cap_pre(4, 6, 16), Some(C64Base::Register(6))),
            (m::aldr_x(10, 9, 0), Some(C64Base::Ddc)), // ldr x10, [x9] via DDC
            (m::astrb(1, 2, 3), Some(C64Base::Ddc)),
            (0xf940_0041, Some(C64Base::Register(2))), // ldr x1, [c2]
            (0x3800_0c0e, Some(C64Base::Register(0))), // strb w14, [c0, #0]!
            (0xa9bf_7bfd, Some(C64Base::Csp)),         // stp x29, x30, [csp, #-16]!
            (m::scvalue(0, 2, 9), None),               // not memory
            (m::add_imm(0, 2, 16), None),
            (m::gcvalue(9, 2), None),
            (0xd400_0001, None), // svc #0
            (0x9100_0400, None), // add x0, x0, #1
        ];
        for (insn, expected) in cases {
            assert_eq!(morello_c64_access_base(insn), expected, "{insn:#010x}");
        }
    }
}
