//! The cVM entry point and panic handler, and the [`Args`] iterator over argv.
//!
//! The monitor enters a cVM at its ELF entry (`_start`, which `cvm.ld` puts first in `.text`)
//! with `x0`/`a0` = argc, `x1`/`a1` = argv and the stack pointer at the 16-byte aligned top of
//! the stack, below the argv strings. That is already the C calling convention for
//! `capmon_sdk_start(argc, argv)`, so `_start` only clears the frame-pointer and return-address
//! registers (stack walks end there) and calls it. Before that it records every register it
//! can read as the monitor left it ([`entry_registers`]): what a cVM finds on entry is part of
//! the monitor's isolation promise, and `cvms/scrub` checks it.

use core::fmt;

/// The cVM's arguments, argv\[0\] (the cVM's name) first. Arguments that are not UTF-8 read
/// as `"?"`.
#[derive(Clone)]
pub struct Args {
    argv: *const *const u8,
    next: usize,
    argc: usize,
}

impl Args {
    /// An iterator over `argc` entries of `argv`.
    ///
    /// # Safety
    ///
    /// Unless `argc` is 0, `argv` must point to `argc` pointers, each to a NUL-terminated
    /// string, and all of them must stay valid and unchanged for the rest of the program.
    pub unsafe fn from_raw(argc: usize, argv: *const *const u8) -> Args {
        let argc = if argv.is_null() { 0 } else { argc };
        Args {
            argv,
            next: 0,
            argc,
        }
    }
}

impl Iterator for Args {
    type Item = &'static str;

    fn next(&mut self) -> Option<&'static str> {
        if self.next >= self.argc {
            return None;
        }
        // SAFETY: next < argc, and from_raw's contract makes argv[0..argc] readable pointers
        // to NUL-terminated strings that live forever.
        let bytes = unsafe {
            let s = *self.argv.add(self.next);
            let mut len = 0;
            while *s.add(len) != 0 {
                len += 1;
            }
            core::slice::from_raw_parts(s, len)
        };
        self.next += 1;
        Some(core::str::from_utf8(bytes).unwrap_or("?"))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.argc - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Args {}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// The registers as the monitor handed them over at the cVM's first instruction, recorded by
/// `_start` before any other code runs.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRegisters {
    /// General registers by number: x0..x30 on aarch64 (x31, the stack pointer, is not
    /// recorded), x0..x31 on riscv64 (x0 is always 0; x2, sp, as it was on entry).
    pub x: [u64; 32],
    /// FP/SIMD registers: q0..q31 whole on aarch64; f0..f31 in `[i][0]` on riscv64.
    pub fp: [[u64; 2]; 32],
    /// FP control and status: FPCR and FPSR on aarch64; fcsr and 0 on riscv64.
    pub fp_status: [u64; 2],
    /// The thread pointers EL0 can read: TPIDR_EL0 and TPIDRRO_EL0 on aarch64 (on Morello the
    /// integer views of the Restricted RCTPIDR_EL0 and of CTPIDRRO_EL0); 0 on riscv64, whose
    /// thread pointer is x4 (`tp`).
    pub tls: [u64; 2],
    /// CHERI boards, with the `entry-tags` feature: which capability registers held a tagged
    /// capability (bit 63 set when they were read; 0 on stock boards or without the feature). Bit n is general register n (c0..c30 on Morello,
    /// c1..c31 on CHERI-RISC-V); then the [`cap_tag_bit`] special registers.
    pub cap_tags: u64,
    /// Morello, with the `entry-tags` feature: CID_EL0 as read at entry (its address, then its
    /// upper 64 bits).
    pub cid: [u64; 2],
}

/// The bits of [`EntryRegisters::cap_tags`] above the general registers.
pub mod cap_tag_bit {
    /// Morello: CSP (the Restricted RCSP_EL0).
    pub const CSP: u32 = 31;
    /// DDC (Morello: the Restricted RDDC_EL0).
    pub const DDC: u32 = 32;
    /// Morello: CTPIDR_EL0 (the Restricted RCTPIDR_EL0).
    pub const CTPIDR: u32 = 33;
    /// Morello: CTPIDRRO_EL0.
    pub const CTPIDRRO: u32 = 34;
    /// Morello: CID_EL0.
    pub const CID: u32 = 35;
    /// Set when the tags were read at all (a CHERI board).
    pub const RECORDED: u32 = 63;
}

