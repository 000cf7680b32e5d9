//! The machine's virtio-net devices and the cVM interfaces on them: found among the device
//! tree's virtio-mmio transports, driven by [`virtio_net`](super::virtio_net), with the monitor
//! as a small switch between each device and the cVMs granted an interface on it (the routing
//! rules are `cvm::net_grant`'s, host-tested).
//!
//! **Flow.** Receiving: a device's interrupt is acknowledged by [`virtio_irq`] and marks it
//! pending; the run loop then calls [`poll`], which takes the completed frames, copies each
//! into the queue of the interface it is for, and reports which cVMs got one (a cVM waiting in
//! `net_wait` becomes runnable). Sending: [`send`] routes the frame — to other cVMs' queues
//! directly when it is for them, to the device otherwise — and never waits.
//!
//! **Locks:** `NETS` is a leaf, never held across a wait or a print, and never taken by an
//! interrupt handler.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use capmon_abi::{Error, NetInfo, NET_MTU};
use spin::Mutex;
use virtio_drivers::transport::mmio::{MmioTransport, MmioVersion, VirtIOHeader};

use super::virtio_irq::{self, Slot};
use super::virtio_net::{NetError, Nic};
use super::virtio_probe::{self, Transport as Probe};
use crate::cvm::net_grant::{self, Mac, NetGrant};
use crate::platform::Platform;

/// virtio device id of a network device.
const VIRTIO_ID_NET: u32 = 1;
/// Most virtio-net devices capmon drives.
const MAX_NICS: usize = 8;
/// Frames queued for one interface before new ones are dropped (and counted).
const QUEUE_FRAMES: usize = 64;
/// virtio-mmio Status register: writing 0 resets the device (legacy and modern).
const STATUS: usize = 0x70;
/// virtio-net config space: `mac` at 0x100, `status` (bit 0: link up) at 0x106.
const CONFIG_NET_STATUS: usize = 0x106;

struct Interface {
    /// The run loop's index of the cVM.
    cvm: usize,
    mac: [u8; 6],
    queue: VecDeque<Vec<u8>>,
    dropped: u32,
    received: u64,
    sent: u64,
    /// Its cVM ended: nothing is queued for it any more (the entry stays for the statistics).
    ended: bool,
}

struct Device {
    base: usize,
    /// None when the device failed to initialise (its index still counts).
    nic: Option<Nic<MmioTransport<'static>>>,
    irq: Option<Slot>,
    interfaces: Vec<Interface>,
    from_wire: u64,
    to_wire: u64,
    /// Frames from the wire for no interface here, and runts/oversized ones.
    unclaimed: u64,
}

struct Nets {
    devices: Vec<Device>,
    /// Bit `i`: cVM `i` got a frame since the last [`poll`].
    woken: u64,
}

static NETS: Mutex<Nets> = Mutex::new(Nets {
    devices: Vec::new(),
    woken: 0,
});
/// Slots of net devices in `virtio_irq`'s pending mask.
static IRQ_MASK: AtomicU32 = AtomicU32::new(0);
/// A local delivery woke a cVM, or a device has more completions than one poll takes:
/// [`poll`] has work without an interrupt.
static LOCAL_WAKE: AtomicBool = AtomicBool::new(false);
/// Some device is polled (no interrupt): [`pending`] is always true.
static POLLED: AtomicBool = AtomicBool::new(false);

