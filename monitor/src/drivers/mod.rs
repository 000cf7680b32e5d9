//! Device drivers the monitor itself owns: console UARTs, interrupt controllers, timers.

pub mod clint;
pub mod mmio;
pub mod ns16550;
pub mod pl011;
pub mod plic;
pub mod uart;
pub mod virtio_probe;
