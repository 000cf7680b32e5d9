//! Revocation's sweep: which capability slots to clear. Pure selection logic over any set of
//! 16-byte slots (a saved context, a capability store) that can report what each holds and
//! clear a tag; the arch code supplies the real slots, the tests fake ones.
//!
//! The rule: a slot is cleared when it holds a tagged capability whose bounds overlap the
//! revoked range (sealed or not, whatever its permissions or address). Overlap, not equality,
//! because a cVM may narrow an imported capability; any capability granting access to even
//! one byte of the range goes. A zero-length capability at an address inside the range is
//! cleared too: it grants no access, but nothing should keep naming revoked memory.

use core::ops::Range;

/// What a slot holds, as the hardware reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub tag: bool,
    pub base: u64,
    /// `base + length`, up to 2^64.
    pub top: u128,
}

/// A set of capability slots the sweep can read and clear.
pub trait Slots {
    /// How many slots there are.
    fn count(&self) -> usize;
    /// What slot `i` holds.
    fn seen(&self, i: usize) -> Seen;
    /// Clears slot `i`'s tag (the bits may stay, for reports).
    fn clear_tag(&mut self, i: usize);
}

/// Whether a capability with these bounds reaches into `range`.
pub fn reaches(seen: Seen, range: &Range<u64>) -> bool {
    if !seen.tag || range.start >= range.end {
        return false;
    }
    let overlaps =
        u128::from(seen.base) < u128::from(range.end) && seen.top > u128::from(range.start);
    let empty_inside = u128::from(seen.base) == seen.top && range.contains(&seen.base);
    overlaps || empty_inside
}

/// Clears every slot of `slots` that [`reaches`] into `range`; returns how many.
pub fn sweep(slots: &mut impl Slots, range: &Range<u64>) -> usize {
    let mut cleared = 0;
    for i in 0..slots.count() {
        if reaches(slots.seen(i), range) {
            slots.clear_tag(i);
            cleared += 1;
        }
    }
    cleared
}

/// Clears every tagged slot of `slots` (a cVM that ends or restarts loses everything).
pub fn clear_all(slots: &mut impl Slots) -> usize {
    let mut cleared = 0;
    for i in 0..slots.count() {
        if slots.seen(i).tag {
            slots.clear_tag(i);
            cleared += 1;
        }
    }
    cleared
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A fake saved context: every register slot, as a list.
    struct Fake(Vec<Seen>);

    impl Slots for Fake {
        fn count(&self) -> usize {
            self.0.len()
        }
        fn seen(&self, i: usize) -> Seen {
            self.0[i]
        }
        fn clear_tag(&mut self, i: usize) {
            self.0[i].tag = false;
        }
    }

    fn cap(base: u64, len: u64) -> Seen {
        Seen {
            tag: true,
            base,
            top: u128::from(base) + u128::from(len),
        }
    }

    #[test]
    fn clears_exactly_the_capabilities_that_reach_the_range() {
        let range = 0x1000..0x1064; // a 100-byte object
        let mut ctx = Fake(std::vec![
            cap(0x1000, 100),   // 0: the import itself
            cap(0x1010, 4),     // 1: narrowed copy inside
            cap(0x0ff0, 0x20),  // 2: straddles the start
            cap(0x1063, 0x100), // 3: straddles the end (last byte)
            cap(0x1064, 16),    // 4: adjacent above: kept
            cap(0x0f00, 0x100), // 5: adjacent below: kept
            Seen {
                tag: false,
                base: 0x1000,
                top: 0x1064
            }, // 6: untagged already: not counted
            cap(0, u64::MAX),   // 7: a huge capability covering it
            cap(0x1020, 0),     // 8: empty, inside: cleared
            cap(0x1064, 0),     // 9: empty, at the end: kept
            cap(0x2000_0000, 0x1000), // 10: elsewhere: kept
        ]);
        assert_eq!(sweep(&mut ctx, &range), 6);
        let tags: Vec<bool> = ctx.0.iter().map(|s| s.tag).collect();
        assert_eq!(
            tags,
            [false, false, false, false, true, true, false, false, false, true, true]
        );
        assert_eq!(sweep(&mut ctx, &range), 0, "idempotent");
    }

    #[test]
    fn full_width_tops_and_empty_ranges() {
        let top = Seen {
            tag: true,
            base: u64::MAX - 15,
            top: 1 << 64,
        };
        assert!(reaches(top, &(u64::MAX - 1..u64::MAX)));
        assert!(
            !reaches(cap(0, 0x1000), &(0x10..0x10)),
            "an empty range reaches nothing"
        );
    }

    #[test]
    fn clear_all_takes_every_tag() {
        let mut store = Fake(std::vec![
            cap(1, 1),
            Seen {
                tag: false,
                base: 0,
                top: 0
            },
            cap(9, 9)
        ]);
        assert_eq!(clear_all(&mut store), 2);
        assert!(store.0.iter().all(|s| !s.tag));
    }
}
