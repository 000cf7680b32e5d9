//! Property tests of the capability model with a deterministic PRNG: derivation never grows
//! authority, representable lengths are what their masks say, and planned regions get exact
//! bounds, for both formats.

use super::{Capability, CheriRiscv, Format, Morello, PermSet};

use crate::testing::Rng;

const ITERATIONS: usize = 20_000;

fn derived_never_exceeds_parent<F: Format>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        let parent = Capability::<F>::root()
            .set_address(rng.magnitude(56))
            .set_bounds(rng.magnitude(56))
            .cap;
        let child_base = parent
            .base()
            .wrapping_add(rng.magnitude(40))
            .wrapping_sub(rng.magnitude(8));
        let length = rng.magnitude(48);
        let result = parent.set_address(child_base).set_bounds(length);
        if result.tag() {
            assert!(parent.tag(), "untagged parent produced a tagged child");
            assert!(
                parent.bounds().contains(&result.cap.bounds()),
                "{} grew from {}",
                result.cap,
                parent
            );
            // Rounding is outward: the request is always inside the result.
            assert!(
                result.cap.bounds().contains_range(child_base, length),
                "{} lost part of the request",
                result.cap
            );
            assert!(result.cap.perms() == parent.perms());
        }
        if result.exact && result.tag() {
            assert_eq!(
                (result.cap.base(), result.cap.length()),
                (child_base, u128::from(length))
            );
        }
    }
}

fn representable_length_matches_mask<F: Format>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        let length = rng.magnitude(64);
        let rounded = F::representable_length(length);
        let mask = F::alignment_mask(length);
        // The mask is ones followed by zeros: an alignment that is a power of two.
        assert_eq!(
            (!mask).wrapping_add(1) & !mask,
            0,
            "mask {mask:#x} for {length:#x}"
        );
        assert_eq!(rounded & !mask, 0, "{rounded:#x} not aligned to {mask:#x}");
        if rounded != 0 || length == 0 {
            assert!(rounded >= length, "{rounded:#x} < {length:#x}");
            assert!(
                rounded - length <= !mask,
                "{length:#x} rounded by more than one step"
            );
            // Rounding is idempotent: a representable length is its own CRRL.
            assert_eq!(F::representable_length(rounded), rounded);
        }
    }
}

fn planned_regions_get_exact_bounds<F: Format>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        let size = rng.magnitude(40).max(1);
        let plan = F::plan_region(size).expect("sizes below 2^40 can always be planned");
        assert!(plan.size >= size && plan.align.is_power_of_two());
        let base = plan
            .align_base(rng.magnitude(48))
            .expect("no overflow below 2^48");
        let region = Capability::<F>::root()
            .set_address(base)
            .set_bounds(plan.size);
        assert!(
            region.exact && region.tag(),
            "{} for size {size:#x}",
            region.cap
        );
        assert_eq!(
            (region.cap.base(), region.cap.length()),
            (base, u128::from(plan.size))
        );
        assert!(region
            .cap
            .set_address(base)
            .set_bounds_exact(plan.size)
            .tag());
        assert!(F::bounds_are_exact(base, plan.size));
    }
}

fn random_words_decode_without_panicking<F: Format>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        let cap = Capability::<F>::from_memory(rng.next(), rng.next(), true);
        let _ = cap.fields();
        let _ = alloc::format!("{cap}");
        let moved = cap.set_address(rng.next());
        let bounded = moved.set_bounds(rng.next());
        let _ = bounded
            .cap
            .set_bounds_exact(rng.magnitude(64))
            .without_perms(F::Perms::ALL);
        assert_eq!(
            Capability::<F>::from_memory(cap.high_word(), cap.address(), true).high_word(),
            cap.high_word()
        );
    }
}

#[test]
fn morello_derived_never_exceeds_parent() {
    derived_never_exceeds_parent::<Morello>(0x5EED_0001);
}

#[test]
fn riscv_derived_never_exceeds_parent() {
    derived_never_exceeds_parent::<CheriRiscv>(0x5EED_0002);
}

#[test]
fn morello_representable_length_matches_mask() {
    representable_length_matches_mask::<Morello>(0x5EED_0003);
}

#[test]
fn riscv_representable_length_matches_mask() {
    representable_length_matches_mask::<CheriRiscv>(0x5EED_0004);
}

#[test]
fn morello_planned_regions_get_exact_bounds() {
    planned_regions_get_exact_bounds::<Morello>(0x5EED_0005);
}

#[test]
fn riscv_planned_regions_get_exact_bounds() {
    planned_regions_get_exact_bounds::<CheriRiscv>(0x5EED_0006);
}

#[test]
fn morello_random_words_decode_without_panicking() {
    random_words_decode_without_panicking::<Morello>(0x5EED_0007);
}

#[test]
fn riscv_random_words_decode_without_panicking() {
    random_words_decode_without_panicking::<CheriRiscv>(0x5EED_0008);
}
