//! Attack: make a capability out of integers. The cVM writes the two 64-bit words of a
//! root-like capability (every permission, whole address space, address = capmon's image) into
//! memory with ordinary stores, loads them as a capability and reads through it.
//!
//! Tags live outside the data: integer stores clear them, so the loaded capability must be
//! untagged (or, with no LoadCap on the cVM's DDC, the load itself strips or refuses it), and
//! the read through it must fault. Prints the tag first; tag 1, or a read that works, is
//! `forge-cap: ATTACK SUCCEEDED`.
//!
//! Only meaningful on CHERI hardware: on stock cores the capability instructions are
//! undefined and the first one faults (still a fault report, which is fine).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::Args;
use cvm_attacks::{succeeded, trying, MONITOR_IMAGE};

const NAME: &str = "forge-cap";

/// A capability's memory image: value (address) at +0, metadata at +8; 16-byte aligned, as
/// capability loads require.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
#[repr(C, align(16))]
struct CapImage([u64; 2]);

/// High word of Morello's root capability in memory form: all 18 permissions, unsealed,
/// maximal bounds (cheri.md §A.3).
#[cfg(target_arch = "aarch64")]
const ROOT_HIGH: u64 = 0xFFFF_C000_0001_0005;
/// High word of CHERI-RISC-V's root capability in memory form (cheri.md §B.3).
#[cfg(target_arch = "riscv64")]
const ROOT_HIGH: u64 = 0xFFFF_0000_0000_0000;

capmon_sdk::main!(attack);

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
fn attack(_args: Args) -> i32 {
    let forged = core::hint::black_box(CapImage([MONITOR_IMAGE, ROOT_HIGH]));
    trying(
        NAME,
        format_args!(
            "to load a capability forged from integers (high {ROOT_HIGH:#018x}, address \
             {MONITOR_IMAGE:#x}) and read through it"
        ),
    );
    let tag = forged_tag(&forged);
    capmon_sdk::println!("{NAME}: forged capability loaded, tag {tag}");
    if tag != 0 {
        succeeded(NAME);
    }
    let value = read_through(&forged);
    capmon_sdk::println!("{NAME}: read {value:#018x} through it");
    succeeded(NAME)
}

/// Loads `cap` as a capability and returns its tag.
#[cfg(target_arch = "aarch64")]
fn forged_tag(cap: &CapImage) -> u64 {
    let tag: u64;
    // SAFETY: reads the 16 bytes of `cap` (16-byte aligned, borrowed) into c1, whose integer
    // half x1 is declared clobbered, and writes only x3. No memory is written.
    unsafe {
        core::arch::asm!(
            ".inst 0xc2400001", // ldr c1, [x0]   (LDR Ct, [Xn, #0]: 16 bytes via DDC)
            ".inst 0xc2c09023", // gctag x3, c1
            in("x0") cap.0.as_ptr(),
            out("x1") _,
            out("x3") tag,
            options(nostack, readonly, preserves_flags),
        );
    }
    tag
}

/// Loads `cap` as a capability and reads a u64 through it: must fault.
#[cfg(target_arch = "aarch64")]
fn read_through(cap: &CapImage) -> u64 {
    let value: u64;
    // SAFETY: deliberately not sound: the second load goes wherever the forged capability
    // points (capmon's image). The point is that it faults (untagged capability) before any
    // value arrives. Only x1 (c1) and x2 are written; no memory is.
    unsafe {
        core::arch::asm!(
            ".inst 0xc2400001", // ldr c1, [x0]   (LDR Ct, [Xn, #0]: 16 bytes via DDC)
            ".inst 0x82600c22", // ldr x2, [c1]   (alternate-base LDR Xt, [Cn, #0])
            in("x0") cap.0.as_ptr(),
            out("x1") _,
            out("x2") value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Loads `cap` as a capability and returns its tag.
#[cfg(target_arch = "riscv64")]
fn forged_tag(cap: &CapImage) -> u64 {
    let tag: u64;
    // SAFETY: reads the 16 bytes of `cap` (16-byte aligned, borrowed) into ca1 and writes only
    // a1. No memory is written.
    unsafe {
        core::arch::asm!(
            ".insn i 0x0f, 2, a1, 0(a0)",        // lc ca1, 0(a0)     (0x0005258f, the LQ encoding)
            ".insn r 0x5b, 0, 0x7f, a1, a1, x4", // cgettag a1, ca1   (0xfe4585db)
            in("a0") cap.0.as_ptr(),
            out("a1") tag,
            options(nostack, readonly, preserves_flags),
        );
    }
    tag
}

/// Loads `cap` as a capability and reads a u64 through it: must fault.
#[cfg(target_arch = "riscv64")]
fn read_through(cap: &CapImage) -> u64 {
    let value: u64;
    // SAFETY: deliberately not sound: the second load goes wherever the forged capability
    // points (capmon's image). The point is that it faults (untagged capability) before any
    // value arrives. Only a1 (ca1) and a2 are written; no memory is.
    unsafe {
        core::arch::asm!(
            ".insn i 0x0f, 2, a1, 0(a0)",         // lc ca1, 0(a0)     (0x0005258f)
            ".insn r 0x5b, 0, 0x7d, a2, a1, x11", // ld.cap a2, (ca1)  (0xfab5865b: explicit capability-based ld)
            in("a0") cap.0.as_ptr(),
            out("a1") _,
            out("a2") value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// Host builds: no capabilities to forge.
#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
fn attack(_args: Args) -> i32 {
    trying(
        NAME,
        format_args!("nothing: no capabilities on this architecture"),
    );
    let _ = (MONITOR_IMAGE, succeeded as fn(&str) -> !);
    2
}
