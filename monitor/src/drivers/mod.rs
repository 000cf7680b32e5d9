//! Device drivers the monitor itself owns: console UARTs, interrupt controllers, timers,
//! virtio-blk disks and virtio-net interfaces.

pub mod clint;
#[cfg(target_os = "none")]
pub mod disks;
pub mod mmio;
#[cfg(target_os = "none")]
pub mod nets;
pub mod ns16550;
pub mod pl011;
pub mod plic;
pub mod uart;
pub mod virtio_blk;
pub mod virtio_irq;
pub mod virtio_net;
pub mod virtio_probe;