/// Finds and initialises every virtio-net device and prints one line per device. Returns how
/// many are usable.
pub fn init(platform: &Platform) -> usize {
    let mut nets = NETS.lock();
    if !nets.devices.is_empty() {
        return nets.devices.iter().filter(|d| d.nic.is_some()).count();
    }
    let mut lines: Vec<String> = Vec::new();
    for t in platform.virtio.iter() {
        let Ok(base) = usize::try_from(t.base.start.0) else {
            continue;
        };
        // SAFETY: the address is a virtio-mmio transport named by the device tree.
        if unsafe { virtio_probe::probe(base) } != (Probe::Device { id: VIRTIO_ID_NET }) {
            continue;
        }
        let index = nets.devices.len();
        if index == MAX_NICS {
            lines.push(format!(
                "virtio: net{index} at {base:#x}: more than {MAX_NICS} network devices; ignored"
            ));
            break;
        }
        let size = usize::try_from(t.base.size()).unwrap_or(0);
        let (nic, mut line) = match NonNull::new(base as *mut VirtIOHeader) {
            None => (
                None,
                format!("virtio: net{index} at {base:#x}: address 0; disabled"),
            ),
            // SAFETY: the device tree names `[base, base + size)` as this transport's register
            // window; capmon is the only driver of it and it stays mapped (identity) forever.
            Some(header) => match unsafe { MmioTransport::new(header, size) } {
                Err(e) => (
                    None,
                    format!("virtio: net{index} at {base:#x}: {e}; disabled"),
                ),
                Ok(transport) => {
                    let version = match transport.version() {
                        MmioVersion::Legacy => "virtio-mmio v1 (legacy)",
                        MmioVersion::Modern => "virtio-mmio v2",
                    };
                    match Nic::new(transport) {
                        Err(e) => (
                            None,
                            format!("virtio: net{index} at {base:#x}: {e}; disabled"),
                        ),
                        Ok(nic) => {
                            let line = format!(
                                "virtio: net{index} at {base:#x}: mac {}, link {}, {version}",
                                Mac(nic.mac()),
                                if link_up(base) { "up" } else { "down" }
                            );
                            (Some(nic), line)
                        }
                    }
                }
            },
        };
        let irq = if nic.is_some() {
            virtio_irq::enable(t.irq, base, &mut line)
        } else {
            None
        };
        match irq {
            Some(slot) => {
                IRQ_MASK.fetch_or(slot.bit(), Ordering::Relaxed);
            }
            None if nic.is_some() => POLLED.store(true, Ordering::Relaxed),
            None => {}
        }
        lines.push(line);
        nets.devices.push(Device {
            base,
            nic,
            irq,
            interfaces: Vec::new(),
            from_wire: 0,
            to_wire: 0,
            unclaimed: 0,
        });
    }
    let usable = nets.devices.iter().filter(|d| d.nic.is_some()).count();
    drop(nets);
    for line in lines {
        println!("{line}");
    }
    usable
}

/// The link bit of the device's config space (virtio-net `status`); up when the device cannot
/// say.
fn link_up(base: usize) -> bool {
    // SAFETY: `base` is a virtio-net transport's register window (probed); the config space
    // starts at 0x100 in both transport versions and `status` is a 16-bit field at offset 6.
    let status = unsafe { core::ptr::read_volatile((base + CONFIG_NET_STATUS) as *const u16) };
    status & 1 == 1
}

/// The MAC address of usable device `index`; `None` if there is no such device.
pub fn device_mac(index: u32) -> Option<[u8; 6]> {
    let nets = NETS.lock();
    let nic = nets
        .devices
        .get(usize::try_from(index).ok()?)?
        .nic
        .as_ref()?;
    (!nic.is_disabled()).then(|| nic.mac())
}

/// Gives cVM `cvm` (the run loop's index) the interface `grant` describes.
pub fn attach(cvm: usize, grant: &NetGrant) {
    let mut nets = NETS.lock();
    if let Some(device) = usize::try_from(grant.device)
        .ok()
        .and_then(|d| nets.devices.get_mut(d))
    {
        device.interfaces.push(Interface {
            cvm,
            mac: grant.mac,
            queue: VecDeque::new(),
            dropped: 0,
            received: 0,
            sent: 0,
            ended: false,
        });
    }
}

/// Whether [`poll`] has work: a net device's interrupt, a local delivery, or a polled device.
pub fn pending() -> bool {
    virtio_irq::pending_mask() & IRQ_MASK.load(Ordering::Relaxed) != 0
        || LOCAL_WAKE.load(Ordering::Relaxed)
        || needs_polling()
}

/// Whether some device has no interrupt, so an idle machine must wake to poll it.
pub fn needs_polling() -> bool {
    POLLED.load(Ordering::Relaxed)
        || virtio_irq::stormed_mask() & IRQ_MASK.load(Ordering::Relaxed) != 0
}

