//! The virtio-blk driver: one request at a time through `virtio-drivers`' transport and split
//! virtqueue, with DMA only into the monitor's own buffers or, for a cVM's request, the exact
//! buffer the cVM named, and a device that breaks the protocol reset and disabled instead of
//! trusted.
//!
//! Why not `virtio_drivers::device::blk::VirtIOBlk`: its `flush` (and every blocking call)
//! spins on the used ring with no bound, so a stuck device would hang the monitor, and its
//! non-blocking completions drop the used length the device reports. This driver uses the same
//! crate's `Transport` (legacy and modern virtio-mmio), feature negotiation and `VirtQueue`, and
//! does the three request shapes itself:
//!
//! | request | device-readable | device-writable | used length |
//! |---|---|---|---|
//! | read  | header | data, status | data + 1 |
//! | write | header, data | status | 1 |
//! | flush | header | status | 1 |
//!
//! **Trust.** The device is not trusted. `VirtQueue` keeps a shadow of the descriptor table the
//! device cannot touch, checks the used element's id against the request's token
//! (`WrongToken`, not a panic), and masks ring indices; this driver additionally bounds every
//! wait ([`REQUEST_TIMEOUT_NS`]), checks the used length and the status byte, and never hands
//! a device any address but its own queue pages, its bounce buffer and, for a direct request,
//! the caller's buffer. Any violation disables the device for good ([`BlkError::Misbehaved`]
//! once, [`BlkError::Disabled`] after): it is reset, so it stops using the queue and every
//! buffer it was given, and its DMA pages are never freed or reused.
//!
//! **Direct requests** ([`Placement::Direct`]): the data descriptor names the caller's buffer
//! itself instead of the bounce buffer, so there is no copy and nothing to scrub. Only for a
//! buffer the caller has already checked and that may be handed to a device (the disk
//! hostcalls: a range of the calling cVM's own memory, checked by `hostcall::check_buffer`;
//! identity-mapped, so one physically contiguous range), and only when it is aligned for the
//! device ([`DIRECT_ALIGN_COHERENT`], [`DIRECT_ALIGN_NONCOHERENT`]); anything else goes
//! through the bounce buffer as before. The device is given exactly the bytes the copy would
//! have read or written, for exactly the time of the request: the request is complete or the
//! device reset before the call returns. The monitor's own buffers always bounce: a device
//! that ignored its reset could otherwise write into memory the monitor reuses.
//!
//! **Cache maintenance** is the driver's, per device ([`Blk::new`]'s `coherent`): for a device
//! that is not coherent with the CPU's caches every buffer and ring is cleaned before the
//! device reads it and invalidated around the device writing it (`arch::dma_clean`,
//! `arch::dma_invalidate`); for a coherent one (the device tree says `dma-coherent`, or the
//! architecture's default) there is none, only `arch::dma_fence` before the notify and after
//! the completion.
//!
//! **Waiting** is the caller's: a [`Waiter`] sleeps until an interrupt (the device's
//! completion interrupt, acknowledged by the interrupt handler) or the deadline. The used ring
//! is the truth; the interrupt only ends the sleep early.

use alloc::format;
use alloc::string::String;
use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use bitflags::bitflags;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// Bytes per sector.
pub const SECTOR: usize = 512;
/// Largest request: the bounce buffer's size (64 KiB, `DISK_MAX_SECTORS` sectors).
pub const MAX_BYTES: usize = 128 * SECTOR;
/// Where a direct buffer must start for a coherent device: on a capability granule (16
/// bytes on Morello and CHERI-RISC-V). A device's write clears the tag of every granule it
/// touches (CHERI QEMU's `invalidate_and_set_dirty`, and the hardware's tag controller), so
/// an aligned buffer of whole sectors clears exactly its own granules' tags, as the copy
/// from the bounce buffer would.
pub const DIRECT_ALIGN_COHERENT: usize = 16;
/// Where a direct buffer must start for a device that is not coherent: on the largest cache
/// writeback granule of the Arm cores (128 bytes, Linux's `ARCH_DMA_MINALIGN` on arm64), so
/// none of its cache lines holds a byte outside it, which cleaning and invalidating around
/// the device's write would otherwise race with.
pub const DIRECT_ALIGN_NONCOHERENT: usize = 128;
const _: () = assert!(
    SECTOR.is_multiple_of(DIRECT_ALIGN_COHERENT) && SECTOR.is_multiple_of(DIRECT_ALIGN_NONCOHERENT)
);
const _: () = assert!(
    SECTOR as u64 == capmon_abi::SECTOR_SIZE
        && MAX_BYTES as u64 == capmon_abi::DISK_MAX_SECTORS * capmon_abi::SECTOR_SIZE
);
/// How long a request may take before the device counts as stuck. Generous: QEMU on a loaded
/// host answers in microseconds to milliseconds, real devices in milliseconds.
pub const REQUEST_TIMEOUT_NS: u64 = 2_000_000_000;
/// Polls of the used ring after the deadline before a device counts as stuck: tens of
/// milliseconds of work on any CPU. The clock alone can't be trusted to have let the device
/// work: under QEMU `-icount sleep=off` an idle CPU's clock jumps straight to the next timer
/// deadline, with no host time passing.
///
/// Host tests and fuzz targets, whose fake devices answer only while the driver waits, poll a
/// little: a stuck fake stays stuck, and a fuzzer must not spend its time here.
const GRACE_POLLS: u32 = if cfg!(any(test, feature = "fuzzing")) {
    64
} else {
    1 << 22
};
/// One request at a time needs 3 descriptors; 16 is the smallest size worth a queue.
const QUEUE_SIZE: usize = 16;
/// Reads of the status register after a reset before the device counts as not having
/// acknowledged it (virtio 1.2, 2.4: the reset is complete when the status reads 0).
const RESET_POLLS: u32 = 1000;
/// Request types (virtio 1.2, 5.2.6).
const VIRTIO_BLK_T_IN: u32 = 0;
const VIRTIO_BLK_T_OUT: u32 = 1;
const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// Status bytes.
const VIRTIO_BLK_S_OK: u8 = 0;
const VIRTIO_BLK_S_IOERR: u8 = 1;
const VIRTIO_BLK_S_UNSUPP: u8 = 2;
/// Written to the status byte before a request: a device that completes without writing a
/// status leaves it, and is caught.
const STATUS_UNWRITTEN: u8 = 0xff;
/// The bounce pages: page 0 holds the 16-byte request header and the status byte, the rest
/// the data.
const HEADER_BYTES: usize = 16;
const STATUS_OFFSET: usize = HEADER_BYTES;
const DATA_OFFSET: usize = PAGE_SIZE;
const BUFFER_PAGES: usize = 1 + MAX_BYTES / PAGE_SIZE;

bitflags! {
    /// The features this driver accepts (virtio 1.2, 5.2.3 and 6).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Features: u64 {
        /// The device is read-only.
        const RO = 1 << 5;
        /// The device has a volatile cache: flushes mean something.
        const FLUSH = 1 << 9;
        /// A modern (virtio 1.x) device; a driver must accept it when offered.
        const VERSION_1 = 1 << 32;
    }
}

/// DMA memory for virtio-drivers: zeroed, page-aligned pages from the monitor's heap, which is
/// identity-mapped (physical address = pointer).
///
/// On aarch64 the heap is cacheable (the MMU is on), and a device need not be coherent with
/// the CPU's caches, so every hand-over goes through `arch::dma_clean` / `arch::dma_invalidate`
/// (RISC-V: fences) in `share`/`unshare`: the virtio-net driver's frame buffers. The block
/// driver uses [`BlkHal`] and maintains its buffers itself, per device.
#[derive(Debug)]
pub struct HeapHal;

