//! Target `virtio_net`: the virtio-net driver ([`Nic`]) against a hostile device
//! (`virtio.rs`): initialisation with arbitrary features, status, queue size and MAC, then
//! receives and transmits interleaved with device steps that complete receive buffers and
//! transmitted frames however the fuzzer says — with any length, any id, a runaway used index,
//! or after scribbling on the driver's rings. Delivered frames must be Ethernet-sized, and a
//! device caught misbehaving is disabled and never touched again.

use alloc::vec::Vec;

use virtio_drivers::transport::DeviceType;

use super::virtio::{fill, Answers, Fake};
use crate::drivers::virtio_net::{NetError, Nic, MAX_FRAME, MIN_FRAME};

/// Feature bits the honest device offers (virtio 1.2, 5.1.3 and 6): MAC, STATUS, VERSION_1.
const FEATURES: u64 = 1 << 5 | 1 << 16 | 1 << 32;
/// Queue indices.
const RX: usize = 0;
const TX: usize = 1;
/// Most operations per input.
const MAX_OPS: usize = 48;

pub fn run(data: &[u8]) {
    let mut config = Vec::from([0x52, 0x54, 0x00, 0xc0, 0xff, 0xee]);
    config.extend_from_slice(&1u16.to_le_bytes());
    let device = Fake::new(DeviceType::Network, FEATURES, &config, Answers::new(data));
    let Ok(mut nic) = Nic::new(device.clone()) else {
        return;
    };
    for _ in 0..MAX_OPS {
        if device.0.borrow().answers.is_empty() {
            break;
        }
        let op = device.0.borrow_mut().answers.below(4);
        let was_disabled = nic.is_disabled();
        let notified = device.notified();
        let result = match op {
            0 => nic
                .receive(|frame| {
                    assert!(
                        (MIN_FRAME..=MAX_FRAME).contains(&frame.len()),
                        "delivered a {}-byte frame",
                        frame.len()
                    );
                })
                .map(|_| ()),
            1 => {
                let len = usize::from(device.0.borrow_mut().answers.u16()) % (MAX_FRAME + 64);
                let frame: Vec<u8> = (0..=255u8).cycle().take(len).collect();
                nic.transmit(&frame)
            }
            2 => {
                rx_step(&device);
                Ok(())
            }
            _ => {
                tx_step(&device);
                Ok(())
            }
        };
        if was_disabled && op < 2 {
            assert!(
                matches!(result, Err(NetError::Disabled | NetError::Invalid)),
                "disabled device: {result:?}"
            );
            assert_eq!(
                device.notified(),
                notified,
                "a disabled device was notified"
            );
        }
        if let Err(NetError::Misbehaved(why)) = &result {
            assert!(!why.is_empty());
            assert!(nic.is_disabled(), "misbehaved but not disabled");
        }
    }
}

/// The device receives frames from the wire into posted buffers, answering however the fuzzer
/// says.
fn rx_step(device: &Fake) {
    let mut guard = device.0.borrow_mut();
    let d = &mut *guard;
    let header = if d.accepted & 1 << 32 != 0 { 12 } else { 10 };
    let count = d.answers.below(20);
    let Some(q) = d.queues[RX].as_mut() else {
        return;
    };
    for _ in 0..count {
        let how = d.answers.below(8);
        if how == 6 {
            q.scribble(&mut d.answers);
        }
        if how == 5 {
            // A completion for nothing in particular.
            q.complete(u32::from(d.answers.u16()), d.answers.u32(), 1);
            continue;
        }
        let Some((head, chain)) = q.take() else {
            return;
        };
        if how == 1 {
            continue; // taken and never answered
        }
        let len = usize::from(d.answers.u16()) % 2100;
        let mut bytes = alloc::vec![0u8; header];
        bytes.extend((0..=255u8).cycle().take(len));
        let written = u32::try_from(fill(&chain, &bytes)).expect("small");
        let id = if how == 2 {
            u32::from(d.answers.u16())
        } else {
            u32::from(head)
        };
        let used_len = if how == 3 { d.answers.u32() } else { written };
        let step = if how == 4 { d.answers.u16() } else { 1 };
        q.complete(id, used_len, step);
    }
}

/// The device sends what the driver queued, completing each however the fuzzer says.
fn tx_step(device: &Fake) {
    let mut guard = device.0.borrow_mut();
    let d = &mut *guard;
    let Some(q) = d.queues[TX].as_mut() else {
        return;
    };
    while let Some((head, _chain)) = q.take() {
        let how = d.answers.below(6);
        if how == 1 {
            continue;
        }
        if how == 5 {
            q.scribble(&mut d.answers);
        }
        let id = if how == 2 {
            u32::from(d.answers.u16())
        } else {
            u32::from(head)
        };
        let len = if how == 3 { d.answers.u32() } else { 0 };
        let step = if how == 4 { d.answers.u16() } else { 1 };
        q.complete(id, len, step);
    }
}
