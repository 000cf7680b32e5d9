//! A fixed-capacity vector for state built before the heap exists (device-tree discovery).

use core::fmt;
use core::ops::Deref;

/// Up to `N` values of `T`, stored inline. Pushing past capacity is reported, not a panic,
/// so a device tree with more entries than capmon supports degrades instead of crashing.
#[derive(Clone)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

/// Returned by [`FixedVec::push`] when the vector is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    pub fn new() -> Self {
        FixedVec {
            items: [T::default(); N],
            len: 0,
        }
    }
    pub fn push(&mut self, value: T) -> Result<(), Full> {
        let slot = self.items.get_mut(self.len).ok_or(Full)?;
        *slot = value;
        self.len += 1;
        Ok(())
    }
    pub fn clear(&mut self) {
        self.len = 0;
    }
    pub fn remove(&mut self, index: usize) -> Option<T> {
        if index >= self.len {
            return None;
        }
        let value = self.items[index];
        self.items.copy_within(index + 1..self.len, index);
        self.len -= 1;
        Some(value)
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for FixedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..self.len]
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_until_full_then_remove() {
        let mut v: FixedVec<u32, 2> = FixedVec::new();
        assert_eq!(v.push(1), Ok(()));
        assert_eq!(v.push(2), Ok(()));
        assert_eq!(v.push(3), Err(Full));
        assert_eq!(&*v, &[1, 2]);
        assert_eq!(v.remove(0), Some(1));
        assert_eq!(&*v, &[2]);
        assert_eq!(v.remove(5), None);
    }
}
