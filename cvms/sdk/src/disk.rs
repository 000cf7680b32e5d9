//! The disk hostcalls: whole 512-byte sectors of the cVM's disk grant, numbered from the start
//! of the grant (sector 0 is the grant's first sector, whatever it is on the device).
//!
//! Every call returns [`Error::Denied`] for a cVM whose manifest grants no disk; writes and
//! flushes also on a read-only grant.

use capmon_abi::{Error, Hostcall, SECTOR_SIZE};

use crate::{check, hostcall};

/// Bytes per sector, as a `usize` for buffer arithmetic.
pub const SECTOR: usize = 512;
const _: () = assert!(SECTOR as u64 == SECTOR_SIZE);

/// The size of the grant, in sectors.
pub fn capacity() -> Result<u64, Error> {
    // SAFETY: DiskCapacity takes no pointer.
    check(unsafe { hostcall(Hostcall::DiskCapacity, [0; 6]) })
}

/// Whole sectors in `len` bytes; a buffer that is not a multiple of the sector size is an
/// argument error, found here rather than by the monitor.
fn sectors_in(len: usize) -> Result<u64, Error> {
    if !len.is_multiple_of(SECTOR) {
        return Err(Error::Invalid);
    }
    u64::try_from(len / SECTOR).map_err(|_| Error::Invalid)
}

/// Reads `buf.len() / 512` sectors starting at `sector`. The monitor moves at most
/// [`crate::DISK_MAX_SECTORS`] per call: returns how many sectors it read (use
/// [`read_all`] for more). A buffer on a 128-byte boundary is handed to the device itself,
/// with no copy through the monitor (16 bytes suffice for a device coherent with the caches,
/// as QEMU's are); after an error it may hold part of what was read.
pub fn read(sector: u64, buf: &mut [u8]) -> Result<u64, Error> {
    let count = sectors_in(buf.len())?;
    // SAFETY: the monitor writes at most `count * 512 = buf.len()` bytes at `buf`, which is
    // exclusively borrowed and valid for writes of that length.
    check(unsafe {
        hostcall(
            Hostcall::DiskRead,
            [sector, buf.as_mut_ptr() as u64, count, 0, 0, 0],
        )
    })
}

/// Writes `buf` (a whole number of sectors) starting at `sector`; returns how many sectors
/// the monitor wrote (at most [`crate::DISK_MAX_SECTORS`]).
pub fn write(sector: u64, buf: &[u8]) -> Result<u64, Error> {
    let count = sectors_in(buf.len())?;
    // SAFETY: DiskWrite only reads the caller's memory, so no Rust object can be changed.
    check(unsafe {
        hostcall(
            Hostcall::DiskWrite,
            [sector, buf.as_ptr() as u64, count, 0, 0, 0],
        )
    })
}

/// The bytes `done` sectors cover, checked against the `left` bytes still to move: a monitor
/// that moves nothing (or more than asked) would make the `_all` loops spin, so it is an error.
fn bytes_done(done: u64, left: usize) -> Result<usize, Error> {
    let bytes = usize::try_from(done)
        .map_err(|_| Error::Io)?
        .saturating_mul(SECTOR);
    if done == 0 || bytes > left {
        return Err(Error::Io);
    }
    Ok(bytes)
}

/// Reads all of `buf`, in as many calls as needed.
pub fn read_all(mut sector: u64, mut buf: &mut [u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        let done = read(sector, buf)?;
        let bytes = bytes_done(done, buf.len())?;
        sector += done;
        buf = &mut buf[bytes..];
    }
    Ok(())
}

/// Writes all of `buf`, in as many calls as needed.
pub fn write_all(mut sector: u64, mut buf: &[u8]) -> Result<(), Error> {
    while !buf.is_empty() {
        let done = write(sector, buf)?;
        let bytes = bytes_done(done, buf.len())?;
        sector += done;
        buf = &buf[bytes..];
    }
    Ok(())
}

/// Returns once every write completed so far is on stable storage.
pub fn flush() -> Result<(), Error> {
    // SAFETY: DiskFlush takes no pointer.
    check(unsafe { hostcall(Hostcall::DiskFlush, [0; 6]) }).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_has_no_grant_and_odd_buffers_are_refused_locally() {
        assert_eq!(capacity(), Err(Error::Denied));
        assert_eq!(read(0, &mut [0; 512]), Err(Error::Denied));
        assert_eq!(write(0, &[0; 1024]), Err(Error::Denied));
        assert_eq!(flush(), Err(Error::Denied));
        assert_eq!(read(0, &mut [0; 100]), Err(Error::Invalid));
        assert_eq!(write_all(0, &[0; 513]), Err(Error::Invalid));
    }
}