/// Filled by `_start` (offsets: x 0, fp 256, fp_status 768, tls 784, cap_tags 800, cid
/// 808), read-only afterwards.
#[cfg(target_os = "none")]
static mut ENTRY_REGISTERS: EntryRegisters = EntryRegisters {
    x: [0; 32],
    fp: [[0; 2]; 32],
    fp_status: [0; 2],
    tls: [0; 2],
    cap_tags: 0,
    cid: [0; 2],
};

const _: () = {
    assert!(core::mem::offset_of!(EntryRegisters, fp) == 256);
    assert!(core::mem::offset_of!(EntryRegisters, fp_status) == 768);
    assert!(core::mem::offset_of!(EntryRegisters, tls) == 784);
    assert!(core::mem::offset_of!(EntryRegisters, cap_tags) == 800);
    assert!(core::mem::offset_of!(EntryRegisters, cid) == 808);
};

/// What every register held when the monitor first entered this cVM (all zeros on the host).
pub fn entry_registers() -> EntryRegisters {
    #[cfg(target_os = "none")]
    // SAFETY: written only by `_start`, before any Rust code runs; a plain copy afterwards.
    return unsafe { core::ptr::read(&raw const ENTRY_REGISTERS) };
    #[cfg(not(target_os = "none"))]
    EntryRegisters {
        x: [0; 32],
        fp: [[0; 2]; 32],
        fp_status: [0; 2],
        tls: [0; 2],
        cap_tags: 0,
        cid: [0; 2],
    }
}

