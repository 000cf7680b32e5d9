//! RISC-V Platform-Level Interrupt Controller, driven for hart 0's M-mode context.

use core::ptr::{read_volatile, write_volatile};

pub struct Plic {
    base: usize,
    sources: u32,
    context: usize,
}

const PRIORITY: usize = 0x0;
const ENABLE: usize = 0x2000;
const ENABLE_STRIDE: usize = 0x80;
const CONTEXT: usize = 0x20_0000;
const CONTEXT_STRIDE: usize = 0x1000;
const THRESHOLD: usize = 0x0;
const CLAIM: usize = 0x4;

impl Plic {
    /// # Safety
    /// `base` must be the address of a PLIC with `sources` interrupt sources that nothing else
    /// drives; `context` is the PLIC context of the hart and mode capmon runs in (QEMU virt:
    /// hart N M-mode = context 2N).
    pub const unsafe fn new(base: usize, sources: u32, context: usize) -> Self {
        Plic {
            base,
            sources,
            context,
        }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: `new`'s contract: `offset` is inside the PLIC's register window (callers
        // only pass offsets derived from checked source numbers and the context).
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: as in `write`.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    pub fn init(&self) {
        self.write(CONTEXT + self.context * CONTEXT_STRIDE + THRESHOLD, 0);
    }

    /// Enables source `irq` at priority 1. Out-of-range sources are ignored (returns false).
    pub fn enable(&self, irq: u32) -> bool {
        if irq == 0 || irq > self.sources {
            return false;
        }
        let irq_usize = irq as usize;
        self.write(PRIORITY + 4 * irq_usize, 1);
        let word = ENABLE + self.context * ENABLE_STRIDE + 4 * (irq_usize / 32);
        self.write(word, self.read(word) | (1 << (irq % 32)));
        true
    }

    /// Stops `irq` from reaching this hart's context.
    pub fn disable(&self, irq: u32) -> bool {
        if irq == 0 || irq > self.sources {
            return false;
        }
        let irq_usize = irq as usize;
        let word = ENABLE + self.context * ENABLE_STRIDE + 4 * (irq_usize / 32);
        self.write(word, self.read(word) & !(1 << (irq % 32)));
        true
    }

    pub fn claim(&self) -> Option<u32> {
        match self.read(CONTEXT + self.context * CONTEXT_STRIDE + CLAIM) {
            0 => None,
            irq => Some(irq),
        }
    }

    pub fn complete(&self, irq: u32) {
        self.write(CONTEXT + self.context * CONTEXT_STRIDE + CLAIM, irq);
    }
}
