//! Architecture backends. `insn` (raw CHERI instruction encoders), `syndrome` (fault
//! decoding) and `page_table` (the aarch64 page-table builder) build everywhere so they are
//! unit-tested on the host; the backends themselves build only for bare metal and are reached
//! through `arch::current`. The DMA cache-maintenance calls below are the one interface
//! drivers use on every target (in host tests they do nothing but record what was asked of
//! them, see [`dma_log`]).

pub mod fp_run;
pub mod insn;
pub mod page_table;
pub mod syndrome;

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod aarch64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use aarch64 as current;

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub mod riscv64;
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
pub use riscv64 as current;

/// Whether a device whose device tree says neither `dma-coherent` nor `dma-noncoherent` is
/// coherent with the CPU's caches: on RISC-V yes (its trees mark the exceptions
/// `dma-noncoherent`, and Linux reads them the same way), on Arm no (its trees mark coherent
/// devices `dma-coherent`, as QEMU's virt machines do for every virtio-mmio transport).
pub const DMA_COHERENT_BY_DEFAULT: bool = cfg!(target_arch = "riscv64");

/// Before a device reads `buffer` (driver-to-device DMA): makes the CPU's writes visible to it
/// (aarch64: clean to the point of coherency; RISC-V: a fence).
pub fn dma_clean(buffer: *const [u8]) {
    #[cfg(target_os = "none")]
    current::dma_clean(buffer);
    #[cfg(not(target_os = "none"))]
    dma_log::record(dma_log::Op::Clean, buffer);
}

/// For a device coherent with the caches, which needs no maintenance, only ordering: every
/// memory access before this is observable by devices before any access after it, MMIO
/// included (aarch64: DMB OSH, as Linux's `dma_wmb`/`dma_rmb` and the barrier in `writel`;
/// RISC-V: `fence iorw, iorw`). Used after queueing a request, before the notify, and after
/// seeing its completion, before reading what the device wrote.
pub fn dma_fence() {
    #[cfg(target_os = "none")]
    current::dma_fence();
    #[cfg(not(target_os = "none"))]
    {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        dma_log::record(
            dma_log::Op::Fence,
            core::ptr::slice_from_raw_parts(core::ptr::null(), 0),
        );
    }
}

/// Before a device writes `buffer` and again after it has (device-to-driver DMA): makes sure
/// the CPU reads what the device wrote (aarch64: clean and invalidate to the point of
/// coherency; RISC-V: a fence).
pub fn dma_invalidate(buffer: *const [u8]) {
    #[cfg(target_os = "none")]
    current::dma_invalidate(buffer);
    #[cfg(not(target_os = "none"))]
    dma_log::record(dma_log::Op::Invalidate, buffer);
}

/// Host builds (tests, fuzz targets): what the DMA calls were asked to do, per thread, so a
/// test can check that a driver maintains exactly the buffers it hands a device that is not
/// coherent, and none for one that is. Recording is off until a test turns it on.
#[cfg(not(target_os = "none"))]
pub mod dma_log {
    use alloc::vec::Vec;
    use core::cell::RefCell;

    extern crate std;

    /// One call: which, and the byte range (start, length; empty for a fence).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Op {
        Clean,
        Invalidate,
        Fence,
    }

    std::thread_local! {
        static LOG: RefCell<Option<Vec<(Op, usize, usize)>>> = const { RefCell::new(None) };
    }

    pub(super) fn record(op: Op, buffer: *const [u8]) {
        let entry = (op, buffer.cast::<u8>() as usize, buffer.len());
        LOG.with(|log| {
            if let Some(log) = log.borrow_mut().as_mut() {
                log.push(entry);
            }
        });
    }

    /// Starts recording on this thread (dropping anything recorded before).
    pub fn start() {
        LOG.with(|log| *log.borrow_mut() = Some(Vec::new()));
    }

    /// What was recorded since [`start`] or the last `take`; recording goes on.
    pub fn take() -> Vec<(Op, usize, usize)> {
        LOG.with(|log| {
            log.borrow_mut()
                .as_mut()
                .map(core::mem::take)
                .unwrap_or_default()
        })
    }
}
