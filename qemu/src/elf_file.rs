//! The host tools' ELF handling, on the `elf` crate (the parser the monitor's own loader uses,
//! so host and monitor read images the same way): the image size of a monitor ELF (text +
//! data + bss, like binutils' `size`), the part of a cVM image the loader reads, and the
//! PT_LOAD segments the FIP packager flattens.

use std::fmt;
use std::path::Path;

use elf::abi::{PF_W, PT_DYNAMIC, PT_LOAD, SHF_ALLOC, SHF_TLS, SHF_WRITE, SHT_NOBITS};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::segment::ProgramHeader;
use elf::ElfBytes;

/// How much memory an image occupies once loaded, split like binutils' `size`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// Parses a 64-bit little-endian ELF file (both capmon architectures).
pub fn parse(bytes: &[u8]) -> Result<ElfBytes<'_, LittleEndian>, String> {
    if !bytes.starts_with(b"\x7fELF") {
        return Err("not an ELF file (bad magic)".to_string());
    }
    let file =
        ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(|e| match bytes.get(4..6) {
            Some([2, 1]) => format!("malformed ELF file: {e}"),
            _ => "not a 64-bit little-endian ELF file".to_string(),
        })?;
    if file.ehdr.class != Class::ELF64 {
        return Err("not a 64-bit little-endian ELF file".to_string());
    }
    Ok(file)
}

/// The program headers, or an error saying why they cannot be read.
pub fn segments(file: &ElfBytes<'_, LittleEndian>) -> Result<Vec<ProgramHeader>, String> {
    match file.segments() {
        Some(table) => Ok(table.iter().collect()),
        None => Ok(Vec::new()),
    }
}

