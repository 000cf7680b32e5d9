//! NS16550-compatible UART (QEMU RISC-V virt): polled transmit, interrupt-driven receive.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::registers::ReadWrite;

register_bitfields! [u8,
    LSR [ THRE OFFSET(5) NUMBITS(1) [], DR OFFSET(0) NUMBITS(1) [] ],
    IER [ RDA OFFSET(0) NUMBITS(1) [] ],
];

/// The registers are `1 << reg_shift` bytes apart, so they can't be one fixed struct: each
/// access computes its address from the shift the device tree gives.
pub struct Ns16550 {
    base: usize,
    reg_shift: u32,
}

const RBR_THR: usize = 0;
const IER_REG: usize = 1;
const LSR_REG: usize = 5;

impl Ns16550 {
    /// # Safety
    /// `base` must be the address of an NS16550 that nothing else drives, with registers
    /// `1 << reg_shift` bytes apart and byte-accessible.
    pub const unsafe fn new(base: usize, reg_shift: u32) -> Self {
        Ns16550 { base, reg_shift }
    }

    fn reg<R: tock_registers::RegisterLongName>(&self, index: usize) -> &ReadWrite<u8, R> {
        let addr = self.base + (index << self.reg_shift);
        // SAFETY: `new`'s contract: this is a register of the UART, valid for the program's
        // life; `ReadWrite` performs only volatile byte accesses.
        unsafe { &*(addr as *const ReadWrite<u8, R>) }
    }

    pub fn init(&self) {}

    pub fn put_byte(&self, byte: u8) {
        while !self.reg::<LSR::Register>(LSR_REG).is_set(LSR::THRE) {
            core::hint::spin_loop();
        }
        self.reg::<()>(RBR_THR).set(byte);
    }

    pub fn try_get_byte(&self) -> Option<u8> {
        if self.reg::<LSR::Register>(LSR_REG).is_set(LSR::DR) {
            Some(self.reg::<()>(RBR_THR).get())
        } else {
            None
        }
    }

    pub fn enable_rx_interrupt(&self) {
        self.reg::<IER::Register>(IER_REG).write(IER::RDA::SET);
    }

    /// Reading the data drains the interrupt; nothing else to acknowledge.
    pub fn ack_interrupts(&self) {}
}
