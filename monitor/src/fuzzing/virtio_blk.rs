//! Target `virtio_blk`: the virtio-blk driver ([`Blk`]) against a hostile device
//! (`virtio.rs`): initialisation with arbitrary features, status, queue size and configuration,
//! then reads, writes and flushes that the device answers however the fuzzer says — right,
//! late, never, with wrong ids, lengths, status bytes or used indices, or by scribbling on the
//! driver's rings. The driver must return (bounded waits), report misbehaviour by disabling the
//! device, and then leave it alone. The device is coherent or not (the input's first bit), and
//! each read or write goes through the bounce buffer or asks for the caller's buffer at an
//! offset that is or is not aligned for the device, so the direct path meets the same device.

use alloc::vec;

use virtio_drivers::transport::DeviceType;

use super::virtio::{fill, gather, Answers, Fake};
use crate::drivers::virtio_blk::{
    Blk, BlkError, Features, Placement, Waiter, DIRECT_ALIGN_NONCOHERENT, MAX_BYTES, SECTOR,
};

/// What the honest device stores: a small disk, addressed modulo its size.
const DISK: usize = 16 * SECTOR;
/// Most driver calls per input.
const MAX_OPS: usize = 32;

/// Where a request's buffer starts past a `DIRECT_ALIGN_NONCOHERENT` boundary: aligned for
/// either kind of device, for a coherent one only, for neither.
const OFFSETS: [usize; 4] = [0, DIRECT_ALIGN_NONCOHERENT, 16, 8];

pub fn run(data: &[u8]) {
    // Read without consuming it, so the answers (and the corpus) keep their meaning.
    let coherent = data.first().is_some_and(|b| b & 1 == 1);
    let answers = Answers::new(data);
    let capacity: u64 = 64;
    let features = (Features::VERSION_1 | Features::FLUSH).bits();
    let device = Fake::new(
        DeviceType::Block,
        features,
        &capacity.to_le_bytes(),
        answers,
    );
    let Ok(mut blk) = Blk::new(device.clone(), coherent) else {
        return;
    };
    let mut clock = Clock {
        now: 0,
        device: device.clone(),
        disk: vec![0x5a; DISK],
    };
    let mut space = vec![0u8; MAX_BYTES + SECTOR + 2 * DIRECT_ALIGN_NONCOHERENT];
    let aligned = space.as_ptr().align_offset(DIRECT_ALIGN_NONCOHERENT);
    for _ in 0..MAX_OPS {
        if device.0.borrow().answers.is_empty() {
            break;
        }
        let (op, sector, sectors, how) = {
            let mut d = device.0.borrow_mut();
            let op = d.answers.below(5);
            let sector = if d.answers.u8() == 0xff {
                d.answers.u64()
            } else {
                u64::from(d.answers.u8())
            };
            (op, sector, usize::from(d.answers.u8()), d.answers.u8())
        };
        let placement = if how & 1 == 1 {
            Placement::Direct
        } else {
            Placement::Bounce
        };
        let start = aligned + OFFSETS[usize::from(how >> 1) % OFFSETS.len()];
        let buffer = &mut space[start..];
        // Whole sectors within the bounce buffer, mostly a few (large copies only cost time);
        // sometimes not whole or too many (the driver refuses them).
        let len = match sectors {
            0xff => SECTOR + 1,
            0xfe => MAX_BYTES + SECTOR,
            n if n >= 0x80 => (n % 128 + 1) * SECTOR,
            n => (n % 4 + 1) * SECTOR,
        };
        let was_disabled = blk.is_disabled();
        let notified = device.notified();
        let direct = blk.direct_requests;
        let result = match op {
            0 => blk.read(sector, &mut buffer[..len], placement, &mut clock),
            1 => blk.write(sector, &buffer[..len], placement, &mut clock),
            2 => blk.flush(&mut clock),
            3 => {
                blk.ack_interrupt();
                Ok(())
            }
            _ => blk.read(sector, &mut buffer[..0], placement, &mut clock),
        };
        // Only an aligned buffer the caller offered, of a request the driver took, goes direct.
        let took = blk.direct_requests - direct;
        let offered = placement == Placement::Direct
            && blk.takes_directly(&buffer[..len])
            && op < 2
            && len.is_multiple_of(SECTOR)
            && len <= MAX_BYTES
            && !was_disabled;
        assert_eq!(took, u64::from(offered), "direct request count");
        if was_disabled && op != 3 {
            assert!(
                matches!(result, Err(BlkError::Disabled | BlkError::Invalid)),
                "disabled device: {result:?}"
            );
            assert_eq!(
                device.notified(),
                notified,
                "a disabled device was notified"
            );
        }
        if let Err(BlkError::Misbehaved(why)) = &result {
            assert!(!why.is_empty());
            assert!(blk.is_disabled(), "misbehaved but not disabled");
            assert!(
                device.0.borrow().status.is_empty(),
                "misbehaving device not reset"
            );
        }
    }
}

