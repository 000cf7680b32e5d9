//! Console output for `print!`/`println!`: formatted text is gathered in a small stack buffer
//! and written with as few hostcalls as possible, so one printed line normally reaches the
//! monitor whole (it labels cVM output per line; fewer, whole writes keep lines intact).

use core::fmt::{self, Write};

/// Bytes gathered before a hostcall; longer text is written in pieces of this size.
const BUF_SIZE: usize = 256;

struct ConsoleBuf {
    buf: [u8; BUF_SIZE],
    len: usize,
}

impl ConsoleBuf {
    const fn new() -> Self {
        ConsoleBuf {
            buf: [0; BUF_SIZE],
            len: 0,
        }
    }

    fn flush(&mut self) {
        // Printing has nowhere to report an error: a console that refuses output loses it.
        let _ = crate::console_write_all(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for ConsoleBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s.as_bytes();
        while !rest.is_empty() {
            if self.len == BUF_SIZE {
                self.flush();
            }
            let take = rest.len().min(BUF_SIZE - self.len);
            self.buf[self.len..self.len + take].copy_from_slice(&rest[..take]);
            self.len += take;
            rest = &rest[take..];
        }
        Ok(())
    }
}

/// `print!`'s implementation.
pub fn __print(args: fmt::Arguments<'_>) {
    let mut out = ConsoleBuf::new();
    let _ = out.write_fmt(args);
    out.flush();
}

/// `println!`'s implementation: the text and its newline in the same write.
pub fn __print_line(args: fmt::Arguments<'_>) {
    let mut out = ConsoleBuf::new();
    let _ = out.write_fmt(args);
    let _ = out.write_str("\n");
    out.flush();
}
