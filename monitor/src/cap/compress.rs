//! The CHERI Concentrate bounds compression shared by Morello and CHERI-RISC-V: decoding the
//! exponent/bottom/top bits against an address, encoding requested bounds, and the hardware's
//! fast representability check.
//!
//! This follows the algorithm of the reference library `cheri-compressed-cap`
//! (`cheri_compressed_cap_common.h`, the revision vendored in CHERI QEMU) because the test
//! vectors were generated with it and CHERI QEMU computes the same. The two formats differ
//! only in field positions, the mantissa width and a handful of Morello rules, which [`Layout`]
//! describes. Everything here is total: any 64-bit word and address decode without panicking
//! (malformed words decode to whatever the hardware computes, possibly base > top).

/// A bit field of the capability's high word (bits 127:64, numbered here 63:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub(crate) shift: u32,
    pub(crate) width: u32,
}

impl Field {
    pub(crate) const fn new(shift: u32, width: u32) -> Self {
        Field { shift, width }
    }
    pub(crate) const fn mask(self) -> u64 {
        low_mask(self.width) << self.shift
    }
    pub(crate) const fn extract(self, word: u64) -> u64 {
        (word >> self.shift) & low_mask(self.width)
    }
    /// `word` with this field replaced by the low bits of `value`.
    pub(crate) const fn deposit(self, word: u64, value: u64) -> u64 {
        (word & !self.mask()) | ((value & low_mask(self.width)) << self.shift)
    }
}

/// How one 128-bit format lays out its high word, plus the format-specific rules.
/// Only this crate builds layouts (see `morello::LAYOUT`, `riscv::LAYOUT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Width of the bottom mantissa B (the top mantissa T has two bits fewer stored).
    pub(crate) mantissa_width: u32,
    /// Largest exponent a derivable capability needs (2^64 bounds).
    pub(crate) max_exponent: u32,
    /// XORed into the stored word so that all-zero memory is the null capability.
    pub(crate) null_xor_mask: u64,
    pub(crate) perms: Field,
    pub(crate) user_perms: Field,
    /// Where the user permissions sit in the architectural (CGetPerm) view.
    pub(crate) user_perms_arch_shift: u32,
    pub(crate) flags: Field,
    pub(crate) otype: Field,
    pub(crate) otype_unsealed: u32,
    /// Bit number of the internal-exponent flag; T and B fill the bits below it.
    pub(crate) internal_exponent_bit: u32,
    /// Morello only: the address's top byte holds flags, bounds use the sign-extended low 56
    /// bits, exponents above the maximum mean "whole address space" (63) or "invalid", and the
    /// exponent bits are stored uninverted when IE = 0.
    pub(crate) morello_rules: bool,
}

const MORELLO_FLAG_BITS: u32 = 8;
/// The exponent value Morello uses to mean "bounds are the whole address space".
const MORELLO_MAX_ENCODABLE_EXPONENT: u32 = 63;
/// Width of each of the two 3-bit halves of an internal exponent.
const EXPONENT_HALF_WIDTH: u32 = 3;
/// 2^64: the top of a capability covering the whole address space.
pub(crate) const MAX_TOP: u128 = 1 << 64;

