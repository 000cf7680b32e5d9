//! Target `image`: the ELF loader on an arbitrary file: [`inspect`] and [`load`] into a buffer
//! between guard bytes, for the architecture the file claims (either when it claims neither).
//! The two must agree, an accepted layout must be coherent, and `load` must write nothing
//! outside `[0, load_end)` of its region, and nothing at all when it fails.

use alloc::format;
use alloc::vec::Vec;

use crate::cvm::image::{inspect, load, ImageError, Machine};
use crate::platform::PAGE_SIZE;

/// The region a fuzzed image is loaded into: room for the SDK's cVMs, small enough to fill fast.
const REGION: u64 = 256 << 10;
const STACK: u64 = 16 << 10;
/// Page-aligned, as the images' `p_align` asks.
const BASE: u64 = 0x4000_0000;
/// Guard bytes on each side of the region slice `load` gets.
const GUARD: usize = 4096;
const GUARD_BYTE: u8 = 0xa5;
/// What the region holds before loading, to see which bytes `load` wrote.
const REGION_BYTE: u8 = 0x5a;
/// `e_machine`'s offset in the ELF header.
const E_MACHINE: usize = 18;

pub fn run(data: &[u8]) {
    let claimed = data
        .get(E_MACHINE..E_MACHINE + 2)
        .map(|m| u16::from_le_bytes([m[0], m[1]]));
    let machines = [Machine::Aarch64, Machine::Riscv64];
    let mut any = false;
    for machine in machines {
        if claimed == Some(machine.e_machine()) {
            exercise(data, machine, REGION, STACK);
            any = true;
        }
    }
    if !any {
        for machine in machines {
            exercise(data, machine, REGION, STACK);
        }
    }
}

/// Everything a caller does with an image for `machine` in a region of `region_size` bytes
/// (at [`BASE`]) whose top `stack` bytes are the stack; checks that inspect and load agree,
/// that an accepted layout is coherent and that load wrote only what it may. Returns whether
/// the image was accepted.
pub fn exercise(elf: &[u8], machine: Machine, region_size: u64, stack: u64) -> bool {
    let size = usize::try_from(region_size).expect("a test region");
    let inspected = inspect(elf, machine, region_size, stack);
    // One buffer per thread, reused: a fresh large allocation per run costs more in page
    // faults than the loader does.
    BUFFER.with_borrow_mut(|buffer| {
        exercise_in(buffer, elf, machine, region_size, stack, size, inspected)
    })
}

std::thread_local! {
    static BUFFER: core::cell::RefCell<Vec<u8>> = const { core::cell::RefCell::new(Vec::new()) };
}

fn exercise_in(
    buffer: &mut Vec<u8>,
    elf: &[u8],
    machine: Machine,
    region_size: u64,
    stack: u64,
    size: usize,
    inspected: Result<crate::cvm::image::ImageLayout, ImageError>,
) -> bool {
    buffer.resize(GUARD + size + GUARD, GUARD_BYTE);
    buffer.truncate(GUARD + size + GUARD);
    buffer[..GUARD].fill(GUARD_BYTE);
    buffer[GUARD..GUARD + size].fill(REGION_BYTE);
    buffer[GUARD + size..].fill(GUARD_BYTE);
    let loaded = load(elf, machine, &mut buffer[GUARD..GUARD + size], BASE, stack);
    let (head, rest) = buffer.split_at(GUARD);
    let (region, tail) = rest.split_at(size);
    assert!(
        all(head, GUARD_BYTE) && all(tail, GUARD_BYTE),
        "load wrote outside the region"
    );
    match (&inspected, &loaded) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(a.code.start, 0);
            assert!(a.code.contains(&a.entry));
            assert!(a.code.end <= a.data.start && a.data.start <= a.data.end);
            assert!(a.data.end <= a.load_end && a.load_end.is_multiple_of(16));
            assert!(a.load_end + PAGE_SIZE + stack <= region_size);
            assert!(a.segments.iter().all(|s| s.range().end <= a.load_end));
            let load_end = usize::try_from(a.load_end).expect("inside the region");
            assert!(all(&region[load_end..], REGION_BYTE), "wrote past load_end");
        }
        (
            Ok(_),
            Err(ImageError::BadAlignment {
                what: "region base",
                ..
            }),
        ) => {}
        (Err(a), Err(b)) => assert_eq!(format!("{a}"), format!("{b}")),
        (a, b) => panic!("inspect and load disagree: {a:?} / {b:?}"),
    }
    if let Err(e) = &loaded {
        assert!(all(region, REGION_BYTE), "wrote, then failed: {e}");
    }
    inspected.is_ok()
}

/// Whether every byte of `bytes` is `value` (page-sized slice comparisons: fast under the
/// fuzzer's instrumentation, which slows byte loops down).
fn all(bytes: &[u8], value: u8) -> bool {
    let page = [value; GUARD];
    bytes.chunks(GUARD).all(|c| c == &page[..c.len()])
}
