//! The software model of CHERI 128-bit capabilities (Morello and CHERI-RISC-V ISAv9): decode
//! and encode the memory form, set bounds and addresses as the hardware does, plan regions
//! whose bounds are exact, and print capabilities for people.
//!
//! Nothing here executes a capability instruction; it predicts what the hardware will do, so
//! the monitor can choose bounds that SCBNDSE / CSetBoundsExact accept (they silently untag
//! otherwise) and report capabilities read from cVM frames. The model agrees with the
//! reference library `cheri-compressed-cap` that CHERI QEMU uses; `vectors` checks that
//! against the shared test vectors.
//!
//! ```
//! use capmon::cap::{Capability, Format, Morello};
//! let plan = Morello::plan_region(0x10_0001).unwrap();
//! assert_eq!((plan.size, plan.align), (0x10_0200, 0x200));
//! let region = Capability::<Morello>::root().set_address(0x4000_0000).set_bounds(plan.size);
//! assert!(region.exact && region.cap.tag());
//! ```

pub mod compress;
pub mod morello;
pub mod perms;
pub mod riscv;
pub mod vectors;

#[cfg(test)]
mod properties;

use core::fmt;
use core::marker::PhantomData;

use compress::{
    compute_base_top, encode_bounds, extract_bounds_bits, fast_representable, morello_sign_changes,
    Layout, MAX_TOP,
};
pub use morello::Morello;
pub use perms::{MorelloPerms, PermSet, RiscvPerms};
pub use riscv::CheriRiscv;

/// One capability format: its field layout, permission names and special object types, and
/// the planning helpers that depend only on the format. Implemented by [`Morello`] and
/// [`CheriRiscv`]; the monitor picks one per target.
pub trait Format: Copy + Eq + fmt::Debug + 'static {
    /// Short name, also the directory name of its test vectors ("morello", "riscv").
    const NAME: &'static str;
    /// Field positions and format rules (only this crate can build one).
    const LAYOUT: Layout;
    /// Sealed object types that have a name, for `Display`.
    const SPECIAL_OTYPES: &'static [(u32, &'static str)];
    /// The object type of a sealed entry ("sentry"): Morello's RB form, CHERI-RISC-V's −2.
    const SENTRY_OTYPE: u32;
    /// The architectural permission set.
    type Perms: PermSet;

    /// CRRL / RRLEN: the smallest length ≥ `length` that some aligned base can bound exactly.
    /// Wraps to 0 for lengths within one alignment step of 2^64, as the hardware does.
    fn representable_length(length: u64) -> u64 {
        let mask = Self::alignment_mask(length);
        length.wrapping_add(!mask) & mask
    }

    /// CRAM / RRMASK: the mask a base must satisfy (`base & !mask == 0`) for bounds of
    /// `length` (rounded with [`Format::representable_length`]) to be exact.
    fn alignment_mask(length: u64) -> u64 {
        if length == 0 {
            return u64::MAX;
        }
        encode_bounds(&Self::LAYOUT, 0, u128::from(length)).alignment_mask
    }

    /// Plans a region of at least `size` bytes: any base that is a multiple of the returned
    /// `align` gets exact bounds of the returned `size` (so SCBNDSE / CSetBoundsExact keep the
    /// tag). `None` when the rounded size would not fit below 2^64.
    ///
    /// On Morello the base must also stay below 2^55: bounds use the sign-extended 56-bit
    /// address, so higher bases are not in the monitor's address space anyway.
    fn plan_region(size: u64) -> Option<RegionPlan> {
        if size == 0 {
            return Some(RegionPlan { size: 0, align: 1 });
        }
        let rounded = Self::representable_length(size);
        if rounded < size {
            return None;
        }
        // The mask of the rounded length, not of `size`: rounding up may need one more
        // exponent bit.
        let align = (!Self::alignment_mask(rounded)).checked_add(1)?;
        Some(RegionPlan {
            size: rounded,
            align,
        })
    }

    /// Whether bounding the root to `[base, base + length)` is exact and keeps the tag, i.e.
    /// whether SCBNDSE / CSetBoundsExact would accept it.
    fn bounds_are_exact(base: u64, length: u64) -> bool {
        let result = Capability::<Self>::root()
            .set_address(base)
            .set_bounds(length);
        result.exact && result.cap.tag()
    }
}