/// `n` low bits set (n ≤ 64).
pub(crate) const fn low_mask(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The low 64 bits of a 65-bit quantity (a deliberate truncation, spelled out so the
/// `cast_possible_truncation` lint stays meaningful elsewhere).
pub(crate) fn low64(value: u128) -> u64 {
    u64::try_from(value & u128::from(u64::MAX)).unwrap_or(u64::MAX)
}

const fn bit(word: u64, index: u32) -> bool {
    index < 64 && (word >> index) & 1 == 1
}

impl Layout {
    const fn top_field(&self) -> Field {
        let stored_top_width = self.mantissa_width - 2;
        Field::new(
            self.internal_exponent_bit - stored_top_width,
            stored_top_width,
        )
    }
    const fn bottom_field(&self) -> Field {
        Field::new(0, self.mantissa_width)
    }
    /// Low half of an internal exponent: the bottom three bits of the B field.
    const fn exponent_low_field(&self) -> Field {
        Field::new(0, EXPONENT_HALF_WIDTH)
    }
    /// High half of an internal exponent: the bottom three bits of the T field.
    const fn exponent_high_field(&self) -> Field {
        Field::new(self.top_field().shift, EXPONENT_HALF_WIDTH)
    }
    /// Bits of B kept next to an internal exponent.
    const fn internal_bottom_width(&self) -> u32 {
        self.mantissa_width - EXPONENT_HALF_WIDTH
    }
    /// The exponent, T, B and IE bits together.
    pub(crate) const fn bounds_mask(&self) -> u64 {
        low_mask(self.internal_exponent_bit + 1)
    }
    const fn cursor_mask(&self) -> u64 {
        if self.morello_rules {
            low_mask(64 - MORELLO_FLAG_BITS)
        } else {
            u64::MAX
        }
    }

    /// The address as the bounds logic sees it: on Morello the flag byte is dropped and the
    /// 56-bit value sign-extended; elsewhere unchanged.
    pub(crate) const fn bounds_address(&self, address: u64) -> u64 {
        let cursor_mask = self.cursor_mask();
        let cursor = address & cursor_mask;
        let sign_bit = (cursor_mask >> 1) + 1;
        if cursor & sign_bit != 0 {
            cursor | !cursor_mask
        } else {
            cursor
        }
    }

    /// Whether the bounds depend on the address bits at all (small exponents), or are fully
    /// given by E/B/T.
    pub(crate) const fn bounds_use_address(&self, exponent: u32) -> bool {
        exponent < 64 - self.bottom_field().width
    }

    /// Encodes `exponent` as an internal exponent split over the low bits of T and B.
    const fn internal_exponent_bits(&self, exponent: u32) -> u64 {
        let exponent = exponent as u64;
        (1 << self.internal_exponent_bit)
            | self
                .exponent_high_field()
                .deposit(0, exponent >> EXPONENT_HALF_WIDTH)
            | self.exponent_low_field().deposit(0, exponent)
    }
}

/// The bounds mantissas and exponent of one high word, with T's two implied top bits filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BoundsBits {
    pub(crate) bottom: u64,
    pub(crate) top: u64,
    pub(crate) exponent: u32,
}

/// Reads E, B and T from a raw (already un-XORed) high word.
pub(crate) fn extract_bounds_bits(layout: &Layout, raw: u64) -> BoundsBits {
    let mantissa_width = layout.mantissa_width;
    let internal_exponent = bit(raw, layout.internal_exponent_bit);
    let (bottom, stored_top, exponent, length_msb) = if internal_exponent {
        let exponent = layout.exponent_low_field().extract(raw)
            | layout.exponent_high_field().extract(raw) << EXPONENT_HALF_WIDTH;
        // The low three bits of each mantissa hold the exponent and read as zero.
        let bottom = layout.bottom_field().extract(raw) & !low_mask(EXPONENT_HALF_WIDTH);
        let top = layout.top_field().extract(raw) & !low_mask(EXPONENT_HALF_WIDTH);
        (bottom, top, exponent, 1)
    } else {
        // Morello stores the exponent bits uninverted when IE = 0, but the null mask inverted
        // them on load: undo that for the mantissas.
        let stored = if layout.morello_rules {
            raw ^ layout.null_xor_mask
        } else {
            raw
        };
        (
            layout.bottom_field().extract(stored),
            layout.top_field().extract(stored),
            0,
            0,
        )
    };
    // T = B + length: rebuild T's top two bits from B's, the length's implied MSB and the
    // carry out of the lower bits (T below B means the addition wrapped).
    let stored_top_width = mantissa_width - 2;
    let carry = u64::from(stored_top < (bottom & low_mask(stored_top_width)));
    let bottom_top_two = (bottom >> stored_top_width) & 0b11;
    let top_top_two = (bottom_top_two + carry + length_msb) & 0b11;
    BoundsBits {
        bottom,
        top: stored_top | top_top_two << stored_top_width,
        // Six bits at most, so the conversion cannot fail.
        exponent: u32::try_from(exponent).unwrap_or(u32::MAX),
    }
}

/// Base, top and Morello's exponent validity from the bounds bits and the address.
pub(crate) fn compute_base_top(
    layout: &Layout,
    bits: BoundsBits,
    address: u64,
) -> (u64, u128, bool) {
    if layout.morello_rules && bits.exponent > layout.max_exponent {
        return (0, MAX_TOP, bits.exponent == MORELLO_MAX_ENCODABLE_EXPONENT);
    }
    let mantissa_width = layout.mantissa_width;
    let cursor = layout.bounds_address(address);
    let exponent = bits.exponent.min(layout.max_exponent);

    // Which 1/8th of the representable region the address, base and top fall in, relative to
    // the region boundary R just below B: they may sit one region above or below the address.
    let region_bits = |value: u64| (value >> (mantissa_width - 3)) & 0b111;
    let address_region = (cursor >> (exponent + mantissa_width - 3)) & 0b111;
    let bottom_region = region_bits(bits.bottom);
    let top_region = region_bits(bits.top);
    let boundary_region = bottom_region.wrapping_sub(1) & 0b111;
    let is_high = |region: u64| i64::from(region < boundary_region);
    let base_correction = is_high(bottom_region) - is_high(address_region);
    let top_correction = is_high(top_region) - is_high(address_region);

    let address_high_bits = cursor.checked_shr(exponent + mantissa_width).unwrap_or(0);
    let len_width_mask = (1u128 << 65) - 1;
    let assemble = |correction: i64, mantissa: u64| -> u128 {
        let high = address_high_bits.wrapping_add_signed(correction);
        ((u128::from(high) << mantissa_width | u128::from(mantissa)) << exponent) & len_width_mask
    };
    let base = assemble(base_correction, bits.bottom);
    let mut top = assemble(top_correction, bits.top);

    // If base and top are more than an address space apart, the representable region wrapped
    // around the address space: flip top's bit 64 back. (Base's own bit 64 is ignored, as in
    // the reference, so that set-bounds and address moves stay monotonic.)
    let base_msb = low64(base >> 63) & 1;
    let top_two_msbs = low64(top >> 63) & 0b11;
    if exponent < layout.max_exponent - 1 && top_two_msbs.wrapping_sub(base_msb) > 1 {
        top ^= MAX_TOP;
    }
    (low64(base), top, true)
}

/// The exponent the encoder starts from for a length (before the overflow correction).
fn exponent_for_length(layout: &Layout, length: u128) -> u32 {
    let mantissa_width = layout.mantissa_width;
    match u64::try_from(length) {
        Err(_) => 65 - (mantissa_width - 1),
        Ok(length) if length < 1 << (mantissa_width - 1) => 0,
        Ok(length) => (63 - length.leading_zeros()) - (mantissa_width - 2),
    }
}

/// The bounds bits for `[base, top)` as the encoder rounds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EncodedBounds {
    /// The E/T/B/IE bits, positioned for the raw high word.
    pub(crate) bits: u64,
    /// Mask a base must satisfy for bounds of this length to be exact (CRAM).
    pub(crate) alignment_mask: u64,
    /// Whether `[base, top)` is represented without rounding.
    pub(crate) exact: bool,
}