/// The block driver's `Hal`: [`HeapHal`]'s memory, but `share` only names the buffer's
/// (identity-mapped) address and `unshare` does nothing: [`Blk::submit`] does the cache
/// maintenance, or none for a coherent device, which a `Hal` (no `self`) cannot know.
#[derive(Debug)]
pub struct BlkHal;

/// The queue's own DMA memory, as `VirtQueue::new` allocated it through `HeapHal::dma_alloc`:
/// the part the driver writes (descriptor table, available ring) and the part the device writes
/// (used ring), or one region holding both (legacy layout).
#[derive(Clone, Copy, Debug, Default)]
struct RingArea {
    start: usize,
    len: usize,
    driver_writes: bool,
    device_writes: bool,
}

/// Ring areas allocated since the last [`take_new_rings`] (the driver creates one queue at a
/// time, with interrupts masked, on the one CPU capmon runs on).
static NEW_RINGS: spin::Mutex<Option<crate::fixed::FixedVec<RingArea, 4>>> = spin::Mutex::new(None);

fn take_new_rings() -> crate::fixed::FixedVec<RingArea, 4> {
    NEW_RINGS.lock().take().unwrap_or_default()
}

/// The bytes of a queue area that DMA touches: the split-queue parts for `QUEUE_SIZE` (virtio
/// 1.2, 2.7) when the area holds one kind, else the whole allocation.
fn ring_area(start: usize, pages: usize, direction: BufferDirection) -> RingArea {
    let descriptors_and_avail = 16 * QUEUE_SIZE + 6 + 2 * QUEUE_SIZE;
    let used = 6 + 8 * QUEUE_SIZE;
    let (len, driver_writes, device_writes) = match direction {
        BufferDirection::DriverToDevice => (descriptors_and_avail, true, false),
        BufferDirection::DeviceToDriver => (used, false, true),
        BufferDirection::Both => (pages * PAGE_SIZE, true, true),
    };
    RingArea {
        start,
        len: len.min(pages * PAGE_SIZE),
        driver_writes,
        device_writes,
    }
}

/// Cache maintenance for a queue's rings at the two hand-over points of a request (none for a
/// coherent device: only the fences in [`Blk::submit`]).
#[derive(Debug)]
struct Rings(crate::fixed::FixedVec<RingArea, 4>);

impl Rings {
    fn bytes(area: &RingArea) -> *const [u8] {
        core::ptr::slice_from_raw_parts(area.start as *const u8, area.len)
    }
    /// After queueing a request, before notifying: the device must see the new descriptors.
    fn for_device(&self) {
        for area in self.0.iter().filter(|a| a.driver_writes) {
            crate::arch::dma_clean(Self::bytes(area));
        }
    }
    /// Before reading the used ring: the driver must see what the device wrote. (A legacy area
    /// also holds the driver's part, cleaned before the notify, so invalidating it loses nothing.)
    fn for_driver(&self) {
        for area in self.0.iter().filter(|a| a.device_writes) {
            crate::arch::dma_invalidate(Self::bytes(area));
        }
    }
}

