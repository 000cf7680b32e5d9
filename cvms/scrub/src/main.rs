//! The `scrub` cVMs: nothing of one cVM survives into the next one on the same core.
//! `capmon-run test scrub` boots `cvms/manifests/scrub.dts`: `noisy` (first in the manifest,
//! with the largest share, so it runs first and ends within its first turn) and then `probe`.
//!
//! - `noisy` fills every FP/SIMD register (q0..q31 / f0..f31) and the FP control and status
//!   registers (FPCR/FPSR, fcsr) with non-reset values, the thread pointer (TPIDR_EL0 / tp)
//!   and every general register but the exit call's own with [`pattern`], and exits from
//!   the same `asm!` block: the registers still hold all of it when the monitor takes over.
//!   On the CHERI boards it then puts tagged capabilities (derived from its own DDC) in every
//!   capability register but the exit call's two, in CID_EL0 and its thread pointer (Morello).
//! - `probe` reads what the SDK's `_start` recorded at its first instruction
//!   ([`capmon_sdk::entry_registers`]) and checks each register holds its reset value: zero,
//!   except argc, argv, the stack pointer and, on CHERI boards, the address of its own
//!   capability store (thread pointer and argument register 3, `cvm::share`). It prints
//!
//! ```text
//! scrub: probe: <N> registers read, checksum <hex>: saw nothing of noisy
//! ```
//!
//! On the CHERI boards it first checks the capability tags `_start` recorded: only the default
//! capabilities the monitor documents are tagged ([`expected_tagged`]), and CID_EL0 is null:
//!
//! ```text
//! scrub: probe: 36 capability tags read: only its own c3, CSP, DDC, CTPIDR_EL0 tagged, CID_EL0 null
//! ```
//!
//! It names each register that holds something else (`holds noisy's pattern` when it does,
//! `holds a tagged capability it was not given`) and exits 1.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{println, Args};

capmon_sdk::main!(scrub);

/// What `noisy` leaves in every register: `NOISE_HIGH` in the top half, the register's
/// number in the bottom (so a register restored into the wrong slot shows too).
const NOISE_HIGH: u64 = 0x4e01_5e00;

fn pattern(register: u64) -> u64 {
    NOISE_HIGH << 32 | register
}

fn is_noise(value: u64) -> bool {
    value >> 32 == NOISE_HIGH
}

fn scrub(args: Args) -> i32 {
    match args.clone().nth(1) {
        Some("noisy") => noisy(),
        Some("probe") => probe(args.len()),
        other => {
            println!("scrub: unknown role {other:?} (noisy or probe)");
            2
        }
    }
}