/// Copies `frame` into the queues of the interfaces `to` names; returns the cVMs woken.
fn deliver(interfaces: &mut [Interface], to: &[usize], frame: &[u8]) -> u64 {
    let mut woken = 0;
    for &i in to {
        let Some(iface) = interfaces.get_mut(i).filter(|iface| !iface.ended) else {
            continue;
        };
        if iface.queue.len() >= QUEUE_FRAMES {
            iface.dropped = iface.dropped.saturating_add(1);
            continue;
        }
        iface.queue.push_back(frame.to_vec());
        iface.received += 1;
        if iface.cvm < 64 {
            woken |= 1 << iface.cvm;
        }
    }
    woken
}

/// Reports a device that misbehaved and resets it, so it stops using its queues (whose memory
/// is never freed).
fn disable(index: usize, device: &Device, what: &str) -> String {
    // SAFETY: `device.base` is the register window of this virtio-mmio transport; writing 0 to
    // Status resets the device, after which it does not touch the queues.
    unsafe { core::ptr::write_volatile((device.base + STATUS) as *mut u32, 0) };
    format!("virtio: net{index} at {:#x}: {what}; disabled", device.base)
}

/// Takes every frame the devices completed, delivers each to the interfaces it is for, and
/// returns the cVMs (bit `i`: run loop index `i`) that got a frame since the last call.
pub fn poll() -> u64 {
    LOCAL_WAKE.store(false, Ordering::Relaxed);
    let mut reports = Vec::new();
    let mut nets = NETS.lock();
    let mut woken = core::mem::take(&mut nets.woken);
    for (index, device) in nets.devices.iter_mut().enumerate() {
        if let Some(slot) = device.irq {
            slot.take_pending();
        }
        let Some(nic) = device.nic.as_mut() else {
            continue;
        };
        if nic.is_disabled() {
            continue;
        }
        let macs: Vec<[u8; 6]> = device.interfaces.iter().map(|i| i.mac).collect();
        let interfaces = &mut device.interfaces;
        let mut unclaimed = 0;
        let result = nic.receive(|frame| {
            let Some(dest) = net_grant::destination(frame) else {
                return;
            };
            if net_grant::from_local_source(frame, &macs) {
                unclaimed += 1;
                return;
            }
            let route = net_grant::route(&dest, None, &macs);
            if route.local.is_empty() {
                unclaimed += 1;
            }
            woken |= deliver(interfaces, &route.local, frame);
        });
        device.unclaimed += unclaimed;
        match result {
            Ok(r) => {
                device.from_wire += r.frames;
                device.unclaimed += r.malformed;
                if r.more {
                    LOCAL_WAKE.store(true, Ordering::Relaxed);
                }
            }
            Err(NetError::Misbehaved(what)) => reports.push(disable(index, device, &what)),
            Err(_) => {}
        }
    }
    drop(nets);
    for line in reports {
        println!("{line}");
    }
    woken
}

/// Runs `f` on cVM `cvm`'s interface on the grant's device.
fn with_interface<R>(
    grant: &NetGrant,
    cvm: usize,
    f: impl FnOnce(&mut Interface) -> R,
) -> Result<R, Error> {
    let mut nets = NETS.lock();
    let device = usize::try_from(grant.device)
        .ok()
        .and_then(|d| nets.devices.get_mut(d))
        .ok_or(Error::Io)?;
    let iface = device
        .interfaces
        .iter_mut()
        .find(|i| i.cvm == cvm)
        .ok_or(Error::Denied)?;
    Ok(f(iface))
}

