//! Image size of a monitor ELF (text + data + bss), read from its section or program headers.
//!
//! A tiny reader for 64-bit little-endian ELF (both capmon targets), so the runner needs no
//! ELF crate: `size`-style accounting over the SHF_ALLOC sections, falling back to the PT_LOAD
//! segments' memory sizes for an image without section headers.

use std::fmt;
use std::path::Path;

const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;
const SHF_TLS: u64 = 0x400;
const SHT_NOBITS: u32 = 8;
const PT_LOAD: u32 = 1;

/// How much memory an image occupies once loaded, split like binutils' `size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageSize {
    /// Read-only allocated bytes: code and read-only data.
    pub text: u64,
    /// Writable, initialised bytes.
    pub data: u64,
    /// Writable, zero-initialised bytes (not in the file).
    pub bss: u64,
}

impl ImageSize {
    pub fn total(&self) -> u64 {
        self.text + self.data + self.bss
    }
}

impl fmt::Display for ImageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes ({:.1} KiB: text {}, data {}, bss {})",
            self.total(),
            self.total() as f64 / 1024.0,
            self.text,
            self.data,
            self.bss
        )
    }
}

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn to_usize(v: u64, what: &str) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("ELF {what} {v:#x} does not fit in memory"))
}

/// Table location read from the ELF header: offset, entry size, entry count.
fn table(
    b: &[u8],
    off_at: usize,
    entsize_at: usize,
    num_at: usize,
) -> Result<(usize, usize, usize), String> {
    let truncated = || "ELF header truncated".to_string();
    let off = to_usize(read_u64(b, off_at).ok_or_else(truncated)?, "table offset")?;
    let entsize = usize::from(read_u16(b, entsize_at).ok_or_else(truncated)?);
    let num = usize::from(read_u16(b, num_at).ok_or_else(truncated)?);
    Ok((off, entsize, num))
}

/// Computes the image size of an ELF file's bytes.
pub fn image_size(b: &[u8]) -> Result<ImageSize, String> {
    if b.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file (bad magic)".to_string());
    }
    if b.get(4) != Some(&2) || b.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".to_string());
    }
    let (shoff, shentsize, shnum) = table(b, 0x28, 0x3a, 0x3c)?;
    if shoff != 0 && shnum != 0 {
        if shentsize < 0x28 {
            return Err(format!("ELF section header size {shentsize} is too small"));
        }
        let mut size = ImageSize::default();
        for i in 0..shnum {
            let at = shoff + i * shentsize;
            let bad = || format!("ELF section header {i} lies outside the file");
            let kind = read_u32(b, at + 4).ok_or_else(bad)?;
            let flags = read_u64(b, at + 8).ok_or_else(bad)?;
            let len = read_u64(b, at + 0x20).ok_or_else(bad)?;
            // Thread-local templates are not memory the monitor occupies by themselves.
            if flags & SHF_ALLOC == 0 || flags & SHF_TLS != 0 {
                continue;
            }
            if kind == SHT_NOBITS {
                size.bss += len;
            } else if flags & SHF_WRITE != 0 {
                size.data += len;
            } else {
                size.text += len;
            }
        }
        return Ok(size);
    }
    let (phoff, phentsize, phnum) = table(b, 0x20, 0x36, 0x38)?;
    if phoff == 0 || phnum == 0 {
        return Err("ELF file has neither section nor program headers".to_string());
    }
    if phentsize < 0x38 {
        return Err(format!("ELF program header size {phentsize} is too small"));
    }
    let mut size = ImageSize::default();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let bad = || format!("ELF program header {i} lies outside the file");
        if read_u32(b, at).ok_or_else(bad)? != PT_LOAD {
            continue;
        }
        let flags = read_u32(b, at + 4).ok_or_else(bad)?;
        let filesz = read_u64(b, at + 0x20).ok_or_else(bad)?;
        let memsz = read_u64(b, at + 0x28).ok_or_else(bad)?;
        // Without sections the split is approximate: writable segments count as data plus
        // their zero-filled tail as bss.
        if flags & 0x2 != 0 {
            size.data += filesz;
            size.bss += memsz.saturating_sub(filesz);
        } else {
            size.text += memsz;
        }
    }
    Ok(size)
}

