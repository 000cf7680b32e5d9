//! What a monitor panic does: report it on the console and power off with a fail verdict.
//! A panic is a capmon bug (bad input never panics); it must never loop or hang.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while reporting a panic: don't try the console again.
        crate::arch::current::power_off(false);
    }
    // SAFETY: the machine powers off right after; the interrupted print never resumes.
    unsafe { crate::console::emergency_print(format_args!("capmon: PANIC: {info}\n")) };
    crate::boot::finish(false)
}