/// A region size and base alignment for which bounds are exact (see [`Format::plan_region`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionPlan {
    /// Length to give the region: the request rounded up to a representable length.
    pub size: u64,
    /// Power of two the base must be a multiple of.
    pub align: u64,
}

impl RegionPlan {
    /// The first properly aligned base at or above `address`, if one exists below 2^64.
    pub fn align_base(&self, address: u64) -> Option<u64> {
        let align_mask = self.align.checked_sub(1)?;
        address.checked_add(align_mask).map(|end| end & !align_mask)
    }
}

/// Bounds `[base, top)`; `top` is up to 2^64, so it is 65 bits wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub base: u64,
    pub top: u128,
}

impl Bounds {
    /// `top - base`, or 0 for a malformed capability whose base lies above its top.
    pub fn length(&self) -> u128 {
        self.top.saturating_sub(u128::from(self.base))
    }
    /// Whether `[base, base + length)` lies inside these bounds.
    pub fn contains_range(&self, base: u64, length: u64) -> bool {
        base >= self.base && u128::from(base) + u128::from(length) <= self.top
    }
    /// Whether `other` lies inside these bounds.
    pub fn contains(&self, other: &Bounds) -> bool {
        other.base >= self.base && other.top <= self.top
    }
}

/// Every decoded field of a capability, as the reference library reports them (used by the
/// test vectors and for debugging; the monitor normally uses [`Capability`]'s accessors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapFields {
    pub tag: bool,
    pub address: u64,
    pub base: u64,
    pub top: u128,
    /// The permission field of the high word (Morello: all 18 bits, user ones included;
    /// RISC-V: the 12 hardware bits).
    pub perms: u32,
    /// The separate user-permission field (RISC-V only; 0 on Morello).
    pub uperms: u32,
    pub otype: u32,
    /// RISC-V flags (bit 0 = capability mode); 0 on Morello, whose flags are the address's
    /// top byte.
    pub flags: u32,
    /// Morello: false for an exponent above the maximum other than the "whole address space"
    /// value. Always true on RISC-V.
    pub bounds_valid: bool,
}

/// A capability of format `F`: tag, address and the high word, with its bounds decoded.
///
/// A value type for reasoning about capabilities, not a capability itself: copying it copies
/// bits, never authority. Operations return a new value and clear the tag where the hardware
/// would.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Capability<F: Format> {
    tag: bool,
    address: u64,
    /// The high word with the null mask removed (the reference library's "pesbt").
    raw_high: u64,
    base: u64,
    top: u128,
    bounds_valid: bool,
    format: PhantomData<F>,
}

/// The result of a set-bounds: the new capability (untagged if the request left the parent's
/// bounds or the input was sealed or malformed) and whether the bounds are exactly the ones
/// requested (SCBNDS rounds outward when not; SCBNDSE untags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetBoundsResult<F: Format> {
    pub cap: Capability<F>,
    pub exact: bool,
}

impl<F: Format> SetBoundsResult<F> {
    /// Whether the result is still tagged.
    pub fn tag(&self) -> bool {
        self.cap.tag
    }
}

impl<F: Format> Capability<F> {
    /// Decodes a capability from its memory form: `high` is the 64-bit word stored at the
    /// capability's address + 8, `address` the word at + 0. Total: any input decodes.
    pub fn from_memory(high: u64, address: u64, tag: bool) -> Self {
        Self::from_raw(high ^ F::LAYOUT.null_xor_mask, address, tag)
    }

    fn from_raw(raw_high: u64, address: u64, tag: bool) -> Self {
        let layout = &F::LAYOUT;
        let bits = extract_bounds_bits(layout, raw_high);
        let (base, top, bounds_valid) = compute_base_top(layout, bits, address);
        Capability {
            tag,
            address,
            raw_high,
            base,
            top,
            bounds_valid,
            format: PhantomData,
        }
    }

    /// The null capability (all-zero memory): untagged, no permissions, address 0.
    pub fn null() -> Self {
        Self::from_memory(0, 0, false)
    }