fn dma_layout(pages: usize) -> Option<Layout> {
    let size = pages.checked_mul(PAGE_SIZE).filter(|&s| s > 0)?;
    Layout::from_size_align(size, PAGE_SIZE).ok()
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap memory that nothing else references
// until `dma_dealloc` (the allocator hands each block out once); physical and virtual addresses
// are the same (identity mapping); `share` returns the buffer's own address, which the device
// may use because the monitor's memory is identity-mapped and (see above) coherent.
unsafe impl Hal for HeapHal {
    fn dma_alloc(pages: usize, direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Some(layout) = dma_layout(pages) else {
            return (0, NonNull::dangling());
        };
        // SAFETY: `layout` has a non-zero size (`dma_layout` refuses 0 pages).
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        match NonNull::new(ptr) {
            // Physical address 0 means "failed" to virtio-drivers; the heap is never at 0.
            Some(p) => {
                // Recorded for the queue being created (`Blk::new` takes them); a full list
                // only means some other caller's pages, which need no ring maintenance.
                let _ = NEW_RINGS
                    .lock()
                    .get_or_insert_with(crate::fixed::FixedVec::new)
                    .push(ring_area(p.as_ptr() as usize, pages, direction));
                (p.as_ptr() as usize as PhysAddr, p)
            }
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        if let Some(layout) = dma_layout(pages) {
            // SAFETY: the caller passes back a block `dma_alloc` returned for `pages` pages.
            unsafe { alloc::alloc::dealloc(vaddr.as_ptr(), layout) };
        }
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Only the PCI transport calls this; identity mapping either way.
        NonNull::new(usize::try_from(paddr).unwrap_or(0) as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        match direction {
            BufferDirection::DriverToDevice => crate::arch::dma_clean(buffer.as_ptr()),
            // No dirty line may be written back over what the device is about to write.
            BufferDirection::DeviceToDriver | BufferDirection::Both => {
                crate::arch::dma_invalidate(buffer.as_ptr())
            }
        }
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        if direction != BufferDirection::DriverToDevice {
            crate::arch::dma_invalidate(buffer.as_ptr());
        }
    }
}

// SAFETY: the memory is `HeapHal`'s (see there); `share` returns the buffer's own address,
// which a device may use because the monitor's memory, and the cVM memory a direct request
// names, is identity-mapped; the block driver does the cache maintenance `share`/`unshare`
// would otherwise do (`Blk::submit`).
unsafe impl Hal for BlkHal {
    fn dma_alloc(pages: usize, direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        HeapHal::dma_alloc(pages, direction)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller's promise, passed on: a block `dma_alloc` returned.
        unsafe { HeapHal::dma_dealloc(paddr, vaddr, pages) }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // SAFETY: as the caller promised for `HeapHal`.
        unsafe { HeapHal::mmio_phys_to_virt(paddr, size) }
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// Where a request's data may live while the device works on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Always in the driver's bounce buffer, copied from or to the caller's: for the
    /// monitor's own buffers (stack, heap), which a device is never given.
    Bounce,
    /// The caller's buffer itself when it is aligned for the device ([`Blk::takes_directly`]),
    /// else the bounce buffer: for a cVM's buffer checked against its own memory (see the
    /// module documentation, "Direct requests").
    Direct,
}

/// How the driver waits for a completion.
pub trait Waiter {
    /// Monotonic nanoseconds.
    fn now_ns(&mut self) -> u64;
    /// Sleeps until an interrupt has been taken or `deadline_ns` has passed (may return
    /// early; the driver checks the used ring and the clock again). `u64::MAX`: no deadline.
    fn wait_until(&mut self, deadline_ns: u64);
    /// How long a request may take; `None`: wait for its interrupt however long it takes.
    fn timeout_ns(&self) -> Option<u64> {
        Some(REQUEST_TIMEOUT_NS)
    }
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// The device answered with an error status (`VIRTIO_BLK_S_IOERR` or `_UNSUPP`).
    Device(u8),
    /// The device broke the protocol just now; it has been reset and is disabled. The text
    /// says what it did.
    Misbehaved(String),
    /// The device was disabled by an earlier misbehaviour.
    Disabled,
    /// The caller asked for nothing, for more than [`MAX_BYTES`], or for a partial sector.
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Flush,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "read",
            Op::Write => "write",
            Op::Flush => "flush",
        })
    }
}

/// One virtio-blk device.
pub struct Blk<T: Transport> {
    transport: T,
    queue: VirtQueue<BlkHal, QUEUE_SIZE>,
    /// The queue's ring memory, for cache maintenance around each request.
    rings: Rings,
    /// `BUFFER_PAGES` pages from `HeapHal::dma_alloc`: header, status and data. Never freed: a
    /// device that was disabled mid-request might still write there.
    buffers: NonNull<u8>,
    capacity: u64,
    features: Features,
    /// The device's DMA is coherent with the CPU's caches: no cache maintenance.
    coherent: bool,
    disabled: bool,
    /// Requests submitted, for the statistics line.
    pub requests: u64,
    /// Of those, reads and writes whose data the device took from or put into the caller's
    /// buffer directly.
    pub direct_requests: u64,
}

// SAFETY: `Blk` owns its transport, queue and buffers; the pointers in it are to DMA memory
// only this driver uses. The monitor keeps every `Blk` behind a lock.
unsafe impl<T: Transport + Send> Send for Blk<T> {}

/// On the host (tests, fuzz targets) the fake device is gone with the driver, so the bounce
/// pages can go too; on a machine they never do (see `buffers`). Without this every fuzz run
/// would leak them.
#[cfg(any(test, feature = "fuzzing"))]
impl<T: Transport> Drop for Blk<T> {
    fn drop(&mut self) {
        // SAFETY: `buffers` is the `BUFFER_PAGES`-page block `dma_alloc` returned in `new`,
        // freed only here; the fake device behind the transport cannot touch it any more.
        unsafe { HeapHal::dma_dealloc(0, self.buffers, BUFFER_PAGES) };
    }
}

/// The result of reading a config-space field that a hostile device could make unreadable.
fn config<T: Transport>(t: &T, offset: usize) -> Result<u32, String> {
    t.read_config_space::<u32>(offset)
        .map_err(|e| format!("config space: {e}"))
}

impl<T: Transport> Blk<T> {
    /// Initialises the device behind `transport` (virtio 1.2, 3.1.1): reset, negotiate
    /// [`Features`], read the capacity, set up queue 0, allocate the bounce buffer, and tell the
    /// device the driver is ready. On failure the device is left reset. `coherent`: the
    /// device's DMA is coherent with the CPU's caches (`platform::DmaCoherence`), so requests
    /// skip cache maintenance.
    pub fn new(mut transport: T, coherent: bool) -> Result<Self, String> {
        if transport.device_type() != DeviceType::Block {
            return Err(format!(
                "not a block device ({:?})",
                transport.device_type()
            ));
        }
        let features = transport.begin_init(Features::all());
        if !transport.get_status().contains(DeviceStatus::FEATURES_OK) {
            transport.set_status(DeviceStatus::empty());
            return Err(format!("refused the features {features:?}"));
        }
        let capacity = match read_capacity(&transport) {
            Ok(c) => c,
            Err(e) => {
                transport.set_status(DeviceStatus::empty());
                return Err(e);
            }
        };
        take_new_rings();
        let queue = match VirtQueue::new(&mut transport, 0, false, false) {
            Ok(q) => q,
            Err(e) => {
                transport.set_status(DeviceStatus::empty());
                return Err(format!("queue 0: {e}"));
            }
        };
        let rings = Rings(take_new_rings());
        let (paddr, buffers) = BlkHal::dma_alloc(BUFFER_PAGES, BufferDirection::Both);
        // The bounce pages are maintained per request buffer, by `submit`.
        take_new_rings();
        if paddr == 0 {
            transport.set_status(DeviceStatus::empty());
            return Err(format!(
                "no heap for a {} KiB bounce buffer",
                BUFFER_PAGES * PAGE_SIZE / 1024
            ));
        }
        transport.finish_init();
        Ok(Blk {
            transport,
            queue,
            rings,
            buffers,
            capacity,
            features,
            coherent,
            disabled: false,
            requests: 0,
            direct_requests: 0,
        })
    }

    /// Whether a [`Placement::Direct`] request hands `buffer` to the device itself: its start is
    /// aligned for this device ([`DIRECT_ALIGN_COHERENT`] or [`DIRECT_ALIGN_NONCOHERENT`]; its
    /// length is whole sectors, so its end is too).
    pub fn takes_directly(&self, buffer: *const [u8]) -> bool {
        let align = if self.coherent {
            DIRECT_ALIGN_COHERENT
        } else {
            DIRECT_ALIGN_NONCOHERENT
        };
        (buffer.cast::<u8>() as usize).is_multiple_of(align)
    }

    /// Sectors on the device.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The device only reads.
    pub fn read_only(&self) -> bool {
        self.features.contains(Features::RO)
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Acknowledges the device's interrupt, if it raised one (for interrupt handlers that
    /// hold the driver).
    pub fn ack_interrupt(&mut self) -> bool {
        !self.transport.ack_interrupt().is_empty()
    }

    /// Reads `out.len()` bytes (whole sectors, at most [`MAX_BYTES`]) from `sector` into `out`:
    /// straight into `out` when `placement` allows and it qualifies, else through the bounce
    /// buffer. After an error a direct `out` may hold part of what the device wrote (of the
    /// sectors asked for, or whatever a misbehaving device chose); a bounced one is untouched.
    pub fn read(
        &mut self,
        sector: u64,
        out: &mut [u8],
        placement: Placement,
        waiter: &mut impl Waiter,
    ) -> Result<(), BlkError> {
        check_len(out.len())?;
        if self.disabled {
            return Err(BlkError::Disabled);
        }
        if placement == Placement::Direct && self.takes_directly(out) {
            // No zeroing: a device that claims the read without writing every byte leaves
            // `out` as the caller had it, its own bytes, never another request's.
            self.direct_requests += 1;
            return self.request(Op::Read, sector, NonNull::from(&mut *out), waiter);
        }
        // Zeroed first: a device that claims a complete read without writing every byte
        // hands over zeros, never what an earlier request (maybe another cVM's) left here.
        self.data_mut(out.len()).fill(0);
        let bounce = NonNull::from(self.data_mut(out.len()));
        self.request(Op::Read, sector, bounce, waiter)?;
        copy(out, self.data(out.len()));
        Ok(())
    }

    /// Writes `data` (whole sectors, at most [`MAX_BYTES`]) at `sector`: straight from `data`
    /// when `placement` allows and it qualifies, else through the bounce buffer.
    pub fn write(
        &mut self,
        sector: u64,
        data: &[u8],
        placement: Placement,
        waiter: &mut impl Waiter,
    ) -> Result<(), BlkError> {
        check_len(data.len())?;
        if self.disabled {
            return Err(BlkError::Disabled);
        }
        if placement == Placement::Direct && self.takes_directly(data) {
            // Nothing to scrub: the data never left the caller's buffer.
            self.direct_requests += 1;
            return self.request(Op::Write, sector, NonNull::from(data), waiter);
        }
        copy(self.data_mut(data.len()), data);
        let bounce = NonNull::from(self.data_mut(data.len()));
        let result = self.request(Op::Write, sector, bounce, waiter);
        // Nothing of the writer's data stays at rest in the bounce buffer. After a device
        // that misbehaved was reset it no longer reads the buffer; a request still in flight
        // when the wait gave up leaves the driver disabled, and the device was reset too.
        self.data_mut(data.len()).fill(0);
        result
    }

    /// Makes completed writes durable. A device without a volatile cache (no
    /// `VIRTIO_BLK_F_FLUSH`) writes through: nothing to do.
    pub fn flush(&mut self, waiter: &mut impl Waiter) -> Result<(), BlkError> {
        if self.disabled {
            return Err(BlkError::Disabled);
        }
        if !self.features.contains(Features::FLUSH) {
            return Ok(());
        }
        let nothing = NonNull::from(&mut [][..]);
        self.request(Op::Flush, 0, nothing, waiter)
    }

    /// The first `len` data bytes of the bounce buffer.
    fn data(&self, len: usize) -> &[u8] {
        // SAFETY: the buffer has `MAX_BYTES` data bytes after `DATA_OFFSET` and callers pass
        // `len ≤ MAX_BYTES`; no request is in flight when this is called (`request` returned),
        // so the device does not write it.
        unsafe {
            core::slice::from_raw_parts(self.buffers.as_ptr().add(DATA_OFFSET), len.min(MAX_BYTES))
        }
    }

    fn data_mut(&mut self, len: usize) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes this the only reference.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.buffers.as_ptr().add(DATA_OFFSET),
                len.min(MAX_BYTES),
            )
        }
    }

    /// Resets the device (so it stops using the queue and every buffer it was given) and
    /// refuses every later request.
    fn misbehaved(&mut self, mut what: String) -> BlkError {
        self.disabled = true;
        self.transport.set_status(DeviceStatus::empty());
        // The reset is complete once the status reads 0 (virtio 1.2, 2.4); only a device that
        // ignores its reset could still write a buffer afterwards, and such a device can write
        // anywhere (there is no IOMMU), bounce buffer or not.
        if !(0..RESET_POLLS).any(|_| self.transport.get_status().is_empty()) {
            what.push_str(" (and it did not acknowledge the reset)");
        }
        BlkError::Misbehaved(what)
    }

    /// Submits one request, waits for it, and checks the answer. `data` (empty for a flush) is
    /// the bounce buffer's data bytes or, for a direct request, the caller's buffer; the device
    /// reads it (write) or writes it (read) until the request completes or the device is reset.
    fn request(
        &mut self,
        op: Op,
        sector: u64,
        data: NonNull<[u8]>,
        waiter: &mut impl Waiter,
    ) -> Result<(), BlkError> {
        if self.disabled {
            return Err(BlkError::Disabled);
        }
        let kind = match op {
            Op::Read => VIRTIO_BLK_T_IN,
            Op::Write => VIRTIO_BLK_T_OUT,
            Op::Flush => VIRTIO_BLK_T_FLUSH,
        };
        let base = self.buffers.as_ptr();
        let bytes = data.len();
        // SAFETY: page 0 of the bounce buffer holds the header and the status byte; the two
        // slices do not overlap each other or `data` (the bounce buffer's data starts at
        // DATA_OFFSET, a caller's buffer is not the driver's). No request is in flight, so the
        // device does not touch them until `add` below hands them over, and they are not used
        // through any other path until `pop_used` takes them back (or the device is reset).
        let (header, status) = unsafe {
            (
                core::slice::from_raw_parts_mut(base, HEADER_BYTES),
                core::slice::from_raw_parts_mut(base.add(STATUS_OFFSET), 1),
            )
        };
        header[0..4].copy_from_slice(&kind.to_le_bytes());
        header[4..8].fill(0);
        header[8..16].copy_from_slice(&sector.to_le_bytes());
        status[0] = STATUS_UNWRITTEN;
        let expected_len = match op {
            Op::Read => bytes + 1,
            Op::Write | Op::Flush => 1,
        };
        let used_len = match op {
            Op::Read => {
                // SAFETY: `data` comes from a `&mut [u8]` (`read`: the caller's buffer or the
                // bounce buffer's data bytes) that nothing else uses during this call.
                let data = unsafe { &mut *data.as_ptr() };
                self.submit(op, &[header], &mut [data, status], waiter)?
            }
            Op::Write => {
                // SAFETY: `data` comes from a `&[u8]` or `&mut [u8]` (`write`) alive for this
                // call; the device only reads it.
                let data = unsafe { &*data.as_ptr() };
                self.submit(op, &[header, data], &mut [status], waiter)?
            }
            Op::Flush => self.submit(op, &[header], &mut [status], waiter)?,
        };
        if usize::try_from(used_len).ok() != Some(expected_len) {
            return Err(self.misbehaved(format!(
                "used length {used_len} for a {op} of {bytes} bytes, expected {expected_len}"
            )));
        }
        // SAFETY: the request is complete (popped): the status byte is the driver's again.
        let status = unsafe { core::ptr::read_volatile(base.add(STATUS_OFFSET)) };
        match status {
            VIRTIO_BLK_S_OK => Ok(()),
            VIRTIO_BLK_S_IOERR | VIRTIO_BLK_S_UNSUPP => Err(BlkError::Device(status)),
            STATUS_UNWRITTEN => {
                Err(self.misbehaved(format!("completed a {op} without writing its status")))
            }
            other => Err(self.misbehaved(format!("status {other:#x} for a {op}"))),
        }
    }

    /// Whether the device has returned a used element (reading the used ring afresh).
    fn poll_used(&self) -> bool {
        if !self.coherent {
            self.rings.for_driver();
        }
        self.queue.can_pop()
    }

    /// Adds the buffers to the queue, notifies the device, waits for the used element and
    /// pops it; returns the used length. For a device that is not coherent, the buffers and
    /// rings are cleaned before the device reads them and invalidated before and after it
    /// writes them; for a coherent one, fences only.
    fn submit<'a>(
        &mut self,
        op: Op,
        inputs: &'a [&'a [u8]],
        outputs: &'a mut [&'a mut [u8]],
        waiter: &mut impl Waiter,
    ) -> Result<u32, BlkError> {
        // The device-writable buffers (at most data and status), for the maintenance after
        // `pop_used`, which holds `outputs` for good.
        let mut written = [core::ptr::slice_from_raw_parts(core::ptr::null::<u8>(), 0); 2];
        debug_assert!(outputs.len() <= written.len());
        for (slot, output) in written.iter_mut().zip(outputs.iter()) {
            *slot = core::ptr::from_ref::<[u8]>(output);
        }
        if !self.coherent {
            for input in inputs {
                crate::arch::dma_clean(*input);
            }
            // No dirty line may be written back over what the device is about to write.
            for output in written.iter().filter(|w| !w.is_empty()) {
                crate::arch::dma_invalidate(*output);
            }
        }
        // SAFETY: the buffers are the bounce pages only this driver uses and, for a direct
        // request, the caller's buffer, borrowed for this whole call; all stay valid and
        // untouched until `pop_used` returns them below, or, if the device is disabled first,
        // until its reset (the bounce pages are never freed).
        let token = match unsafe { self.queue.add(inputs, &mut *outputs) } {
            Ok(t) => t,
            Err(e) => return Err(self.misbehaved(format!("cannot queue a {op}: {e}"))),
        };
        if self.coherent {
            crate::arch::dma_fence();
        } else {
            self.rings.for_device();
            self.rings.for_driver();
        }
        if self.queue.should_notify() {
            self.transport.notify(0);
        }
        self.requests += 1;
        let timeout = waiter.timeout_ns();
        let deadline = timeout.map_or(u64::MAX, |t| waiter.now_ns().saturating_add(t));
        while !self.poll_used() {
            // Without a deadline the clock is not read (a 128-bit division per poll).
            if deadline != u64::MAX && waiter.now_ns() >= deadline {
                if (0..GRACE_POLLS).any(|_| self.poll_used()) {
                    break;
                }
                return Err(self.misbehaved(format!(
                    "no answer to a {op} in {} ms (queue stuck)",
                    timeout.unwrap_or(0) / 1_000_000
                )));
            }
            waiter.wait_until(deadline);
        }
        // What the device wrote before its used element is read only after the element.
        crate::arch::dma_fence();
        let used = self.queue.peek_used();
        // SAFETY: the same buffers `add` was given for `token`.
        match unsafe { self.queue.pop_used(token, inputs, outputs) } {
            Ok(len) => {
                if !self.coherent {
                    // No stale line may hide what the device wrote.
                    for output in written.iter().filter(|w| !w.is_empty()) {
                        crate::arch::dma_invalidate(*output);
                    }
                }
                Ok(len)
            }
            Err(e) => Err(self.misbehaved(format!(
                "used ring names descriptor {}, not the {op}'s {token} ({e})",
                used.map_or(-1, i32::from)
            ))),
        }
    }
}

