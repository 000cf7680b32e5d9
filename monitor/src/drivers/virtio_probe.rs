//! Counts which virtio-mmio transports have a device behind them (before any driver binds).

use core::ptr::read_volatile;

const MAGIC: u32 = 0x7472_6976; // "virt", little-endian
const DEVICE_ID: usize = 0x008;

/// What a transport's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Not a virtio-mmio header at all (bad magic).
    NotVirtio,
    /// A transport with no device plugged in (device id 0).
    Empty,
    Device {
        id: u32,
    },
}

/// # Safety
/// `base` must be the address of a virtio-mmio transport named by the device tree.
pub unsafe fn probe(base: usize) -> Transport {
    // SAFETY: the caller guarantees `base` is a virtio-mmio register window; the magic and
    // device id registers are 32-bit at offsets 0 and 8.
    let (magic, id) = unsafe {
        (
            read_volatile(base as *const u32),
            read_volatile((base + DEVICE_ID) as *const u32),
        )
    };
    match (magic, id) {
        (m, _) if m != MAGIC => Transport::NotVirtio,
        (_, 0) => Transport::Empty,
        (_, id) => Transport::Device { id },
    }
}
