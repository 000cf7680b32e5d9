//! The record log the disk demo keeps on its grant, shared by `logger` and `reader`.
//!
//! ```text
//! sector 0        header: "CAPMONLG", record count (u64, little-endian), zeros
//! sector 1 ...    records, 64 bytes each, 8 per sector: record i is at byte 512 + 64 * i;
//!                 its text, NUL-padded (e.g. "record 2 from logger")
//! ```
//!
//! A grant whose sector 0 does not start with the magic holds an empty log.
#![no_std]

/// The first 8 bytes of the header sector.
pub const MAGIC: &[u8; 8] = b"CAPMONLG";
/// Bytes per sector (the disk hostcalls' unit).
pub const SECTOR: usize = capmon_sdk::disk::SECTOR;
/// Bytes per record.
pub const RECORD: usize = 64;
/// Records per sector.
pub const PER_SECTOR: u64 = (SECTOR / RECORD) as u64;

/// The record count a header sector holds (0 for a disk without a log).
pub fn count(header: &[u8]) -> u64 {
    match (header.get(..8), header.get(8..16)) {
        (Some(magic), Some(count)) if magic == MAGIC => {
            count.try_into().map(u64::from_le_bytes).unwrap_or(0)
        }
        _ => 0,
    }
}

/// The header sector for a log of `count` records.
pub fn header(count: u64) -> [u8; SECTOR] {
    let mut sector = [0; SECTOR];
    sector[..8].copy_from_slice(MAGIC);
    sector[8..16].copy_from_slice(&count.to_le_bytes());
    sector
}

/// Where record `i` lives: (grant-relative sector, byte offset in it).
pub fn place(i: u64) -> (u64, usize) {
    let offset = usize::try_from(i % PER_SECTOR).unwrap_or(0) * RECORD;
    (1 + i / PER_SECTOR, offset)
}

/// Record `i`'s bytes: `text`, cut to 63 bytes and NUL-padded.
pub fn record(text: &[u8]) -> [u8; RECORD] {
    let mut r = [0; RECORD];
    let n = text.len().min(RECORD - 1);
    r[..n].copy_from_slice(&text[..n]);
    r
}

/// Formats `record <i> from <who>` into `buf`; returns the bytes used.
pub fn record_text<'a>(buf: &'a mut [u8; RECORD], i: u64, who: &str) -> &'a [u8] {
    struct Cursor<'b> {
        buf: &'b mut [u8],
        len: usize,
    }
    impl core::fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self
                .len
                .checked_add(s.len())
                .filter(|&e| e <= self.buf.len())
                .ok_or(core::fmt::Error)?;
            self.buf[self.len..end].copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
    let mut c = Cursor {
        buf: &mut buf[..],
        len: 0,
    };
    // Too long a name is cut by the buffer, never written past it.
    let _ = core::fmt::write(&mut c, format_args!("record {i} from {who}"));
    let len = c.len;
    &buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_foreign_sectors_are_empty_logs() {
        assert_eq!(count(&header(5)), 5);
        assert_eq!(&header(2)[..16], b"CAPMONLG\x02\0\0\0\0\0\0\0");
        assert_eq!(count(&[0; SECTOR]), 0);
        assert_eq!(count(b"CAPMONLG"), 0, "truncated");
        assert_eq!(count(b"CAPMONLX\x01\0\0\0\0\0\0\0"), 0);
    }

    #[test]
    fn records_are_packed_eight_to_a_sector_after_the_header() {
        assert_eq!(place(0), (1, 0));
        assert_eq!(place(7), (1, 448));
        assert_eq!(place(8), (2, 0));
        assert_eq!(place(10), (2, 128));
        let mut buf = [0; RECORD];
        let text = record_text(&mut buf, 2, "logger");
        assert_eq!(text, b"record 2 from logger");
        let r = record(text);
        assert_eq!(&r[..20], b"record 2 from logger");
        assert!(r[20..].iter().all(|&b| b == 0));
        assert_eq!(record(&[b'x'; 100])[63], 0, "always NUL-terminated");
    }
}
