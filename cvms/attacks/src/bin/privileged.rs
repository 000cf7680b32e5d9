//! Attack: execute a privileged instruction from the cVM's unprivileged mode (EL0 / U-mode):
//! read the monitor-level system control register. It must trap to the monitor.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::Args;
use cvm_attacks::{succeeded, trying};

const NAME: &str = "privileged";

capmon_sdk::main!(attack);

#[cfg(target_arch = "aarch64")]
const WHAT: &str = "mrs x0, sctlr_el1 at EL0";
#[cfg(target_arch = "riscv64")]
const WHAT: &str = "csrr a0, mstatus in U-mode";

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
fn attack(_args: Args) -> i32 {
    trying(NAME, format_args!("{WHAT}"));
    let value: u64;
    // SAFETY: reading the system control register has no side effects; from EL0/U-mode it
    // must trap (the attack), and anywhere it is allowed it only yields a value.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("mrs x0, sctlr_el1", out("x0") value, options(nomem, nostack, preserves_flags));
    }
    // SAFETY: as above: a CSR read with no side effects.
    #[cfg(target_arch = "riscv64")]
    unsafe {
        core::arch::asm!("csrr a0, mstatus", out("a0") value, options(nomem, nostack, preserves_flags));
    }
    capmon_sdk::println!("{NAME}: read {value:#x}");
    succeeded(NAME)
}

/// Host builds: there is no privileged register worth naming here.
#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
fn attack(_args: Args) -> i32 {
    trying(
        NAME,
        format_args!("nothing: no known privileged register on this architecture"),
    );
    let _ = succeeded as fn(&str) -> !;
    2
}
