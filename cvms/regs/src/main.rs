//! The `regs` cVM: checks the hostcall ABI's promise that every register but the result is
//! preserved, across a null hostcall, a `yield` that switches to another cVM and back, and
//! `clock_ns`; on the CHERI boards whole capabilities (tag, bounds, address), not only their
//! integer halves. `capmon-run test regs` boots `cvms/manifests/regs.dts` (CHERI boards) or
//! `regs-plain.dts` (stock boards) and expects
//!
//! ```text
//! regs: <N> registers checked across null hostcall, yield, clock: all preserved
//! ```
//!
//! then `exit 0`. Otherwise each changed register is named with what changed (tag lost,
//! bounds, value), followed by `regs: <n> of <N> registers changed`, and the exit code is 1.
//!
//! Roles, from the manifest's `args`:
//! - `cheri`: every general-purpose register the test may use holds a distinct tagged
//!   capability derived from DDC. A capability instruction is undefined on a stock core, so
//!   the stock boards' manifest says `plain` instead; the cVM cannot find out by itself
//!   without faulting.
//! - `plain`: the same registers hold distinct integers.
//! - `partner`: only yields, so the `yield` of the others really switches cVMs.
//!
//! The registers are filled, the three hostcalls made, and every register read back in one
//! `asm!` block per architecture (no compiler-generated code in between can move a value).
//! Upstream LLVM cannot assemble CHERI instructions, so they are raw words (`.inst` on
//! aarch64, `.word` on riscv64) built from the encodings of `monitor/src/arch/insn/morello.rs`
//! and `cheri_riscv.rs` (whose unit tests check them against cheri.md); the mnemonic is in a
//! comment beside each.
//!
//! What register `r` is set to (`origin` = DDC's base on CHERI boards, [`PLAIN_SEED`] on stock
//! ones), so no two registers hold the same thing and a register restored into the wrong slot
//! shows:
//!
//! | | CHERI | stock |
//! |---|---|---|
//! | value (address) | `origin + 0x41·r` | `origin + 0x41·r` |
//! | bounds | `[origin + 0x40·r, +16·(r+1))`, tagged | – |
//!
//! Not filled: the hostcall number register (x8 / a7; it holds the number, and is checked to
//! still hold the last one), the result register (x0 / a0), and the stack pointer.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};

capmon_sdk::main!(regs);

/// The hostcall number no monitor knows: the "null" hostcall, answered with `-NoSys`.
const NULL_HOSTCALL: u64 = 0xffff;
/// How many times the partner yields: plenty to be runnable whenever `regs` yields.
const PARTNER_YIELDS: u32 = 200;
/// Stock boards' origin: an integer no register holds by accident.
const PLAIN_SEED: u64 = 0x5245_4753_c0de_0000;
/// Register `r` holds the value `origin + VALUE_STEP·r`.
const VALUE_STEP: u64 = 0x41;
/// On CHERI boards register `r`'s bounds start at `origin + BASE_STEP·r`.
const BASE_STEP: u64 = 0x40;

fn regs(args: Args) -> i32 {
    let role = args.clone().nth(1);
    match role {
        Some("cheri") => check(true),
        Some("plain") => check(false),
        Some("partner") => partner(),
        other => {
            println!("regs: unknown role {other:?} (cheri, plain or partner)");
            2
        }
    }
}

/// Yields [`PARTNER_YIELDS`] times, so the other cVM's `yield` has somewhere to go.
fn partner() -> i32 {
    for _ in 0..PARTNER_YIELDS {
        capmon_sdk::yield_now();
    }
    println!("regs: partner done after {PARTNER_YIELDS} yields");
    0
}

/// One register as read back after the hostcalls: tag, base, length and value. Stock boards
/// (and registers that hold integers) fill only `value`; the rest stay 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reading {
    tag: u64,
    base: u64,
    length: u64,
    value: u64,
}

/// Everything the asm block records; its offsets are what the asm stores to, so the layout
/// is fixed (`repr(C)`).
#[repr(C)]
#[derive(Debug)]
struct Snapshot {
    /// Index = register number (x0..x30 / x0..x31); [`DDC_SLOT`] is DDC, read afterwards.
    regs: [Reading; 33],
    /// Result register of each hostcall.
    null_result: u64,
    yield_result: u64,
    clock_result: u64,
    /// The hostcall-number register after the last hostcall (`clock_ns`, 4).
    number_after: u64,
    /// DDC's base on CHERI boards, [`PLAIN_SEED`] on stock ones: what the values derive from.
    origin: u64,
}

/// Where the snapshot keeps DDC as read after the hostcalls (CHERI boards).
const DDC_SLOT: usize = 32;

