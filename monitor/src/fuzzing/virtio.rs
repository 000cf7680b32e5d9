//! A hostile virtio device for the driver targets: a [`Transport`] whose every answer (device
//! type, features, status, queue size, configuration, interrupts, and what it does with each
//! request) comes from the fuzzer's bytes. Zero bytes mean a device that behaves, so the
//! fuzzer starts on the ordinary path.
//!
//! The device writes only where a device may: the used rings, the buffers the driver made
//! device-writable (within their lengths) and, when it chooses to scribble, the driver's own
//! ring areas (which the driver must not trust: `VirtQueue` keeps a shadow descriptor table).
//! Every address it writes came from the driver, so a driver that hands out memory it does not
//! own shows up as an AddressSanitizer report under the fuzzer.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::PhysAddr;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Descriptor flags (virtio 1.2, 2.7.5).
const NEXT: u16 = 1;
const WRITE: u16 = 2;

/// The fuzzer's bytes, read front to back; zeros once they run out.
pub struct Answers {
    data: Vec<u8>,
    at: usize,
}

impl Answers {
    pub fn new(data: &[u8]) -> Self {
        Answers {
            data: data.to_vec(),
            at: 0,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u8()).collect()
    }
}

/// A device (physical) address as a host address: `HeapHal` is identity-mapped.
fn host(addr: u64) -> usize {
    usize::try_from(addr).expect("a 64-bit host")
}

/// Raw accesses to memory the driver shared with the device (host pointers: `HeapHal` is
/// identity-mapped on the host too).
fn read<T: FromBytes>(addr: u64) -> T {
    // SAFETY: `addr` lies in a ring or buffer the driver handed the device (see the module
    // documentation: a wrong one is the driver's bug, which the sanitizer reports).
    unsafe { core::ptr::read_unaligned(host(addr) as *const T) }
}
fn write<T: IntoBytes + Immutable>(addr: u64, value: T) {
    // SAFETY: as in `read`, for memory the device may write.
    unsafe { core::ptr::write_unaligned(host(addr) as *mut T, value) }
}

/// One buffer of a chain: address, length, device-writable.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    pub addr: u64,
    pub len: usize,
    pub writable: bool,
}

/// One virtqueue as the device sees it.
pub struct Queue {
    desc: u64,
    avail: u64,
    used: u64,
    size: u16,
    /// Available entries taken so far.
    seen: u16,
    /// The used index the device last published.
    used_idx: u16,
    /// The device wrote over the driver's areas: its descriptors no longer say where buffers are.
    scribbled: bool,
}

impl Queue {
    /// Chains made available and not yet taken.
    pub fn pending(&self) -> u16 {
        read::<u16>(self.avail + 2).wrapping_sub(self.seen)
    }

    /// Takes the next available chain: its head and buffers (none if the device scribbled).
    /// At most a queue's worth are pending: a scribbled available index means no more.
    pub fn take(&mut self) -> Option<(u16, Vec<Buffer>)> {
        if self.pending() == 0 || self.pending() > self.size {
            return None;
        }
        let slot = u64::from(self.seen % self.size);
        let head: u16 = read(self.avail + 4 + 2 * slot);
        self.seen = self.seen.wrapping_add(1);
        let mut chain = Vec::new();
        if self.scribbled {
            return Some((head, chain));
        }
        let mut index = head;
        loop {
            assert!(
                index < self.size && chain.len() < usize::from(self.size),
                "driver made a bad chain at {index}"
            );
            let d = self.desc + 16 * u64::from(index);
            let (addr, len, flags, next): (u64, u32, u16, u16) =
                (read(d), read(d + 8), read(d + 12), read(d + 14));
            chain.push(Buffer {
                addr,
                len: usize::try_from(len).expect("u32 fits"),
                writable: flags & WRITE != 0,
            });
            if flags & NEXT == 0 {
                break;
            }
            index = next;
        }
        Some((head, chain))
    }

    /// Publishes a used element (true or not), moving the used index by `step`.
    pub fn complete(&mut self, id: u32, len: u32, step: u16) {
        let slot = u64::from(self.used_idx % self.size);
        write(self.used + 4 + 8 * slot, id);
        write(self.used + 8 + 8 * slot, len);
        self.used_idx = self.used_idx.wrapping_add(step);
        write(self.used + 2, self.used_idx);
    }

    /// Writes arbitrary bytes over the driver's descriptor table or available ring.
    pub fn scribble(&mut self, answers: &mut Answers) {
        let (area, len) = if answers.u8() & 1 == 0 {
            (self.desc, 16 * usize::from(self.size))
        } else {
            (self.avail, 6 + 2 * usize::from(self.size))
        };
        let at = answers.below(len);
        let n = answers.below(16).min(len - at);
        for (i, b) in (0u64..).zip(answers.bytes(n)) {
            write(area + u64::try_from(at).expect("small") + i, b);
        }
        self.scribbled = true;
    }
}

/// Writes `bytes` into the device-writable buffers of a chain, in order, within their lengths;
/// returns how many bytes were written.
pub fn fill(chain: &[Buffer], bytes: &[u8]) -> usize {
    let mut done = 0;
    for b in chain.iter().filter(|b| b.writable) {
        let n = b.len.min(bytes.len() - done);
        // SAFETY: `[b.addr, b.addr + b.len)` is a buffer the driver made device-writable (see
        // `read`), and `n ≤ b.len`; `bytes` is the device's own, so they do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(bytes[done..].as_ptr(), host(b.addr) as *mut u8, n)
        };
        done += n;
    }
    done
}

