//! The work of the multi-core cVMs: a deterministic mix of integer and floating-point state
//! that lives in registers, so a register (general or FP) lost or swapped when a cVM exits,
//! moves to another core, or shares a core with others changes the result.
#![cfg_attr(not(test), no_std)]

/// Integer and FP state, advanced one step at a time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Work {
    pub x: u64,
    pub f: f64,
}

impl Work {
    pub fn new(seed: u64) -> Self {
        Work {
            x: seed | 1,
            f: 1.0,
        }
    }

    /// One step: xorshift64 for the integers, a bounded FP recurrence fed by them.
    #[inline(always)]
    pub fn step(&mut self) {
        let mut x = self.x;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.x = x;
        self.f = self.f * 0.999_999 + (x & 0xffff) as f64 * 1e-9;
    }

    /// Both halves as one number to print.
    pub fn checksum(&self) -> u64 {
        self.x ^ self.f.to_bits().rotate_left(32)
    }
}

/// A seed from a cVM's name (FNV-1a), so every worker's sums differ.
pub fn seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_deterministic_and_depends_on_the_seed() {
        let run = |seed| {
            let mut w = Work::new(seed);
            for _ in 0..1000 {
                w.step();
            }
            w.checksum()
        };
        assert_eq!(run(seed("a")), run(seed("a")));
        assert_ne!(run(seed("a")), run(seed("b")));
    }
}
