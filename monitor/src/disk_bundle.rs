//! A cVM bundle on the first virtio-blk disk: when the loader handed over no initrd, a disk
//! whose first sector starts a device tree (FDT magic) holds the bundle, `totalsize` bytes
//! from sector 0. Only its size is checked here (against a limit and the disk's capacity);
//! its contents go to the same `cvm::manifest::parse_bundle` as an embedded bundle's.
//!
//! The bytes are copied into the monitor's heap (the disk is not memory), so a bundle may be
//! at most [`MAX_DISK_BUNDLE`] bytes; larger ones belong in an initrd.

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;

use capmon_abi::SECTOR_SIZE;

/// The largest bundle read from a disk: a quarter of the monitor's 4 MiB heap, which also
/// holds page tables, DMA bounce buffers and the cVMs' bookkeeping.
pub const MAX_DISK_BUNDLE: u64 = 1 << 20;
/// The device-tree header's magic, big-endian.
const FDT_MAGIC: u32 = 0xd00d_feed;
/// The smallest header (version 17) a device tree can have.
const FDT_HEADER: u64 = 40;
/// Sectors per read: the driver's largest request (its 64 KiB bounce buffer).
const SECTORS_PER_READ: u64 = 128;

/// Why a disk's bundle cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskBundleError {
    /// `totalsize` is smaller than a device-tree header.
    TooSmall { size: u64 },
    /// Larger than [`MAX_DISK_BUNDLE`].
    TooLarge { size: u64 },
    /// Runs past the end of the disk.
    PastEnd { size: u64, capacity: u64 },
    /// The device failed a read.
    Read { sector: u64 },
}

impl fmt::Display for DiskBundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskBundleError::TooSmall { size } => {
                write!(f, "its header says {size} bytes, less than a header")
            }
            DiskBundleError::TooLarge { size } => write!(
                f,
                "it is {size} bytes; a bundle on a disk may be at most {MAX_DISK_BUNDLE} bytes \
                 (pass a larger one as an initrd)"
            ),
            DiskBundleError::PastEnd { size, capacity } => write!(
                f,
                "it is {size} bytes, but the disk holds only {capacity} bytes"
            ),
            DiskBundleError::Read { sector } => write!(f, "reading sector {sector} failed"),
        }
    }
}

/// The bundle's size if `sector0` starts a device tree (`Ok(None)`: no bundle on this disk).
pub fn bundle_size(sector0: &[u8], capacity_bytes: u64) -> Result<Option<u64>, DiskBundleError> {
    let word = |at: usize| {
        sector0
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    if word(0) != Some(FDT_MAGIC) {
        return Ok(None);
    }
    let size = u64::from(word(4).unwrap_or(0));
    if size < FDT_HEADER {
        return Err(DiskBundleError::TooSmall { size });
    }
    if size > MAX_DISK_BUNDLE {
        return Err(DiskBundleError::TooLarge { size });
    }
    if size > capacity_bytes {
        return Err(DiskBundleError::PastEnd {
            size,
            capacity: capacity_bytes,
        });
    }
    Ok(Some(size))
}

/// Reads the bundle from a disk of `capacity_sectors` through `read(sector, buffer)` (whole
/// sectors, at most 64 KiB at a time); `Ok(None)` if the disk holds none. The bytes are
/// leaked to live as long as the cVMs that are loaded from them.
pub fn load(
    capacity_sectors: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> bool,
) -> Result<Option<&'static [u8]>, DiskBundleError> {
    let mut first = [0u8; 512];
    if capacity_sectors == 0 {
        return Ok(None);
    }
    if !read(0, &mut first) {
        return Err(DiskBundleError::Read { sector: 0 });
    }
    let capacity = capacity_sectors.saturating_mul(SECTOR_SIZE);
    let Some(size) = bundle_size(&first, capacity)? else {
        return Ok(None);
    };
    let sectors = size.div_ceil(SECTOR_SIZE);
    // u64 words: the device-tree reader wants the blob 8-byte aligned.
    let words = usize::try_from(sectors * SECTOR_SIZE / 8).unwrap_or(0);
    let buffer: &'static mut [u64] = Box::leak(vec![0u64; words].into_boxed_slice());
    let bytes: &'static mut [u8] = bytemuck_bytes(buffer);
    let mut sector = 0;
    while sector < sectors {
        let count = SECTORS_PER_READ.min(sectors - sector);
        let (start, end) = (sector * SECTOR_SIZE, (sector + count) * SECTOR_SIZE);
        let chunk = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| bytes.get_mut(s..e))
            .ok_or(DiskBundleError::Read { sector })?;
        if !read(sector, chunk) {
            return Err(DiskBundleError::Read { sector });
        }
        sector += count;
    }
    let len = usize::try_from(size).unwrap_or(0);
    Ok(bytes.get(..len))
}