/// Fills the registers and exits 0 without returning (on the host: only says so).
fn noisy() -> i32 {
    println!(
        "scrub: noisy: filling every register with {:#x}",
        pattern(0)
    );
    // CHERI boards hand every cVM the address of its capability store in argument register 3
    // (0 on stock boards, which have no capability instructions).
    let cheri =
        capmon_sdk::entry_registers().x[if cfg!(target_arch = "riscv64") { 13 } else { 3 }] != 0;
    fill_and_exit(u64::from(cheri));
    #[allow(unreachable_code)]
    1
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
fn fill_and_exit(cheri: u64) -> ! {
    // SAFETY: only registers (and noisy's own CID_EL0 / thread pointer) change, and the block
    // ends in the exit hostcall (x8 = 2, x0 = 0), which never returns. On Morello the
    // capabilities are derived from noisy's own DDC: nothing it could not already reach.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "movz x9, #0x5e00, lsl #32",
            "movk x9, #0x4e01, lsl #48",
            // q<n> = pattern(n + 64) in both halves.
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "  add x10, x9, #(\\n + 64)",
            "  dup v\\n\\().2d, x10",
            ".endr",
            // FPCR: RMode toward zero (23:22 = 0b11), FZ (24), DN (25); FPSR: every cumulative flag.
            "mov x10, #0x03c00000",
            "msr fpcr, x10",
            "mov x10, #0x9f",
            "msr fpsr, x10",
            "add x10, x9, #100",
            "msr tpidr_el0, x10",
            ".irp n, 1,2,3,4,5,6,7,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            "  add x\\n, x9, #\\n",
            ".endr",
            // Morello (x8 = 1): tagged capabilities instead, in every register but the exit
            // call's c0 and c8 (address = its data base + 16n), in CID_EL0 and in the thread
            // pointer. (CCTLR_EL0 needs PCC.System, which no cVM has: it can neither write nor
            // read it.)
            "cbz x8, 2f",
            ".inst {mrs_c9_ddc}",     // mrs c9, DDC
            ".inst {msr_cid_c9}",     // msr CID_EL0, c9
            ".inst {msr_ctpidr_c9}",  // msr CTPIDR_EL0, c9
            ".inst {gcvalue_x0_c9}",  // gcvalue x0, c9
            ".irp n, 1,2,3,4,5,6,7,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30",
            "  add x\\n, x0, #(\\n * 16)",
            "  .inst {cvtd_c0_x0} + \\n * {cvtd_step}",  // cvtd c<n>, x<n>
            ".endr",
            "2:",
            "mov x0, #0",
            "mov x8, #2",
            "svc #0",
            "udf #0",
            in("x8") cheri,
            mrs_c9_ddc = const w::MRS_C9_DDC,
            msr_cid_c9 = const w::MSR_CID_C9,
            msr_ctpidr_c9 = const w::MSR_CTPIDR_C9,
            gcvalue_x0_c9 = const w::GCVALUE_X0_C9,
            cvtd_c0_x0 = const w::CVTD_C0_X0,
            cvtd_step = const w::CVTD_SELF_STEP,
            options(noreturn, nostack),
        )
    }
}

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
fn fill_and_exit(cheri: u64) -> ! {
    // SAFETY: only registers change, and the block ends in the exit hostcall (a7 = 2,
    // a0 = 0), which never returns. On CHERI-RISC-V the capabilities are derived from
    // noisy's own DDC: nothing it could not already reach.
    unsafe {
        core::arch::asm!(
            // The cVM target may be built without F/D; the registers exist whatever.
            ".option push",
            ".option arch, +d",
            "li t0, 0x4e015e00",
            "slli t0, t0, 32",
            // f<n> = pattern(n + 64).
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "  addi t1, t0, (\\n + 64)",
            "  fmv.d.x f\\n, t1",
            ".endr",
            // fcsr: frm = round toward zero (0b001), every accrued flag.
            "li t1, 0x3f",
            "fscsr t1",
            ".option pop",
            // Every general register but zero, sp, a0 (x10) and a7 (x17): tp (x4) too.
            ".irp n, 1,3,4,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "  addi x\\n, t0, \\n",
            ".endr",
            "addi t0, t0, 5",
            // CHERI-RISC-V (a7 = 1): tagged capabilities instead, in every register but zero,
            // sp and the exit call's a0/a7 (address = its data base + 16n).
            "beqz a7, 2f",
            ".word {cspecialr_ca0_ddc}",  // cspecialr ca0, ddc
            ".word {cgetaddr_a7_ca0}",    // cgetaddr a7, ca0
            ".irp n, 1,3,4,5,6,7,8,9,11,12,13,14,15,16,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "  addi x\\n, a7, (\\n * 16)",
            "  .word {csetaddr_c0_ca0_x0} + \\n * {csetaddr_step}",  // csetaddr c<n>, ca0, x<n>
            ".endr",
            "2:",
            "li a0, 0",
            "li a7, 2",
            "ecall",
            "unimp",
            in("a7") cheri,
            cspecialr_ca0_ddc = const w::CSPECIALR_CA0_DDC,
            cgetaddr_a7_ca0 = const w::CGETADDR_A7_CA0,
            csetaddr_c0_ca0_x0 = const w::CSETADDR_C0_CA0_X0,
            csetaddr_step = const w::CSETADDR_SELF_STEP,
            options(noreturn, nostack),
        )
    }
}

#[cfg(not(target_os = "none"))]
fn fill_and_exit(_cheri: u64) {}

#[cfg(target_os = "none")]
use capmon_sdk::entry_words as w;

