//! A copyable inline string for names read from the device tree before the heap exists.

use core::fmt;

/// Up to `N` bytes of UTF-8, stored inline. Longer input is cut at a character boundary and
/// remembered as truncated, so a banner can say so instead of silently showing a prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedStr<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> FixedStr<N> {
    pub const fn new() -> Self {
        FixedStr {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// Copies `s`, truncating at a character boundary if it does not fit.
    pub fn from_str_truncating(s: &str) -> Self {
        let mut out = Self::new();
        out.push_str(s);
        out
    }

    /// Copies a device-tree string: everything before the first NUL, with bytes that are not
    /// UTF-8 replaced by `?` (the tree is untrusted; the banner must still print).
    pub fn from_dt_bytes(bytes: &[u8]) -> Self {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let mut out = Self::new();
        for chunk in bytes.get(..end).unwrap_or(&[]).utf8_chunks() {
            out.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                out.push_str("?");
            }
        }
        out
    }

    /// Appends as much of `s` as fits; returns false (and marks the string truncated) if not all.
    pub fn push_str(&mut self, s: &str) -> bool {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            s.as_bytes().get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
        if take < s.len() {
            self.truncated = true;
        }
        !self.truncated
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail; "" keeps it panic-free.
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when some input did not fit.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for FixedStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Truncation is not an error: a long path in an error message is still useful cut short.
        self.push_str(s);
        Ok(())
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_char_boundary_and_replaces_bad_utf8() {
        let s = FixedStr::<4>::from_str_truncating("abé!");
        assert_eq!(s.as_str(), "abé");
        assert!(s.is_truncated());
        let s = FixedStr::<8>::from_dt_bytes(b"a\xffb\0ignored");
        assert_eq!(s.as_str(), "a?b");
        assert!(!s.is_truncated());
        let s = FixedStr::<3>::from_str_truncating("abc");
        assert_eq!((s.as_str(), s.is_truncated()), ("abc", false));
        assert_eq!(
            std::format!("{}", FixedStr::<2>::from_str_truncating("xyz")),
            "xy..."
        );
    }
}