/// Lines of `_start` only the `entry-tags` feature wants (joined with newlines), else nothing.
/// Used only by the bare-metal `_start`s below (host builds have none).
#[cfg(all(target_os = "none", feature = "entry-tags"))]
macro_rules! if_entry_tags {
    ($($line:literal),*) => { concat!($($line, "\n"),*) };
}
#[cfg(all(target_os = "none", not(feature = "entry-tags")))]
macro_rules! if_entry_tags {
    ($($line:literal),*) => {
        ""
    };
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", %progbits",
    ".arch_extension fp",
    ".arch_extension simd",
    ".global _start",
    ".type _start, %function",
    "_start:",
    // With the `entry-tags` feature, on Morello (x3 = the capability store's address; 0 on
    // stock aarch64, which has no capability instructions): the tags too, out of line.
    if_entry_tags!("    cbnz x3, capmon_sdk_entry_tags"),
    "    stp x29, x30, [sp, #-16]!",
    "    adrp x29, {regs}",
    "    add x29, x29, :lo12:{regs}",
    // x<n> at 8n (x0..x28), then x29/x30 from the stack; q<n> at 256 + 16n.
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28",
    "    str x\\n, [x29, #(\\n * 8)]",
    ".endr",
    "capmon_sdk_entry_recorded:",
    "    ldp x0, x1, [sp], #16",
    "    stp x0, x1, [x29, #232]",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    str q\\n, [x29, #(256 + \\n * 16)]",
    ".endr",
    "    mrs x0, fpcr",
    "    mrs x1, fpsr",
    "    str x0, [x29, #768]",
    "    str x1, [x29, #776]",
    "    mrs x0, tpidr_el0",
    "    mrs x1, tpidrro_el0",
    "    str x0, [x29, #784]",
    "    str x1, [x29, #792]",
    "    ldp x0, x1, [x29, #0]",     // argc, argv again
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {start}",
    // capmon_sdk_start never returns; if it did, fault rather than run into whatever follows.
    "    udf #0",
    ".size _start, . - _start",
    ".popsection",
    start = sym capmon_sdk_start,
    regs = sym ENTRY_REGISTERS,
);

/// `_start`'s Morello capability-tag recording (the `entry-tags` feature), entered from
/// `_start`'s first instruction with every register as the monitor left it.
#[cfg(all(target_os = "none", target_arch = "aarch64", feature = "entry-tags"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", %progbits",
    "capmon_sdk_entry_tags:",
    // Morello (x3 = the capability store's address; 0 on stock aarch64, where the capability
    // instructions below do not exist): each register's tag too, read before anything writes
    // the register (an integer write clears it; in A64 that includes the stack pointer
    // write-back, so CSP's tag waits in the C flag, which nothing below changes until it is
    // read). x30 gathers the tag bits, each register's own GCTAG overwrites it once its
    // integer value is recorded.
    "    .inst {chktgd_csp}",                           // chktgd csp
    // Record the registers: x29/x30 parked on the stack while x29 holds the record's address.
    "    stp x29, x30, [sp, #-16]!",
    "    .inst {gctag_x0_c0} + 29 * {gctag_step}",  // gctag x29, c29
    "    .inst {gctag_x0_c0} + 30 * {gctag_step}",  // gctag x30, c30
    "    lsl x30, x30, #30",
    "    orr x30, x30, x29, lsl #29",
    "    adrp x29, {regs}",
    "    add x29, x29, :lo12:{regs}",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28",
    "    str x\\n, [x29, #(\\n * 8)]",
    "    .inst {gctag_x0_c0} + \\n * {gctag_step}",  // gctag x<n>, c<n>
    "    orr x30, x30, x\\n, lsl #\\n",
    ".endr",
    "    cset x0, cs",                                  // CSP's tag, from chktgd
    "    orr x30, x30, x0, lsl #{bit_csp}",
    "    .inst {mrs_c0_ddc}",                           // mrs c0, DDC
    "    .inst {gctag_x1_c0}",                          // gctag x1, c0
    "    orr x30, x30, x1, lsl #{bit_ddc}",
    "    .inst {mrs_c0_ctpidr}",                        // mrs c0, CTPIDR_EL0
    "    .inst {gctag_x1_c0}",
    "    orr x30, x30, x1, lsl #{bit_ctpidr}",
    "    .inst {mrs_c0_ctpidrro}",                      // mrs c0, CTPIDRRO_EL0
    "    .inst {gctag_x1_c0}",
    "    orr x30, x30, x1, lsl #{bit_ctpidrro}",
    "    .inst {mrs_c0_cid}",                           // mrs c0, CID_EL0
    "    .inst {gctag_x1_c0}",
    "    orr x30, x30, x1, lsl #{bit_cid}",
    "    .inst {gcvalue_x1_c0}",                        // gcvalue x1, c0
    "    str x1, [x29, #808]",
    "    .inst {cfhi_x1_c0}",                           // cfhi x1, c0
    "    str x1, [x29, #816]",
    "    orr x30, x30, #(1 << {bit_recorded})",
    "    str x30, [x29, #800]",
    "    b capmon_sdk_entry_recorded",
    ".popsection",
    regs = sym ENTRY_REGISTERS,
    gctag_x0_c0 = const words::GCTAG_X0_C0,
    gctag_step = const words::GCTAG_SELF_STEP,
    chktgd_csp = const words::CHKTGD_CSP,
    gctag_x1_c0 = const words::GCTAG_X1_C0,
    gcvalue_x1_c0 = const words::GCVALUE_X1_C0,
    cfhi_x1_c0 = const words::CFHI_X1_C0,
    mrs_c0_ddc = const words::MRS_C0_DDC,
    mrs_c0_ctpidr = const words::MRS_C0_CTPIDR,
    mrs_c0_ctpidrro = const words::MRS_C0_CTPIDRRO,
    mrs_c0_cid = const words::MRS_C0_CID,
    bit_csp = const cap_tag_bit::CSP,
    bit_ddc = const cap_tag_bit::DDC,
    bit_ctpidr = const cap_tag_bit::CTPIDR,
    bit_ctpidrro = const cap_tag_bit::CTPIDRRO,
    bit_cid = const cap_tag_bit::CID,
    bit_recorded = const cap_tag_bit::RECORDED,
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", @progbits",
    ".global _start",
    ".type _start, @function",
    "_start:",
    "    sd t0, -16(sp)",
    // With the `entry-tags` feature, on CHERI-RISC-V (a3 = the capability store's address; 0
    // on stock riscv64, which has no capability instructions): the tags too, out of line;
    // they wait at sp - 32 (zero unless recorded).
    if_entry_tags!("    sd zero, -32(sp)", "    bnez a3, capmon_sdk_entry_tags"),
    "capmon_sdk_entry_recorded:",
    // Record the registers: t0 (x5) parked on the stack while it holds the record's address.
    "    addi sp, sp, -16",
    "    sd t0, 0(sp)",
    "    lla t0, {regs}",
    // x<n> at 8n, but t0 (x5: from the stack) and sp (x2: once restored); f<n> at 256 + 16n.
    ".irp n, 1,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    sd x\\n, (\\n * 8)(t0)",
    ".endr",
    "    ld t1, 0(sp)",
    "    sd t1, 40(t0)",
    "    addi sp, sp, 16",
    "    sd sp, 16(t0)",
    if_entry_tags!("    ld t1, -32(sp)", "    sd t1, 800(t0)"),
    // The cVM target may be built without F/D (soft float); the registers exist whatever.
    "    .option push",
    "    .option arch, +d",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    fsd f\\n, (256 + \\n * 16)(t0)",
    ".endr",
    "    frcsr t1",
    "    sd t1, 768(t0)",
    "    .option pop",
    "    mv ra, zero",
    "    mv s0, zero",
    // auipc + jalr: PC-relative, so it needs no relocation in the static PIE.
    "    call {start}",
    "    unimp",
    ".size _start, . - _start",
    ".popsection",
    start = sym capmon_sdk_start,
    regs = sym ENTRY_REGISTERS,
);

