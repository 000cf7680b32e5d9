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

/// Hands the chosen range to the global allocator; returns it, or `None` if nothing fits.
#[cfg(target_os = "none")]
pub fn init_from(usable: &[PhysRange], size: u64) -> Option<PhysRange> {
    let heap = choose(usable, size)?;
    // SAFETY: `heap` lies inside memory the device tree lists as usable RAM, minus the
    // monitor image, the tree and firmware carve-outs; nothing else uses it, and it is
    // given to the allocator exactly once (boot runs once, on one CPU).
    unsafe { HEAP.lock().init(heap.start.as_usize(), usize::try_from(heap.size()).ok()?) };
    Some(heap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_first_fitting_aligned_range() {
        let small = PhysRange::from_start_size(0x1000, 0x1000).unwrap();
        let big = PhysRange::from_start_size(0x10_0800, 0x50_0000).unwrap();
        let heap = choose(&[small, big], 0x40_0000).unwrap();
        assert_eq!(heap, PhysRange::from_start_size(0x10_1000, 0x40_0000).unwrap());
        assert!(choose(&[small], 0x2000).is_none());
    }
}