/// Computes the image size of an ELF file's bytes: `size`-style accounting over the SHF_ALLOC
/// sections, falling back to the PT_LOAD segments for an image without section headers.
pub fn image_size(bytes: &[u8]) -> Result<ImageSize, String> {
    let file = parse(bytes)?;
    let sections = file.section_headers().filter(|table| !table.is_empty());
    if let Some(sections) = sections {
        let mut size = ImageSize::default();
        for sh in sections.iter() {
            // Thread-local templates are not memory the monitor occupies by themselves.
            if sh.sh_flags & u64::from(SHF_ALLOC) == 0 || sh.sh_flags & u64::from(SHF_TLS) != 0 {
                continue;
            }
            if sh.sh_type == SHT_NOBITS {
                size.bss += sh.sh_size;
            } else if sh.sh_flags & u64::from(SHF_WRITE) != 0 {
                size.data += sh.sh_size;
            } else {
                size.text += sh.sh_size;
            }
        }
        return Ok(size);
    }
    let segments = segments(&file)?;
    if segments.is_empty() {
        return Err("ELF file has neither section nor program headers".to_string());
    }
    let mut size = ImageSize::default();
    for ph in segments.iter().filter(|ph| ph.p_type == PT_LOAD) {
        // Without sections the split is approximate: writable segments count as data plus
        // their zero-filled tail as bss.
        if ph.p_flags & PF_W != 0 {
            size.data += ph.p_filesz;
            size.bss += ph.p_memsz.saturating_sub(ph.p_filesz);
        } else {
            size.text += ph.p_memsz;
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

/// The image without what the loader never reads: everything after the last byte a program
/// header covers (symbols, debug info, section headers), with the section-header fields
/// zeroed. The built file keeps them for gdb; the bundle, embedded in the monitor, does not
/// need to carry them. `None` (use the file as it is) for anything but a 64-bit little-endian
/// ELF with `PT_DYNAMIC`: without it the loader finds relocations through section headers;
/// and for an image with a `__cap_relocs` section, which the loader finds by its section
/// header (a pure-capability image).
pub fn loadable_part(bytes: &[u8]) -> Option<Vec<u8>> {
    const EHDR_SIZE: u64 = 64;
    let file = parse(bytes).ok()?;
    if file
        .section_header_by_name("__cap_relocs")
        .ok()
        .flatten()
        .is_some()
    {
        return None;
    }
    let table = file.segments()?;
    let ehdr = &file.ehdr;
    let mut end = u64::from(ehdr.e_phnum)
        .checked_mul(u64::from(ehdr.e_phentsize))?
        .checked_add(ehdr.e_phoff)?
        .max(EHDR_SIZE);
    let mut dynamic = false;
    for ph in table.iter() {
        dynamic |= ph.p_type == PT_DYNAMIC;
        if ph.p_filesz > 0 {
            end = end.max(ph.p_offset.checked_add(ph.p_filesz)?);
        }
    }
    let end = usize::try_from(end).ok()?;
    if !dynamic || end > bytes.len() {
        return None;
    }
    let mut out = bytes[..end].to_vec();
    // e_shoff = 0, e_shnum = 0, e_shstrndx = 0 (SHN_UNDEF): no section headers.
    out[0x28..0x30].fill(0);
    out[0x3c..0x40].fill(0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The section flags as the section header's 64-bit field holds them.
    const ALLOC: u64 = 0x2;
    const WRITE: u64 = 0x1;
    const TLS: u64 = 0x400;

    /// Builds a minimal ELF64 LE with the given sections (type, flags, size) and program
    /// headers (type, flags, filesz, memsz).
    fn fake_elf(sections: &[(u32, u64, u64)], segments: &[(u32, u32, u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; 0x40];
        b[0..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[6] = 1; // EV_CURRENT
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
                (0, 0, 0),                             // null section
                (1, ALLOC | 0x4, 1000),                // .text
                (1, ALLOC, 200),                       // .rodata
                (1, ALLOC | WRITE, 30),                // .data
                (SHT_NOBITS, ALLOC | WRITE, 4096),     // .bss
                (1, 0, 99999),                         // .debug_info: not loaded
                (SHT_NOBITS, ALLOC | WRITE | TLS, 64), // .tbss
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
        let mut elf = fake_elf(&[(1, ALLOC, 1)], &[]);
        elf[4] = 1;
        assert!(image_size(&elf).unwrap_err().contains("64-bit"));
        let elf = fake_elf(&[(1, ALLOC, 1)], &[]);
        assert!(image_size(&elf[..elf.len() - 0x30])
            .unwrap_err()
            .contains("malformed ELF"));
    }

    #[test]
    fn trimming_keeps_headers_and_segments() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../monitor/src/cvm/testdata/images/aarch64.elf");
        let elf = std::fs::read(&fixture).expect("loader fixture");
        let trimmed = loadable_part(&elf).expect("a static PIE with PT_DYNAMIC");
        assert!(trimmed.len() < elf.len());
        assert_eq!(trimmed[..0x28], elf[..0x28]);
        let parsed = parse(&trimmed).expect("still an ELF");
        assert!(parsed.section_headers().is_none(), "no section headers");
        assert_eq!(parsed.ehdr.e_shnum, 0);
        // Every segment's bytes are unchanged.
        let original = segments(&parse(&elf).expect("ELF")).expect("segments");
        for ph in &original {
            let off = usize::try_from(ph.p_offset).expect("fits");
            let size = usize::try_from(ph.p_filesz).expect("fits");
            assert_eq!(trimmed[off..off + size], elf[off..off + size]);
        }
        // Not an ELF, truncated tables, no PT_DYNAMIC: left alone.
        assert_eq!(loadable_part(b"not an elf"), None);
        assert_eq!(loadable_part(&elf[..100]), None);
        let mut no_dynamic = elf.clone();
        let phoff = usize::try_from(parse(&elf).expect("ELF").ehdr.e_phoff).expect("fits");
        for (i, ph) in original.iter().enumerate() {
            if ph.p_type == PT_DYNAMIC {
                let at = phoff + i * 56;
                no_dynamic[at..at + 4].copy_from_slice(&6u32.to_le_bytes()); // PT_PHDR
            }
        }
        assert_eq!(loadable_part(&no_dynamic), None);
    }
}