/// Checks the entry registers; `argc` is what the probe was started with.
fn probe(argc: usize) -> i32 {
    let entry = capmon_sdk::entry_registers();
    // Which registers hold the probe's own values on entry: argc, argv, the stack pointer,
    // and on CHERI boards the address of its capability store (`cvm::share`; 0 elsewhere)
    // in its thread pointer (TPIDR_EL0 / tp) and argument register 3 (x3 / a3).
    let (argc_reg, argv_reg, sp_reg, store_reg, first, last) = if cfg!(target_arch = "riscv64") {
        (10, 11, Some(2), 13, 1, 31)
    } else {
        (0, 1, None, 3, 0, 30)
    };
    let store = entry.x[store_reg];
    let tp_store = if cfg!(target_arch = "riscv64") {
        entry.x[4]
    } else {
        entry.tls[0]
    };
    let mut wrong = 0u32;
    // argv and sp are the probe's own: inside its region, never noise.
    if is_noise(entry.x[argv_reg]) || sp_reg.is_some_and(|r| is_noise(entry.x[r])) {
        println!("scrub: probe: argv or sp holds noisy's pattern");
        wrong += 1;
    }
    // The store address: the same in both places, page-aligned, and not noise.
    let store_ok = store == tp_store && store.trailing_zeros() >= 12 && !is_noise(store);
    if !store_ok {
        println!(
            "scrub: probe: capability store address {store:#x} / {tp_store:#x} is not its own"
        );
        wrong += 1;
    }
    let store = store_ok.then_some(store);
    let mut read = 0u32;
    let mut checksum = 0u64;
    let mut check = |name: &dyn core::fmt::Display, value: u64, allowed: Option<u64>| {
        read += 1;
        checksum = checksum.rotate_left(7) ^ value;
        if value == 0 || Some(value) == allowed {
            return;
        }
        wrong += 1;
        if is_noise(value) {
            println!("scrub: probe: {name} = {value:#x}: holds noisy's pattern");
        } else {
            println!("scrub: probe: {name} = {value:#x}: not its reset value");
        }
    };
    for r in first..=last {
        let allowed = if r == argc_reg {
            u64::try_from(argc).ok()
        } else if r == argv_reg || Some(r) == sp_reg {
            Some(entry.x[r])
        } else if r == store_reg || (cfg!(target_arch = "riscv64") && r == 4) {
            store
        } else {
            None
        };
        check(&format_args!("x{r}"), entry.x[r], allowed);
    }
    for (i, q) in entry.fp.iter().enumerate() {
        check(&format_args!("fp{i}.lo"), q[0], None);
        check(&format_args!("fp{i}.hi"), q[1], None);
    }
    check(&"fp control (FPCR / fcsr)", entry.fp_status[0], None);
    check(&"fp status (FPSR)", entry.fp_status[1], None);
    check(&"TPIDR_EL0", entry.tls[0], store);
    check(&"TPIDRRO_EL0", entry.tls[1], None);
    // CHERI boards (those that gave it a capability store): the tags too.
    let cheri = store.is_some_and(|s| s != 0);
    let (tag_problems, tags_read) = if cheri { check_tags(&entry) } else { (0, 0) };
    wrong += tag_problems;
    if cheri && wrong == 0 {
        let (own, cid) = if cfg!(target_arch = "riscv64") {
            ("c4, c13, DDC", "")
        } else {
            ("c3, CSP, DDC, CTPIDR_EL0", ", CID_EL0 null")
        };
        println!("scrub: probe: {tags_read} capability tags read: only its own {own} tagged{cid}");
    }
    if wrong == 0 {
        println!(
            "scrub: probe: {read} registers read, checksum {checksum:#018x}: saw nothing of noisy"
        );
        0
    } else {
        println!("scrub: probe: {wrong} of {read} registers hold something not its own");
        1
    }
}

/// The capability registers a probe may find tagged at entry: the default capabilities the
/// monitor documents (monitor/src/arch/*/switch.rs and share.rs): on Morello the capability
/// store in c3 and CTPIDR_EL0, the stack in CSP and the data capability in DDC; on
/// CHERI-RISC-V the store in c4 (ctp) and c13 (ca3) and the data capability in DDC.
/// Each must be tagged, every other one untagged; Morello's CID_EL0 null.
fn expected_tagged() -> &'static [u32] {
    use capmon_sdk::cap_tag_bit as bit;
    if cfg!(target_arch = "riscv64") {
        &[4, 13, bit::DDC]
    } else {
        &[3, bit::CSP, bit::DDC, bit::CTPIDR]
    }
}

/// Prints the name of tag bit `bit` of [`capmon_sdk::EntryRegisters::cap_tags`].
struct TagBitName(u32);

impl core::fmt::Display for TagBitName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        use capmon_sdk::cap_tag_bit as b;
        match self.0 {
            b::CSP => f.write_str("CSP"),
            b::DDC => f.write_str("DDC"),
            b::CTPIDR => f.write_str("CTPIDR_EL0"),
            b::CTPIDRRO => f.write_str("CTPIDRRO_EL0"),
            b::CID => f.write_str("CID_EL0"),
            n => write!(f, "c{n}"),
        }
    }
}

/// Checks the capability tags `_start` recorded, printing each problem; returns how many
/// there were, and how many registers' tags it read.
fn check_tags(entry: &capmon_sdk::EntryRegisters) -> (u32, usize) {
    use capmon_sdk::cap_tag_bit as bit;
    if entry.cap_tags >> bit::RECORDED & 1 == 0 {
        println!("scrub: probe: a CHERI board, but the entry code recorded no capability tags");
        return (1, 0);
    }
    // The general capability registers, then the special ones EL0 / U-mode can read.
    let (general, special): (core::ops::RangeInclusive<u32>, &[u32]) =
        if cfg!(target_arch = "riscv64") {
            (1..=31, &[bit::DDC])
        } else {
            (
                0..=30,
                &[bit::CSP, bit::DDC, bit::CTPIDR, bit::CTPIDRRO, bit::CID],
            )
        };
    let readable = general.clone().count() + special.len();
    let expected = expected_tagged();
    let mut problems = 0;
    for b in general.chain(special.iter().copied()) {
        let tagged = entry.cap_tags >> b & 1 == 1;
        let own = expected.contains(&b);
        if tagged && !own {
            println!(
                "scrub: probe: {} holds a tagged capability it was not given",
                TagBitName(b)
            );
            problems += 1;
        } else if !tagged && own {
            println!(
                "scrub: probe: {} lost the tag of its own default capability",
                TagBitName(b)
            );
            problems += 1;
        }
    }
    if cfg!(target_arch = "aarch64") && entry.cid != [0, 0] {
        println!(
            "scrub: probe: CID_EL0 = {:#x}:{:016x}: not null",
            entry.cid[1], entry.cid[0]
        );
        problems += 1;
    }
    (problems, readable)
}
