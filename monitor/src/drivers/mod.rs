//! Device drivers the monitor itself owns: console UARTs, interrupt controllers, timers,
//! virtio-blk disks.

pub mod clint;
#[cfg(target_os = "none")]
pub mod disks;
pub mod mmio;
pub mod ns16550;
pub mod pl011;
pub mod plic;
pub mod uart;
pub mod virtio_blk;
pub mod virtio_probe;