/// `_start`'s CHERI-RISC-V capability-tag recording (the `entry-tags` feature), entered from
/// `_start`'s second instruction (which only parked t0) with every register as the monitor
/// left it.
#[cfg(all(target_os = "none", target_arch = "riscv64", feature = "entry-tags"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", @progbits",
    "capmon_sdk_entry_tags:",
    // CHERI-RISC-V (a3 = the capability store's address; 0 on stock riscv64, where the
    // capability instructions below do not exist): each register's tag, read before anything
    // writes the register (an integer write clears it). t0/t1 are parked below sp (nothing
    // else uses the stack yet) while t0 gathers the tag bits, which wait at sp - 32.
    "    sd t1, -24(sp)",
    "    .word {cgettag_t0_ct0}",                       // cgettag t0, ct0
    "    slli t0, t0, 5",
    ".irp n, 1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    .word {cgettag_t1_c0} + \\n * {cgettag_step}",  // cgettag t1, c<n>
    "    slli t1, t1, \\n",
    "    or t0, t0, t1",
    ".endr",
    "    .word {cspecialr_ct1_ddc}",                    // cspecialr ct1, ddc
    "    .word {cgettag_t1_c0} + 6 * {cgettag_step}",   // cgettag t1, ct1
    "    slli t1, t1, {bit_ddc}",
    "    or t0, t0, t1",
    "    li t1, 1",
    "    slli t1, t1, {bit_recorded}",
    "    or t0, t0, t1",
    "    sd t0, -32(sp)",
    "    ld t1, -24(sp)",
    "    ld t0, -16(sp)",
    "    j capmon_sdk_entry_recorded",
    ".popsection",
    cgettag_t0_ct0 = const words::CGETTAG_T0_CT0,
    cgettag_t1_c0 = const words::CGETTAG_T1_C0,
    cgettag_step = const words::CGETTAG_T1_STEP,
    cspecialr_ct1_ddc = const words::CSPECIALR_CT1_DDC,
    bit_ddc = const cap_tag_bit::DDC,
    bit_recorded = const cap_tag_bit::RECORDED,
);

/// The raw CHERI words `_start` (and the `scrub` test cVM, which fills these registers) uses,
/// each checked against the monitor's tested encoders in this module's tests. A `_STEP` is
/// what one register number adds to a word whose register fields all name the same register
/// (`gctag x<n>, c<n>` = `GCTAG_X0_C0 + n * GCTAG_SELF_STEP`), so `.irp` loops can name them.
pub mod words {
    // Morello.
    /// `gctag x0, c0`.
    pub const GCTAG_X0_C0: u32 = 0xC2C09000;
    /// `gctag x<n>, c<n>` − `gctag x0, c0`, per n (Xd bits 4:0, Cn bits 9:5).
    pub const GCTAG_SELF_STEP: u32 = 0x21;
    /// `chktgd csp`: the C flag := CSP's tag.
    pub const CHKTGD_CSP: u32 = 0xC2C233E1;
    /// `gctag x1, c0`.
    pub const GCTAG_X1_C0: u32 = 0xC2C09001;
    /// `gcvalue x1, c0`.
    pub const GCVALUE_X1_C0: u32 = 0xC2C05001;
    /// `cfhi x1, c0`: the upper 64 bits.
    pub const CFHI_X1_C0: u32 = 0xC2C15001;
    /// `mrs c0, DDC` (RDDC_EL0 in Restricted mode).
    pub const MRS_C0_DDC: u32 = 0xC29B4120;
    /// `mrs c0, CTPIDR_EL0` (RCTPIDR_EL0 in Restricted mode).
    pub const MRS_C0_CTPIDR: u32 = 0xC29BD040;
    /// `mrs c0, CTPIDRRO_EL0`.
    pub const MRS_C0_CTPIDRRO: u32 = 0xC29BD060;
    /// `mrs c0, CID_EL0`.
    pub const MRS_C0_CID: u32 = 0xC29BD0E0;
    /// `mrs c9, DDC`.
    pub const MRS_C9_DDC: u32 = 0xC29B4129;
    /// `msr CID_EL0, c9`.
    pub const MSR_CID_C9: u32 = 0xC28BD0E9;
    /// `msr CTPIDR_EL0, c9`.
    pub const MSR_CTPIDR_C9: u32 = 0xC28BD049;
    /// `gcvalue x0, c9`.
    pub const GCVALUE_X0_C9: u32 = 0xC2C05120;
    /// `cvtd c0, x0`: a capability from DDC with address x0.
    pub const CVTD_C0_X0: u32 = 0xC2C59000;
    /// `cvtd c<n>, x<n>` − `cvtd c0, x0`, per n (Cd bits 4:0, Xn bits 9:5).
    pub const CVTD_SELF_STEP: u32 = 0x21;

