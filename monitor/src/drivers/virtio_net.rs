//! The virtio-net driver: `virtio-drivers`' non-blocking `VirtIONetRaw` (transport, feature
//! negotiation, both queues, the virtio-net header) over receive and transmit buffers the
//! monitor owns, with every completion the device reports checked before it is believed.
//!
//! Why `VirtIONetRaw` and not `VirtIONet`: the latter's `send` spins on the used ring with no
//! bound (a stuck device would hang the monitor) and it allocates its receive buffers itself;
//! the raw driver only submits and completes, and leaves waiting to the monitor's run loop.
//!
//! **Trust.** The device is not trusted. Receive completions must name a descriptor chain that
//! holds one of our receive buffers, and report a length that fits it; transmit completions
//! must name a frame in flight. Any violation disables the device for good: the caller resets
//! it (so it stops using the queues) and its DMA pages are never freed or reused. Frames that
//! are merely odd (shorter than an Ethernet header, longer than [`MAX_FRAME`]) are dropped and
//! counted.
//!
//! **No waiting here.** Receiving takes what the used ring holds now; transmitting returns
//! `Full` when every transmit buffer is in flight. The run loop polls after the device's
//! interrupt.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::virtio_blk::HeapHal;

/// Longest Ethernet frame handed on (no VLAN tag, no frame check sequence).
pub const MAX_FRAME: usize = 1514;
/// Shortest: the Ethernet header.
pub const MIN_FRAME: usize = 14;
/// Each buffer holds the virtio-net header (at most 12 bytes) and one frame.
const BUFFER: usize = 2048;
const _: () = assert!(12 + MAX_FRAME <= BUFFER && PAGE_SIZE.is_multiple_of(BUFFER));
/// Receive buffers kept posted, and transmit buffers: each takes one descriptor.
const RX_BUFFERS: usize = 16;
const TX_BUFFERS: usize = 16;
/// virtio-drivers uses one size for both queues.
const QUEUE_SIZE: usize = 16;
/// Most used-ring entries one `receive` takes, so a device that keeps completing cannot hold
/// the monitor.
const RECEIVE_BATCH: usize = 2 * RX_BUFFERS;

/// Config-generation changes tolerated while the driver reads the MAC and status; a device
/// that changes it more often than this is refused.
const MAX_GENERATION_CHANGES: u32 = 16;

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetError {
    /// The device broke the protocol just now and is disabled; the text says what it did.
    Misbehaved(String),
    /// The device was disabled by an earlier misbehaviour.
    Disabled,
    /// Every transmit buffer is in flight.
    Full,
    /// A frame shorter than an Ethernet header or longer than [`MAX_FRAME`].
    Invalid,
}

/// What one `receive` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub frames: u64,
    /// Runts and oversized frames, dropped.
    pub malformed: u64,
    /// More completions are waiting (the batch ended first): poll again soon. With
    /// `RING_EVENT_IDX` the device interrupts only once the driver has caught up, so without
    /// another poll they would wait for ever.
    pub more: bool,
}

/// One virtio-net device.
pub struct Nic<T: Transport> {
    /// Never dropped: its `Drop` frees the queues, which a device that misbehaved might still
    /// write.
    raw: ManuallyDrop<VirtIONetRaw<HeapHal, Steady<T>, QUEUE_SIZE>>,
    /// `RX_BUFFERS` then `TX_BUFFERS` buffers of `BUFFER` bytes from `HeapHal::dma_alloc`;
    /// never freed, for the same reason.
    buffers: NonNull<u8>,
    /// The token (head descriptor) of the receive request each receive buffer is posted with.
    rx: [Option<u16>; RX_BUFFERS],
    /// The token and length of the transmit request each transmit buffer is in flight with.
    tx: [Option<(u16, usize)>; TX_BUFFERS],
    mac: [u8; 6],
    disabled: bool,
}

// SAFETY: `Nic` owns its transport, queues and buffers; the pointers in it are to DMA memory
// only this driver uses. The monitor keeps every `Nic` behind a lock.
unsafe impl<T: Transport + Send> Send for Nic<T> {}

/// On the host (tests, fuzz targets) the fake device is gone with the driver, so its queues and
/// buffers can go too; on a machine they never do (see `raw` and `buffers`). Without this every
/// fuzz run would leak them.
#[cfg(any(test, feature = "fuzzing"))]
impl<T: Transport> Drop for Nic<T> {
    fn drop(&mut self) {
        let pages = (RX_BUFFERS + TX_BUFFERS) * BUFFER / PAGE_SIZE;
        // SAFETY: `raw` is dropped only here, and `buffers` is the block of `pages` pages
        // `dma_alloc` returned in `new`, freed only here; the fake device cannot touch either.
        unsafe {
            ManuallyDrop::drop(&mut self.raw);
            HeapHal::dma_dealloc(0, self.buffers, pages);
        }
    }
}