/// Reads the device-readable buffers of a chain, in order.
pub fn gather(chain: &[Buffer]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in chain.iter().filter(|b| !b.writable) {
        // SAFETY: `[b.addr, b.addr + b.len)` is a buffer the driver handed the device (see `read`).
        out.extend_from_slice(unsafe {
            core::slice::from_raw_parts(host(b.addr) as *const u8, b.len)
        });
    }
    out
}

/// The device's state, shared by the transport (owned by the driver) and the target.
pub struct Device {
    pub answers: Answers,
    pub kind: DeviceType,
    pub offered: u64,
    pub accepted: u64,
    pub status: DeviceStatus,
    refuse_features: bool,
    max_queue_size: u32,
    legacy: bool,
    config: Vec<u8>,
    config_fails: bool,
    generation_changes: bool,
    generation: core::cell::Cell<u32>,
    pub queues: [Option<Queue>; 2],
    pub notified: u32,
}

/// The transport: the driver owns one handle, the target keeps another to play the device
/// between (or, through a waiter, during) driver calls.
#[derive(Clone)]
pub struct Fake(pub Rc<RefCell<Device>>);

impl Fake {
    /// A device of type `kind` offering `features` (plus whatever the fuzzer adds) with
    /// configuration space `config`, everything else drawn from `answers`.
    pub fn new(kind: DeviceType, features: u64, config: &[u8], mut answers: Answers) -> Self {
        let wrong_type = answers.u8() == 1;
        let offered = features ^ answers.u64();
        let refuse_features = answers.u8() == 1;
        let max_queue_size = match answers.u8() {
            0 => 256,
            1 => 0,
            2 => 8,
            _ => answers.u32(),
        };
        let legacy = answers.u8() == 1;
        let mut config = config.to_vec();
        for b in config.iter_mut() {
            *b ^= answers.u8();
        }
        let config_fails = answers.u8() == 1;
        let generation_changes = answers.u8() == 1;
        let kind = if wrong_type {
            DeviceType::Console
        } else {
            kind
        };
        Fake(Rc::new(RefCell::new(Device {
            answers,
            kind,
            offered,
            accepted: 0,
            status: DeviceStatus::empty(),
            refuse_features,
            max_queue_size,
            legacy,
            config,
            config_fails,
            generation_changes,
            generation: core::cell::Cell::new(0),
            queues: [None, None],
            notified: 0,
        })))
    }

    pub fn notified(&self) -> u32 {
        self.0.borrow().notified
    }
}

impl Transport for Fake {
    fn device_type(&self) -> DeviceType {
        self.0.borrow().kind
    }
    fn read_device_features(&mut self) -> u64 {
        self.0.borrow().offered
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        let mut d = self.0.borrow_mut();
        assert_eq!(
            driver_features & !d.offered,
            0,
            "the driver accepted features never offered"
        );
        d.accepted = driver_features;
    }
    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        self.0.borrow().max_queue_size
    }
    fn notify(&mut self, _queue: u16) {
        self.0.borrow_mut().notified += 1;
    }
    fn get_status(&self) -> DeviceStatus {
        self.0.borrow().status
    }
    fn set_status(&mut self, status: DeviceStatus) {
        let mut d = self.0.borrow_mut();
        d.status = if d.refuse_features {
            status - DeviceStatus::FEATURES_OK
        } else {
            status
        };
        if status.is_empty() {
            // A reset device forgets its queues.
            d.queues = [None, None];
        }
    }
    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        self.0.borrow().legacy
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        descriptors: PhysAddr,
        driver_area: PhysAddr,
        device_area: PhysAddr,
    ) {
        let mut d = self.0.borrow_mut();
        assert!(
            size <= d.max_queue_size,
            "queue of {size} on a device allowing {}",
            d.max_queue_size
        );
        let size = u16::try_from(size).expect("a queue size fits 16 bits");
        assert!(size.is_power_of_two());
        if let Some(q) = d.queues.get_mut(usize::from(queue)) {
            *q = Some(Queue {
                desc: descriptors,
                avail: driver_area,
                used: device_area,
                size,
                seen: 0,
                used_idx: 0,
                scribbled: false,
            });
        }
    }
    fn queue_unset(&mut self, queue: u16) {
        if let Some(q) = self.0.borrow_mut().queues.get_mut(usize::from(queue)) {
            *q = None;
        }
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.0
            .borrow()
            .queues
            .get(usize::from(queue))
            .is_some_and(Option::is_some)
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::from_bits_retain(u32::from(self.0.borrow_mut().answers.u8() & 3))
    }
    fn read_config_generation(&self) -> u32 {
        let d = self.0.borrow();
        if d.generation_changes {
            d.generation.set(d.generation.get().wrapping_add(1));
        }
        d.generation.get()
    }
    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        offset: usize,
    ) -> virtio_drivers::Result<T> {
        let d = self.0.borrow();
        if d.config_fails {
            return Err(virtio_drivers::Error::ConfigSpaceTooSmall);
        }
        d.config
            .get(offset..offset.saturating_add(size_of::<T>()))
            .and_then(|bytes| T::read_from_bytes(bytes).ok())
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> virtio_drivers::Result<()> {
        Ok(())
    }
}
