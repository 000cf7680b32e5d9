//! Usable RAM = memory banks minus every reserved range, cut to whole pages.

use super::error::DtError;
use crate::addr::PhysRange;
use crate::fixed::FixedVec;

/// Granule usable ranges are cut to, so no page capmon hands out shares bytes with a reservation.
pub const PAGE_SIZE: u64 = 4096;

/// Scratch capacity while subtracting: each reservation can split one piece in two.
const WORK: usize = 64;

fn push<const N: usize>(v: &mut FixedVec<PhysRange, N>, r: PhysRange) -> Result<(), DtError> {
    v.push(r).map_err(|_| DtError::TooMany {
        what: "usable memory ranges",
        capacity: N,
    })
}

/// `banks` (any order, possibly overlapping) minus `reserved`, sorted by address, each piece
/// shrunk inward to page boundaries, empty pieces dropped. Too many pieces is an error rather
/// than a silent drop, so the caller learns that the tree is unusual.
pub fn usable<const OUT: usize>(
    banks: &[PhysRange],
    reserved: impl Iterator<Item = PhysRange>,
) -> Result<FixedVec<PhysRange, OUT>, DtError> {
    let mut work: FixedVec<PhysRange, WORK> = FixedVec::new();
    for bank in banks.iter().filter(|b| !b.is_empty()) {
        push(&mut work, *bank)?;
    }
    work.as_mut_slice().sort_unstable();

    // Merge overlapping or touching banks so a duplicated bank is not counted twice.
    let mut merged: FixedVec<PhysRange, WORK> = FixedVec::new();
    for r in work.iter() {
        let last = merged.as_mut_slice().last_mut();
        match last {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => push(&mut merged, *r)?,
        }
    }

    // Subtracting from a sorted list of disjoint pieces keeps it sorted and disjoint.
    let mut pieces = merged;
    for hole in reserved.filter(|r| !r.is_empty()) {
        let mut next: FixedVec<PhysRange, WORK> = FixedVec::new();
        for p in pieces.iter() {
            if !p.overlaps(&hole) {
                push(&mut next, *p)?;
                continue;
            }
            if p.start < hole.start {
                push(
                    &mut next,
                    PhysRange {
                        start: p.start,
                        end: hole.start,
                    },
                )?;
            }
            if hole.end < p.end {
                push(
                    &mut next,
                    PhysRange {
                        start: hole.end,
                        end: p.end,
                    },
                )?;
            }
        }
        pieces = next;
    }

    let mut out = FixedVec::new();
    for p in pieces.iter() {
        let Some(start) = p.start.checked_align_up(PAGE_SIZE) else {
            continue;
        };
        let end = p.end.align_down(PAGE_SIZE);
        if start < end {
            push(&mut out, PhysRange { start, end })?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;

    fn r(start: u64, end: u64) -> PhysRange {
        PhysRange {
            start: PhysAddr(start),
            end: PhysAddr(end),
        }
    }

    #[test]
    fn subtracts_merges_and_aligns() {
        let banks = [
            r(0x8000_0000, 0x9000_0000),
            r(0x4000_0000, 0x5000_0000),
            r(0x4800_0000, 0x5000_0800),
        ];
        let holes = [
            r(0x4000_0000, 0x4000_1c2f),
            r(0x8010_0800, 0x8010_0900),
            r(0x8fff_f000, 0x9100_0000),
        ];
        let out: FixedVec<PhysRange, 8> = usable(&banks, holes.iter().copied()).unwrap();
        assert_eq!(
            &*out,
            &[
                r(0x4000_2000, 0x5000_0000),
                r(0x8000_0000, 0x8010_0000),
                r(0x8010_1000, 0x8fff_f000),
            ]
        );
    }

    #[test]
    fn too_many_pieces_is_an_error() {
        let banks = [r(0, 0x10_0000)];
        let holes: [PhysRange; 4] = core::array::from_fn(|i| {
            let s = 0x1000 + 0x2000 * i as u64;
            r(s, s + 0x1000)
        });
        let out: Result<FixedVec<PhysRange, 3>, _> = usable(&banks, holes.iter().copied());
        assert_eq!(
            out.unwrap_err(),
            DtError::TooMany {
                what: "usable memory ranges",
                capacity: 3
            }
        );
    }
}
