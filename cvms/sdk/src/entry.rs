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
}

/// Filled by `_start` (offsets: x 0, fp 256, fp_status 768, tls 784), read-only afterwards.
#[cfg(target_os = "none")]
static mut ENTRY_REGISTERS: EntryRegisters = EntryRegisters {
    x: [0; 32],
    fp: [[0; 2]; 32],
    fp_status: [0; 2],
    tls: [0; 2],
};

const _: () = {
    assert!(core::mem::offset_of!(EntryRegisters, fp) == 256);
    assert!(core::mem::offset_of!(EntryRegisters, fp_status) == 768);
    assert!(core::mem::offset_of!(EntryRegisters, tls) == 784);
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
    }
}

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", %progbits",
    ".arch_extension fp",
    ".arch_extension simd",
    ".global _start",
    ".type _start, %function",
    "_start:",
    // Record the registers: x29/x30 parked on the stack while x29 holds the record's address.
    "    stp x29, x30, [sp, #-16]!",
    "    adrp x29, {regs}",
    "    add x29, x29, :lo12:{regs}",
    "    stp x0, x1, [x29, #0]",     "    stp x2, x3, [x29, #16]",
    "    stp x4, x5, [x29, #32]",    "    stp x6, x7, [x29, #48]",
    "    stp x8, x9, [x29, #64]",    "    stp x10, x11, [x29, #80]",
    "    stp x12, x13, [x29, #96]",  "    stp x14, x15, [x29, #112]",
    "    stp x16, x17, [x29, #128]", "    stp x18, x19, [x29, #144]",
    "    stp x20, x21, [x29, #160]", "    stp x22, x23, [x29, #176]",
    "    stp x24, x25, [x29, #192]", "    stp x26, x27, [x29, #208]",
    "    str x28, [x29, #224]",
    "    ldp x0, x1, [sp], #16",
    "    stp x0, x1, [x29, #232]",
    "    stp q0, q1, [x29, #256]",   "    stp q2, q3, [x29, #288]",
    "    stp q4, q5, [x29, #320]",   "    stp q6, q7, [x29, #352]",
    "    stp q8, q9, [x29, #384]",   "    stp q10, q11, [x29, #416]",
    "    stp q12, q13, [x29, #448]", "    stp q14, q15, [x29, #480]",
    "    stp q16, q17, [x29, #512]", "    stp q18, q19, [x29, #544]",
    "    stp q20, q21, [x29, #576]", "    stp q22, q23, [x29, #608]",
    "    stp q24, q25, [x29, #640]", "    stp q26, q27, [x29, #672]",
    "    stp q28, q29, [x29, #704]", "    stp q30, q31, [x29, #736]",
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

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", @progbits",
    ".global _start",
    ".type _start, @function",
    "_start:",
    // Record the registers: t0 (x5) parked on the stack while it holds the record's address.
    "    addi sp, sp, -16",
    "    sd t0, 0(sp)",
    "    lla t0, {regs}",
    "    sd x1, 8(t0)",    "    sd x3, 24(t0)",   "    sd x4, 32(t0)",   "    sd x6, 48(t0)",
    "    sd x7, 56(t0)",   "    sd x8, 64(t0)",   "    sd x9, 72(t0)",   "    sd x10, 80(t0)",
    "    sd x11, 88(t0)",  "    sd x12, 96(t0)",  "    sd x13, 104(t0)", "    sd x14, 112(t0)",
    "    sd x15, 120(t0)", "    sd x16, 128(t0)", "    sd x17, 136(t0)", "    sd x18, 144(t0)",
    "    sd x19, 152(t0)", "    sd x20, 160(t0)", "    sd x21, 168(t0)", "    sd x22, 176(t0)",
    "    sd x23, 184(t0)", "    sd x24, 192(t0)", "    sd x25, 200(t0)", "    sd x26, 208(t0)",
    "    sd x27, 216(t0)", "    sd x28, 224(t0)", "    sd x29, 232(t0)", "    sd x30, 240(t0)",
    "    sd x31, 248(t0)",
    "    ld t1, 0(sp)",
    "    sd t1, 40(t0)",
    "    addi sp, sp, 16",
    "    sd sp, 16(t0)",
    // The cVM target may be built without F/D (soft float); the registers exist whatever.
    "    .option push",
    "    .option arch, +d",
    "    fsd f0, 256(t0)",  "    fsd f1, 272(t0)",  "    fsd f2, 288(t0)",  "    fsd f3, 304(t0)",
    "    fsd f4, 320(t0)",  "    fsd f5, 336(t0)",  "    fsd f6, 352(t0)",  "    fsd f7, 368(t0)",
    "    fsd f8, 384(t0)",  "    fsd f9, 400(t0)",  "    fsd f10, 416(t0)", "    fsd f11, 432(t0)",
    "    fsd f12, 448(t0)", "    fsd f13, 464(t0)", "    fsd f14, 480(t0)", "    fsd f15, 496(t0)",
    "    fsd f16, 512(t0)", "    fsd f17, 528(t0)", "    fsd f18, 544(t0)", "    fsd f19, 560(t0)",
    "    fsd f20, 576(t0)", "    fsd f21, 592(t0)", "    fsd f22, 608(t0)", "    fsd f23, 624(t0)",
    "    fsd f24, 640(t0)", "    fsd f25, 656(t0)", "    fsd f26, 672(t0)", "    fsd f27, 688(t0)",
    "    fsd f28, 704(t0)", "    fsd f29, 720(t0)", "    fsd f30, 736(t0)", "    fsd f31, 752(t0)",
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