impl<T: Transport> Nic<T> {
    /// Initialises the device behind `transport` and posts every receive buffer.
    pub fn new(transport: T) -> Result<Self, String> {
        let unsteady = Arc::new(AtomicBool::new(false));
        let raw =
            VirtIONetRaw::<HeapHal, _, QUEUE_SIZE>::new(Steady::new(transport, unsteady.clone()))
                .map_err(|e| format!("{e}"))?;
        let mut raw = ManuallyDrop::new(raw);
        if unsteady.load(Ordering::Relaxed) {
            // SAFETY: nothing was posted: the queues hold no buffer the device could write.
            unsafe { ManuallyDrop::drop(&mut raw) };
            return Err("config generation keeps changing".into());
        }
        let pages = (RX_BUFFERS + TX_BUFFERS) * BUFFER / PAGE_SIZE;
        let (paddr, buffers) = HeapHal::dma_alloc(pages, BufferDirection::Both);
        if paddr == 0 {
            // SAFETY: nothing was posted: the queues hold no buffer the device could write.
            unsafe { ManuallyDrop::drop(&mut raw) };
            return Err(format!(
                "no heap for {} KiB of buffers",
                pages * PAGE_SIZE / 1024
            ));
        }
        let mac = raw.mac_address();
        let mut nic = Nic {
            raw,
            buffers,
            rx: [None; RX_BUFFERS],
            tx: [None; TX_BUFFERS],
            mac,
            disabled: false,
        };
        for slot in 0..RX_BUFFERS {
            nic.post(slot)
                .map_err(|e| format!("posting receive buffer {slot}: {e:?}"))?;
        }
        Ok(nic)
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Receive buffer `slot` (the first `RX_BUFFERS`) or transmit buffer `slot - RX_BUFFERS`.
    fn buffer(&mut self, slot: usize) -> &mut [u8] {
        let slot = slot.min(RX_BUFFERS + TX_BUFFERS - 1);
        // SAFETY: the allocation holds `RX_BUFFERS + TX_BUFFERS` buffers of `BUFFER` bytes;
        // `slot` is clamped to them. The device writes a receive buffer only while it is
        // posted, and callers take it only after its completion was popped (or to post it).
        unsafe { core::slice::from_raw_parts_mut(self.buffers.as_ptr().add(slot * BUFFER), BUFFER) }
    }

    /// Posts receive buffer `slot`, zeroed first: a device that reports a longer frame than it
    /// wrote then delivers zeros, never the rest of an earlier frame (which may have been
    /// another cVM's).
    fn post(&mut self, slot: usize) -> Result<(), NetError> {
        self.buffer(slot).fill(0);
        let buffer: *mut [u8] = self.buffer(slot);
        // SAFETY: the buffer is ours and no request holds it; it is not touched again until
        // `receive` pops the completion naming this token.
        let token = unsafe { self.raw.receive_begin(&mut *buffer) };
        match token {
            Ok(token) => {
                self.rx[slot] = Some(token);
                Ok(())
            }
            Err(e) => Err(self.misbehaved(format!("receive queue refused a buffer: {e}"))),
        }
    }

    fn misbehaved(&mut self, what: String) -> NetError {
        self.disabled = true;
        NetError::Misbehaved(what)
    }

    /// Takes every frame the device has completed (up to a batch), hands each well-formed one
    /// to `deliver`, and posts the buffers again.
    pub fn receive(&mut self, mut deliver: impl FnMut(&[u8])) -> Result<Received, NetError> {
        if self.disabled {
            return Err(NetError::Disabled);
        }
        let mut done = Received::default();
        for _ in 0..RECEIVE_BATCH {
            let Some(token) = self.raw.poll_receive() else {
                break;
            };
            let Some(slot) = self.rx.iter().position(|t| *t == Some(token)) else {
                return Err(self.misbehaved(format!(
                    "the receive used ring names descriptor {token}, which holds no receive buffer"
                )));
            };
            let buffer: *mut [u8] = self.buffer(slot);
            // SAFETY: `buffer` is the one posted with `token`.
            let completed = unsafe { self.raw.receive_complete(token, &mut *buffer) };
            self.rx[slot] = None;
            let (header, len) = match completed {
                Ok(lengths) => lengths,
                Err(e) => return Err(self.misbehaved(format!("receive completion: {e}"))),
            };
            let Some(end) = header.checked_add(len).filter(|&end| end <= BUFFER) else {
                return Err(self.misbehaved(format!(
                    "reported a {len}-byte frame in a {BUFFER}-byte buffer"
                )));
            };
            if (MIN_FRAME..=MAX_FRAME).contains(&len) {
                deliver(&self.buffer(slot)[header..end]);
                done.frames += 1;
            } else {
                done.malformed += 1;
            }
            self.post(slot)?;
        }
        // `pop_used` publishes how far the driver got (`used_event`) and the device publishes
        // new entries: a full fence keeps this check from being ordered before that store, so
        // a completion can't slip between them unannounced.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        done.more = self.raw.poll_receive().is_some();
        Ok(done)
    }

    /// Frees the transmit buffers whose frames the device has sent.
    fn reclaim(&mut self) -> Result<(), NetError> {
        for _ in 0..TX_BUFFERS {
            let Some(token) = self.raw.poll_transmit() else {
                break;
            };
            let Some(i) = self
                .tx
                .iter()
                .position(|t| matches!(t, Some((tok, _)) if *tok == token))
            else {
                return Err(self.misbehaved(format!(
                    "the transmit used ring names descriptor {token}, which holds no frame"
                )));
            };
            let len = self.tx[i].map_or(0, |(_, len)| len);
            let buffer: *const [u8] = &self.buffer(RX_BUFFERS + i)[..len];
            // SAFETY: `buffer` is exactly the slice submitted with `token`.
            let completed = unsafe { self.raw.transmit_complete(token, &*buffer) };
            self.tx[i] = None;
            if let Err(e) = completed {
                return Err(self.misbehaved(format!("transmit completion: {e}")));
            }
        }
        Ok(())
    }

    /// Queues `frame` for sending (copied into a transmit buffer behind a virtio-net header).
    pub fn transmit(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if self.disabled {
            return Err(NetError::Disabled);
        }
        if !(MIN_FRAME..=MAX_FRAME).contains(&frame.len()) {
            return Err(NetError::Invalid);
        }
        self.reclaim()?;
        let Some(i) = self.tx.iter().position(Option::is_none) else {
            return Err(NetError::Full);
        };
        let header = {
            let buffer: *mut [u8] = self.buffer(RX_BUFFERS + i);
            // SAFETY: transmit buffer `i` is not in flight (its entry is None).
            match self.raw.fill_buffer_header(unsafe { &mut *buffer }) {
                Ok(n) => n,
                Err(e) => return Err(self.misbehaved(format!("virtio-net header: {e}"))),
            }
        };
        let len = header + frame.len();
        self.buffer(RX_BUFFERS + i)[header..len].copy_from_slice(frame);
        let buffer: *const [u8] = &self.buffer(RX_BUFFERS + i)[..len];
        // SAFETY: the buffer is not touched again until `reclaim` pops this token.
        match unsafe { self.raw.transmit_begin(&*buffer) } {
            Ok(token) => {
                self.tx[i] = Some((token, len));
                Ok(())
            }
            Err(virtio_drivers::Error::QueueFull) => Err(NetError::Full),
            Err(e) => Err(self.misbehaved(format!("transmit: {e}"))),
        }
    }
}

/// The device's transport with a bounded config generation. `VirtIONetRaw::new` reads the MAC
/// through `Transport::read_consistent`, which retries for as long as the generation changes:
/// a device that changes it on every read would hold the monitor for ever. After
/// [`MAX_GENERATION_CHANGES`] changes this reports the last value again (ending the retries)
/// and sets `unsteady`, which [`Nic::new`] checks.
struct Steady<T> {
    inner: T,
    last: Cell<Option<u32>>,
    changes: Cell<u32>,
    unsteady: Arc<AtomicBool>,
}

impl<T: Transport> Steady<T> {
    fn new(inner: T, unsteady: Arc<AtomicBool>) -> Self {
        Steady {
            inner,
            last: Cell::new(None),
            changes: Cell::new(0),
            unsteady,
        }
    }
}

impl<T: Transport> Transport for Steady<T> {
    fn device_type(&self) -> DeviceType {
        self.inner.device_type()
    }
    fn read_device_features(&mut self) -> u64 {
        self.inner.read_device_features()
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.inner.write_driver_features(driver_features);
    }
    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.inner.max_queue_size(queue)
    }
    fn notify(&mut self, queue: u16) {
        self.inner.notify(queue);
    }
    fn get_status(&self) -> DeviceStatus {
        self.inner.get_status()
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.inner.set_status(status);
    }
    fn set_guest_page_size(&mut self, guest_page_size: u32) {
        self.inner.set_guest_page_size(guest_page_size);
    }
    fn requires_legacy_layout(&self) -> bool {
        self.inner.requires_legacy_layout()
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        self.inner
            .queue_set(queue, size, descriptors, driver_area, device_area);
    }
    fn queue_unset(&mut self, queue: u16) {
        self.inner.queue_unset(queue);
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.inner.queue_used(queue)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        self.inner.ack_interrupt()
    }
    fn read_config_generation(&self) -> u32 {
        let generation = self.inner.read_config_generation();
        match self.last.get() {
            Some(last) if self.unsteady.load(Ordering::Relaxed) => last,
            Some(last) if last != generation => {
                self.changes.set(self.changes.get().saturating_add(1));
                if self.changes.get() > MAX_GENERATION_CHANGES {
                    self.unsteady.store(true, Ordering::Relaxed);
                    return last;
                }
                self.last.set(Some(generation));
                generation
            }
            _ => {
                self.last.set(Some(generation));
                generation
            }
        }
    }
    fn read_config_space<C: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<C> {
        self.inner.read_config_space(offset)
    }
    fn write_config_space<C: IntoBytes + Immutable>(
        &mut self,
        offset: usize,
        value: C,
    ) -> virtio_drivers::Result<()> {
        self.inner.write_config_space(offset, value)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::RefCell;
    use std::rc::Rc;
    use std::vec;
    use std::vec::Vec;
    use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus};
    use virtio_drivers::PhysAddr;
    use zerocopy::{FromBytes, Immutable, IntoBytes};