/// Copies `src` into `dst` (equal lengths) between a cVM's buffer and the bounce buffer: most of
/// a request's instructions. The bounce buffer is page-aligned; when the cVM's buffer is 8-byte
/// aligned too, 64-byte blocks move as eight word loads and stores each. The accesses are
/// volatile so the compiler can't turn the loop back into a call to the byte-oriented library
/// copy, which is used for the rest (it keeps every access aligned, as the MMU-off aarch64
/// monitor needs: there memory is Device memory and unaligned accesses fault).
fn copy(dst: &mut [u8], src: &[u8]) {
    const WORDS: usize = 8;
    const BLOCK: usize = 8 * WORDS;
    let n = dst.len().min(src.len());
    let aligned = (dst.as_ptr() as usize | src.as_ptr() as usize).is_multiple_of(8);
    let blocks = if aligned { n / BLOCK } else { 0 };
    let d = dst.as_mut_ptr().cast::<u64>();
    let s = src.as_ptr().cast::<u64>();
    for b in 0..blocks {
        // SAFETY: words `8b..8b + 8` lie inside both slices (b < blocks ≤ n / 64) and both
        // start 8-byte aligned; `dst` is exclusively borrowed, so nothing else sees the writes.
        // Unrolled by hand: the monitor is built for size, which keeps loops rolled.
        unsafe {
            let (s, d) = (s.add(b * WORDS), d.add(b * WORDS));
            let words = [
                s.read_volatile(),
                s.add(1).read_volatile(),
                s.add(2).read_volatile(),
                s.add(3).read_volatile(),
                s.add(4).read_volatile(),
                s.add(5).read_volatile(),
                s.add(6).read_volatile(),
                s.add(7).read_volatile(),
            ];
            d.write_volatile(words[0]);
            d.add(1).write_volatile(words[1]);
            d.add(2).write_volatile(words[2]);
            d.add(3).write_volatile(words[3]);
            d.add(4).write_volatile(words[4]);
            d.add(5).write_volatile(words[5]);
            d.add(6).write_volatile(words[6]);
            d.add(7).write_volatile(words[7]);
        }
    }
    let done = blocks * BLOCK;
    dst[done..n].copy_from_slice(&src[done..n]);
}