    // CHERI-RISC-V (ISAv9).
    /// `cgettag t0, ct0`.
    pub const CGETTAG_T0_CT0: u32 = 0xFE4282DB;
    /// `cgettag t1, c0`.
    pub const CGETTAG_T1_C0: u32 = 0xFE40035B;
    /// `cgettag t1, c<n>` − `cgettag t1, c0`, per n (cs1 bits 19:15).
    pub const CGETTAG_T1_STEP: u32 = 0x8000;
    /// `cspecialr ct1, ddc` (`cspecialrw ct1, ddc, c0`).
    pub const CSPECIALR_CT1_DDC: u32 = 0x0210035B;
    /// `cspecialr ca0, ddc`.
    pub const CSPECIALR_CA0_DDC: u32 = 0x0210055B;
    /// `cgetaddr a7, ca0`.
    pub const CGETADDR_A7_CA0: u32 = 0xFEF508DB;
    /// `csetaddr c0, ca0, x0`.
    pub const CSETADDR_C0_CA0_X0: u32 = 0x2005005B;
    /// `csetaddr c<n>, ca0, x<n>` − `csetaddr c0, ca0, x0`, per n (cd bits 11:7, rs2 24:20).
    pub const CSETADDR_SELF_STEP: u32 = 0x0010_0080;
}

/// The Rust side of `_start`: wraps argv and runs the function named with `main!`.
#[cfg(target_os = "none")]
extern "C" fn capmon_sdk_start(argc: usize, argv: *const *const u8) -> ! {
    extern "Rust" {
        fn capmon_sdk_main(args: Args) -> i32;
    }
    // SAFETY: the monitor's entry contract (capmon_abi's crate docs): argv holds argc pointers
    // to NUL-terminated strings, all stored above the initial stack pointer, and the stack
    // grows down from there, so nothing ever overwrites them.
    let args = unsafe { Args::from_raw(argc, argv) };
    // SAFETY: `capmon_sdk::main!` defines `capmon_sdk_main` with exactly this signature (a
    // cVM without it fails to link rather than calling something else).
    let code = unsafe { capmon_sdk_main(args) };
    crate::exit(code)
}

/// Prints `panic: <message>` and exits with 101 (the code Rust programs use for a panic).
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::__print_line(format_args!("panic: {}", info.message()));
    crate::exit(101)
}

