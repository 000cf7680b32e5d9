//! Target `virtio_mmio`: what the monitor does with a virtio-mmio register window before and
//! while a driver binds, over virtio-drivers' real `MmioTransport` (the other driver targets
//! use a fake `Transport`): `virtio_probe::probe`, `MmioTransport::new`, then the block or
//! network driver's initialisation and one request. The window is ordinary memory holding the
//! fuzzer's bytes (header registers, then configuration space), so the "device" answers every
//! read with what is there and never completes a request: every path must end in an error,
//! not a panic or a hang.

use alloc::vec;
use core::ptr::NonNull;

use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

use crate::drivers::virtio_blk::{Blk, Placement, Waiter, SECTOR};
use crate::drivers::virtio_net::Nic;
use crate::drivers::virtio_probe;

/// The window: the 0x100-byte header and 0x100 bytes of configuration space.
const WINDOW: usize = 0x200;

pub fn run(data: &[u8]) {
    let mut window = vec![0u32; WINDOW / 4];
    for (word, chunk) in window.iter_mut().zip(data.chunks(4)) {
        let mut bytes = [0u8; 4];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u32::from_le_bytes(bytes);
    }
    // The legacy (version 1) interface gives the device page frame numbers as 32-bit values,
    // which host heap addresses (above 2^44) do not fit: virtio-drivers then panics, as it
    // would not on a board (RAM below 16 TiB). So the host fuzzes the modern interface only.
    if window[1] == 1 {
        window[1] = 2;
    }
    let base = window.as_mut_ptr();
    // SAFETY: `base` points at `WINDOW` bytes of 4-byte aligned memory that stays alive (and is
    // used only through this window) until the end of this function.
    let probed = unsafe { virtio_probe::probe(base as usize) };
    let Some(header) = NonNull::new(base.cast::<VirtIOHeader>()) else {
        return;
    };
    // SAFETY: as above: a `WINDOW`-byte, 4-byte aligned region (`VirtIOHeader` is 32-bit
    // registers) that outlives the transport, which is dropped (with the driver) below.
    let transport = match unsafe { MmioTransport::new(header, WINDOW) } {
        Ok(t) => t,
        Err(_) => return,
    };
    assert!(
        matches!(probed, virtio_probe::Transport::Device { .. }),
        "MmioTransport took a window probe calls {probed:?}"
    );
    match transport.device_type() {
        DeviceType::Block => {
            if let Ok(mut blk) = Blk::new(transport, false) {
                let mut sector = [0u8; SECTOR];
                // No one answers: the request times out and the device is disabled.
                assert!(
                    blk.read(0, &mut sector, Placement::Bounce, &mut Deadline(0))
                        .is_err(),
                    "a request no device answered succeeded"
                );
                assert!(blk.is_disabled());
            }
        }
        DeviceType::Network => {
            if let Ok(mut nic) = Nic::new(transport) {
                let _ =
                    nic.receive(|frame| panic!("no device delivered a {}-byte frame", frame.len()));
                let _ = nic.transmit(&[0u8; 60]);
            }
        }
        _ => {}
    }
    // `transport` (or the driver that owns it) is dropped before `window`: declared after it.
}

/// A clock that reaches every deadline as soon as the driver waits for it.
struct Deadline(u64);

impl Waiter for Deadline {
    fn now_ns(&mut self) -> u64 {
        self.0
    }
    fn wait_until(&mut self, deadline_ns: u64) {
        self.0 = deadline_ns.max(self.0);
    }
}
