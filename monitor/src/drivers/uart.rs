//! The console UART, whichever kind the device tree (or the board, before the tree) names.

use super::ns16550::Ns16550;
use super::pl011::Pl011;

pub enum Uart {
    Pl011(Pl011),
    Ns16550(Ns16550),
}

impl Uart {
    pub fn init(&self) {
        match self {
            Uart::Pl011(u) => u.init(),
            Uart::Ns16550(u) => u.init(),
        }
    }
    pub fn put_byte(&self, byte: u8) {
        match self {
            Uart::Pl011(u) => u.put_byte(byte),
            Uart::Ns16550(u) => u.put_byte(byte),
        }
    }
    pub fn try_get_byte(&self) -> Option<u8> {
        match self {
            Uart::Pl011(u) => u.try_get_byte(),
            Uart::Ns16550(u) => u.try_get_byte(),
        }
    }
    pub fn enable_rx_interrupt(&self) {
        match self {
            Uart::Pl011(u) => u.enable_rx_interrupt(),
            Uart::Ns16550(u) => u.enable_rx_interrupt(),
        }
    }
    pub fn ack_interrupts(&self) {
        match self {
            Uart::Pl011(u) => u.ack_interrupts(),
            Uart::Ns16550(u) => u.ack_interrupts(),
        }
    }
}
