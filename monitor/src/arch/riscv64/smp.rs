//! The other harts on riscv64. With `-bios none` every hart starts at the reset vector with
//! hart 0; the others park in entry.S (`secondary_park`) until hart 0 writes a stack top into
//! `capmon_hart_stacks[hartid]` and raises their software interrupt (the CLINT's msip, which
//! is also the kick). A hart's core index is its hart id (QEMU virt numbers harts 0..n-1;
//! a tree whose harts are not numbered that way runs on hart 0 alone).

use core::arch::asm;
use core::sync::atomic::{fence, Ordering};

use alloc::vec::Vec;

use crate::platform::Platform;
use crate::smp::{PerCore, MAX_CORES};

extern "C" {
    static mut capmon_hart_stacks: [u64; MAX_CORES];
}

/// Set by each hart once it is ready for cVMs.
static UP: PerCore = PerCore::new(0);

const STACK_BYTES: usize = 64 << 10;

/// The hart running this code (mhartid), which is its core index.
#[inline(always)]
pub fn core_index() -> usize {
    let hart: usize;
    // SAFETY: reading mhartid has no side effects.
    unsafe { asm!("csrr {}, mhartid", out(reg) hart, options(nomem, nostack, preserves_flags)) };
    hart
}

/// Raises `core`'s machine software interrupt (it leaves its cVM or its idle wait).
pub fn send_ipi(core: usize) {
    if let Some(clint) = super::clint() {
        clint.set_software(core, true);
    }
}

/// Clears this hart's software interrupt (the kick has been seen).
pub fn take_ipi() {
    if let Some(clint) = super::clint() {
        clint.set_software(core_index(), false);
    }
}

/// Releases every other hart the tree lists; returns, per core, whether it came up.
pub fn start_secondaries(platform: &Platform) -> Vec<(usize, Result<(), alloc::string::String>)> {
    let mut results = Vec::new();
    let numbered = platform
        .cpus
        .iter()
        .enumerate()
        .all(|(i, c)| c.hwid == i as u64);
    for (core, cpu) in platform.cpus.iter().enumerate().skip(1) {
        if !numbered {
            results.push((
                core,
                Err(alloc::format!(
                    "hart {} is not numbered by its place in the tree",
                    cpu.hwid
                )),
            ));
            continue;
        }
        if core >= MAX_CORES {
            results.push((
                core,
                Err(alloc::format!("beyond the {MAX_CORES} cores capmon drives")),
            ));
            continue;
        }
        let stack = alloc::vec![0u8; STACK_BYTES].leak();
        let top = stack.as_ptr() as u64 + STACK_BYTES as u64;
        // SAFETY: `capmon_hart_stacks` is entry.S's table of MAX_CORES words; only this hart
        // writes it, once per slot, and `core < MAX_CORES`. The write goes through a raw
        // pointer (no reference to the mutable static).
        unsafe {
            core::ptr::addr_of_mut!(capmon_hart_stacks)
                .cast::<u64>()
                .add(core)
                .write_volatile(top)
        };
        fence(Ordering::SeqCst);
        send_ipi(core);
        let freq = super::counter_frequency().max(1);
        let give_up = super::now() + freq;
        let mut result = Ok(());
        // Waiting in `wfi` (the new hart kicks this one once it is up; a timer bounds each
        // wait): a spinning hart would hold the host thread QEMU may share between harts.
        while UP.get(core) == 0 {
            let now = super::now();
            if now > give_up {
                result = Err("it did not come up within a second".into());
                break;
            }
            super::set_timer(give_up.min(now + freq / 1000));
            super::wait_for_interrupt();
        }
        super::set_timer(u64::MAX);
        results.push((core, result));
    }
    results
}

/// A secondary hart's first Rust code, on its own stack (entry.S).
#[no_mangle]
extern "C" fn capmon_secondary_main(hart: usize) -> ! {
    take_ipi();
    if super::cvm::init_this_core().is_err() {
        super::halt();
    }
    super::enable_core_interrupts();
    fence(Ordering::SeqCst);
    UP.set(hart, 1);
    send_ipi(0);
    crate::cvm::run::serve_core(hart)
}