    /// The root capability the hardware resets PCC/DDC to: tagged, every permission, unsealed,
    /// bounds `[0, 2^64)`, address 0.
    pub fn root() -> Self {
        let layout = &F::LAYOUT;
        let all_perms = F::Perms::ALL.bits();
        let hardware_perms = all_perms & low_mask_u32(layout.perms.width);
        let user_perms = all_perms
            .checked_shr(layout.user_perms_arch_shift)
            .unwrap_or(0);
        let mut raw_high = layout.perms.deposit(0, u64::from(hardware_perms));
        raw_high = layout.user_perms.deposit(raw_high, u64::from(user_perms));
        raw_high = layout
            .otype
            .deposit(raw_high, u64::from(layout.otype_unsealed));
        raw_high |= encode_bounds(layout, 0, MAX_TOP).bits;
        Self::from_raw(raw_high, 0, true)
    }

    /// The high word as stored in memory (at the capability's address + 8).
    pub fn high_word(&self) -> u64 {
        self.raw_high ^ F::LAYOUT.null_xor_mask
    }

    /// Both words in memory order: `[address, high word]` (little-endian, 16-byte aligned).
    pub fn to_memory(&self) -> [u64; 2] {
        [self.address, self.high_word()]
    }

    pub fn tag(&self) -> bool {
        self.tag
    }
    /// The full 64-bit address (on Morello including the flag byte).
    pub fn address(&self) -> u64 {
        self.address
    }
    pub fn base(&self) -> u64 {
        self.base
    }
    /// Top, up to 2^64.
    pub fn top(&self) -> u128 {
        self.top
    }
    pub fn bounds(&self) -> Bounds {
        Bounds {
            base: self.base,
            top: self.top,
        }
    }
    /// `top - base` (0 for a malformed capability whose base is above its top).
    pub fn length(&self) -> u128 {
        self.bounds().length()
    }
    /// The permissions as GCPERM / CGetPerm report them.
    pub fn perms(&self) -> F::Perms {
        let layout = &F::LAYOUT;
        let user = self
            .field(layout.user_perms)
            .checked_shl(layout.user_perms_arch_shift);
        F::Perms::from_bits(self.field(layout.perms) | user.unwrap_or(0))
    }
    pub fn otype(&self) -> u32 {
        self.field(F::LAYOUT.otype)
    }
    pub fn is_sealed(&self) -> bool {
        self.otype() != F::LAYOUT.otype_unsealed
    }
    /// Morello: whether the exponent is one the hardware accepts (see [`CapFields`]).
    pub fn bounds_valid(&self) -> bool {
        self.bounds_valid
    }
    /// The bounds exponent (0 when the exponent is not stored internally).
    pub fn exponent(&self) -> u32 {
        extract_bounds_bits(&F::LAYOUT, self.raw_high).exponent
    }

    /// Every decoded field, in the reference library's terms.
    pub fn fields(&self) -> CapFields {
        let layout = &F::LAYOUT;
        CapFields {
            tag: self.tag,
            address: self.address,
            base: self.base,
            top: self.top,
            perms: self.field(layout.perms),
            uperms: self.field(layout.user_perms),
            otype: self.otype(),
            flags: self.field(layout.flags),
            bounds_valid: self.bounds_valid,
        }
    }

    fn field(&self, field: compress::Field) -> u32 {
        // Fields are at most 18 bits wide.
        u32::try_from(field.extract(self.raw_high)).unwrap_or(u32::MAX)
    }

    /// The same capability untagged.
    pub fn with_tag_cleared(self) -> Self {
        Capability { tag: false, ..self }
    }

    /// Whether the bounds stay the same with the address moved to `new_address`, by the
    /// hardware's fast check (conservative: it may refuse some addresses the bounds could still
    /// describe). A sealed capability loses its tag on any move regardless.
    pub fn address_is_representable(&self, new_address: u64) -> bool {
        let layout = &F::LAYOUT;
        if layout.morello_rules {
            // Bounds use the sign-extended 56-bit address: flipping its sign bit moves them.
            if morello_sign_changes(layout, new_address, self.address)
                && layout.bounds_use_address(self.exponent())
            {
                return false;
            }
            if !self.bounds_valid {
                return false;
            }
        }
        let bounds_address = layout.bounds_address(new_address);
        if bounds_address >= self.base && u128::from(bounds_address) < self.top {
            return true;
        }
        fast_representable(
            layout,
            self.raw_high,
            self.base,
            self.top,
            self.address,
            new_address,
        )
    }

