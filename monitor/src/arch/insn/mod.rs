//! Raw CHERI instruction words: the one place capmon spells out instructions upstream rustc
//! cannot assemble (Morello and CHERI-RISC-V ISAv9), as `const fn` encoders for `asm!` /
//! `global_asm!` `const` operands:
//!
//! ```ignore
//! // SCBNDSE c2, c1, x3
//! asm!(".inst {w}", w = const morello::scbndse(2, 1, 3));
//! // MSR DDC_EL0, c5
//! asm!(".inst {w}", w = const morello::msr_cap(morello::sysreg::DDC_EL0, 5));
//! // CSetBoundsExact ca0, ca1, a2
//! asm!(".4byte {w}", w = const cheri_riscv::csetboundsexact(10, 11, 12));
//! ```
//!
//! Conventions for every encoder here:
//! * Registers are numbers `0..=31` as `u32`, in the operand order of the mnemonic in the
//!   function's doc comment.
//! * **Morello register 31** (cheri.md §A.1.0) means **CSP** in the Cd/Cn fields of the
//!   bounds, address, permission, arithmetic, `GC*` and seal-immediate instructions and as the
//!   base register of loads and stores; it means **CZR** (the null capability) in every field
//!   of CPYTYPE/CPYVALUE/CSEAL/SEAL/UNSEAL (register forms), in the Cn of branches, in the Cm
//!   of BRS/BLRS/RETS and CHKEQ, and as the data register Ct of loads and stores. An X operand
//!   (`Xd`, `Xm`) 31 is XZR. Each function's doc names the meaning for its fields.
//! * **CHERI-RISC-V register 0** is `x0`/the null capability `c0`; there is no special 31.
//! * An operand out of range (register > 31, an immediate that does not fit or is not a
//!   multiple of the access size) panics, which in a `const` operand is a compile error: a
//!   wrong instruction word is never emitted silently.
//!
//! Every encoder is unit-tested against the words in the reference tables (cheri.md §A.1.1,
//! §A.1.2, §B.1).

pub mod cheri_riscv;
pub mod morello;

/// A register number, checked to be `0..=31`.
pub(crate) const fn register(number: u32) -> u32 {
    assert!(number <= 31, "register numbers are 0..=31");
    number
}
