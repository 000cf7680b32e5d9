//! The machine's virtio-blk disks: found among the device tree's virtio-mmio transports, driven
//! by [`virtio_blk`](super::virtio_blk) one request at a time, each completion awaited with the
//! CPU asleep until the device's interrupt.
//!
//! **Design (for now):** a disk hostcall submits its request and the monitor sleeps in
//! `wait_for_interrupt` until the completion interrupt (or the request's time-out); the calling
//! cVM, and the others, wait that long. Letting other cVMs run meanwhile needs a "blocked on
//! device" scheduler state and completion from the interrupt handler; the driver's split into
//! submit / wait / complete is ready for it.
//!
//! **Locks:** `DISKS` is held for a whole request, across `wait_for_interrupt`. Interrupt
//! handlers never take it: [`virtio_irq`](super::virtio_irq) acknowledges the transport through
//! a lock-free table of (interrupt, register base), so a completion can be taken while a
//! request holds the lock. `DISKS` is a leaf: nothing else is locked while it is held (printing happens after it
//! is released).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use capmon_abi::Error;
use spin::Mutex;
use virtio_drivers::transport::mmio::{MmioTransport, MmioVersion, VirtIOHeader};

pub use super::virtio_blk::Placement;
use super::virtio_blk::{self, Blk, BlkError, Waiter};
use super::virtio_irq::{self, Slot};
use super::virtio_probe::{self, Transport as Probe};
use crate::arch::current as arch;
use crate::cvm::grant::DeviceInfo;
use crate::platform::Platform;

/// virtio device id of a block device.
const VIRTIO_ID_BLOCK: u32 = 2;
/// Most disks capmon drives (QEMU's virt machines have 32 or 8 transports).
const MAX_DISKS: usize = 8;
/// A device without a usable interrupt is polled this often while a request is in flight.
const POLL_NS: u64 = 1_000_000;
/// Device interrupts go to the boot core: a request made on another core polls its used ring
/// this often instead (a completion takes tens of microseconds on QEMU).
const OTHER_CORE_POLL_NS: u64 = 20_000;
/// The request time-out (`disk-timeout-ms` bootarg), in ms; 0: none.
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(virtio_blk::REQUEST_TIMEOUT_NS / 1_000_000);

/// Sets the request time-out; 0 waits for each completion however long it takes.
pub fn set_timeout_ms(ms: u64) {
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}
struct Disk {
    base: u64,
    /// None when the device failed to initialise (its index still counts, so the indices in
    /// manifests do not shift).
    blk: Option<Blk<MmioTransport<'static>>>,
    /// Its interrupt's slot, when it is enabled at the interrupt controller.
    irq: Option<Slot>,
}

static DISKS: Mutex<Vec<Disk>> = Mutex::new(Vec::new());

/// Finds and initialises every virtio-blk device, enables its interrupt, and prints one line
/// per device. Returns how many are usable.
pub fn init(platform: &Platform) -> usize {
    let mut disks = DISKS.lock();
    if !disks.is_empty() {
        return disks.iter().filter(|d| d.blk.is_some()).count();
    }
    let mut lines: Vec<String> = Vec::new();
    for t in platform.virtio.iter() {
        let base = t.base.start.0;
        let Ok(base_ptr) = usize::try_from(base) else {
            continue;
        };
        // SAFETY: the address is a virtio-mmio transport named by the device tree.
        if unsafe { virtio_probe::probe(base_ptr) }
            != (Probe::Device {
                id: VIRTIO_ID_BLOCK,
            })
        {
            continue;
        }
        let index = disks.len();
        if index == MAX_DISKS {
            lines.push(format!(
                "virtio: blk{index} at {base:#x}: more than {MAX_DISKS} disks; ignored"
            ));
            break;
        }
        let size = usize::try_from(t.base.size()).unwrap_or(0);
        let (blk, line) = match NonNull::new(base_ptr as *mut VirtIOHeader) {
            None => (
                None,
                format!("virtio: blk{index} at {base:#x}: address 0; disabled"),
            ),
            // SAFETY: the device tree names `[base, base + size)` as this transport's register
            // window; capmon is the only driver of it and it stays mapped (identity) forever.
            Some(header) => match unsafe { MmioTransport::new(header, size) } {
                Err(e) => (
                    None,
                    format!("virtio: blk{index} at {base:#x}: {e}; disabled"),
                ),
                Ok(transport) => {
                    let version = match transport.version() {
                        MmioVersion::Legacy => "virtio-mmio v1 (legacy)",
                        MmioVersion::Modern => "virtio-mmio v2",
                    };
                    let dma = t.dma(crate::arch::DMA_COHERENT_BY_DEFAULT);
                    match Blk::new(transport, dma.is_coherent()) {
                        Err(e) => (
                            None,
                            format!("virtio: blk{index} at {base:#x}: {e}; disabled"),
                        ),
                        Ok(blk) => {
                            let line = format!(
                                "virtio: blk{index} at {base:#x}: {} sectors ({} KiB){}, {version}, {dma}",
                                blk.capacity(),
                                blk.capacity() / 2,
                                if blk.read_only() { ", read-only" } else { "" },
                            );
                            (Some(blk), line)
                        }
                    }
                }
            },
        };
        let mut line = line;
        let irq = if blk.is_some() {
            virtio_irq::enable(t.irq, base_ptr, &mut line)
        } else {
            None
        };
        lines.push(line);
        disks.push(Disk { base, blk, irq });
    }
    let usable = disks.iter().filter(|d| d.blk.is_some()).count();
    drop(disks);
    for line in lines {
        println!("{line}");
    }
    usable
}

