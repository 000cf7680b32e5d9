//! The CHERI-RISC-V ISAv9 128-bit capability format (`cc128` in the reference library, §B.3 of
//! cheri.md): 12 hardware and 4 user permission bits, an 18-bit otype counted down from −1,
//! a capability-mode flag and a 14-bit mantissa.

use super::compress::{Field, Layout};
use super::perms::RiscvPerms;
use super::Format;

/// The CHERI-RISC-V format. Use it as the type parameter of [`super::Capability`] and for
/// planning: `CheriRiscv::plan_region(size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CheriRiscv;

/// Object types with an architectural meaning. The field is 18 bits and CGetType sign-extends
/// it, so these are −1, −2, … as the hardware reports them; user otypes count up from 0.
pub mod otype {
    /// Not sealed (−1).
    pub const UNSEALED: u32 = 0x3FFFF;
    /// Sealed entry (−2), unsealed by CJALR.
    pub const SENTRY: u32 = 0x3FFFE;
    /// Indirect pair (−3).
    pub const INDIRECT_PAIR: u32 = 0x3FFFD;
    /// Indirect sentry (−4).
    pub const INDIRECT_SENTRY: u32 = 0x3FFFC;
}

/// Flag bit 0: the capability runs in capability mode when installed as PCC.
pub const FLAG_CAPABILITY_MODE: u32 = 1;

/// The high word of the root capability as stored in memory.
pub const ROOT_HIGH_WORD: u64 = 0xFFFF_0000_0000_0000;

const LAYOUT: Layout = Layout {
    mantissa_width: 14,
    max_exponent: 52,
    null_xor_mask: 0x0000_1FFF_FC01_8004,
    perms: Field::new(48, 12),
    user_perms: Field::new(60, 4),
    user_perms_arch_shift: 15,
    flags: Field::new(45, 1),
    otype: Field::new(27, 18),
    otype_unsealed: otype::UNSEALED,
    internal_exponent_bit: 26,
    morello_rules: false,
};

impl Format for CheriRiscv {
    const NAME: &'static str = "riscv";
    const LAYOUT: Layout = LAYOUT;
    const SPECIAL_OTYPES: &'static [(u32, &'static str)] = &[
        (otype::SENTRY, "sentry"),
        (otype::INDIRECT_PAIR, "indirect-pair"),
        (otype::INDIRECT_SENTRY, "indirect-sentry"),
    ];
    const SENTRY_OTYPE: u32 = otype::SENTRY;
    type Perms = RiscvPerms;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Capability;

    #[test]
    fn root_high_word_and_perms_match_the_reference() {
        let root = Capability::<CheriRiscv>::root();
        assert_eq!(root.high_word(), ROOT_HIGH_WORD);
        assert_eq!((root.base(), root.top()), (0, 1 << 64));
        assert_eq!(root.perms().bits(), 0x78FFF);
        assert_eq!(root.otype(), otype::UNSEALED);
    }

    #[test]
    fn reference_example_region_encodes_to_the_documented_word() {
        // §B.3: [0x8040_0000, +0x1000).
        let region = Capability::<CheriRiscv>::root()
            .set_address(0x8040_0000)
            .set_bounds(0x1000);
        assert!(region.exact && region.cap.tag());
        assert_eq!(region.cap.high_word(), 0xFFFF_0000_0001_8004);
    }

    #[test]
    fn all_zero_memory_is_the_untagged_null_capability() {
        let null = Capability::<CheriRiscv>::from_memory(0, 0, false);
        assert_eq!((null.base(), null.top()), (0, 1 << 64));
        assert!(null.perms().is_empty() && !null.is_sealed());
    }
}