    const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xc0, 0xff, 0xee];
    /// Feature bits (virtio 1.2, 5.1.3 and 6). The fake offers neither `RING_EVENT_IDX` nor
    /// `RING_INDIRECT_DESC`, so the rings are plain split rings with one descriptor per buffer.
    const F_MAC: u64 = 1 << 5;
    const F_STATUS: u64 = 1 << 16;
    const F_VERSION_1: u64 = 1 << 32;
    /// Descriptor flags.
    const NEXT: u16 = 1;
    const WRITE: u16 = 2;
    /// Queue indices (virtio 1.2, 5.1.2).
    const RX: usize = 0;
    const TX: usize = 1;
    const QS: u64 = QUEUE_SIZE as u64;

    /// Raw accesses to the rings and buffers the driver shared with the fake device (host
    /// pointers: `HeapHal` is identity-mapped on the host too).
    fn read<T: FromBytes>(addr: u64) -> T {
        // SAFETY: `addr` is inside a ring or buffer the driver handed the device; the driver's
        // `VirtIONetRaw` and buffers are never freed (`ManuallyDrop`), so it stays valid.
        unsafe { core::ptr::read_unaligned(addr as *const T) }
    }
    fn write<T: IntoBytes + Immutable>(addr: u64, value: T) {
        // SAFETY: as in `read`, for memory the device may write (used ring, receive buffers).
        unsafe { core::ptr::write_unaligned(addr as *mut T, value) }
    }
    fn read_bytes(addr: u64, len: usize) -> Vec<u8> {
        (0..len as u64).map(|i| read(addr + i)).collect()
    }
    fn write_bytes(addr: u64, bytes: &[u8]) {
        for (at, b) in (addr..).zip(bytes) {
            write(at, *b);
        }
    }

    fn u32_of(n: usize) -> u32 {
        u32::try_from(n).expect("small")
    }

    /// A descriptor chain: (address, length, flags) of each descriptor.
    type Chain = Vec<(u64, usize, u16)>;

    /// One virtqueue as the device sees it: where the driver put its rings, and how far the
    /// device has got in them.
    struct Queue {
        desc: u64,
        avail: u64,
        used: u64,
        /// Available-ring entries taken so far.
        seen: u16,
        /// The used index the device last published.
        used_idx: u16,
    }

    impl Queue {
        /// Chains made available and not yet taken.
        fn pending(&self) -> u16 {
            read::<u16>(self.avail + 2).wrapping_sub(self.seen)
        }

        /// Takes the next available chain: its head and its descriptors.
        fn take(&mut self) -> Option<(u16, Chain)> {
            if self.pending() == 0 {
                return None;
            }
            let head: u16 = read(self.avail + 4 + 2 * (u64::from(self.seen) % QS));
            self.seen = self.seen.wrapping_add(1);
            let mut chain = Vec::new();
            let mut index = head;
            loop {
                assert!(
                    usize::from(index) < QUEUE_SIZE && chain.len() < QUEUE_SIZE,
                    "bad chain"
                );
                let d = self.desc + 16 * u64::from(index);
                let (addr, len, flags, next): (u64, u32, u16, u16) =
                    (read(d), read(d + 8), read(d + 12), read(d + 14));
                chain.push((addr, len as usize, flags));
                if flags & NEXT == 0 {
                    break;
                }
                index = next;
            }
            Some((head, chain))
        }

        /// Publishes a used element: what a device that behaves says after using chain `id`
        /// (writing `len` bytes), or whatever one that misbehaves claims.
        fn complete(&mut self, id: u32, len: u32) {
            let slot = u64::from(self.used_idx) % QS;
            write(self.used + 4 + 8 * slot, id);
            write(self.used + 8 + 8 * slot, len);
            self.used_idx = self.used_idx.wrapping_add(1);
            write(self.used + 2, self.used_idx);
        }
    }

    /// The fake virtio-net device's state.
    struct Device {
        offered: u64,
        accepted: u64,
        status: DeviceStatus,
        queues: [Option<Queue>; 2],
        notified: u32,
        /// Changes the config generation on every read (counting the reads).
        restless: Option<core::cell::Cell<u32>>,
    }

    /// The transport: `VirtIONetRaw` owns one handle, the test keeps another to play the
    /// device between driver calls (never during one: the driver is single-threaded).
    #[derive(Clone)]
    struct Fake(Rc<RefCell<Device>>);

    impl Fake {
        fn new(offered: u64) -> Self {
            Fake(Rc::new(RefCell::new(Device {
                offered,
                accepted: 0,
                status: DeviceStatus::empty(),
                queues: [None, None],
                notified: 0,
                restless: None,
            })))
        }

        fn queue<R>(&self, queue: usize, f: impl FnOnce(&mut Queue) -> R) -> R {
            f(self.0.borrow_mut().queues[queue]
                .as_mut()
                .expect("queue set up"))
        }

        /// The virtio-net header: 12 bytes with `VERSION_1`, the legacy 10 without.
        fn header(&self) -> usize {
            if self.0.borrow().accepted & F_VERSION_1 != 0 {
                12
            } else {
                10
            }
        }

        fn pending(&self, queue: usize) -> u16 {
            self.queue(queue, |q| q.pending())
        }

        fn notified(&self) -> u32 {
            self.0.borrow().notified
        }

        /// Receives `frame` from the wire into the next posted receive buffer, claiming
        /// `used_len` bytes written. False when no buffer is posted.
        fn fill(&self, frame: &[u8], used_len: u32) -> bool {
            let header = self.header();
            self.queue(RX, |q| {
                let Some((head, chain)) = q.take() else {
                    return false;
                };
                let [(addr, len, flags)] = chain[..] else {
                    panic!("a receive chain of {} descriptors", chain.len())
                };
                assert!(
                    flags & WRITE != 0 && len == BUFFER,
                    "a device-writable {BUFFER}-byte buffer"
                );
                assert!(header + frame.len() <= len, "the test's frame fits");
                write_bytes(addr, &vec![0; header]);
                write_bytes(addr + header as u64, frame);
                q.complete(head.into(), used_len);
                true
            })
        }

        /// Receives `frame`, reporting its true length.
        fn deliver(&self, frame: &[u8]) -> bool {
            self.fill(frame, u32_of(self.header() + frame.len()))
        }

        /// Sends every frame the driver queued for transmission and completes them; returns
        /// the frames (after checking their header is the all-zero virtio-net header).
        fn transmitted(&self) -> Vec<Vec<u8>> {
            let header = self.header();
            self.queue(TX, |q| {
                let mut frames = Vec::new();
                while let Some((head, chain)) = q.take() {
                    let [(addr, len, flags)] = chain[..] else {
                        panic!("a transmit chain of {} descriptors", chain.len())
                    };
                    assert_eq!(flags & WRITE, 0, "transmit buffers are device-readable");
                    let bytes = read_bytes(addr, len);
                    assert!(
                        bytes.len() >= header && bytes[..header].iter().all(|&b| b == 0),
                        "header {bytes:?}"
                    );
                    frames.push(bytes[header..].to_vec());
                    q.complete(head.into(), 0);
                }
                frames
            })
        }

        /// Publishes an arbitrary used element on `queue`.
        fn used(&self, queue: usize, id: u32, len: u32) {
            self.queue(queue, |q| q.complete(id, len));
        }
    }

    impl Transport for Fake {
        fn device_type(&self) -> DeviceType {
            DeviceType::Network
        }
        fn read_device_features(&mut self) -> u64 {
            self.0.borrow().offered
        }
        fn write_driver_features(&mut self, driver_features: u64) {
            self.0.borrow_mut().accepted = driver_features;
        }
        fn max_queue_size(&mut self, _queue: u16) -> u32 {
            256
        }
        fn notify(&mut self, _queue: u16) {
            self.0.borrow_mut().notified += 1;
        }
        fn get_status(&self) -> DeviceStatus {
            self.0.borrow().status
        }
        fn set_status(&mut self, status: DeviceStatus) {
            self.0.borrow_mut().status = status;
        }
        fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
        fn requires_legacy_layout(&self) -> bool {
            false
        }
        fn queue_set(
            &mut self,
            queue: u16,
            size: u32,
            descriptors: PhysAddr,
            driver_area: PhysAddr,
            device_area: PhysAddr,
        ) {
            assert_eq!(size as usize, QUEUE_SIZE);
            self.0.borrow_mut().queues[usize::from(queue)] = Some(Queue {
                desc: descriptors,
                avail: driver_area,
                used: device_area,
                seen: 0,
                used_idx: 0,
            });
        }
        fn queue_unset(&mut self, queue: u16) {
            self.0.borrow_mut().queues[usize::from(queue)] = None;
        }
        fn queue_used(&mut self, queue: u16) -> bool {
            self.0.borrow().queues[usize::from(queue)].is_some()
        }
        fn ack_interrupt(&mut self) -> InterruptStatus {
            InterruptStatus::empty()
        }
        fn read_config_generation(&self) -> u32 {
            self.0.borrow().restless.as_ref().map_or(0, |reads| {
                reads.set(reads.get() + 1);
                reads.get()
            })
        }
        /// Config space (virtio 1.2, 5.1.4): `mac` at 0, `status` at 6 (link up).
        fn read_config_space<T: FromBytes + IntoBytes>(
            &self,
            offset: usize,
        ) -> virtio_drivers::Result<T> {
            let mut config = MAC.to_vec();
            config.extend_from_slice(&1u16.to_le_bytes());
            config
                .get(offset..offset + size_of::<T>())
                .and_then(|bytes| T::read_from_bytes(bytes).ok())
                .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)
        }
        fn write_config_space<T: IntoBytes + Immutable>(
            &mut self,
            _offset: usize,
            _value: T,
        ) -> virtio_drivers::Result<()> {
            Err(virtio_drivers::Error::Unsupported)
        }
    }

    fn nic_offering(features: u64) -> (Nic<Fake>, Fake) {
        let fake = Fake::new(features);
        (Nic::new(fake.clone()).expect("init"), fake)
    }

    fn nic() -> (Nic<Fake>, Fake) {
        nic_offering(F_MAC | F_STATUS | F_VERSION_1)
    }

    /// A frame whose every byte depends on its position and on `seed`.
    fn frame(len: usize, seed: u8) -> Vec<u8> {
        (0..=255u8).cycle().take(len).map(|b| b ^ seed).collect()
    }

    /// One `receive`, with the frames it delivered.
    fn receive(nic: &mut Nic<Fake>) -> Result<(Received, Vec<Vec<u8>>), NetError> {
        let mut frames = Vec::new();
        let done = nic.receive(|f| frames.push(f.to_vec()))?;
        Ok((done, frames))
    }

    fn received(frames: u64, malformed: u64) -> Received {
        Received {
            frames,
            malformed,
            more: false,
        }
    }

    fn assert_misbehaved<T: core::fmt::Debug>(result: Result<T, NetError>, expected: &str) {
        match result {
            Err(NetError::Misbehaved(why)) => assert!(why.contains(expected), "{why}"),
            other => panic!("expected Misbehaved({expected}), got {other:?}"),
        }
    }

    /// Disabled for good: every later call fails at once without touching the device, even
    /// with a frame waiting.
    fn assert_disabled(nic: &mut Nic<Fake>, fake: &Fake) {
        assert!(nic.is_disabled());
        fake.deliver(&frame(60, 9));
        let (notified, tx) = (fake.notified(), fake.pending(TX));
        for _ in 0..2 {
            assert_eq!(
                nic.receive(|_| panic!("delivered by a disabled device")),
                Err(NetError::Disabled)
            );
            assert_eq!(nic.transmit(&frame(60, 9)), Err(NetError::Disabled));
        }
        assert_eq!(
            (fake.notified(), fake.pending(TX)),
            (notified, tx),
            "the device was not touched"
        );
    }

    #[test]
    fn init_negotiates_reads_the_mac_and_posts_every_receive_buffer() {
        let (nic, fake) = nic();
        assert_eq!(nic.mac(), MAC);
        assert!(!nic.is_disabled());
        let device = fake.0.borrow();
        assert_eq!(device.accepted, F_MAC | F_STATUS | F_VERSION_1);
        assert!(device.status.contains(DeviceStatus::DRIVER_OK));
        drop(device);
        assert_eq!(fake.pending(RX), 16);
        assert_eq!(fake.pending(TX), 0);
    }

    #[test]
    fn a_device_whose_config_generation_never_settles_is_refused_not_waited_for() {
        let fake = Fake::new(F_MAC | F_STATUS | F_VERSION_1);
        fake.0.borrow_mut().restless = Some(core::cell::Cell::new(0));
        assert_eq!(
            Nic::new(fake.clone()).err().as_deref(),
            Some("config generation keeps changing")
        );
        let reads = fake.0.borrow().restless.as_ref().map(core::cell::Cell::get);
        assert!(reads.is_some_and(|n| n < 100), "{reads:?} generation reads");
    }

    #[test]
    fn delivered_frames_reach_the_callback_and_buffers_are_posted_again() {
        let (mut nic, fake) = nic();
        // Nothing completed: nothing delivered.
        assert_eq!(receive(&mut nic), Ok((received(0, 0), vec![])));
        // Three rounds, 28 frames through 16 buffers (the used ring wraps too).
        let mut seed = 0u8;
        for lengths in [
            vec![MIN_FRAME, 60, 1000, MAX_FRAME, 61],
            vec![64; 16],
            vec![100; 7],
        ] {
            let sent: Vec<Vec<u8>> = lengths
                .iter()
                .map(|&len| {
                    seed += 1;
                    frame(len, seed)
                })
                .collect();
            for f in &sent {
                assert!(fake.deliver(f), "a receive buffer is posted");
            }
            if sent.len() == RX_BUFFERS {
                assert!(!fake.deliver(&frame(60, 0)), "only {RX_BUFFERS} buffers");
            }
            let notified = fake.notified();
            let n = sent.len() as u64;
            assert_eq!(receive(&mut nic), Ok((received(n, 0), sent)));
            assert_eq!(fake.pending(RX), 16, "every buffer posted again");
            assert!(fake.notified() > notified, "the device was told");
        }
    }

    #[test]
    fn a_frame_longer_than_the_device_wrote_carries_zeros_not_an_earlier_frame() {
        let (mut nic, fake) = nic();
        // Every receive buffer once held a 1000-byte frame (for some cVM)...
        let earlier: Vec<Vec<u8>> = (1..=16).map(|seed| frame(1000, seed)).collect();
        for f in &earlier {
            assert!(fake.deliver(f));
        }
        assert_eq!(receive(&mut nic), Ok((received(16, 0), earlier)));
        // ...then a device writes 60 bytes and claims 1000: the rest is zeros.
        let header = fake.header();
        assert!(fake.fill(&frame(60, 0x77), u32_of(header + 1000)));
        let (done, frames) = receive(&mut nic).expect("a plausible length");
        assert_eq!(done, received(1, 0));
        assert_eq!(frames[0][..60], frame(60, 0x77)[..]);
        assert!(
            frames[0][60..].iter().all(|&b| b == 0),
            "an earlier frame's bytes were delivered"
        );
    }

    #[test]
    fn runts_and_oversized_frames_are_counted_not_delivered() {
        let (mut nic, fake) = nic();
        let header = fake.header();
        let good = [frame(MIN_FRAME, 1), frame(MAX_FRAME, 2)];
        // The largest frame a buffer holds is still too long for Ethernet.
        for (i, len) in [0, 1, MIN_FRAME - 1, MAX_FRAME + 1, BUFFER - header]
            .into_iter()
            .enumerate()
        {
            assert!(fake.deliver(&frame(len, 7)));
            if let Some(f) = good.get(i) {
                assert!(fake.deliver(f));
            }
        }
        assert_eq!(receive(&mut nic), Ok((received(2, 5), good.to_vec())));
        assert!(!nic.is_disabled());
        assert_eq!(fake.pending(RX), 16);
        assert!(fake.deliver(&frame(60, 3)));
        assert_eq!(receive(&mut nic), Ok((received(1, 0), vec![frame(60, 3)])));
    }

    #[test]
    fn a_receive_completion_naming_no_buffer_disables_the_device() {
        let (mut nic, fake) = nic();
        // Every descriptor 0..16 holds a posted buffer; 16 is past the table.
        fake.used(RX, 16, 72);
        assert_misbehaved(
            receive(&mut nic),
            "names descriptor 16, which holds no receive buffer",
        );
        assert_disabled(&mut nic, &fake);
    }

    #[test]
    fn a_receive_length_the_buffer_cannot_hold_disables_the_device() {
        // 2048 (a full buffer) is merely oversized, see above; 2049 is a lie; so is a length
        // shorter than the header.
        for (used_len, expected) in [
            (4000, "reported a 3988-byte frame in a 2048-byte buffer"),
            (2049, "reported a 2037-byte frame in a 2048-byte buffer"),
            (11, "receive completion"),
        ] {
            let (mut nic, fake) = nic();
            assert!(fake.fill(&frame(60, 1), used_len));
            assert_misbehaved(
                nic.receive(|_| panic!("delivered a frame of {used_len} bytes")),
                expected,
            );
            assert_disabled(&mut nic, &fake);
        }
    }

    #[test]
    fn a_device_that_keeps_completing_cannot_hold_receive() {
        let (mut nic, fake) = nic();
        for i in 0..16 {
            assert!(fake.deliver(&frame(60, i)));
        }
        // Claim 84 more completions: the stale used elements name the same (posted again)
        // descriptors with believable lengths, so only the batch bound stops the loop.
        fake.queue(RX, |q| {
            q.used_idx = q.used_idx.wrapping_add(84);
            write(q.used + 2, q.used_idx);
        });
        let batch = RECEIVE_BATCH as u64;
        // Each cut-short batch says more are waiting, so the caller polls again.
        for (expected, more) in [
            (batch, true),
            (batch, true),
            (batch, true),
            (100 - 3 * batch, false),
            (0, false),
        ] {
            assert_eq!(
                receive(&mut nic).map(|(done, _)| done),
                Ok(Received {
                    more,
                    ..received(expected, 0)
                })
            );
        }
    }

    #[test]
    fn transmit_puts_the_frame_behind_a_header() {
        let (mut nic, fake) = nic();
        let frames = [frame(60, 1), frame(MIN_FRAME, 2), frame(MAX_FRAME, 3)];
        let notified = fake.notified();
        for f in &frames {
            assert_eq!(nic.transmit(f), Ok(()));
        }
        assert_eq!(fake.notified(), notified + 3, "the device was told of each");
        assert_eq!(fake.transmitted(), frames);
    }

    #[test]
    fn transmit_is_full_while_every_buffer_is_in_flight() {
        let (mut nic, fake) = nic();
        for round in 0..2u8 {
            let sent: Vec<Vec<u8>> = (0..16)
                .map(|i| frame(60 + usize::from(i), 16 * round + i))
                .collect();
            for f in &sent {
                assert_eq!(nic.transmit(f), Ok(()));
            }
            assert_eq!(nic.transmit(&frame(60, 99)), Err(NetError::Full));
            assert!(!nic.is_disabled());
            assert_eq!(fake.pending(TX), 16, "nothing more was queued");
            // The device sends them all; the next transmits reclaim every buffer.
            assert_eq!(fake.transmitted(), sent);
        }
        assert_eq!(nic.transmit(&frame(60, 1)), Ok(()));
        assert_eq!(fake.transmitted(), vec![frame(60, 1)]);
    }

    #[test]
    fn transmit_refuses_runts_and_oversized_frames() {
        let (mut nic, fake) = nic();
        for len in [0, MIN_FRAME - 1, MAX_FRAME + 1, 4000] {
            assert_eq!(
                nic.transmit(&frame(len, 1)),
                Err(NetError::Invalid),
                "{len} bytes"
            );
        }
        assert_eq!(fake.pending(TX), 0);
        assert!(!nic.is_disabled());
        let good = [frame(MIN_FRAME, 2), frame(MAX_FRAME, 3)];
        for f in &good {
            assert_eq!(nic.transmit(f), Ok(()));
        }
        assert_eq!(fake.transmitted(), good);
    }

    #[test]
    fn a_transmit_completion_naming_no_frame_in_flight_disables_the_device() {
        // Nothing sent yet; a descriptor never used; a completion repeated.
        type Misbehave = fn(&Fake);
        let cases: [(&str, Misbehave); 3] = [
            ("names descriptor 0, which holds no frame", |fake| {
                fake.used(TX, 0, 0)
            }),
            ("names descriptor 5, which holds no frame", |fake| {
                fake.used(TX, 5, 0)
            }),
            ("names descriptor 0, which holds no frame", |fake| {
                assert_eq!(fake.transmitted().len(), 1);
                fake.used(TX, 0, 0);
            }),
        ];
        for (i, (expected, misbehave)) in cases.into_iter().enumerate() {
            let (mut nic, fake) = nic();
            if i > 0 {
                assert_eq!(nic.transmit(&frame(60, 1)), Ok(()));
            }
            misbehave(&fake);
            assert_misbehaved(nic.transmit(&frame(60, 2)), expected);
            assert_disabled(&mut nic, &fake);
        }
    }

    #[test]
    fn a_legacy_device_gets_the_10_byte_header() {
        let (mut nic, fake) = nic_offering(F_MAC | F_STATUS);
        assert_eq!(fake.header(), 10);
        assert_eq!(nic.transmit(&frame(60, 1)), Ok(()));
        assert_eq!(fake.transmitted(), vec![frame(60, 1)]);
        assert!(fake.deliver(&frame(MAX_FRAME, 2)));
        assert_eq!(
            receive(&mut nic),
            Ok((received(1, 0), vec![frame(MAX_FRAME, 2)]))
        );
    }
}
