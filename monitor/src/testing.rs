//! Helpers shared by the host unit tests.

/// xorshift64*: tiny and deterministic, so a failing random case can be replayed from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Mix the seed so nearby seeds diverge immediately; never zero.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
    /// A value of a random bit length up to `max_bits` (≤ 64), so small and large magnitudes are
    /// equally likely (uniform 64-bit values are almost all huge).
    pub fn magnitude(&mut self, max_bits: u32) -> u64 {
        let bits = u32::try_from(self.next() % (u64::from(max_bits.min(64)) + 1)).unwrap_or(0);
        if bits == 0 {
            0
        } else {
            self.next() >> (64 - bits)
        }
    }
    /// A value in `0..n` (0 when `n` is 0).
    pub fn below_u64(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
