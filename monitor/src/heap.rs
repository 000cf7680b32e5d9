//! The monitor's heap: a buddy allocator over a range carved from discovered memory.

use crate::addr::PhysRange;

#[cfg(target_os = "none")]
#[global_allocator]
static HEAP: buddy_system_allocator::LockedHeap<32> = buddy_system_allocator::LockedHeap::empty();

/// Picks the first range in `usable` that holds `size` bytes (4 KiB aligned), for the heap.
pub fn choose(usable: &[PhysRange], size: u64) -> Option<PhysRange> {
    usable.iter().find_map(|r| {
        let start = r.start.checked_align_up(4096)?;
        let heap = PhysRange::from_start_size(start.0, size)?;
        r.covers(&heap).then_some(heap)
    })
}

/// Chooses the heap's range and hands its first `initial` bytes (at most all of it) to the
/// global allocator; [`grow`] adds the rest. Returns the whole range, or `None` if nothing fits.
/// (aarch64 starts small so that turning the MMU on only has to invalidate what was written.)
#[cfg(target_os = "none")]
pub fn init_from(usable: &[PhysRange], size: u64, initial: u64) -> Option<PhysRange> {
    let heap = choose(usable, size)?;
    let initial = usize::try_from(initial.min(size)).ok()?;
    // SAFETY: `heap` lies inside memory the device tree lists as usable RAM, minus the
    // monitor image, the tree and firmware carve-outs; nothing else uses it, and this part of
    // it is given to the allocator exactly once (boot runs once, on one CPU).
    unsafe { HEAP.lock().init(heap.start.as_usize(), initial) };
    Some(heap)
}

/// Gives the allocator the rest of `heap` after its first `initial` bytes (see [`init_from`]).
#[cfg(target_os = "none")]
pub fn grow(heap: PhysRange, initial: u64) {
    let start = heap
        .start
        .as_usize()
        .saturating_add(usize::try_from(initial).unwrap_or(usize::MAX));
    let end = heap.end.as_usize();
    if start < end {
        // SAFETY: `[start, end)` is the part of the heap range `init_from` did not hand over,
        // which nothing has used; it is added exactly once, by the one boot path.
        unsafe { HEAP.lock().add_to_heap(start, end) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_first_fitting_aligned_range() {
        let small = PhysRange::from_start_size(0x1000, 0x1000).unwrap();
        let big = PhysRange::from_start_size(0x10_0800, 0x50_0000).unwrap();
        let heap = choose(&[small, big], 0x40_0000).unwrap();
        assert_eq!(
            heap,
            PhysRange::from_start_size(0x10_1000, 0x40_0000).unwrap()
        );
        assert!(choose(&[small], 0x2000).is_none());
    }
}
