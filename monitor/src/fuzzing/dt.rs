//! Target `dt`: the device-tree reader and platform discovery on an arbitrary blob, as the
//! boot code calls them (plain, TF-A's two blobs, NT_FW_CONFIG, header probing), with every
//! result formatted and every `Ok` platform checked for coherence.

use alloc::format;

use crate::addr::{PhysAddr, PhysRange};
use crate::platform::{self, Platform, PAGE_SIZE};

/// Where the blob pretends to live, and a monitor image inside typical RAM (so reservations
/// carve usable memory).
const DTB_AT: u64 = 0x4000_0000;
const IMAGE: PhysRange = PhysRange {
    start: PhysAddr(0x4020_0000),
    end: PhysAddr(0x4040_0000),
};

pub fn run(data: &[u8]) {
    let words = super::aligned(data);
    let blob = super::bytes_of(&words, data.len());
    let _ = platform::validate(blob);
    match platform::discover_at(blob, DTB_AT, IMAGE) {
        Ok(p) => check(&p, "discover_at"),
        Err(e) => drop(format!("{e}")),
    }
    match platform::discover_tf_a(Some(blob), Some(blob), IMAGE) {
        Ok(p) => check(&p, "discover_tf_a"),
        Err(e) => drop(format!("{e}")),
    }
    let _ = platform::nt_fw_config(blob);
    // The header probe reads big-endian words at addresses; here address = offset in the blob.
    let read = |at: u64| -> u32 {
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        match blob.get(at..at.saturating_add(4)) {
            Some(w) => u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
            None => 0,
        }
    };
    let _ = platform::probe_header(read, 8, 1 << 20);
}

/// What discovery promises about an accepted tree.
fn check(p: &Platform, how: &str) {
    let text = format!("{p}");
    assert!(!text.is_empty());
    assert!(
        p.cpus.len() <= p.cpus_total,
        "{how}: more CPUs listed than counted"
    );
    assert!(
        p.virtio.len() <= p.virtio_total,
        "{how}: more virtio transports listed than counted"
    );
    let mut previous_end = 0;
    for u in p.usable.iter() {
        assert!(!u.is_empty(), "{how}: empty usable range {u}");
        assert!(
            u.start.0.is_multiple_of(PAGE_SIZE) && u.end.0.is_multiple_of(PAGE_SIZE),
            "{how}: usable range {u} not cut to pages"
        );
        assert!(
            u.start.0 >= previous_end,
            "{how}: usable ranges unsorted or overlapping at {u}"
        );
        previous_end = u.end.0;
        assert!(
            in_banks(p, u),
            "{how}: usable range {u} outside the memory banks"
        );
        for r in p.reserved.iter() {
            assert!(
                !r.range.overlaps(u),
                "{how}: usable range {u} overlaps reserved {r}"
            );
        }
    }
    let total = p
        .usable
        .iter()
        .map(|r| r.size())
        .fold(0u64, u64::saturating_add);
    assert_eq!(p.usable_bytes(), total);
}

/// Whether `range` lies inside the union of the memory banks (banks may touch or overlap).
fn in_banks(p: &Platform, range: &PhysRange) -> bool {
    let mut at = range.start.0;
    while at < range.end.0 {
        match p
            .memory_banks
            .iter()
            .filter(|b| b.contains(at))
            .map(|b| b.end.0)
            .max()
        {
            Some(end) => at = end,
            None => return false,
        }
    }
    true
}
