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
    // x<n> at 8n (x0..x28), then x29/x30 from the stack; q<n> at 256 + 16n.
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28",
    "    str x\\n, [x29, #(\\n * 8)]",
    ".endr",
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
    // x<n> at 8n, but t0 (x5: from the stack) and sp (x2: once restored); f<n> at 256 + 16n.
    ".irp n, 1,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    sd x\\n, (\\n * 8)(t0)",
    ".endr",
    "    ld t1, 0(sp)",
    "    sd t1, 40(t0)",
    "    addi sp, sp, 16",
    "    sd sp, 16(t0)",
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
