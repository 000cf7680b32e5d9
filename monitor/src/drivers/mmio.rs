//! Typed access to a memory-mapped register block at a physical address.

use core::ops::Deref;

/// A register block of type `T` (a `tock-registers` struct) at a fixed MMIO address.
///
/// capmon runs identity-mapped, so the physical address from the device tree is the pointer.
pub struct Mmio<T> {
    regs: *const T,
}

// SAFETY: `Mmio` is a pointer to device registers; every access goes through `tock-registers`
// volatile cells, and the drivers that own an `Mmio` serialise access behind a lock.
unsafe impl<T> Send for Mmio<T> {}
// SAFETY: as above; shared references only perform volatile register accesses.
unsafe impl<T> Sync for Mmio<T> {}

impl<T> Mmio<T> {
    /// # Safety
    /// `base` must be the address of a device whose registers are laid out as `T`, mapped
    /// (or identity-accessible) for the lifetime of the program, and not aliased by any
    /// ordinary Rust memory.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio {
            regs: base as *const T,
        }
    }
    pub fn base(&self) -> usize {
        self.regs as usize
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract makes `regs` a valid, live, properly laid-out register block.
        unsafe { &*self.regs }
    }
}
