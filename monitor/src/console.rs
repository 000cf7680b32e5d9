//! The monitor's console: `print!`/`println!`, the `log` backend and line input.
//!
//! Output is polled (the console is slow but simple, and a fault report must get out even
//! with interrupts masked). Input is interrupt-driven: the UART's receive interrupt moves
//! bytes into a small ring that `read_line` drains.

use core::fmt::{self, Write};

use spin::Mutex;

use crate::drivers::uart::Uart;

/// Lock order: `CONSOLE` is a leaf lock; nothing else is taken while it is held.
static CONSOLE: Mutex<Option<Uart>> = Mutex::new(None);
static INPUT: Mutex<Ring> = Mutex::new(Ring::new());

/// Installs `uart` as the console (replacing the board's early one once the tree names one).
pub fn set_uart(uart: Uart) {
    uart.init();
    *CONSOLE.lock() = Some(uart);
}

pub fn enable_input_interrupt() {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        uart.enable_rx_interrupt();
    }
}

struct ConsoleWriter<'a>(&'a Uart);

impl Write for ConsoleWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                self.0.put_byte(b'\r');
            }
            self.0.put_byte(byte);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        // Writing to a UART cannot fail.
        let _ = ConsoleWriter(uart).write_fmt(args);
    }
}

/// Prints even if the console lock is held (by the code that just faulted or panicked).
///
/// # Safety
/// Call only on the way to stopping the machine: it may interleave with an interrupted
/// print, and it breaks the lock for good.
pub unsafe fn emergency_print(args: fmt::Arguments<'_>) {
    if CONSOLE.is_locked() {
        // SAFETY: the caller guarantees the interrupted lock holder never runs again.
        unsafe { CONSOLE.force_unlock() };
    }
    _print(args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Called from the console's interrupt: moves every received byte into the input ring.
pub fn handle_input_interrupt() {
    let console = CONSOLE.lock();
    if let Some(uart) = console.as_ref() {
        let mut input = INPUT.lock();
        while let Some(byte) = uart.try_get_byte() {
            input.push(byte);
        }
        uart.ack_interrupts();
    }
}

/// Takes one received byte, if any arrived.
pub fn take_input_byte() -> Option<u8> {
    INPUT.lock().pop()
}

/// A byte ring that drops new input when full (a person typing faster than the monitor reads
/// loses keystrokes, the monitor loses nothing else).
struct Ring {
    bytes: [u8; 256],
    head: usize,
    len: usize,
}

impl Ring {
    const fn new() -> Self {
        Ring {
            bytes: [0; 256],
            head: 0,
            len: 0,
        }
    }
    fn push(&mut self, byte: u8) {
        if self.len < self.bytes.len() {
            let tail = (self.head + self.len) % self.bytes.len();
            self.bytes[tail] = byte;
            self.len += 1;
        }
    }
    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.bytes[self.head];
        self.head = (self.head + 1) % self.bytes.len();
        self.len -= 1;
        Some(byte)
    }
}

/// Collects input bytes into a line; returns true when Enter completes it.
/// Backspace edits; other control bytes are ignored; overlong lines are cut.
pub fn line_edit(line: &mut crate::fixed::FixedVec<u8, 128>, byte: u8) -> bool {
    match byte {
        b'\r' | b'\n' => true,
        0x08 | 0x7f => {
            if !line.is_empty() {
                let last = line.len() - 1;
                line.remove(last);
            }
            false
        }
        0x20..=0x7e => {
            let _ = line.push(byte);
            false
        }
        _ => false,
    }
}

/// The `log` backend: one line per record, on the console.
struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Crates capmon uses (virtio-drivers) log routine steps at `info`; capmon prints its
        // own line per device, so their `info` counts as debug output (warnings stay).
        let level = match metadata.level() {
            log::Level::Info if !metadata.target().starts_with("capmon") => log::Level::Debug,
            level => level,
        };
        level <= log::max_level()
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            crate::println!("[{:5}] {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// The log level chosen at build time (`CAPMON_LOG=debug just ...`), `info` by default.
pub fn build_time_level() -> log::LevelFilter {
    option_env!("CAPMON_LOG")
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Info)
}

pub fn init_logger(level: log::LevelFilter) {
    // A second call (there is none) would just keep the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::FixedVec;

    #[test]
    fn ring_keeps_order_and_drops_overflow() {
        let mut r = Ring::new();
        for i in 0..300u32 {
            r.push((i % 256).to_le_bytes()[0]);
        }
        for i in 0..256u32 {
            assert_eq!(r.pop(), Some(i.to_le_bytes()[0]));
        }
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn line_editing() {
        let mut line = FixedVec::new();
        for &b in b"helo\x7flo\x01" {
            assert!(!line_edit(&mut line, b));
        }
        assert!(line_edit(&mut line, b'\r'));
        assert_eq!(&*line, b"hello");
    }
}