/// The bytes of a word buffer.
fn bytemuck_bytes(words: &'static mut [u64]) -> &'static mut [u8] {
    let len = words.len() * 8;
    // SAFETY: `words` is a valid, exclusively borrowed allocation of `len` bytes; u8 has no
    // alignment or validity requirements, and every byte of a u64 is initialised. The u64
    // borrow is consumed, so the bytes are the only view.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;
    use std::vec::Vec;

    use super::*;

    fn header(size: u32) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[0..4].copy_from_slice(&FDT_MAGIC.to_be_bytes());
        s[4..8].copy_from_slice(&size.to_be_bytes());
        s
    }

    #[test]
    fn sizes() {
        assert_eq!(bundle_size(&[0u8; 512], 1 << 20), Ok(None));
        assert_eq!(bundle_size(&[], 1 << 20), Ok(None));
        assert_eq!(bundle_size(&header(4096), 1 << 20), Ok(Some(4096)));
        assert_eq!(
            bundle_size(&header(8), 1 << 20),
            Err(DiskBundleError::TooSmall { size: 8 })
        );
        assert_eq!(
            bundle_size(&header(2 << 20), 4 << 20)
                .expect_err("large")
                .to_string(),
            "it is 2097152 bytes; a bundle on a disk may be at most 1048576 bytes (pass a \
             larger one as an initrd)"
        );
        assert_eq!(
            bundle_size(&header(4096), 2048)
                .expect_err("past end")
                .to_string(),
            "it is 4096 bytes, but the disk holds only 2048 bytes"
        );
    }

    /// A disk of `sectors` holding `bytes` from sector 0, counting the reads.
    fn disk(bytes: Vec<u8>, sectors: u64) -> (Vec<u8>, u64) {
        let mut d = bytes;
        d.resize(usize::try_from(sectors * 512).expect("size"), 0);
        (d, sectors)
    }

    #[test]
    fn loads_across_several_reads() {
        let size = 200_000u32;
        let mut content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        content[..512].copy_from_slice(&header(size));
        let (d, sectors) = disk(content.clone(), 1024);
        let mut reads = Vec::new();
        let got = load(sectors, |sector, out| {
            reads.push((sector, out.len()));
            let at = usize::try_from(sector * 512).expect("offset");
            out.copy_from_slice(&d[at..at + out.len()]);
            true
        })
        .expect("loads")
        .expect("a bundle");
        assert_eq!(got, &content[..]);
        assert_eq!(got.as_ptr().align_offset(8), 0);
        // Sector 0 alone, then 64 KiB pieces: 391 sectors in all.
        assert_eq!(
            reads,
            [
                (0, 512),
                (0, 65536),
                (128, 65536),
                (256, 65536),
                (384, 3584)
            ]
        );
    }

    #[test]
    fn no_bundle_and_failures() {
        assert_eq!(load(0, |_, _| true), Ok(None));
        assert_eq!(load(8, |_, _| true), Ok(None)); // zeroes: no magic
        assert_eq!(
            load(8, |_, _| false),
            Err(DiskBundleError::Read { sector: 0 })
        );
        let (d, sectors) = disk(header(4096).to_vec(), 16);
        let mut calls = 0;
        let r = load(sectors, |sector, out| {
            calls += 1;
            let at = usize::try_from(sector * 512).expect("offset");
            out.copy_from_slice(&d[at..at + out.len()]);
            calls == 1
        });
        assert_eq!(r, Err(DiskBundleError::Read { sector: 0 }));
        // Truncated: the header claims more than the disk holds.
        let (_, sectors) = disk(Vec::new(), 4);
        assert_eq!(
            load(sectors, |_, out| {
                out[..512].copy_from_slice(&header(4096));
                true
            }),
            Err(DiskBundleError::PastEnd {
                size: 4096,
                capacity: 2048
            })
        );
    }
}