/// What a grant on disk `index` is checked against; `None` if there is no such usable disk.
pub fn info(index: u32) -> Option<DeviceInfo> {
    let disks = DISKS.lock();
    let blk = disks.get(usize::try_from(index).ok()?)?.blk.as_ref()?;
    (!blk.is_disabled()).then(|| DeviceInfo {
        capacity: blk.capacity(),
        read_only: blk.read_only(),
    })
}

/// Sleeps in `wait_for_interrupt` until the deadline (or, for a device without an interrupt,
/// the next poll).
struct IrqWaiter {
    freq: u64,
    /// Wake up this often to look at the used ring (None: the interrupt wakes the wait).
    poll_ns: Option<u64>,
}

impl IrqWaiter {
    fn ticks(&self, ns: u64) -> u64 {
        u64::try_from(u128::from(ns) * u128::from(self.freq) / 1_000_000_000).unwrap_or(u64::MAX)
    }
}

impl Waiter for IrqWaiter {
    fn now_ns(&mut self) -> u64 {
        u64::try_from(u128::from(arch::now()) * 1_000_000_000 / u128::from(self.freq))
            .unwrap_or(u64::MAX)
    }
    fn timeout_ns(&self) -> Option<u64> {
        match TIMEOUT_MS.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms.saturating_mul(1_000_000)),
        }
    }
    fn wait_until(&mut self, deadline_ns: u64) {
        let mut deadline = if deadline_ns == u64::MAX {
            u64::MAX
        } else {
            self.ticks(deadline_ns)
        };
        if let Some(ns) = self.poll_ns {
            deadline = deadline.min(arch::now().saturating_add(self.ticks(ns)));
        }
        arch::set_timer(deadline);
        arch::wait_for_interrupt();
    }
}

/// Runs `op` on disk `index`, mapping driver errors to hostcall errors and reporting a device
/// that misbehaved (after releasing the lock).
fn with_disk(
    index: u32,
    op: impl FnOnce(&mut Blk<MmioTransport<'static>>, &mut IrqWaiter) -> Result<(), BlkError>,
) -> Result<(), Error> {
    let mut disks = DISKS.lock();
    let disk = usize::try_from(index)
        .ok()
        .and_then(|i| disks.get_mut(i))
        .ok_or(Error::Io)?;
    let base = disk.base;
    let mut waiter = IrqWaiter {
        freq: arch::counter_frequency().max(1),
        poll_ns: if disk.irq.is_none_or(Slot::stormed) {
            Some(POLL_NS)
        } else if crate::smp::this_core() != 0 {
            Some(OTHER_CORE_POLL_NS)
        } else {
            None
        },
    };
    let blk = disk.blk.as_mut().ok_or(Error::Io)?;
    // The wait borrows the timer: the run loop armed it for the cVM's slice and resumes the cVM
    // without re-arming it, so it is put back. It is disarmed first, well before the request
    // waits: on RISC-V, QEMU's CLINT keeps a timer of its own a tick or two after a disarm
    // (`arch::set_timer`), and this way it has expired before the CPU idles, so `-icount
    // sleep=off` has no deadline to jump the clock to while the device works.
    let armed = arch::timer_deadline();
    arch::set_timer(u64::MAX);
    let result = op(blk, &mut waiter);
    arch::set_timer(armed);
    drop(disks);
    // The wait took any kick another core sent meanwhile (an exclusive section waiting for
    // this core, `smp`); the cVM resumes from this hostcall without another exit, so kick this
    // core again: its cVM leaves at once and the run loop parks.
    let core = crate::smp::this_core();
    if crate::smp::GATE.asked(core) {
        crate::smp::kick(1 << core);
    }
    match result {
        Ok(()) => Ok(()),
        Err(BlkError::Misbehaved(what)) => {
            println!("virtio: blk{index} at {base:#x}: {what}; disabled");
            Err(Error::Io)
        }
        Err(BlkError::Device(status)) => {
            log::warn!("virtio: blk{index}: the device answered status {status}");
            Err(Error::Io)
        }
        Err(BlkError::Disabled) => Err(Error::Io),
        Err(BlkError::Invalid) => Err(Error::Invalid),
    }
}

/// Reads whole sectors from `sector` of disk `index` into `out`. [`Placement::Direct`] (only
/// for a cVM's buffer checked against its own memory) lets the device write `out` itself when
/// it is aligned for the device; [`Placement::Bounce`] (the monitor's own buffers) always
/// copies it out of the driver's bounce buffer.
pub fn read(index: u32, sector: u64, out: &mut [u8], placement: Placement) -> Result<(), Error> {
    with_disk(index, |blk, w| blk.read(sector, out, placement, w))
}

/// Writes whole sectors of `data` at `sector` of disk `index`: from `data` itself or through
/// the bounce buffer, as for [`read`].
pub fn write(index: u32, sector: u64, data: &[u8], placement: Placement) -> Result<(), Error> {
    with_disk(index, |blk, w| blk.write(sector, data, placement, w))
}

pub fn flush(index: u32) -> Result<(), Error> {
    with_disk(index, |blk, w| blk.flush(w))
}

/// One line per disk: requests (and how many of them used the caller's buffer directly) and
/// completion interrupts taken.
pub fn print_stats() {
    let disks = DISKS.lock();
    let lines: Vec<String> = disks
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let blk = d.blk.as_ref()?;
            Some(format!(
                "virtio: blk{i}: {} requests ({} direct), {} completion interrupts{}",
                blk.requests,
                blk.direct_requests,
                d.irq.map_or(0, Slot::count),
                if blk.is_disabled() { " (disabled)" } else { "" }
            ))
        })
        .collect();
    drop(disks);
    for line in lines {
        println!("{line}");
    }
}