/// Whole sectors, at least one, at most the bounce buffer.
fn check_len(len: usize) -> Result<(), BlkError> {
    if len == 0 || len > MAX_BYTES || !len.is_multiple_of(SECTOR) {
        Err(BlkError::Invalid)
    } else {
        Ok(())
    }
}

/// The 64-bit capacity from two config words, re-read while the device's config generation
/// changes, a bounded number of times (a device that keeps changing it is refused rather than
/// waited for).
fn read_capacity<T: Transport>(t: &T) -> Result<u64, String> {
    for _ in 0..4 {
        let before = t.read_config_generation();
        let capacity = u64::from(config(t, 0)?) | u64::from(config(t, 4)?) << 32;
        if t.read_config_generation() == before {
            return Ok(capacity);
        }
    }
    Err("config generation keeps changing".into())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;
    use virtio_drivers::transport::InterruptStatus;
    use zerocopy::{FromBytes, Immutable, IntoBytes};

    /// How the fake device behaves.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Mode {
        Good,
        /// Never answers.
        Stuck,
        /// Names a descriptor other than the request's head in the used ring.
        WrongId,
        /// Reports a used length one short.
        ShortLen,
        /// Completes without writing the status byte.
        NoStatus,
        /// Answers VIRTIO_BLK_S_IOERR.
        IoError,
        /// Moves the used index far ahead (as if it completed requests never made).
        WildIndex,
        /// Claims every read complete (full length, status OK) without writing its data.
        Lazy,
    }

    /// A modern virtio-mmio transport with a RAM disk behind it, run by `Fake::process` (the
    /// "device") whenever the driver waits.
    struct FakeTransport {
        status: DeviceStatus,
        offered: u64,
        accepted: u64,
        refuse_features: bool,
        queue: Option<(u64, u64, u64)>,
        disk: Vec<u8>,
        mode: Mode,
        seen_avail: u16,
        used_idx: u16,
        notified: u32,
        pending_irq: bool,
        /// Every chain the device took: (address, length, device-writable) per buffer.
        chains: Vec<Vec<(u64, usize, bool)>>,
    }

    fn fake(sectors: usize, mode: Mode) -> FakeTransport {
        FakeTransport {
            status: DeviceStatus::empty(),
            offered: (Features::VERSION_1 | Features::FLUSH).bits() | 1 << 28,
            accepted: 0,
            refuse_features: false,
            queue: None,
            disk: (0..sectors * SECTOR)
                .map(|i| (i / SECTOR).to_le_bytes()[0])
                .collect(),
            mode,
            seen_avail: 0,
            used_idx: 0,
            notified: 0,
            pending_irq: false,
            chains: Vec::new(),
        }
    }

    /// Raw accesses to the queue memory the driver gave the fake device (host pointers:
    /// `HeapHal` is identity-mapped on the host too).
    fn read<T: FromBytes>(addr: u64) -> T {
        // SAFETY: `addr` is inside a queue or buffer the driver shared with the device and is
        // still alive (the driver is waiting for this very request).
        unsafe { core::ptr::read_unaligned(addr as *const T) }
    }
    fn write<T: IntoBytes + Immutable>(addr: u64, value: T) {
        // SAFETY: as in `read`, for device-writable memory.
        unsafe { core::ptr::write_unaligned(addr as *mut T, value) }
    }

    impl FakeTransport {
        /// Plays the device: takes every new available chain, does it, fills the used ring.
        fn process(&mut self) {
            let Some((desc, avail, used)) = self.queue else {
                return;
            };
            if self.mode == Mode::Stuck || self.status.is_empty() {
                return;
            }
            let avail_idx: u16 = read(avail + 2);
            while self.seen_avail != avail_idx {
                let slot = u64::from(self.seen_avail) % QUEUE_SIZE as u64;
                let head: u16 = read(avail + 4 + 2 * slot);
                self.seen_avail = self.seen_avail.wrapping_add(1);
                // Walk the chain: (addr, len, device-writable).
                let mut chain = Vec::new();
                let mut index = head;
                loop {
                    let d = desc + 16 * u64::from(index);
                    let (addr, len, flags, next): (u64, u32, u16, u16) =
                        (read(d), read(d + 8), read(d + 12), read(d + 14));
                    chain.push((addr, len as usize, flags & 2 != 0));
                    if flags & 1 == 0 {
                        break;
                    }
                    index = next;
                }
                self.chains.push(chain.clone());
                let header = chain[0].0;
                let (kind, sector): (u32, u64) = (read(header), read(header + 8));
                let status = chain[chain.len() - 1].0;
                let mut written = 1u32;
                match kind {
                    VIRTIO_BLK_T_IN if self.mode == Mode::Lazy => {
                        written += u32::try_from(chain[1].1).expect("a short chain");
                    }
                    VIRTIO_BLK_T_IN => {
                        let (addr, len, _) = chain[1];
                        let at = usize::try_from(sector).expect("a small fake disk") * SECTOR;
                        for i in 0..len {
                            write(addr + i as u64, self.disk[at + i]);
                        }
                        written += u32::try_from(len).expect("a short chain");
                    }
                    VIRTIO_BLK_T_OUT => {
                        let (addr, len, _) = chain[1];
                        let at = usize::try_from(sector).expect("a small fake disk") * SECTOR;
                        for i in 0..len {
                            self.disk[at + i] = read(addr + i as u64);
                        }
                    }
                    _ => {}
                }
                match self.mode {
                    Mode::NoStatus => {}
                    Mode::IoError => write(status, VIRTIO_BLK_S_IOERR),
                    _ => write(status, VIRTIO_BLK_S_OK),
                }
                let id = if self.mode == Mode::WrongId {
                    u32::from(head) + 5
                } else {
                    u32::from(head)
                };
                if self.mode == Mode::ShortLen {
                    written -= 1;
                }
                let slot = u64::from(self.used_idx) % QUEUE_SIZE as u64;
                write(used + 4 + 8 * slot, id);
                write(used + 8 + 8 * slot, written);
                self.used_idx =
                    self.used_idx
                        .wrapping_add(if self.mode == Mode::WildIndex { 7 } else { 1 });
                write(used + 2, self.used_idx);
                self.pending_irq = true;
            }
        }
    }

    impl Transport for FakeTransport {
        fn device_type(&self) -> DeviceType {
            DeviceType::Block
        }
        fn read_device_features(&mut self) -> u64 {
            self.offered
        }
        fn write_driver_features(&mut self, driver_features: u64) {
            self.accepted = driver_features;
        }
        fn max_queue_size(&mut self, _queue: u16) -> u32 {
            256
        }
        fn notify(&mut self, _queue: u16) {
            self.notified += 1;
        }
        fn get_status(&self) -> DeviceStatus {
            self.status
        }
        fn set_status(&mut self, status: DeviceStatus) {
            self.status = if self.refuse_features {
                status - DeviceStatus::FEATURES_OK
            } else {
                status
            };
        }
        fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
        fn requires_legacy_layout(&self) -> bool {
            false
        }
        fn queue_set(
            &mut self,
            _queue: u16,
            size: u32,
            descriptors: PhysAddr,
            driver_area: PhysAddr,
            device_area: PhysAddr,
        ) {
            assert_eq!(size as usize, QUEUE_SIZE);
            self.queue = Some((descriptors, driver_area, device_area));
        }
        fn queue_unset(&mut self, _queue: u16) {
            self.queue = None;
        }
        fn queue_used(&mut self, _queue: u16) -> bool {
            self.queue.is_some()
        }
        fn ack_interrupt(&mut self) -> InterruptStatus {
            if core::mem::take(&mut self.pending_irq) {
                InterruptStatus::QUEUE_INTERRUPT
            } else {
                InterruptStatus::empty()
            }
        }
        fn read_config_generation(&self) -> u32 {
            0
        }
        fn read_config_space<T: FromBytes + IntoBytes>(
            &self,
            offset: usize,
        ) -> virtio_drivers::Result<T> {
            let capacity = (self.disk.len() / SECTOR) as u64;
            let bytes = capacity.to_le_bytes();
            T::read_from_bytes(&bytes[offset..offset + size_of::<T>()])
                .map_err(|_| virtio_drivers::Error::ConfigSpaceTooSmall)
        }
        fn write_config_space<T: IntoBytes + Immutable>(
            &mut self,
            _offset: usize,
            _value: T,
        ) -> virtio_drivers::Result<()> {
            Ok(())
        }
    }

    /// A clock that jumps 1 ms per wait, with the device working during the wait (its
    /// "interrupt" ends it).
    struct FakeWaiter {
        now: u64,
        waits: u32,
        device: *mut FakeTransport,
    }

    impl Waiter for FakeWaiter {
        fn now_ns(&mut self) -> u64 {
            self.now
        }
        fn wait_until(&mut self, deadline_ns: u64) {
            self.waits += 1;
            // SAFETY: the test keeps the transport alive inside the driver for the whole call,
            // and the driver is not touching it while it waits.
            let device = unsafe { &mut *self.device };
            device.process();
            self.now = if device.pending_irq {
                self.now + 1_000_000
            } else {
                deadline_ns
            };
        }
    }

    fn driver(sectors: usize, mode: Mode) -> (Blk<FakeTransport>, FakeWaiter) {
        driver_for(sectors, mode, false)
    }

    fn driver_for(sectors: usize, mode: Mode, coherent: bool) -> (Blk<FakeTransport>, FakeWaiter) {
        let blk = Blk::new(fake(sectors, mode), coherent).expect("init");
        let waiter = FakeWaiter {
            now: 0,
            waits: 0,
            device: core::ptr::null_mut(),
        };
        (blk, waiter)
    }

    fn bind(blk: &mut Blk<FakeTransport>, w: &mut FakeWaiter) {
        w.device = &raw mut blk.transport;
    }

    #[test]
    fn init_negotiates_and_reads_capacity() {
        let (blk, _) = driver(64, Mode::Good);
        assert_eq!(blk.capacity(), 64);
        assert!(!blk.read_only());
        assert_eq!(
            blk.transport.accepted,
            (Features::VERSION_1 | Features::FLUSH).bits(),
            "only known features"
        );
        assert!(blk.transport.status.contains(DeviceStatus::DRIVER_OK));
        let mut refusing = fake(8, Mode::Good);
        refusing.refuse_features = true;
        assert!(Blk::new(refusing, false)
            .err()
            .is_some_and(|e| e.starts_with("refused the features")));
    }

    #[test]
    fn reads_writes_and_flushes_go_through_the_bounce_buffer() {
        let (mut blk, mut w) = driver(300, Mode::Good);
        bind(&mut blk, &mut w);
        let mut out = std::vec![0u8; 3 * SECTOR];
        blk.read(5, &mut out, Placement::Bounce, &mut w)
            .expect("read");
        assert!(out[..SECTOR].iter().all(|&b| b == 5) && out[2 * SECTOR..].iter().all(|&b| b == 7));
        let data = std::vec![0xab; MAX_BYTES];
        blk.write(10, &data, Placement::Bounce, &mut w)
            .expect("write");
        assert!(blk.transport.disk[10 * SECTOR..10 * SECTOR + MAX_BYTES]
            .iter()
            .all(|&b| b == 0xab));
        assert_eq!(blk.transport.disk[9 * SECTOR + 511], 9);
        blk.flush(&mut w).expect("flush");
        assert_eq!(blk.requests, 3);
        assert_eq!(blk.transport.notified, 3);
        assert!(w.waits >= 3, "every request waited for its interrupt");
        // Many more requests than the queue has descriptors: each one is recycled.
        for i in 0..40 {
            blk.read(i, &mut out, Placement::Bounce, &mut w)
                .expect("read again");
        }
        assert_eq!(
            blk.read(0, &mut out[..100], Placement::Bounce, &mut w),
            Err(BlkError::Invalid)
        );
        assert_eq!(
            blk.write(
                0,
                &std::vec![0; MAX_BYTES + SECTOR],
                Placement::Bounce,
                &mut w
            ),
            Err(BlkError::Invalid)
        );
    }

    #[test]
    fn a_read_the_device_did_not_write_hands_over_zeros_not_an_earlier_request() {
        let (mut blk, mut w) = driver(300, Mode::Good);
        bind(&mut blk, &mut w);
        // One cVM writes (and reads back) a pattern through the bounce buffer...
        let secret = std::vec![0x5a; MAX_BYTES];
        blk.write(10, &secret, Placement::Bounce, &mut w)
            .expect("write");
        let mut back = std::vec![0u8; MAX_BYTES];
        blk.read(10, &mut back, Placement::Bounce, &mut w)
            .expect("read");
        assert_eq!(back, secret);
        // ...none of which stays in the buffer at rest after a write,
        blk.write(20, &secret, Placement::Bounce, &mut w)
            .expect("write");
        assert!(
            blk.data(MAX_BYTES).iter().all(|&b| b == 0),
            "write data left in the buffer"
        );
        // ...and a device that claims a read it never did hands the next reader zeros.
        blk.transport.mode = Mode::Lazy;
        let mut out = std::vec![0xffu8; MAX_BYTES];
        blk.read(0, &mut out, Placement::Bounce, &mut w)
            .expect("the lazy device says OK");
        assert!(out.iter().all(|&b| b == 0), "saw an earlier request's data");
    }

    #[test]
    fn copies_are_exact_at_any_alignment() {
        let src: Vec<u8> = (0..1200u32).map(|i| (i * 7).to_le_bytes()[0]).collect();
        for (offset, len) in [(0, 1024), (8, 1024), (1, 1024), (3, 512), (0, 100), (8, 72)] {
            let mut dst = std::vec![0u8; 1200];
            copy(&mut dst[offset..offset + len], &src[offset..offset + len]);
            assert_eq!(
                dst[offset..offset + len],
                src[offset..offset + len],
                "{offset}+{len}"
            );
            assert!(dst[..offset]
                .iter()
                .chain(&dst[offset + len..])
                .all(|&b| b == 0));
        }
    }

    #[test]
    fn an_io_error_is_reported_and_the_device_stays_usable() {
        let (mut blk, mut w) = driver(8, Mode::IoError);
        bind(&mut blk, &mut w);
        assert_eq!(
            blk.read(0, &mut [0; SECTOR], Placement::Bounce, &mut w),
            Err(BlkError::Device(VIRTIO_BLK_S_IOERR))
        );
        assert!(!blk.is_disabled());
        blk.transport.mode = Mode::Good;
        assert_eq!(
            blk.read(0, &mut [0; SECTOR], Placement::Bounce, &mut w),
            Ok(())
        );
    }

    fn misbehaves(mode: Mode, expected: &str) {
        let (mut blk, mut w) = driver(8, mode);
        bind(&mut blk, &mut w);
        let mut out = [0u8; SECTOR];
        match blk.read(1, &mut out, Placement::Bounce, &mut w) {
            Err(BlkError::Misbehaved(why)) => assert!(why.contains(expected), "{mode:?}: {why}"),
            other => panic!("{mode:?}: {other:?}"),
        }
        assert!(blk.is_disabled());
        assert!(
            blk.transport.status.is_empty(),
            "{mode:?}: the device was reset"
        );
        // Isolated: later requests fail at once, without touching the device.
        let notified = blk.transport.notified;
        assert_eq!(
            blk.read(1, &mut out, Placement::Bounce, &mut w),
            Err(BlkError::Disabled)
        );
        assert_eq!(
            blk.write(1, &out, Placement::Bounce, &mut w),
            Err(BlkError::Disabled)
        );
        assert_eq!(blk.flush(&mut w), Err(BlkError::Disabled));
        assert_eq!(blk.transport.notified, notified);
    }

    #[test]
    fn misbehaving_devices_are_disabled_not_trusted() {
        misbehaves(Mode::Stuck, "no answer to a read in 2000 ms (queue stuck)");
        misbehaves(
            Mode::WrongId,
            "used ring names descriptor 5, not the read's 0",
        );
        misbehaves(
            Mode::ShortLen,
            "used length 512 for a read of 512 bytes, expected 513",
        );
        misbehaves(
            Mode::NoStatus,
            "completed a read without writing its status",
        );
    }

    #[test]
    fn a_used_index_running_ahead_is_caught_on_the_next_request() {
        let (mut blk, mut w) = driver(8, Mode::WildIndex);
        bind(&mut blk, &mut w);
        let mut out = [0u8; SECTOR];
        // The first answer is right; the index then claims six more completions that never
        // happened, whose stale used elements do not match the next request.
        assert_eq!(blk.read(1, &mut out, Placement::Bounce, &mut w), Ok(()));
        assert!(matches!(
            blk.read(2, &mut out, Placement::Bounce, &mut w),
            Err(BlkError::Misbehaved(_))
        ));
        assert!(blk.is_disabled());
    }

    /// A request buffer that can start at any offset from a 128-byte boundary.
    #[repr(C, align(128))]
    struct Aligned([u8; MAX_BYTES + 256]);

    fn aligned() -> std::boxed::Box<Aligned> {
        std::boxed::Box::new(Aligned([0; MAX_BYTES + 256]))
    }

    /// The data buffer of the last chain the device took: (address, length).
    fn last_data(blk: &Blk<FakeTransport>) -> (u64, usize) {
        let chain = blk.transport.chains.last().expect("a request");
        (chain[1].0, chain[1].1)
    }

    fn bounce_address(blk: &Blk<FakeTransport>) -> u64 {
        (blk.buffers.as_ptr() as usize + DATA_OFFSET) as u64
    }

    #[test]
    fn a_direct_request_hands_the_device_exactly_the_callers_buffer() {
        let (mut blk, mut w) = driver_for(300, Mode::Good, true);
        bind(&mut blk, &mut w);
        // A marker in the bounce buffer shows it is never used.
        blk.data_mut(MAX_BYTES).fill(0x77);
        let mut buf = aligned();
        let data = &mut buf.0[16..16 + 4 * SECTOR];
        data.fill(0xab);
        blk.write(10, data, Placement::Direct, &mut w)
            .expect("write");
        assert_eq!(
            last_data(&blk),
            (data.as_ptr() as u64, 4 * SECTOR),
            "the device got the caller's buffer, and only it"
        );
        assert!(blk.transport.disk[10 * SECTOR..14 * SECTOR]
            .iter()
            .all(|&b| b == 0xab));
        assert_eq!(blk.transport.disk[14 * SECTOR], 14, "nothing past it");
        data.fill(0);
        blk.read(20, data, Placement::Direct, &mut w).expect("read");
        assert_eq!(last_data(&blk), (data.as_ptr() as u64, 4 * SECTOR));
        assert!(
            data[..SECTOR].iter().all(|&b| b == 20) && data[3 * SECTOR..].iter().all(|&b| b == 23)
        );
        assert!(
            buf.0[..16]
                .iter()
                .chain(&buf.0[16 + 4 * SECTOR..])
                .all(|&b| b == 0),
            "the device wrote outside the buffer"
        );
        assert!(
            blk.data(MAX_BYTES).iter().all(|&b| b == 0x77),
            "a direct request went through the bounce buffer"
        );
        assert_eq!((blk.requests, blk.direct_requests), (2, 2));
    }

    #[test]
    fn unaligned_buffers_and_the_monitors_own_go_through_the_bounce_buffer() {
        // (coherent device, offset from a 128-byte boundary, placement, direct?)
        let cases = [
            (true, 0, Placement::Direct, true),
            (true, 16, Placement::Direct, true),
            (true, 8, Placement::Direct, false),
            (true, 1, Placement::Direct, false),
            (true, 0, Placement::Bounce, false),
            (false, 128, Placement::Direct, true),
            (false, 16, Placement::Direct, false),
            (false, 64, Placement::Direct, false),
            (false, 0, Placement::Bounce, false),
        ];
        for (coherent, offset, placement, direct) in cases {
            let (mut blk, mut w) = driver_for(300, Mode::Good, coherent);
            bind(&mut blk, &mut w);
            let mut buf = aligned();
            let data = &mut buf.0[offset..offset + 2 * SECTOR];
            let alignment = if coherent { 16 } else { 128 };
            assert_eq!(blk.takes_directly(data), offset % alignment == 0);
            let expected = if direct {
                data.as_ptr() as u64
            } else {
                bounce_address(&blk)
            };
            let case = (coherent, offset, placement);
            blk.read(7, data, placement, &mut w).expect("read");
            assert_eq!(last_data(&blk).0, expected, "read {case:?}");
            assert!(
                data[..SECTOR].iter().all(|&b| b == 7) && data[SECTOR..].iter().all(|&b| b == 8),
                "{case:?}"
            );
            data.fill(0x3c);
            blk.write(30, data, placement, &mut w).expect("write");
            assert_eq!(last_data(&blk).0, expected, "write {case:?}");
            assert!(
                blk.transport.disk[30 * SECTOR..32 * SECTOR]
                    .iter()
                    .all(|&b| b == 0x3c),
                "{case:?}"
            );
            assert_eq!(blk.direct_requests, if direct { 2 } else { 0 }, "{case:?}");
            assert!(
                blk.data(MAX_BYTES).iter().all(|&b| b == 0),
                "{case:?}: bounce data left at rest"
            );
        }
    }

    #[test]
    fn a_lazy_device_leaves_a_direct_buffer_as_its_owner_had_it() {
        let (mut blk, mut w) = driver_for(300, Mode::Good, true);
        bind(&mut blk, &mut w);
        // Another caller's data passes through the bounce buffer...
        let secret = std::vec![0x5a; MAX_BYTES];
        blk.write(10, &secret, Placement::Bounce, &mut w)
            .expect("write");
        // ...and a device that claims a direct read without doing it leaves the reader's own
        // bytes: nothing of the other request, no zeros needed.
        blk.transport.mode = Mode::Lazy;
        let mut buf = aligned();
        let out = &mut buf.0[..MAX_BYTES];
        out.fill(0xee);
        blk.read(10, out, Placement::Direct, &mut w)
            .expect("the lazy device says OK");
        assert_eq!(last_data(&blk).0, out.as_ptr() as u64);
        assert!(out.iter().all(|&b| b == 0xee), "the buffer changed");
    }

    #[test]
    fn coherent_devices_get_fences_only_the_others_cache_maintenance_of_every_buffer() {
        use crate::arch::dma_log::{self, Op::*};
        for (coherent, placement) in [
            (true, Placement::Direct),
            (true, Placement::Bounce),
            (false, Placement::Direct),
            (false, Placement::Bounce),
        ] {
            let case = (coherent, placement);
            let (mut blk, mut w) = driver_for(300, Mode::Good, coherent);
            bind(&mut blk, &mut w);
            let mut buf = aligned();
            let len = 8 * SECTOR;
            let data = &mut buf.0[..len];
            let page0 = blk.buffers.as_ptr() as usize;
            let (header, status) = ((page0, HEADER_BYTES), (page0 + STATUS_OFFSET, 1));
            let payload = match placement {
                Placement::Direct => (data.as_ptr() as usize, len),
                Placement::Bounce => (page0 + DATA_OFFSET, len),
            };
            dma_log::start();
            blk.write(3, data, placement, &mut w).expect("write");
            let write = dma_log::take();
            blk.read(3, data, placement, &mut w).expect("read");
            let read = dma_log::take();
            let buffers =
                |log: &[(dma_log::Op, usize, usize)], op| -> std::vec::Vec<(usize, usize)> {
                    log.iter()
                        .filter(|e| e.0 == op)
                        .map(|e| (e.1, e.2))
                        .collect()
                };
            let count = |log: &[(dma_log::Op, usize, usize)], op, range: (usize, usize)| {
                buffers(log, op).iter().filter(|&&r| r == range).count()
            };
            if coherent {
                // Ordering only: before the notify and after the completion.
                for log in [&write, &read] {
                    assert!(
                        buffers(log, Clean).is_empty() && buffers(log, Invalidate).is_empty(),
                        "{case:?}: {log:?}"
                    );
                    assert_eq!(buffers(log, Fence).len(), 2, "{case:?}: {log:?}");
                }
                continue;
            }
            // Write: header and data cleaned before the device reads them; the status byte
            // invalidated before and after the device writes it; the data never invalidated.
            assert_eq!(count(&write, Clean, header), 1, "{case:?}: {write:?}");
            assert_eq!(count(&write, Clean, payload), 1, "{case:?}: {write:?}");
            assert_eq!(count(&write, Invalidate, status), 2, "{case:?}: {write:?}");
            assert_eq!(count(&write, Invalidate, payload), 0, "{case:?}: {write:?}");
            // Read: the data invalidated before and after the device writes it, never cleaned
            // after (the copy out of a bounce buffer comes after the second invalidate).
            assert_eq!(count(&read, Clean, header), 1, "{case:?}: {read:?}");
            assert_eq!(count(&read, Invalidate, payload), 2, "{case:?}: {read:?}");
            assert_eq!(count(&read, Invalidate, status), 2, "{case:?}: {read:?}");
            assert_eq!(count(&read, Clean, payload), 0, "{case:?}: {read:?}");
            // The rings: the driver's part cleaned before each notify, the used ring
            // invalidated before each poll.
            for log in [&write, &read] {
                let rings = blk.rings.0.iter();
                for area in rings {
                    let range = (area.start, area.len);
                    if area.driver_writes {
                        assert!(count(log, Clean, range) >= 1, "{case:?}: ring {range:x?}");
                    }
                    if area.device_writes {
                        assert!(
                            count(log, Invalidate, range) >= 1,
                            "{case:?}: ring {range:x?}"
                        );
                    }
                }
                // Nothing outside the queue, page 0 and the payload.
                for (_, start, len) in log.iter().filter(|e| e.0 != Fence) {
                    let inside = |(s, l): (usize, usize)| *start >= s && start + len <= s + l;
                    assert!(
                        inside((page0, PAGE_SIZE))
                            || inside(payload)
                            || blk.rings.0.iter().any(|a| inside((a.start, a.len))),
                        "{case:?}: maintenance of {start:#x}+{len}"
                    );
                }
            }
        }
    }
}
