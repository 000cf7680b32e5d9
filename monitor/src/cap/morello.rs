//! The Morello 128-bit capability format (`cc128m` in the reference library, §A.3 of
//! cheri.md): 18 permission bits, a 15-bit otype, a 16-bit mantissa and a 56-bit
//! sign-extended address for bounds, with the top address byte as flags.

use super::compress::{Field, Layout};
use super::perms::MorelloPerms;
use super::Format;

/// The Morello format. Use it as the type parameter of [`super::Capability`] and for
/// planning: `Morello::plan_region(size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Morello;

/// Object types with an architectural meaning (SEAL Cd, Cn, rb|lpb|lb). 0 is unsealed.
pub mod otype {
    /// Not sealed.
    pub const UNSEALED: u32 = 0;
    /// RB: a sealed entry ("sentry"), unsealed by branching to it.
    pub const SENTRY: u32 = 1;
    /// LPB: load-pair-and-branch (LDPBR).
    pub const LOAD_PAIR_BRANCH: u32 = 2;
    /// LB: load-and-branch (BR [Cn, #imm]).
    pub const LOAD_BRANCH: u32 = 3;
    /// The largest otype SEAL accepts.
    pub const MAX: u32 = 0x7FFF;
}

/// The high word of the root capability as stored in memory (all permissions, whole address
/// space); isla-testgen uses the same literal.
pub const ROOT_HIGH_WORD: u64 = 0xFFFF_C000_0001_0005;

const LAYOUT: Layout = Layout {
    mantissa_width: 16,
    max_exponent: 50,
    null_xor_mask: 0x0000_0000_4007_0007,
    perms: Field::new(46, 18),
    // Morello's user permissions are perms bits 2..5; there is no separate field.
    user_perms: Field::new(0, 0),
    user_perms_arch_shift: 0,
    // The flags are the address's top byte, not part of the high word.
    flags: Field::new(0, 0),
    otype: Field::new(31, 15),
    otype_unsealed: otype::UNSEALED,
    internal_exponent_bit: 30,
    morello_rules: true,
};

impl Format for Morello {
    const NAME: &'static str = "morello";
    const LAYOUT: Layout = LAYOUT;
    const SPECIAL_OTYPES: &'static [(u32, &'static str)] = &[
        (otype::SENTRY, "sentry"),
        (otype::LOAD_PAIR_BRANCH, "lpb"),
        (otype::LOAD_BRANCH, "lb"),
    ];
    const SENTRY_OTYPE: u32 = otype::SENTRY;
    type Perms = MorelloPerms;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::Capability;

    #[test]
    fn root_high_word_matches_the_reference() {
        let root = Capability::<Morello>::root();
        assert_eq!(root.high_word(), ROOT_HIGH_WORD);
        assert_eq!((root.base(), root.top()), (0, 1 << 64));
        assert_eq!(root.perms(), MorelloPerms::ALL);
    }

    #[test]
    fn reference_example_region_encodes_to_the_documented_word() {
        // §A.3: [0x40400000, +0x1000) with full permissions.
        let region = Capability::<Morello>::root()
            .set_address(0x4040_0000)
            .set_bounds(0x1000);
        assert!(region.exact && region.cap.tag());
        assert_eq!(region.cap.high_word(), 0xFFFF_C000_5000_0000);
    }

    #[test]
    fn all_zero_memory_is_the_untagged_null_capability() {
        let null = Capability::<Morello>::from_memory(0, 0, false);
        assert_eq!((null.base(), null.top()), (0, 1 << 64));
        assert!(null.perms().is_empty() && !null.is_sealed());
        assert_eq!(null, Capability::null());
    }
}