/// Encodes requested bounds, rounding base down and top up when they do not fit.
pub(crate) fn encode_bounds(layout: &Layout, base: u64, top: u128) -> EncodedBounds {
    if layout.morello_rules && base == 0 && top == MAX_TOP {
        return EncodedBounds {
            bits: layout.internal_exponent_bits(layout.max_exponent),
            alignment_mask: u64::MAX,
            exact: true,
        };
    }
    let length = top.wrapping_sub(u128::from(base));
    let exponent = exponent_for_length(layout, length);
    let internal_bottom_width = layout.internal_bottom_width();
    let top_field = layout.top_field();
    let bottom_field = layout.bottom_field();

    // Small lengths keep B and T whole with no exponent, which is always exact.
    let needs_internal_exponent = exponent != 0 || bit(low64(length), internal_bottom_width + 1);
    if !needs_internal_exponent {
        let mut bits = top_field.deposit(0, low64(top)) | bottom_field.deposit(0, base);
        if layout.morello_rules {
            // Stored uninverted on Morello (see `extract_bounds_bits`).
            bits ^= layout.exponent_high_field().mask() | layout.exponent_low_field().mask();
        }
        return EncodedBounds {
            bits,
            alignment_mask: u64::MAX,
            exact: true,
        };
    }

    let mantissa_mask = low_mask(internal_bottom_width);
    let mantissas = |shift: u32, round_top_up: bool| {
        let bottom = (base >> shift) & mantissa_mask;
        let top_bits = low64(top >> shift) & mantissa_mask;
        let top_bits = if round_top_up {
            top_bits.wrapping_add(1) & mantissa_mask
        } else {
            top_bits
        };
        (bottom, top_bits)
    };
    let mut shift = exponent + EXPONENT_HALF_WIDTH;
    let dropped = (1u128 << shift) - 1;
    let mut lost_base = u128::from(base) & dropped != 0;
    let mut lost_top = top & dropped != 0;
    let (mut bottom, mut top_mantissa) = mantissas(shift, lost_top);
    let mut final_exponent = exponent;

    // Rounding (or the lost base bits) can make the length overflow the mantissa: use one
    // more exponent bit, which may lose one more bit of base or top.
    let encoded_length = top_mantissa.wrapping_sub(bottom) & mantissa_mask;
    if bit(encoded_length, internal_bottom_width - 1) {
        lost_base |= bottom & 1 == 1;
        lost_top |= top_mantissa & 1 == 1;
        shift += 1;
        final_exponent += 1;
        (bottom, top_mantissa) = mantissas(shift, lost_top);
    }

    let exponent = u64::from(final_exponent);
    let top_bits = top_mantissa << EXPONENT_HALF_WIDTH | (exponent >> EXPONENT_HALF_WIDTH);
    let bottom_bits = bottom << EXPONENT_HALF_WIDTH | (exponent & low_mask(EXPONENT_HALF_WIDTH));
    EncodedBounds {
        bits: 1 << layout.internal_exponent_bit
            | top_field.deposit(0, top_bits)
            | bottom_field.deposit(0, bottom_bits),
        alignment_mask: u64::MAX << shift,
        exact: !lost_base && !lost_top,
    }
}

