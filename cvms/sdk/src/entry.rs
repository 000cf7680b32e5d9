//! The cVM entry point and panic handler, and the [`Args`] iterator over argv.
//!
//! The monitor enters a cVM at its ELF entry (`_start`, which `cvm.ld` puts first in `.text`)
//! with `x0`/`a0` = argc, `x1`/`a1` = argv and the stack pointer at the 16-byte aligned top of
//! the stack, below the argv strings. That is already the C calling convention for
//! `capmon_sdk_start(argc, argv)`, so `_start` only clears the frame-pointer and return-address
//! registers (stack walks end there) and calls it.

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

#[cfg(all(target_os = "none", target_arch = "aarch64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {start}",
    // capmon_sdk_start never returns; if it did, fault rather than run into whatever follows.
    "    udf #0",
    ".size _start, . - _start",
    ".popsection",
    start = sym capmon_sdk_start,
);

#[cfg(all(target_os = "none", target_arch = "riscv64"))]
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\", @progbits",
    ".global _start",
    ".type _start, @function",
    "_start:",
    "    mv ra, zero",
    "    mv s0, zero",
    // auipc + jalr: PC-relative, so it needs no relocation in the static PIE.
    "    call {start}",
    "    unimp",
    ".size _start, . - _start",
    ".popsection",
    start = sym capmon_sdk_start,
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
