//! Newtypes for physical addresses and address ranges, so sizes and addresses don't mix.

use core::fmt;

/// A physical address (capmon runs identity-mapped, so it is also the monitor's virtual one).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The address as a `usize`, for pointer arithmetic on the running machine.
    pub fn as_usize(self) -> usize {
        // capmon only builds for 64-bit targets (and 64-bit hosts), where this is lossless.
        #[allow(clippy::cast_possible_truncation)]
        let address = self.0 as usize;
        address
    }
    /// Rounds down to a multiple of `align`, which must be a power of two.
    pub const fn align_down(self, align: u64) -> Self {
        PhysAddr(self.0 & !(align - 1))
    }
    /// Rounds up to a multiple of `align` (a power of two); `None` if that overflows.
    pub const fn checked_align_up(self, align: u64) -> Option<Self> {
        match self.0.checked_add(align - 1) {
            Some(v) => Some(PhysAddr(v & !(align - 1))),
            None => None,
        }
    }
}

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
impl fmt::Display for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A half-open range `[start, end)` of physical memory. `end` may be 2^64 only as `u64::MAX`
/// plus one is not representable, so ranges never reach the last byte of the address space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PhysRange {
    pub start: PhysAddr,
    pub end: PhysAddr,
}

impl PhysRange {
    /// `[start, start + size)`, or `None` if it would wrap.
    pub const fn from_start_size(start: u64, size: u64) -> Option<Self> {
        match start.checked_add(size) {
            Some(end) => Some(PhysRange {
                start: PhysAddr(start),
                end: PhysAddr(end),
            }),
            None => None,
        }
    }
    pub const fn size(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }
    /// The size as a `usize`, for slices over the range on the running machine.
    pub fn size_usize(&self) -> usize {
        // capmon only builds for 64-bit targets (and 64-bit hosts), where this is lossless.
        #[allow(clippy::cast_possible_truncation)]
        let size = self.size() as usize;
        size
    }
    pub const fn is_empty(&self) -> bool {
        self.end.0 <= self.start.0
    }
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.start.0 && addr < self.end.0
    }
    /// True when `other` lies wholly inside `self`.
    pub const fn covers(&self, other: &PhysRange) -> bool {
        other.start.0 >= self.start.0 && other.end.0 <= self.end.0
    }
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.start.0 < other.end.0 && other.start.0 < self.end.0
    }
}

impl fmt::Debug for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}..{:#x})", self.start.0, self.end.0)
    }
}
impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let a = PhysRange::from_start_size(0x1000, 0x1000).unwrap();
        let b = PhysRange::from_start_size(0x1800, 0x1000).unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.covers(&b));
        assert!(a.contains(0x1fff) && !a.contains(0x2000));
        assert_eq!(PhysRange::from_start_size(u64::MAX, 2), None);
        assert_eq!(PhysAddr(0x1234).align_down(0x1000), PhysAddr(0x1000));
        assert_eq!(
            PhysAddr(0x1234).checked_align_up(0x1000),
            Some(PhysAddr(0x2000))
        );
        assert_eq!(PhysAddr(u64::MAX).checked_align_up(0x1000), None);
    }
}
