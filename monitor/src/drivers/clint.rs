//! RISC-V CLINT: the machine timer (mtime, each hart's mtimecmp) and each hart's software
//! interrupt (msip).

use core::ptr::{read_volatile, write_volatile};

pub struct Clint {
    base: usize,
}

const MSIP: usize = 0x0;
const MTIMECMP: usize = 0x4000;
const MTIME: usize = 0xbff8;

impl Clint {
    /// # Safety
    /// `base` must be the address of a CLINT that nothing else drives.
    pub const unsafe fn new(base: usize) -> Self {
        Clint { base }
    }

    pub fn now(&self) -> u64 {
        // SAFETY: `new`'s contract; mtime is a 64-bit register at this offset.
        unsafe { read_volatile((self.base + MTIME) as *const u64) }
    }

    /// The deadline `set_deadline` last set for `hart`.
    pub fn deadline(&self, hart: usize) -> u64 {
        // SAFETY: `new`'s contract; mtimecmp for `hart` lies at this offset.
        unsafe { read_volatile((self.base + MTIMECMP + 8 * hart) as *const u64) }
    }

    /// Raises (or clears) `hart`'s machine software interrupt.
    pub fn set_software(&self, hart: usize, raised: bool) {
        // SAFETY: `new`'s contract; msip for `hart` is a 32-bit register at this offset.
        unsafe { write_volatile((self.base + MSIP + 4 * hart) as *mut u32, u32::from(raised)) }
    }

    pub fn set_deadline(&self, hart: usize, deadline: u64) {
        // SAFETY: `new`'s contract; mtimecmp for `hart` lies at this offset.
        unsafe { write_volatile((self.base + MTIMECMP + 8 * hart) as *mut u64, deadline) }
    }
}