/// `main!`'s host side: runs `main` with the process's arguments and exits with its result.
#[cfg(not(target_os = "none"))]
pub fn __host_main(main: fn(Args) -> i32) -> ! {
    use std::ffi::CString;
    use std::vec::Vec;

    // Leaked on purpose: Args hands out 'static strings, as on the target.
    let strings: &'static [CString] = Vec::leak(
        std::env::args_os()
            .map(|a| CString::new(a.into_encoded_bytes()).unwrap_or_default())
            .collect(),
    );
    let mut argv: Vec<*const u8> = strings.iter().map(|s| s.as_ptr().cast()).collect();
    argv.push(core::ptr::null());
    let argv: &'static [*const u8] = Vec::leak(argv);
    // SAFETY: argv holds strings.len() pointers to the NUL-terminated, leaked CStrings.
    let args = unsafe { Args::from_raw(strings.len(), argv.as_ptr()) };
    crate::exit(main(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_words_match_the_monitor_encoders() {
        use capmon::arch::insn::cheri_riscv as r;
        use capmon::arch::insn::morello::{self as m, sysreg};
        use words::*;
        let mut cases: std::vec::Vec<(std::string::String, u32, u32)> = std::vec![];
        let mut case = |name: &str, word: u32, encoded: u32| {
            cases.push((name.into(), word, encoded));
        };
        case("CHKTGD_CSP", CHKTGD_CSP, m::chktgd(31));
        case("GCTAG_X1_C0", GCTAG_X1_C0, m::gctag(1, 0));
        case("GCVALUE_X1_C0", GCVALUE_X1_C0, m::gcvalue(1, 0));
        case("CFHI_X1_C0", CFHI_X1_C0, m::cfhi(1, 0));
        case("MRS_C0_DDC", MRS_C0_DDC, m::mrs_cap(0, sysreg::DDC));
        case(
            "MRS_C0_CTPIDR",
            MRS_C0_CTPIDR,
            m::mrs_cap(0, sysreg::CTPIDR_EL0),
        );
        case(
            "MRS_C0_CTPIDRRO",
            MRS_C0_CTPIDRRO,
            m::mrs_cap(0, sysreg::CTPIDRRO_EL0),
        );
        case("MRS_C0_CID", MRS_C0_CID, m::mrs_cap(0, sysreg::CID_EL0));
        case("MRS_C9_DDC", MRS_C9_DDC, m::mrs_cap(9, sysreg::DDC));
        case("MSR_CID_C9", MSR_CID_C9, m::msr_cap(sysreg::CID_EL0, 9));
        case(
            "MSR_CTPIDR_C9",
            MSR_CTPIDR_C9,
            m::msr_cap(sysreg::CTPIDR_EL0, 9),
        );
        case("GCVALUE_X0_C9", GCVALUE_X0_C9, m::gcvalue(0, 9));
        for n in 0..31 {
            case(
                "gctag x<n>, c<n>",
                GCTAG_X0_C0 + n * GCTAG_SELF_STEP,
                m::gctag(n, n),
            );
            case(
                "cvtd c<n>, x<n>",
                CVTD_C0_X0 + n * CVTD_SELF_STEP,
                m::cvtd(n, n),
            );
        }
        case("CGETTAG_T0_CT0", CGETTAG_T0_CT0, r::cgettag(5, 5));
        case(
            "CSPECIALR_CT1_DDC",
            CSPECIALR_CT1_DDC,
            r::cspecialrw(6, r::scr::DDC, 0),
        );
        case(
            "CSPECIALR_CA0_DDC",
            CSPECIALR_CA0_DDC,
            r::cspecialrw(10, r::scr::DDC, 0),
        );
        case("CGETADDR_A7_CA0", CGETADDR_A7_CA0, r::cgetaddr(17, 10));
        for n in 0..32 {
            case(
                "cgettag t1, c<n>",
                CGETTAG_T1_C0 + n * CGETTAG_T1_STEP,
                r::cgettag(6, n),
            );
            case(
                "csetaddr c<n>, ca0, x<n>",
                CSETADDR_C0_CA0_X0 + n * CSETADDR_SELF_STEP,
                r::csetaddr(n, 10, n),
            );
        }
        let wrong: std::vec::Vec<std::string::String> = cases
            .iter()
            .filter(|(_, word, encoded)| word != encoded)
            .map(|(name, word, encoded)| {
                std::format!("{name}: {word:#010x}, encoder {encoded:#010x}")
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn args_iterate_like_argv() {
        let strings = [c"hello".as_ptr(), c"a b".as_ptr(), c"\xff".as_ptr()];
        let argv: [*const u8; 4] = [
            strings[0].cast(),
            strings[1].cast(),
            strings[2].cast(),
            core::ptr::null(),
        ];
        // SAFETY: three valid C strings (literals, 'static) then a null pointer.
        let args = unsafe { Args::from_raw(3, argv.as_ptr()) };
        assert_eq!(args.len(), 3);
        let all: std::vec::Vec<&str> = args.clone().collect();
        assert_eq!(all, ["hello", "a b", "?"]);
        let mut rest = args;
        rest.next();
        assert_eq!(std::format!("{rest:?}"), r#"["a b", "?"]"#);
        assert_eq!(rest.len(), 2);
        // SAFETY: argc 0 never reads argv.
        assert_eq!(unsafe { Args::from_raw(0, core::ptr::null()) }.count(), 0);
        // SAFETY: a null argv is treated as empty whatever argc says.
        assert_eq!(unsafe { Args::from_raw(5, core::ptr::null()) }.count(), 0);
    }
}