    /// SCVALUE / CSetAddr: the capability with its address moved. The tag is cleared when
    /// the input is sealed or the new address fails [`Self::address_is_representable`]; in
    /// the latter case the bounds are decoded afresh against the new address, as the hardware
    /// would.
    pub fn set_address(self, new_address: u64) -> Self {
        let tag = self.tag && !self.is_sealed();
        if self.address_is_representable(new_address) {
            Capability {
                tag,
                address: new_address,
                ..self
            }
        } else {
            Self::from_raw(self.raw_high, new_address, false)
        }
    }

    /// SCBNDS / CSetBounds: bounds `[address, address + length)`, rounded outward if they are
    /// not representable. The tag is cleared if the request is not inside the current bounds,
    /// or the input is sealed or (Morello) has an invalid exponent or flag bits that the new
    /// bounds would interpret.
    pub fn set_bounds(self, length: u64) -> SetBoundsResult<F> {
        let layout = &F::LAYOUT;
        let mut tag = self.tag && !self.is_sealed();
        let mut requested_base = self.address;
        // Morello: bounds that ignore the address (huge exponents) take the address as is;
        // otherwise the flag byte is dropped and the 56-bit value sign-extended.
        let from_large_bounds = layout.morello_rules && !layout.bounds_use_address(self.exponent());
        if layout.morello_rules {
            tag &= self.bounds_valid;
            if !from_large_bounds {
                requested_base = layout.bounds_address(requested_base);
            }
        }
        let requested_top = u128::from(requested_base) + u128::from(length);
        if requested_base < self.base || requested_top > self.top {
            tag = false;
        }
        let encoded = encode_bounds(layout, requested_base, requested_top);
        let new_bits = extract_bounds_bits(layout, encoded.bits);
        let (base, top, bounds_valid) = compute_base_top(layout, new_bits, self.address);
        if from_large_bounds
            && layout.bounds_use_address(new_bits.exponent)
            && layout.bounds_address(self.address) != self.address
        {
            // The new, small bounds would read the flag bits as part of the address.
            tag = false;
        }
        let raw_high = (self.raw_high & !layout.bounds_mask()) | encoded.bits;
        let cap = Capability {
            tag,
            address: self.address,
            raw_high,
            base,
            top,
            bounds_valid,
            ..self
        };
        SetBoundsResult {
            cap,
            exact: encoded.exact,
        }
    }

    /// SCBNDSE / CSetBoundsExact: like [`Self::set_bounds`], but the tag is also cleared when
    /// the bounds would have to be rounded (Morello untags without a trap; CHERI-RISC-V traps
    /// instead, so there the untagged result stands for the fault).
    pub fn set_bounds_exact(self, length: u64) -> Self {
        let result = self.set_bounds(length);
        if result.exact {
            result.cap
        } else {
            result.cap.with_tag_cleared()
        }
    }

    /// CLRPERM / CAndPerm with the complement: the capability without `perms`. A sealed input
    /// loses its tag (Morello untags; RISC-V would trap).
    pub fn without_perms(self, perms: F::Perms) -> Self {
        let layout = &F::LAYOUT;
        let remaining = self.perms().bits() & !perms.bits();
        let hardware = remaining & low_mask_u32(layout.perms.width);
        let user = remaining
            .checked_shr(layout.user_perms_arch_shift)
            .unwrap_or(0);
        let mut raw_high = layout.perms.deposit(self.raw_high, u64::from(hardware));
        raw_high = layout.user_perms.deposit(raw_high, u64::from(user));
        Capability {
            tag: self.tag && !self.is_sealed(),
            raw_high,
            ..self
        }
    }
}

impl<F: Format> Capability<F> {
    /// SEAL Cd, Cn, rb / CSealEntry: the capability sealed as a sentry (unsealed again only by
    /// branching to it). The tag is cleared if the input is already sealed; on CHERI-RISC-V
    /// also if it lacks Execute (CSealEntry traps there, and the untagged result stands for the
    /// fault, as in [`Self::set_bounds_exact`]).
    pub fn seal_entry(self) -> Self {
        let layout = &F::LAYOUT;
        let executable =
            layout.morello_rules || self.perms().bits() & RiscvPerms::EXECUTE.bits() != 0;
        let raw_high = layout
            .otype
            .deposit(self.raw_high, u64::from(F::SENTRY_OTYPE));
        Capability {
            tag: self.tag && !self.is_sealed() && executable,
            raw_high,
            ..self
        }
    }

