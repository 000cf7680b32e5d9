//! Arm PL011 UART: polled transmit, interrupt-driven receive.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use super::mmio::Mmio;

register_bitfields! [u32,
    FR [ TXFF OFFSET(5) NUMBITS(1) [], RXFE OFFSET(4) NUMBITS(1) [], BUSY OFFSET(3) NUMBITS(1) [] ],
    CR [ RXE OFFSET(9) NUMBITS(1) [], TXE OFFSET(8) NUMBITS(1) [], UARTEN OFFSET(0) NUMBITS(1) [] ],
    IMSC [ RTIM OFFSET(6) NUMBITS(1) [], RXIM OFFSET(4) NUMBITS(1) [] ],
];

register_structs! {
    pub Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x30 => cr: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x38 => imsc: ReadWrite<u32, IMSC::Register>),
        (0x3c => _reserved3),
        (0x44 => icr: WriteOnly<u32>),
        (0x48 => @END),
    }
}

pub struct Pl011 {
    regs: Mmio<Pl011Regs>,
}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011 that nothing else drives.
    pub const unsafe fn new(base: usize) -> Self {
        Pl011 {
            // SAFETY: forwarded from this function's contract.
            regs: unsafe { Mmio::new(base) },
        }
    }

    /// Makes sure the UART transmits and receives. Baud rate and framing are left as the
    /// firmware (or QEMU) set them: capmon is not the first to print on this port.
    pub fn init(&self) {
        self.regs
            .cr
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    pub fn put_byte(&self, byte: u8) {
        while self.regs.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.dr.set(u32::from(byte));
    }

    pub fn try_get_byte(&self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            None
        } else {
            // The low 8 bits are the data; the bits above are error flags.
            Some((self.regs.dr.get() & 0xff) as u8)
        }
    }

    pub fn enable_rx_interrupt(&self) {
        self.regs.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
    }

    /// Clears the receive interrupts once the FIFO has been drained.
    pub fn ack_interrupts(&self) {
        self.regs.icr.set(0x7ff);
    }
}