/// Sends a frame from cVM `cvm` (already checked by `net_grant::check_send`): to the other
/// interfaces it is for, and to the wire unless it stays local.
pub fn send(grant: &NetGrant, cvm: usize, frame: &[u8]) -> Result<(), Error> {
    let dest = net_grant::destination(frame).ok_or(Error::Invalid)?;
    let mut nets = NETS.lock();
    let index = usize::try_from(grant.device).map_err(|_| Error::Io)?;
    let device = nets.devices.get_mut(index).ok_or(Error::Io)?;
    let macs: Vec<[u8; 6]> = device.interfaces.iter().map(|i| i.mac).collect();
    let from = device
        .interfaces
        .iter()
        .position(|i| i.cvm == cvm)
        .ok_or(Error::Denied)?;
    let route = net_grant::route(&dest, Some(from), &macs);
    let mut result = Ok(());
    let mut report = None;
    if route.wire {
        result = match device.nic.as_mut().map(|nic| nic.transmit(frame)) {
            None | Some(Err(NetError::Disabled)) => Err(Error::Io),
            Some(Ok(())) => {
                device.to_wire += 1;
                Ok(())
            }
            Some(Err(NetError::Full)) => Err(Error::Again),
            Some(Err(NetError::Invalid)) => Err(Error::Invalid),
            Some(Err(NetError::Misbehaved(what))) => {
                report = Some(disable(index, device, &what));
                Err(Error::Io)
            }
        };
    }
    // A frame the wire refused is not delivered locally either: the sender sees one outcome.
    if result.is_ok() {
        device.interfaces[from].sent += 1;
        let woken = deliver(&mut device.interfaces, &route.local, frame);
        if woken != 0 {
            nets.woken |= woken;
            LOCAL_WAKE.store(true, Ordering::Relaxed);
        }
    }
    drop(nets);
    if LOCAL_WAKE.load(Ordering::Relaxed) {
        // A frame for a cVM on this machine: an idle core may deliver it at once.
        crate::smp::wake_idle();
    }
    if let Some(line) = report {
        println!("{line}");
    }
    result
}

/// Moves the oldest frame waiting for cVM `cvm` into `out`; returns its length.
/// [`Error::Again`] when none waits, [`Error::Invalid`] (the frame stays) when `out` is short.
pub fn recv(grant: &NetGrant, cvm: usize, out: &mut [u8]) -> Result<usize, Error> {
    with_interface(grant, cvm, |iface| {
        let frame = iface.queue.front().ok_or(Error::Again)?;
        let len = frame.len();
        let into = out.get_mut(..len).ok_or(Error::Invalid)?;
        into.copy_from_slice(frame);
        iface.queue.pop_front();
        Ok(len)
    })?
}

/// Frames waiting for cVM `cvm`.
pub fn waiting(grant: &NetGrant, cvm: usize) -> u64 {
    with_interface(grant, cvm, |iface| {
        u64::try_from(iface.queue.len()).unwrap_or(u64::MAX)
    })
    .unwrap_or(0)
}

/// The `net_info` record of cVM `cvm`'s interface.
pub fn info(grant: &NetGrant, cvm: usize) -> NetInfo {
    let base = NETS
        .lock()
        .devices
        .get(usize::try_from(grant.device).unwrap_or(usize::MAX))
        .map(|d| d.base);
    let link = base.is_some_and(link_up);
    let dropped = with_interface(grant, cvm, |iface| iface.dropped).unwrap_or(0);
    NetInfo {
        mac: grant.mac,
        link_up: u8::from(link),
        device: u8::try_from(grant.device).unwrap_or(u8::MAX),
        mtu: NET_MTU,
        rx_dropped: dropped,
    }
}

/// Empties cVM `cvm`'s queue (it ended or restarts: nothing queued for the old run is seen by
/// the new one).
pub fn clear(grant: &NetGrant, cvm: usize) {
    let _ = with_interface(grant, cvm, |iface| {
        iface.queue.clear();
        iface.dropped = 0;
    });
}

/// Retires cVM `cvm`'s interface (it ended): its queue is emptied and nothing more is queued
/// for its MAC.
pub fn detach(grant: &NetGrant, cvm: usize) {
    let _ = with_interface(grant, cvm, |iface| {
        iface.queue.clear();
        iface.ended = true;
    });
}

/// One line per device and interface: frames moved and dropped.
pub fn print_stats() {
    let nets = NETS.lock();
    let mut lines = Vec::new();
    for (i, d) in nets.devices.iter().enumerate() {
        let Some(nic) = d.nic.as_ref() else { continue };
        lines.push(format!(
            "virtio: net{i}: {} frames in, {} out, {} for no one here, {} interrupts{}",
            d.from_wire,
            d.to_wire,
            d.unclaimed,
            d.irq.map_or(0, Slot::count),
            if nic.is_disabled() { " (disabled)" } else { "" }
        ));
        for iface in &d.interfaces {
            lines.push(format!(
                "virtio: net{i}: {}: {} frames received, {} sent, {} dropped (queue full)",
                Mac(iface.mac),
                iface.received,
                iface.sent,
                iface.dropped
            ));
        }
    }
    drop(nets);
    for line in lines {
        println!("{line}");
    }
}