    /// The format's flags field (CHERI-RISC-V: bit 0 = capability mode; Morello keeps its
    /// flags in the address's top byte, so there this is always 0).
    pub fn flags(&self) -> u32 {
        self.field(F::LAYOUT.flags)
    }

    /// CSetFlags: the capability with its flags field set to `flags` (a no-op on Morello,
    /// whose flags live in the address). A sealed input loses its tag.
    pub fn set_flags(self, flags: u32) -> Self {
        let layout = &F::LAYOUT;
        Capability {
            tag: self.tag && !self.is_sealed(),
            raw_high: layout.flags.deposit(self.raw_high, u64::from(flags)),
            ..self
        }
    }
}

fn low_mask_u32(width: u32) -> u32 {
    1u32.checked_shl(width).map_or(u32::MAX, |bit| bit - 1)
}

/// `tag=1 perms=[Load,Store] base=0x80000000 len=0x1000 addr=0x80000010 otype=unsealed`, plus
/// `flags=` (RISC-V mode bit) and `bounds=invalid` (Morello) when they matter.
impl<F: Format> fmt::Display for Capability<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tag={} perms={} base={:#x} ",
            u8::from(self.tag),
            self.perms(),
            self.base
        )?;
        if self.top >= u128::from(self.base) {
            write!(f, "len={:#x}", self.length())?;
        } else {
            write!(f, "len=none(top={:#x} below base)", self.top)?;
        }
        write!(f, " addr={:#x} otype=", self.address)?;
        let otype = self.otype();
        match F::SPECIAL_OTYPES.iter().find(|(value, _)| *value == otype) {
            _ if !self.is_sealed() => f.write_str("unsealed")?,
            Some((_, name)) => f.write_str(name)?,
            None => write!(f, "{otype:#x}")?,
        }
        let flags = self.field(F::LAYOUT.flags);
        if flags != 0 {
            write!(f, " flags={flags:#x}")?;
        }
        if !self.bounds_valid {
            f.write_str(" bounds=invalid")?;
        }
        Ok(())
    }
}