/// The registers the asm fills, by number: all but the result and hostcall-number registers
/// and the stack pointer (aarch64: x0 and x8; x31 is sp).
#[cfg(target_arch = "aarch64")]
const FILLED: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
    28, 29, 30,
];
/// riscv64: all but zero, sp (x2), a0 (x10) and a7 (x17).
#[cfg(target_arch = "riscv64")]
const FILLED: &[usize] = &[
    1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30, 31,
];
/// Host builds: nothing to fill.
#[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
const FILLED: &[usize] = &[];

/// The hostcall-number register.
#[cfg(target_arch = "aarch64")]
const NUMBER_REGISTER: usize = 8;
#[cfg(not(target_arch = "aarch64"))]
const NUMBER_REGISTER: usize = 17;

/// A register's name as the architecture's assembly spells it (capability view on CHERI).
fn register_name(r: usize, cheri: bool) -> RegisterName {
    RegisterName { r, cheri }
}

struct RegisterName {
    r: usize,
    cheri: bool,
}

impl core::fmt::Display for RegisterName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let prefix = if self.cheri { "c" } else { "x" };
        write!(f, "{prefix}{}", self.r)?;
        if cfg!(target_arch = "riscv64") {
            const ABI: [&str; 32] = [
                "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2",
                "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9",
                "s10", "s11", "t3", "t4", "t5", "t6",
            ];
            let abi = ABI.get(self.r).copied().unwrap_or("?");
            let cap = if self.cheri { "c" } else { "" };
            write!(f, " ({cap}{abi})")?;
        }
        Ok(())
    }
}

/// Fills, calls, reads back and compares; prints the verdict. 0 when every register held.
fn check(cheri: bool) -> i32 {
    let mut snapshot = Snapshot {
        regs: [Reading::default(); 33],
        null_result: 0,
        yield_result: 0,
        clock_result: 0,
        number_after: 0,
        origin: 0,
    };
    if !fill_call_and_read(&mut snapshot, cheri) {
        println!("regs: this architecture has no register test");
        return 2;
    }
    let origin = snapshot.origin;
    let mut changed = 0u32;
    let mut checked = 0u32;
    for &r in FILLED {
        checked += 1;
        let got = snapshot.regs[r];
        let r_u64 = r as u64;
        let value = origin.wrapping_add(VALUE_STEP * r_u64);
        let mut what: [&str; 3] = [""; 3];
        let mut n = 0;
        if cheri {
            if got.tag != 1 {
                what[n] = "tag lost";
                n += 1;
            }
            let base = origin.wrapping_add(BASE_STEP * r_u64);
            let length = 16 * (r_u64 + 1);
            if got.base != base || got.length != length {
                what[n] = "bounds";
                n += 1;
            }
            if got.value != value {
                what[n] = "value";
                n += 1;
            }
            if n > 0 {
                println!(
                    "regs: {} changed ({}): now tag {} base {:#x} length {:#x} value {:#x}, \
                     was tag 1 base {base:#x} length {length:#x} value {value:#x}",
                    register_name(r, true),
                    Joined(&what[..n]),
                    got.tag,
                    got.base,
                    got.length,
                    got.value,
                );
            }
        } else if got.value != value {
            n = 1;
            println!(
                "regs: {} changed (value): now {:#x}, was {value:#x}",
                register_name(r, false),
                got.value
            );
        }
        if n > 0 {
            changed += 1;
        }
    }

    // The number register is preserved too, and holds the last hostcall's number.
    checked += 1;
    let clock = capmon_sdk::Hostcall::ClockNs as u64;
    if snapshot.number_after != clock {
        println!(
            "regs: {} changed (value): now {:#x}, was {clock:#x} (the clock_ns number)",
            register_name(NUMBER_REGISTER, false),
            snapshot.number_after
        );
        changed += 1;
    }
    // DDC, read after the hostcalls, must still be the one the capabilities came from.
    if cheri {
        checked += 1;
        let ddc = snapshot.regs[DDC_SLOT];
        if ddc.tag != 1 || ddc.base != origin {
            println!(
                "regs: DDC changed: now tag {} base {:#x} length {:#x}, was tag 1 base {origin:#x}",
                ddc.tag, ddc.base, ddc.length
            );
            changed += 1;
        }
    }

    // The calls themselves must have answered as documented, or they were not these calls.
    let no_sys = capmon_sdk::Error::NoSys.to_result();
    let answers_ok = snapshot.null_result == no_sys
        && snapshot.yield_result == 0
        && capmon_sdk::Error::check(snapshot.clock_result).is_ok();
    if !answers_ok {
        println!(
            "regs: unexpected hostcall results: null {:#x} (expected -NoSys {no_sys:#x}), \
             yield {:#x} (expected 0), clock {:#x}",
            snapshot.null_result, snapshot.yield_result, snapshot.clock_result
        );
    }

    if changed == 0 && answers_ok {
        println!(
            "regs: {checked} registers checked across null hostcall, yield, clock: all preserved"
        );
        0
    } else {
        println!(
            "regs: {changed} of {checked} registers changed across null hostcall, yield, clock"
        );
        1
    }
}

