//! Attack: call code placed in the cVM's own stack: data memory, outside its code capability
//! (PCC), so the instruction fetch must fault.
//!
//! The stack buffer holds a real `ret`, so without isolation the call returns and the attack
//! reports success instead of crashing somewhere else. (QEMU keeps translated code coherent
//! with memory writes; real hardware would also need cache maintenance here, but on CHERI
//! hardware the fetch faults before that matters.)
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::Args;
use cvm_attacks::{succeeded, trying};

const NAME: &str = "jump-out";

/// `ret` (0xd65f03c0), then `udf #0` padding.
#[cfg(target_arch = "aarch64")]
const CODE: [u32; 4] = [0xd65f_03c0, 0, 0, 0];
/// `ret` = `jalr x0, 0(ra)` (0x00008067), then `unimp`-style zero padding.
#[cfg(target_arch = "riscv64")]
const CODE: [u32; 4] = [0x0000_8067, 0, 0, 0];
/// Host builds: `ret` (0xc3) on x86-64; anything else is fine for a program that only
/// demonstrates the line format.
#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
const CODE: [u32; 4] = [0xc3, 0, 0, 0];

capmon_sdk::main!(attack);

fn attack(_args: Args) -> i32 {
    let code = core::hint::black_box(CODE);
    let addr = code.as_ptr() as usize;
    trying(NAME, format_args!("to execute its own stack at {addr:#x}"));
    #[cfg(target_arch = "riscv64")]
    // SAFETY: fence.i only orders this hart's instruction fetches after its earlier stores;
    // it touches no memory or registers.
    unsafe {
        core::arch::asm!("fence.i", options(nostack, preserves_flags))
    };
    // SAFETY: deliberately not sound: `addr` is data (a stack array), not a function. It does
    // hold a `ret`, so if the fetch is allowed the call simply returns; the point is that the
    // monitor's PCC bounds stop the fetch.
    let f: extern "C" fn() = unsafe { core::mem::transmute::<usize, extern "C" fn()>(addr) };
    f();
    core::hint::black_box(&code);
    succeeded(NAME)
}