/// Reads an ELF file and computes its image size.
pub fn image_size_of(path: &Path) -> Result<ImageSize, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read image {}: {e}", path.display()))?;
    image_size(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal ELF64 LE with the given sections (type, flags, size) and program
    /// headers (type, flags, filesz, memsz).
    fn fake_elf(sections: &[(u32, u64, u64)], segments: &[(u32, u32, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 0x40];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        let phoff = b.len();
        for &(kind, flags, filesz, memsz) in segments {
            let mut ph = vec![0u8; 0x38];
            ph[0..4].copy_from_slice(&kind.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[0x20..0x28].copy_from_slice(&filesz.to_le_bytes());
            ph[0x28..0x30].copy_from_slice(&memsz.to_le_bytes());
            b.extend(ph);
        }
        let shoff = b.len();
        for &(kind, flags, size) in sections {
            let mut sh = vec![0u8; 0x40];
            sh[4..8].copy_from_slice(&kind.to_le_bytes());
            sh[8..16].copy_from_slice(&flags.to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            b.extend(sh);
        }
        if !segments.is_empty() {
            b[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
            b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
            b[0x38..0x3a].copy_from_slice(
                &u16::try_from(segments.len())
                    .expect("few segments")
                    .to_le_bytes(),
            );
        }
        if !sections.is_empty() {
            b[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
            b[0x3a..0x3c].copy_from_slice(&0x40u16.to_le_bytes());
            b[0x3c..0x3e].copy_from_slice(
                &u16::try_from(sections.len())
                    .expect("few sections")
                    .to_le_bytes(),
            );
        }
        b
    }

    #[test]
    fn sums_alloc_sections_like_size() {
        let elf = fake_elf(
            &[
                (0, 0, 0),                                         // null section
                (1, SHF_ALLOC | 0x4, 1000),                        // .text
                (1, SHF_ALLOC, 200),                               // .rodata
                (1, SHF_ALLOC | SHF_WRITE, 30),                    // .data
                (SHT_NOBITS, SHF_ALLOC | SHF_WRITE, 4096),         // .bss
                (1, 0, 99999),                                     // .debug_info: not loaded
                (SHT_NOBITS, SHF_ALLOC | SHF_WRITE | SHF_TLS, 64), // .tbss
            ],
            &[],
        );
        let size = image_size(&elf).expect("parses");
        assert_eq!(
            size,
            ImageSize {
                text: 1200,
                data: 30,
                bss: 4096
            }
        );
        assert_eq!(size.total(), 5326);
        assert!(size.to_string().starts_with("5326 bytes (5.2 KiB"));
    }

    #[test]
    fn falls_back_to_load_segments() {
        let elf = fake_elf(
            &[],
            &[(PT_LOAD, 5, 100, 100), (PT_LOAD, 6, 10, 50), (4, 4, 7, 7)],
        );
        assert_eq!(
            image_size(&elf),
            Ok(ImageSize {
                text: 100,
                data: 10,
                bss: 40
            })
        );
    }

    #[test]
    fn rejects_junk() {
        assert!(image_size(b"hello").unwrap_err().contains("magic"));
        let mut elf = fake_elf(&[(1, SHF_ALLOC, 1)], &[]);
        elf[4] = 1;
        assert!(image_size(&elf).unwrap_err().contains("64-bit"));
        let elf = fake_elf(&[(1, SHF_ALLOC, 1)], &[]);
        assert!(image_size(&elf[..elf.len() - 0x30])
            .unwrap_err()
            .contains("outside"));
    }
}