/// Words separated by ", ".
struct Joined<'a>(&'a [&'a str]);

impl core::fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(w)?;
        }
        Ok(())
    }
}

/// Fills every register in [`FILLED`], makes the null, `yield` and `clock_ns` hostcalls in a
/// row, then records every register, DDC (CHERI) and the results in `out`.
///
/// Frame the asm keeps below sp (96 bytes, 16-aligned): +0 x18, +8 x19, +16 x29 (registers
/// Rust does not let an asm block clobber, restored at the end), +24 `out`, +32 `cheri`,
/// +40 the seed, +48/+56/+64 the three results, +72 x8 after the calls, +80 the origin.
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
fn fill_call_and_read(out: &mut Snapshot, cheri: bool) -> bool {
    use core::mem::offset_of;
    // SAFETY: the block writes only: the registers declared as outputs or clobbered here;
    // x18, x19 and x29, which it saves in its own frame below sp on entry and reloads before
    // it ends (sp is back where it was); its 96-byte frame below sp (the block is not
    // `nostack`); and `*out`, through the pointer it was given (a unique borrow, every
    // offset within `Snapshot`: at most 32·32+24 for the registers, the `offset_of!` fields
    // for the rest). The capability instructions only run with `cheri`, which the manifest
    // sets on Morello only; they derive from DDC and touch no memory. The hostcalls take no
    // pointer (null: an unknown number, yield, clock_ns), so the monitor touches no memory of
    // ours and writes only x0.
    unsafe {
        core::arch::asm!(
            "sub sp, sp, #96",
            "stp x18, x19, [sp, #0]",
            "stp x29, x0, [sp, #16]",
            "stp x1, x2, [sp, #32]",
            "cbz x1, 2f",
            // CHERI: origin = DDC's base.
            ".inst 0xc29b4120",                 // mrs c0, DDC
            ".inst 0xc2c01008",                 // gcbase x8, c0
            "str x8, [sp, #80]",
            ".irp r, 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            "add x0, x8, #(0x40 * \\r)",
            ".inst (0xc29b4120 | \\r)",                                 // mrs c\r, DDC
            ".inst (0xc2c04000 | (\\r << 5) | \\r)",                    // scvalue c\r, c\r, x0
            ".inst (0xc2c03800 | ((\\r + 1) << 15) | (1 << 14) | (\\r << 5) | \\r)", // scbnds c\r, c\r, #(16 * (\r + 1))  (imm6, LSL #4)
            ".inst (0x02000000 | (\\r << 10) | (\\r << 5) | \\r)",      // add c\r, c\r, #\r
            ".endr",
            "b 3f",
            // Stock: origin = the seed.
            "2:",
            "mov x8, x2",
            "str x8, [sp, #80]",
            ".irp r, 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            "add x\\r, x8, #(0x41 * \\r)",
            ".endr",
            // The hostcalls, nothing in between but saving each result.
            "3:",
            "mov x8, #{null}",
            "svc #0",
            "str x0, [sp, #48]",
            "mov x8, #{yield_nr}",
            "svc #0",
            "str x0, [sp, #56]",
            "mov x8, #{clock_nr}",
            "svc #0",
            "str x0, [sp, #64]",
            "str x8, [sp, #72]",
            // Read back: x8 = out, x0 the only scratch, so every other register is still
            // exactly what the calls returned when it is read.
            "ldr x8, [sp, #24]",
            "ldr x0, [sp, #32]",
            "cbz x0, 4f",
            ".irp r, 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            ".inst (0xc2c09000 | (\\r << 5))",  // gctag x0, c\r
            "str x0, [x8, #(32 * \\r)]",
            ".inst (0xc2c01000 | (\\r << 5))",  // gcbase x0, c\r
            "str x0, [x8, #(32 * \\r + 8)]",
            ".inst (0xc2c03000 | (\\r << 5))",  // gclen x0, c\r
            "str x0, [x8, #(32 * \\r + 16)]",
            ".inst (0xc2c05000 | (\\r << 5))",  // gcvalue x0, c\r
            "str x0, [x8, #(32 * \\r + 24)]",
            ".endr",
            // DDC after the calls, through c1 (already recorded).
            ".inst 0xc29b4121",                 // mrs c1, DDC
            ".inst 0xc2c09020",                 // gctag x0, c1
            "str x0, [x8, #1024]",
            ".inst 0xc2c01020",                 // gcbase x0, c1
            "str x0, [x8, #1032]",
            ".inst 0xc2c03020",                 // gclen x0, c1
            "str x0, [x8, #1040]",
            ".inst 0xc2c05020",                 // gcvalue x0, c1
            "str x0, [x8, #1048]",
            "b 5f",
            "4:",
            ".irp r, 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            "str x\\r, [x8, #(32 * \\r + 24)]",
            ".endr",
            "5:",
            "ldr x0, [sp, #48]",
            "str x0, [x8, #{null_result}]",
            "ldr x0, [sp, #56]",
            "str x0, [x8, #{yield_result}]",
            "ldr x0, [sp, #64]",
            "str x0, [x8, #{clock_result}]",
            "ldr x0, [sp, #72]",
            "str x0, [x8, #{number_after}]",
            "ldr x0, [sp, #80]",
            "str x0, [x8, #{origin}]",
            "ldp x18, x19, [sp, #0]",
            "ldr x29, [sp, #16]",
            "add sp, sp, #96",
            null = const NULL_HOSTCALL,
            yield_nr = const capmon_sdk::Hostcall::Yield as u64,
            clock_nr = const capmon_sdk::Hostcall::ClockNs as u64,
            null_result = const offset_of!(Snapshot, null_result),
            yield_result = const offset_of!(Snapshot, yield_result),
            clock_result = const offset_of!(Snapshot, clock_result),
            number_after = const offset_of!(Snapshot, number_after),
            origin = const offset_of!(Snapshot, origin),
            inout("x0") core::ptr::from_mut(out) => _,
            inout("x1") u64::from(cheri) => _,
            inout("x2") PLAIN_SEED => _,
            out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
            out("x9") _, out("x10") _, out("x11") _, out("x12") _, out("x13") _,
            out("x14") _, out("x15") _, out("x16") _, out("x17") _, out("x20") _,
            out("x21") _, out("x22") _, out("x23") _, out("x24") _, out("x25") _,
            out("x26") _, out("x27") _, out("x28") _, out("x30") _,
        );
    }
    true
}

/// The riscv64 twin of the aarch64 block: the same frame, with gp, tp and s0 at +0/+8/+16
/// and s1 at +88 (Rust does not let an asm block clobber them), a0 = `out`, a1 = `cheri`,
/// a2 = the seed, a7 the hostcall number and a0 the only scratch once the calls are made.
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
fn fill_call_and_read(out: &mut Snapshot, cheri: bool) -> bool {
    use core::mem::offset_of;
    // SAFETY: the block writes only: the registers declared as outputs or clobbered here;
    // gp, tp, s0 and s1, which it saves in its own frame below sp on entry and reloads before
    // it ends (sp is back where it was); its 96-byte frame below sp (the block is not
    // `nostack`); and `*out`, through the pointer it was given (a unique borrow, every
    // offset within `Snapshot`: at most 32·32+24 for the registers, the `offset_of!` fields
    // for the rest). The capability instructions only run with `cheri`, which the manifest
    // sets on CHERI-RISC-V only; they derive from DDC and touch no memory. The hostcalls take
    // no pointer (null: an unknown number, yield, clock_ns), so the monitor touches no memory
    // of ours and writes only a0.
    unsafe {
        core::arch::asm!(
            "addi sp, sp, -96",
            "sd gp, 0(sp)",
            "sd tp, 8(sp)",
            "sd s0, 16(sp)",
            "sd s1, 88(sp)",
            "sd a0, 24(sp)",
            "sd a1, 32(sp)",
            "sd a2, 40(sp)",
            "beqz a1, 2f",
            // CHERI: origin = DDC's base.
            ".word 0x0210055b",                 // cspecialr ca0, ddc   (CSpecialRW ca0, DDC, c0)
            ".word 0xfe2508db",                 // cgetbase a7, ca0
            "sd a7, 80(sp)",
            ".irp r, 1,3,4,5,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi a0, a7, (0x40 * \\r)",
            ".word (0x0210005b | (\\r << 7))",                                  // cspecialr c\r, ddc
            ".word (0x2000005b | (10 << 20) | (\\r << 15) | (\\r << 7))",        // csetaddr c\r, c\r, a0
            ".word (0x0000205b | ((16 * (\\r + 1)) << 20) | (\\r << 15) | (\\r << 7))", // csetboundsimm c\r, c\r, 16 * (\r + 1)
            ".word (0x0000105b | (\\r << 20) | (\\r << 15) | (\\r << 7))",       // cincoffsetimm c\r, c\r, \r
            ".endr",
            "j 3f",
            // Stock: origin = the seed.
            "2:",
            "mv a7, a2",
            "sd a7, 80(sp)",
            ".irp r, 1,3,4,5,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "addi x\\r, a7, (0x41 * \\r)",
            ".endr",
            // The hostcalls, nothing in between but saving each result.
            "3:",
            "li a7, {null}",
            "ecall",
            "sd a0, 48(sp)",
            "li a7, {yield_nr}",
            "ecall",
            "sd a0, 56(sp)",
            "li a7, {clock_nr}",
            "ecall",
            "sd a0, 64(sp)",
            "sd a7, 72(sp)",
            // Read back: a7 = out, a0 the only scratch.
            "ld a7, 24(sp)",
            "ld a0, 32(sp)",
            "beqz a0, 4f",
            ".irp r, 1,3,4,5,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            ".word (0xfe40055b | (\\r << 15))", // cgettag a0, c\r
            "sd a0, (32 * \\r)(a7)",
            ".word (0xfe20055b | (\\r << 15))", // cgetbase a0, c\r
            "sd a0, (32 * \\r + 8)(a7)",
            ".word (0xfe30055b | (\\r << 15))", // cgetlen a0, c\r
            "sd a0, (32 * \\r + 16)(a7)",
            ".word (0xfef0055b | (\\r << 15))", // cgetaddr a0, c\r
            "sd a0, (32 * \\r + 24)(a7)",
            ".endr",
            // DDC after the calls, through ca1 (already recorded).
            ".word 0x021005db",                 // cspecialr ca1, ddc
            ".word 0xfe45855b",                 // cgettag a0, ca1
            "sd a0, 1024(a7)",
            ".word 0xfe25855b",                 // cgetbase a0, ca1
            "sd a0, 1032(a7)",
            ".word 0xfe35855b",                 // cgetlen a0, ca1
            "sd a0, 1040(a7)",
            ".word 0xfef5855b",                 // cgetaddr a0, ca1
            "sd a0, 1048(a7)",
            "j 5f",
            "4:",
            ".irp r, 1,3,4,5,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "sd x\\r, (32 * \\r + 24)(a7)",
            ".endr",
            "5:",
            "ld a0, 48(sp)",
            "sd a0, {null_result}(a7)",
            "ld a0, 56(sp)",
            "sd a0, {yield_result}(a7)",
            "ld a0, 64(sp)",
            "sd a0, {clock_result}(a7)",
            "ld a0, 72(sp)",
            "sd a0, {number_after}(a7)",
            "ld a0, 80(sp)",
            "sd a0, {origin}(a7)",
            "ld gp, 0(sp)",
            "ld tp, 8(sp)",
            "ld s0, 16(sp)",
            "ld s1, 88(sp)",
            "addi sp, sp, 96",
            null = const NULL_HOSTCALL,
            yield_nr = const capmon_sdk::Hostcall::Yield as u64,
            clock_nr = const capmon_sdk::Hostcall::ClockNs as u64,
            null_result = const offset_of!(Snapshot, null_result),
            yield_result = const offset_of!(Snapshot, yield_result),
            clock_result = const offset_of!(Snapshot, clock_result),
            number_after = const offset_of!(Snapshot, number_after),
            origin = const offset_of!(Snapshot, origin),
            inout("a0") core::ptr::from_mut(out) => _,
            inout("a1") u64::from(cheri) => _,
            inout("a2") PLAIN_SEED => _,
            out("ra") _, out("t0") _, out("t1") _, out("t2") _, out("a3") _, out("a4") _,
            out("a5") _, out("a6") _, out("a7") _, out("s2") _, out("s3") _, out("s4") _,
            out("s5") _, out("s6") _, out("s7") _, out("s8") _, out("s9") _, out("s10") _,
            out("s11") _, out("t3") _, out("t4") _, out("t5") _, out("t6") _,
        );
    }
    true
}

/// Host builds (and other architectures): no monitor, nothing to test.
#[cfg(not(all(
    target_os = "none",
    any(target_arch = "aarch64", target_arch = "riscv64")
)))]
fn fill_call_and_read(out: &mut Snapshot, cheri: bool) -> bool {
    let _ = (out, cheri, NULL_HOSTCALL, PLAIN_SEED);
    false
}