/// The hardware's fast check that moving the address from `address` to `new_address` keeps
/// the bounds decodable to the same values (the reference's `fast_is_representable_new_addr`).
/// It is conservative near the edges of the representable region.
pub(crate) fn fast_representable(
    layout: &Layout,
    raw: u64,
    base: u64,
    top: u128,
    address: u64,
    new_address: u64,
) -> bool {
    if top == MAX_TOP && base == 0 {
        return true;
    }
    let bits = extract_bounds_bits(layout, raw);
    let mantissa_width = layout.mantissa_width;
    let mantissa_mask = low_mask(mantissa_width);
    let increment = layout.bounds_address(new_address.wrapping_sub(address));
    let cursor = layout.bounds_address(address);

    let exponent_shift = bits.exponent.min(63);
    let increment_top_shift = (bits.exponent + mantissa_width).min(63);
    // Arithmetic shift: 0 for a small forward move, -1 for a small backward one.
    let increment_high = i64::from_ne_bytes(increment.to_ne_bytes()) >> increment_top_shift;
    let increment_mid = (increment >> exponent_shift) & mantissa_mask;
    let address_mid = (cursor >> exponent_shift) & mantissa_mask;
    let bottom_region = bits.bottom >> (mantissa_width - 3);
    let boundary_region = bottom_region.wrapping_sub(1) & 0b111;
    let boundary = (boundary_region << (mantissa_width - 3)) & mantissa_mask;
    let distance_to_boundary = boundary.wrapping_sub(address_mid) & mantissa_mask;
    let in_limits = match increment_high {
        0 => increment_mid < (distance_to_boundary.wrapping_sub(1) & mantissa_mask),
        -1 => increment_mid >= distance_to_boundary && boundary != address_mid,
        _ => false,
    };
    in_limits || bits.exponent >= layout.max_exponent - 2
}

/// Whether the sign bit of Morello's 56-bit address differs between two addresses.
pub(crate) const fn morello_sign_changes(layout: &Layout, first: u64, second: u64) -> bool {
    layout.morello_rules && (first ^ second) & (1 << (63 - MORELLO_FLAG_BITS)) != 0
}