impl<F: Format> fmt::Debug for Capability<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Capability<{}>({self}; high={:#018x})",
            F::NAME,
            self.high_word()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn display_shows_a_derived_capability_as_a_person_reads_it() {
        let keep = MorelloPerms::LOAD | MorelloPerms::STORE | MorelloPerms::EXECUTE;
        let cap = Capability::<Morello>::root()
            .set_address(0x8000_0000)
            .set_bounds_exact(0x1000)
            .without_perms(MorelloPerms::ALL - keep)
            .set_address(0x8000_0010);
        assert_eq!(
            format!("{cap}"),
            "tag=1 perms=[Load,Store,Execute] base=0x80000000 len=0x1000 addr=0x80000010 \
             otype=unsealed"
        );
    }

    #[test]
    fn display_names_sentries_and_prints_other_otypes() {
        // Otype field of Morello: bits 45:31 of the high word.
        let sentry = Capability::<Morello>::from_memory(morello::ROOT_HIGH_WORD | 1 << 31, 0, true);
        assert!(format!("{sentry}").ends_with("otype=sentry"));
        let sealed =
            Capability::<Morello>::from_memory(morello::ROOT_HIGH_WORD | 42 << 31, 0, true);
        assert!(format!("{sealed}").ends_with("otype=0x2a"));
        let root = Capability::<CheriRiscv>::root();
        assert_eq!(
            format!("{root}"),
            "tag=1 perms=[Load,Store,Execute,LoadCap,StoreCap,StoreLocalCap,Seal,Unseal,CInvoke,\
             ASR,SetCID,Global,User0,User1,User2,User3] base=0x0 len=0x10000000000000000 \
             addr=0x0 otype=unsealed"
        );
    }

    #[test]
    fn representable_lengths_match_the_reference_tables() {
        // §A.3 and §B.3 of cheri.md.
        assert_eq!(Morello::representable_length(0x10_0001), 0x10_0200);
        assert_eq!(Morello::alignment_mask(0x10_0001), 0xFFFF_FFFF_FFFF_FE00);
        assert_eq!(Morello::alignment_mask(0x3FFF), u64::MAX);
        assert_eq!(CheriRiscv::representable_length(0x10_0001), 0x10_0800);
        assert_eq!(CheriRiscv::alignment_mask(0x1000), 0xFFFF_FFFF_FFFF_FFF8);
        assert_eq!(CheriRiscv::alignment_mask(1 << 30), 0xFFFF_FFFF_FFE0_0000);
    }

    #[test]
    fn plan_region_rounds_size_and_reports_alignment() {
        assert_eq!(
            Morello::plan_region(0),
            Some(RegionPlan { size: 0, align: 1 })
        );
        assert_eq!(
            Morello::plan_region(0x3FFF),
            Some(RegionPlan {
                size: 0x3FFF,
                align: 1
            })
        );
        assert_eq!(
            CheriRiscv::plan_region(0x10_0001),
            Some(RegionPlan {
                size: 0x10_0800,
                align: 0x800
            })
        );
        assert_eq!(Morello::plan_region(u64::MAX), None);
        let plan = Morello::plan_region(0x4001).unwrap();
        assert_eq!(plan.align_base(0x4000_0001), Some(0x4000_0008));
        assert_eq!(plan.align_base(u64::MAX), None);
    }

    #[test]
    fn set_bounds_outside_the_parent_clears_the_tag() {
        let parent = Capability::<CheriRiscv>::root()
            .set_address(0x8000_0000)
            .set_bounds(0x1000)
            .cap;
        assert!(parent.tag());
        let escaped = parent.set_bounds(0x1001);
        assert!(!escaped.tag());
        let inexact = parent.set_address(0x8000_0001).set_bounds_exact(0x1000);
        assert!(!inexact.tag());
    }

    #[test]
    fn sealed_capabilities_lose_the_tag_when_modified() {
        let sealed = Capability::<Morello>::from_memory(morello::ROOT_HIGH_WORD | 5 << 31, 0, true);
        assert!(sealed.is_sealed());
        assert!(!sealed.set_address(8).tag());
        assert!(!sealed.set_bounds(8).tag());
        assert!(!sealed.without_perms(MorelloPerms::STORE).tag());
    }

    #[test]
    fn seal_entry_makes_a_sentry_once() {
        let code = Capability::<Morello>::root()
            .set_address(0x8000_0000)
            .set_bounds_exact(0x1000)
            .set_address(0x8000_0041);
        let sentry = code.seal_entry();
        assert!(sentry.tag() && sentry.is_sealed());
        assert_eq!(sentry.otype(), morello::otype::SENTRY);
        assert_eq!(
            (sentry.address(), sentry.bounds()),
            (code.address(), code.bounds())
        );
        assert!(format!("{sentry}").ends_with("otype=sentry"));
        assert!(
            !sentry.seal_entry().tag(),
            "sealing a sealed capability untags"
        );
        assert!(!sentry.set_address(0x8000_0000).tag());

        let rv = Capability::<CheriRiscv>::root().set_address(0x8000_0000);
        let sentry = rv.set_flags(riscv::FLAG_CAPABILITY_MODE).seal_entry();
        assert!(sentry.tag());
        assert_eq!(sentry.otype(), riscv::otype::SENTRY);
        assert_eq!(sentry.flags(), riscv::FLAG_CAPABILITY_MODE);
        assert!(
            !sentry.set_flags(0).tag(),
            "CSetFlags on a sealed capability untags"
        );
        let data = rv.without_perms(RiscvPerms::EXECUTE);
        assert!(!data.seal_entry().tag(), "CSealEntry needs Execute");
        assert_eq!(Capability::<Morello>::root().set_flags(1).flags(), 0);
    }

    #[test]
    fn without_perms_only_removes() {
        let root = Capability::<CheriRiscv>::root();
        let no_user = root.without_perms(RiscvPerms::USER0 | RiscvPerms::STORE);
        assert!(!no_user.perms().contains(RiscvPerms::USER0));
        assert!(!no_user.perms().contains(RiscvPerms::STORE));
        assert_eq!(no_user.fields().uperms, 0b1110);
        assert_eq!(no_user.bounds(), root.bounds());
        assert!(no_user.tag());
    }
}