/// The driver's waiter: while it waits the device works; the clock jumps 1 ms when the device
/// answered, else to the deadline (so a silent device costs one wait, not two seconds).
struct Clock {
    now: u64,
    device: Fake,
    disk: alloc::vec::Vec<u8>,
}

impl Waiter for Clock {
    fn now_ns(&mut self) -> u64 {
        self.now
    }
    fn wait_until(&mut self, deadline_ns: u64) {
        let answered = self.work();
        self.now = if answered {
            self.now + 1_000_000
        } else {
            deadline_ns.max(self.now)
        };
    }
}

impl Clock {
    /// Plays the device on every pending request; true when it published anything.
    fn work(&mut self) -> bool {
        let mut guard = self.device.0.borrow_mut();
        let d = &mut *guard;
        let Some(q) = d.queues[0].as_mut() else {
            return false;
        };
        let mut answered = false;
        while let Some((head, chain)) = q.take() {
            let how = d.answers.below(8);
            if how == 1 {
                continue; // taken and never answered
            }
            if how == 6 {
                q.scribble(&mut d.answers);
            }
            let header = gather(&chain);
            let (kind, sector) = match header.get(..16) {
                Some(h) => (
                    u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
                    u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
                ),
                None => (u32::MAX, 0),
            };
            let at = usize::try_from(sector % u64::try_from(DISK / SECTOR).expect("small"))
                .expect("small")
                * SECTOR;
            let writable: usize = chain.iter().filter(|b| b.writable).map(|b| b.len).sum();
            let mut reply = match kind {
                0 => {
                    // The data (from the disk, wrapping at its end), then the status byte.
                    let want = writable.saturating_sub(1);
                    let mut data = alloc::vec::Vec::with_capacity(want + 1);
                    while data.len() < want {
                        let from = (at + data.len()) % DISK;
                        let n = (DISK - from).min(want - data.len());
                        data.extend_from_slice(&self.disk[from..from + n]);
                    }
                    data
                }
                1 => {
                    // The data, stored from `at` (cut at the disk's end).
                    let data = &header[16..];
                    let n = data.len().min(DISK - at);
                    self.disk[at..at + n].copy_from_slice(&data[..n]);
                    alloc::vec::Vec::new()
                }
                _ => alloc::vec::Vec::new(),
            };
            reply.push(if how == 2 { d.answers.u8() } else { 0 });
            if how == 7 {
                let n = d.answers.below(64);
                reply = d.answers.bytes(n);
            }
            let written = u32::try_from(fill(&chain, &reply)).expect("small");
            let id = if how == 4 || how == 7 {
                u32::from(d.answers.u16())
            } else {
                u32::from(head)
            };
            let len = if how == 3 || how == 7 {
                d.answers.u32()
            } else {
                written
            };
            let step = if how == 5 || how == 7 {
                d.answers.u16()
            } else {
                1
            };
            q.complete(id, len, step);
            answered = true;
        }
        answered
    }
}
