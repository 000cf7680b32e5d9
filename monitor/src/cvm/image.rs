//! cVM images: checks that an untrusted static-PIE ELF64 has the cVM layout, then loads it.
//!
//! A cVM image is a cap-unaware static PIE (`ET_DYN`, linked at address 0, little-endian,
//! `EM_AARCH64` on aarch64 boards, `EM_RISCV` on riscv64 boards) built with the cVM SDK's
//! linker script. The monitor copies it into a region of memory whose base stands for address
//! 0; the cVM's PCC covers the code only and its DDC the data only, each one contiguous
//! capability. That is only possible with this layout, which [`inspect`] and [`load`] enforce:
//!
//! ```text
//! 0             code.end   data.start                data.end  load_end          region end
//! | code (R X)  |  (gap)   | rodata | data | bss     |  (pad)  | >= 1 page | stack |
//! ```
//!
//! - Exactly one executable `PT_LOAD` (`PF_X`, never with `PF_W`); it is the lowest loadable
//!   segment and starts at address 0, so PCC's base is the region base and no hole below the
//!   code is left that neither capability would describe. (The SDK script puts `.text` at 0;
//!   requiring it rather than "the lowest address" keeps entry and code offsets equal to
//!   link-time addresses.)
//! - Every other `PT_LOAD` is non-executable and lies above the end of the code; no two
//!   loadable segments overlap. `PT_LOAD`s with `p_memsz == 0` take no memory and are ignored
//!   (after their file range is checked).
//! - No dynamic linking: `PT_INTERP` and `DT_NEEDED` are rejected.
//! - The only relocations are `R_*_RELATIVE` (`R_*_NONE` is skipped), found through
//!   `PT_DYNAMIC`'s `DT_RELA`/`DT_RELASZ`/`DT_RELAENT` and `DT_JMPREL`/`DT_PLTRELSZ`; only an
//!   image without `PT_DYNAMIC` is searched for allocated `SHT_RELA` sections instead. No
//!   table (GNU ld omits it when there is nothing to relocate) or an empty one (`DT_RELASZ =
//!   0`) means no relocations. `DT_REL` (never emitted for AArch64 or RISC-V) and `DT_RELR`
//!   (`-z pack-relative-relocs`) are rejected with [`ImageError::UnsupportedRelocationTable`].
//! - Each relocation's 8-byte target must lie inside one non-executable segment's memory
//!   (file part or bss). The code is never patched: it runs through PCC exactly as linked, and
//!   text relocations would mean the code is not position-independent. Read-only data
//!   segments may be targets (`.data.rel.ro` without RELRO, pointer tables in `.rodata`): the
//!   loader writes them before the cVM runs and the DDC does not split read-only from
//!   read-write anyway. The addend is not range-checked: the value is only data to the cVM,
//!   whose capabilities bound whatever it points at, and it is computed with wrapping
//!   addition as `ld.so` does.
//! - `load_end` (the end of the highest segment, aligned up to 16) plus one page of unmapped
//!   gap plus the stack (at the top of the region) must fit in the region.
//!
//! The file is hostile: all arithmetic is checked, no untrusted value indexes without `get`,
//! and every loop walks a table that lies inside the file, so any input ends in `Ok` or `Err`
//! without panicking, and [`load`] writes only inside the region it is given.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use elf::abi;
use elf::dynamic::DynamicTable;
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::relocation::RelaIterator;
use elf::segment::ProgramHeader;
use elf::{ElfBytes, ParseError};

use crate::platform::PAGE_SIZE;

/// Alignment of `load_end`: the stack and heap placed above the image keep 16-byte alignment.
const LOAD_END_ALIGN: u64 = 16;
/// Size of an `Elf64_Ehdr`.
const EHDR_SIZE: usize = 64;
/// Size of an `Elf64_Dyn`.
const DYN_SIZE: usize = 16;
/// Size of an `Elf64_Rela`.
const RELA_SIZE: usize = 24;
/// Bytes a RELATIVE relocation writes (one 64-bit pointer).
const RELOC_WIDTH: u64 = 8;

// Tags the `elf` crate's `abi` module (0.8) does not define.
/// Size of the packed relative relocation table (`-z pack-relative-relocs`).
const DT_RELRSZ: i64 = 35;
/// Address of the packed relative relocation table.
const DT_RELR: i64 = 36;
/// Type of the entries of `DT_JMPREL` (`DT_RELA` or `DT_REL`).
const DT_PLTREL: i64 = 20;
/// `SHT_RELR`: a packed relative relocation section.
const SHT_RELR: u32 = 19;

/// The architecture a board runs cVMs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// Morello and stock aarch64: `EM_AARCH64`.
    Aarch64,
    /// CHERI-RISC-V and stock riscv64: `EM_RISCV` (64-bit class).
    Riscv64,
}

impl Machine {
    /// The `e_machine` value an image for this architecture carries.
    pub const fn e_machine(self) -> u16 {
        match self {
            Machine::Aarch64 => abi::EM_AARCH64,
            Machine::Riscv64 => abi::EM_RISCV,
        }
    }

    /// The architecture's `R_*_RELATIVE` relocation type.
    pub const fn relative(self) -> u32 {
        match self {
            Machine::Aarch64 => abi::R_AARCH64_RELATIVE,
            Machine::Riscv64 => abi::R_RISCV_RELATIVE,
        }
    }

    /// The architecture's `R_*_NONE` relocation type (skipped).
    const fn none(self) -> u32 {
        match self {
            Machine::Aarch64 => abi::R_AARCH64_NONE,
            Machine::Riscv64 => abi::R_RISCV_NONE,
        }
    }

    /// Instruction alignment: an entry point off it faults on the first fetch.
    /// RISC-V allows 2 because of the compressed (C) extension.
    const fn entry_align(self) -> u64 {
        match self {
            Machine::Aarch64 => 4,
            Machine::Riscv64 => 2,
        }
    }

    /// Human-readable name, as in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Machine::Aarch64 => "aarch64",
            Machine::Riscv64 => "riscv64",
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One loadable segment (`PT_LOAD` with a nonzero `p_memsz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where its bytes start in the file (`p_offset`).
    pub offset_in_file: u64,
    /// How many bytes come from the file (`p_filesz`); the rest up to `mem_size` is zeroed.
    pub file_size: u64,
    /// Offset from the region base (`p_vaddr`; images are linked at 0).
    pub vaddr: u64,
    /// Bytes it occupies in memory (`p_memsz`).
    pub mem_size: u64,
    /// `PF_R | PF_W | PF_X` bits (`p_flags`).
    pub flags: u32,
}

impl Segment {
    /// Whether this is code (`PF_X`).
    pub const fn is_executable(&self) -> bool {
        self.flags & abi::PF_X != 0
    }

    /// Whether the image expects to write it (`PF_W`).
    pub const fn is_writable(&self) -> bool {
        self.flags & abi::PF_W != 0
    }

    /// Its memory as offsets from the region base. Cannot overflow: checked when parsed.
    pub const fn range(&self) -> Range<u64> {
        self.vaddr..self.vaddr.saturating_add(self.mem_size)
    }
}

/// What a valid image needs from its region; all addresses are offsets from the region base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLayout {
    /// Entry point (`e_entry`), inside `code`.
    pub entry: u64,
    /// The executable segment, `[0, p_memsz)`: what PCC must cover.
    pub code: Range<u64>,
    /// From the start of the lowest non-executable segment to the end of the highest segment
    /// (its `p_memsz`): what DDC must cover. Empty (at `code.end`) if the image has no data.
    pub data: Range<u64>,
    /// End of the highest segment aligned up to 16: the first byte the image does not use.
    pub load_end: u64,
    /// Loadable segments, lowest address first; the first is the code.
    pub segments: Vec<Segment>,
    /// Number of RELATIVE relocations (not counting skipped `R_*_NONE`).
    pub relocations: usize,
}

/// Why an image was rejected.
#[derive(Debug)]
pub enum ImageError {
    /// Not an ELF file (`e_ident` does not start with `\x7fELF`).
    BadMagic,
    /// The file ends before a structure its headers point at: bytes `[start, end)` are missing.
    Truncated { start: usize, end: usize },
    /// `EI_CLASS` is not `ELFCLASS64`.
    NotElf64 { class: u8 },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    WrongEndian { data: u8 },
    /// Built for another architecture.
    WrongMachine { expected: Machine, found: u16 },
    /// Not position-independent: `e_type` is not `ET_DYN` (`ET_EXEC` is linked at a fixed
    /// address the monitor cannot honour).
    NotPie { e_type: u16 },
    /// Any other malformation the `elf` parser found (bad entry sizes, overflowing offsets...).
    Parse(ParseError),
    /// No `PT_LOAD` takes memory.
    NoLoadableSegment,
    /// No loadable segment is executable.
    NoCodeSegment,
    /// Program headers `a` and `b` are both executable: PCC can cover only one.
    SeveralCodeSegments { a: usize, b: usize },
    /// Program header `index` is both writable and executable.
    WritableCode { index: usize },
    /// Program header `index` is loadable and lies below the code.
    CodeNotFirst { index: usize },
    /// The code segment does not start at address 0.
    CodeNotAtZero { vaddr: u64 },
    /// Program header `index`'s file bytes lie (partly) beyond the end of the file.
    SegmentOutsideFile { index: usize },
    /// Loadable program headers `a` and `b` overlap in memory.
    SegmentOverlap { a: usize, b: usize },
    /// Program header `index` has `p_filesz > p_memsz`.
    FileSizeExceedsMemSize { index: usize },
    /// The entry point lies outside the code segment.
    EntryOutsideCode { entry: u64 },
    /// Image, gap page and stack need `needed` bytes; the region has `region`.
    TooLarge { needed: u64, region: u64 },
    /// `what` (entry point, segment alignment, region base) has a bad alignment `value`.
    BadAlignment { what: &'static str, value: u64 },
    /// The region passed to [`load`] wraps around the address space.
    BadRegion { base: u64, size: u64 },
    /// `what` (`PT_INTERP`, `DT_NEEDED`) asks for a dynamic linker; there is none.
    DynamicLinking { what: &'static str },
    /// The dynamic table or a relocation table is inconsistent.
    BadDynamic { reason: &'static str },
    /// A relocation table of a format the loader does not apply (`DT_REL`, `DT_RELR`).
    UnsupportedRelocationTable { table: &'static str },
    /// A relocation other than RELATIVE or NONE, at image offset `offset`.
    UnsupportedRelocation { kind: u32, offset: u64 },
    /// A relocation whose 8 bytes at `offset` do not lie inside one data segment.
    RelocationOutsideImage { offset: u64 },
    /// A relocation that would patch the code at `offset`.
    RelocationInCode { offset: u64 },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::BadMagic => f.write_str("not an ELF file (bad magic)"),
            ImageError::Truncated { start, end } => {
                write!(f, "ELF truncated: bytes [{start:#x}, {end:#x}) are missing")
            }
            ImageError::NotElf64 { class } => {
                write!(f, "not a 64-bit ELF (EI_CLASS {class})")
            }
            ImageError::WrongEndian { data } => {
                write!(f, "not a little-endian ELF (EI_DATA {data})")
            }
            ImageError::WrongMachine { expected, found } => {
                write!(
                    f,
                    "ELF is for machine {found}, this board runs {expected} (machine {})",
                    expected.e_machine()
                )
            }
            ImageError::NotPie { e_type } => write!(
                f,
                "ELF type {e_type} is not a position-independent executable (ET_DYN)"
            ),
            ImageError::Parse(e) => write!(f, "malformed ELF: {e}"),
            ImageError::NoLoadableSegment => f.write_str("ELF has no loadable segment"),
            ImageError::NoCodeSegment => f.write_str("ELF has no executable segment"),
            ImageError::SeveralCodeSegments { a, b } => write!(
                f,
                "program headers {a} and {b} are both executable; a cVM has one code segment"
            ),
            ImageError::WritableCode { index } => {
                write!(f, "program header {index} is writable and executable")
            }
            ImageError::CodeNotFirst { index } => write!(
                f,
                "loadable program header {index} lies below the code; code must come first"
            ),
            ImageError::CodeNotAtZero { vaddr } => {
                write!(f, "code segment starts at {vaddr:#x}, not at 0")
            }
            ImageError::SegmentOutsideFile { index } => {
                write!(f, "program header {index} extends beyond the end of the file")
            }
            ImageError::SegmentOverlap { a, b } => {
                write!(f, "loadable program headers {a} and {b} overlap")
            }
            ImageError::FileSizeExceedsMemSize { index } => {
                write!(f, "program header {index} has a file size above its memory size")
            }
            ImageError::EntryOutsideCode { entry } => {
                write!(f, "entry point {entry:#x} is outside the code segment")
            }
            ImageError::TooLarge { needed, region } => write!(
                f,
                "image, guard page and stack need {needed:#x} bytes; the region has {region:#x}"
            ),
            ImageError::BadAlignment { what, value } => {
                write!(f, "{what} {value:#x} is badly aligned")
            }
            ImageError::BadRegion { base, size } => write!(
                f,
                "region at {base:#x} of {size:#x} bytes wraps around the address space"
            ),
            ImageError::DynamicLinking { what } => {
                write!(f, "{what} present: dynamic linking is not supported")
            }
            ImageError::BadDynamic { reason } => write!(f, "bad dynamic section: {reason}"),
            ImageError::UnsupportedRelocationTable { table } => {
                write!(f, "{table} relocation tables are not supported (only RELA)")
            }
            ImageError::UnsupportedRelocation { kind, offset } => write!(
                f,
                "relocation type {kind} at {offset:#x} is not supported (only RELATIVE)"
            ),
            ImageError::RelocationOutsideImage { offset } => {
                write!(f, "relocation at {offset:#x} is outside the image's data")
            }
            ImageError::RelocationInCode { offset } => {
                write!(f, "relocation at {offset:#x} would patch the code")
            }
        }
    }
}

impl core::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ImageError::Parse(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for ImageError {
    fn from(e: ParseError) -> Self {
        match e {
            // The crate's name for "the file is shorter than its headers say".
            ParseError::SliceReadError((start, end)) => ImageError::Truncated { start, end },
            other => ImageError::Parse(other),
        }
    }
}

/// Checks an image for `machine` against the cVM layout and a region of `region_size` bytes
/// whose top `stack_size` bytes hold the stack, without touching memory.
pub fn inspect(
    elf: &[u8],
    machine: Machine,
    region_size: u64,
    stack_size: u64,
) -> Result<ImageLayout, ImageError> {
    plan(elf, machine, region_size, stack_size).map(|plan| plan.layout)
}

/// Copies the image into `region` (the cVM's memory, which starts at physical or virtual
/// address `region_base` and whose top `stack_size` bytes hold the stack), zero-fills its bss,
/// and applies its RELATIVE relocations (`*(base + r_offset) = base + r_addend`, 8-byte
/// little-endian).
///
/// Everything [`inspect`] checks is checked again first; on error nothing has been written.
/// `[0, load_end)` is zeroed before the copy (bss and the gaps between segments, so nothing a
/// previous occupant left there leaks into the cVM); the rest of the region is not touched.
/// `region_base` must be aligned to every segment's `p_align` (and 16), so alignment the
/// image was linked with holds at run time.
pub fn load(
    elf: &[u8],
    machine: Machine,
    region: &mut [u8],
    region_base: u64,
    stack_size: u64,
) -> Result<ImageLayout, ImageError> {
    let region_size = u64::try_from(region.len()).map_err(|_| ImageError::BadRegion {
        base: region_base,
        size: u64::MAX,
    })?;
    let plan = plan(elf, machine, region_size, stack_size)?;
    if region_base % plan.align != 0 {
        return Err(ImageError::BadAlignment {
            what: "region base",
            value: region_base,
        });
    }
    if region_base.checked_add(region_size).is_none() {
        return Err(ImageError::BadRegion {
            base: region_base,
            size: region_size,
        });
    }
    let too_large = || ImageError::TooLarge {
        needed: plan.layout.load_end,
        region: region_size,
    };
    let image_len = usize::try_from(plan.layout.load_end).map_err(|_| too_large())?;
    let image = region.get_mut(..image_len).ok_or_else(too_large)?;
    image.fill(0);
    for (index, seg) in plan.indices.iter().zip(&plan.layout.segments) {
        let outside = || ImageError::SegmentOutsideFile { index: *index };
        let src = file_range(elf, seg.offset_in_file, seg.file_size).ok_or_else(outside)?;
        let dst_start = usize::try_from(seg.vaddr).map_err(|_| outside())?;
        let dst_end = dst_start.checked_add(src.len()).ok_or_else(outside)?;
        image
            .get_mut(dst_start..dst_end)
            .ok_or_else(outside)?
            .copy_from_slice(src);
    }
    walk_relocations(&plan, machine, |offset, addend| {
        let slot = usize::try_from(offset)
            .ok()
            .and_then(|start| image.get_mut(start..start.checked_add(8)?))
            .ok_or(ImageError::RelocationOutsideImage { offset })?;
        // Wrapping, as ld.so computes it: the value is data to the cVM, not an address the
        // monitor uses, and the cVM's capabilities bound whatever it points at.
        slot.copy_from_slice(&region_base.wrapping_add_signed(addend).to_le_bytes());
        Ok(())
    })?;
    Ok(plan.layout)
}

/// A checked image: its layout plus what loading needs that the layout does not publish.
struct Plan<'a> {
    layout: ImageLayout,
    /// Program header index of each of `layout.segments`, for error messages.
    indices: Vec<usize>,
    /// RELA tables (each a whole number of entries) inside the file.
    tables: Vec<&'a [u8]>,
    /// Largest `p_align` of the loadable segments, at least 16: what the region base needs.
    align: u64,
}

/// Does every check and finds the relocation tables; shared by [`inspect`] and [`load`].
fn plan(
    elf: &[u8],
    machine: Machine,
    region_size: u64,
    stack_size: u64,
) -> Result<Plan<'_>, ImageError> {
    check_ident(elf)?;
    let file = ElfBytes::<LittleEndian>::minimal_parse(elf)?;
    let ehdr = &file.ehdr;
    if ehdr.e_machine != machine.e_machine() {
        return Err(ImageError::WrongMachine {
            expected: machine,
            found: ehdr.e_machine,
        });
    }
    if ehdr.e_type != abi::ET_DYN {
        return Err(ImageError::NotPie {
            e_type: ehdr.e_type,
        });
    }
    let too_large = ImageError::TooLarge {
        needed: u64::MAX,
        region: region_size,
    };

    // One pass over the program headers (the table lies inside the file, so this is bounded).
    let phdrs = file.segments().ok_or(ImageError::NoLoadableSegment)?;
    let mut loads: Vec<(usize, Segment)> = Vec::new();
    let mut dynamic: Option<(usize, ProgramHeader)> = None;
    let mut align = LOAD_END_ALIGN;
    for (index, ph) in phdrs.iter().enumerate() {
        match ph.p_type {
            abi::PT_INTERP => return Err(ImageError::DynamicLinking { what: "PT_INTERP" }),
            abi::PT_DYNAMIC => {
                if dynamic.is_some() {
                    return Err(ImageError::BadDynamic {
                        reason: "several PT_DYNAMIC segments",
                    });
                }
                dynamic = Some((index, ph));
            }
            abi::PT_LOAD => {
                if file_range(elf, ph.p_offset, ph.p_filesz).is_none() {
                    return Err(ImageError::SegmentOutsideFile { index });
                }
                if ph.p_filesz > ph.p_memsz {
                    return Err(ImageError::FileSizeExceedsMemSize { index });
                }
                if ph.p_vaddr.checked_add(ph.p_memsz).is_none() {
                    return Err(too_large);
                }
                if ph.p_flags & abi::PF_X != 0 && ph.p_flags & abi::PF_W != 0 {
                    return Err(ImageError::WritableCode { index });
                }
                // 0 and 1 both mean "no constraint".
                if ph.p_align > 1 && !ph.p_align.is_power_of_two() {
                    return Err(ImageError::BadAlignment {
                        what: "segment alignment",
                        value: ph.p_align,
                    });
                }
                align = align.max(ph.p_align);
                if ph.p_memsz != 0 {
                    loads.push((
                        index,
                        Segment {
                            offset_in_file: ph.p_offset,
                            file_size: ph.p_filesz,
                            vaddr: ph.p_vaddr,
                            mem_size: ph.p_memsz,
                            flags: ph.p_flags,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    if loads.is_empty() {
        return Err(ImageError::NoLoadableSegment);
    }
    let mut code_index = None;
    for (index, seg) in &loads {
        if seg.is_executable() {
            if let Some(a) = code_index {
                return Err(ImageError::SeveralCodeSegments { a, b: *index });
            }
            code_index = Some(*index);
        }
    }
    if code_index.is_none() {
        return Err(ImageError::NoCodeSegment);
    }

    // Lowest first; on a tie the code sorts first, so the tie is reported as an overlap.
    loads.sort_unstable_by_key(|(_, seg)| (seg.vaddr, !seg.is_executable()));
    let (indices, segments): (Vec<usize>, Vec<Segment>) = loads.into_iter().unzip();
    let code = match (indices.first(), segments.first()) {
        (Some(_), Some(seg)) if seg.is_executable() => *seg,
        (Some(index), _) => return Err(ImageError::CodeNotFirst { index: *index }),
        _ => return Err(ImageError::NoLoadableSegment),
    };
    if code.vaddr != 0 {
        return Err(ImageError::CodeNotAtZero { vaddr: code.vaddr });
    }
    for (pair, idx) in segments.windows(2).zip(indices.windows(2)) {
        if let ([lo, hi], [a, b]) = (pair, idx) {
            if lo.range().end > hi.vaddr {
                return Err(ImageError::SegmentOverlap { a: *a, b: *b });
            }
        }
    }
    // Sorted and disjoint, so the last segment ends highest.
    let highest = segments.last().map_or(code.range().end, |seg| seg.range().end);
    let data_start = segments.get(1).map_or(code.range().end, |seg| seg.vaddr);
    let load_end = highest
        .checked_next_multiple_of(LOAD_END_ALIGN)
        .ok_or(too_large)?;

    let entry = ehdr.e_entry;
    if !code.range().contains(&entry) {
        return Err(ImageError::EntryOutsideCode { entry });
    }
    if entry % machine.entry_align() != 0 {
        return Err(ImageError::BadAlignment {
            what: "entry point",
            value: entry,
        });
    }
    let needed = load_end
        .checked_add(PAGE_SIZE)
        .and_then(|n| n.checked_add(stack_size))
        .unwrap_or(u64::MAX);
    if needed > region_size {
        return Err(ImageError::TooLarge {
            needed,
            region: region_size,
        });
    }

    let tables = match dynamic {
        Some((index, ph)) => dynamic_tables(elf, index, &ph, &segments)?,
        None => section_tables(elf, &file)?,
    };
    let mut plan = Plan {
        layout: ImageLayout {
            entry,
            code: code.range(),
            data: data_start..highest,
            load_end,
            segments,
            relocations: 0,
        },
        indices,
        tables,
        align,
    };
    plan.layout.relocations = walk_relocations(&plan, machine, |_, _| Ok(()))?;
    Ok(plan)
}

/// Checks `e_ident` before the `elf` crate does, to give each way it can be wrong its own
/// error (the crate would accept 32-bit and big-endian files).
fn check_ident(elf: &[u8]) -> Result<(), ImageError> {
    if elf.get(..abi::ELFMAGIC.len()) != Some(&abi::ELFMAGIC[..]) {
        return Err(ImageError::BadMagic);
    }
    let ident = elf.get(..EHDR_SIZE).ok_or(ImageError::Truncated {
        start: elf.len(),
        end: EHDR_SIZE,
    })?;
    let class = ident.get(abi::EI_CLASS).copied().unwrap_or_default();
    if class != abi::ELFCLASS64 {
        return Err(ImageError::NotElf64 { class });
    }
    let data = ident.get(abi::EI_DATA).copied().unwrap_or_default();
    if data != abi::ELFDATA2LSB {
        return Err(ImageError::WrongEndian { data });
    }
    Ok(())
}

/// `len` bytes of the file from `offset`, or `None` if they are not all there.
fn file_range(elf: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    elf.get(start..end)
}

/// The RELA tables `PT_DYNAMIC` (program header `index`) names, as slices of the file.
fn dynamic_tables<'a>(
    elf: &'a [u8],
    index: usize,
    ph: &ProgramHeader,
    segments: &[Segment],
) -> Result<Vec<&'a [u8]>, ImageError> {
    let data =
        file_range(elf, ph.p_offset, ph.p_filesz).ok_or(ImageError::SegmentOutsideFile { index })?;
    if data.len() % DYN_SIZE != 0 {
        return Err(ImageError::BadDynamic {
            reason: "PT_DYNAMIC is not a whole number of entries",
        });
    }
    let mut rela = None;
    let mut relasz = 0;
    let mut relaent = None;
    let mut jmprel = None;
    let mut pltrelsz = 0;
    let mut pltrel = None;
    // Bounded by the segment's file size; the table usually ends earlier, at DT_NULL.
    for entry in DynamicTable::new(LittleEndian, Class::ELF64, data).iter() {
        let value = entry.d_val();
        match entry.d_tag {
            abi::DT_NULL => break,
            abi::DT_NEEDED => return Err(ImageError::DynamicLinking { what: "DT_NEEDED" }),
            abi::DT_RELA => rela = Some(value),
            abi::DT_RELASZ => relasz = value,
            abi::DT_RELAENT => relaent = Some(value),
            abi::DT_JMPREL => jmprel = Some(value),
            abi::DT_PLTRELSZ => pltrelsz = value,
            DT_PLTREL => pltrel = Some(value),
            abi::DT_REL | abi::DT_RELSZ if value != 0 => {
                return Err(ImageError::UnsupportedRelocationTable { table: "DT_REL" })
            }
            DT_RELR | DT_RELRSZ if value != 0 => {
                return Err(ImageError::UnsupportedRelocationTable { table: "DT_RELR" })
            }
            _ => {}
        }
    }
    if relaent.is_some_and(|ent| ent != RELA_SIZE as u64) {
        return Err(ImageError::BadDynamic {
            reason: "DT_RELAENT is not 24",
        });
    }
    if pltrelsz != 0 && pltrel.is_some_and(|kind| kind != abi::DT_RELA as u64) {
        return Err(ImageError::UnsupportedRelocationTable {
            table: "DT_JMPREL of REL entries",
        });
    }
    let mut tables = Vec::new();
    for (addr, size, what) in [
        (rela, relasz, "DT_RELASZ without DT_RELA"),
        (jmprel, pltrelsz, "DT_PLTRELSZ without DT_JMPREL"),
    ] {
        // GNU ld's empty table (DT_RELA = 0, DT_RELASZ = 0) and a missing one are both "none".
        if size == 0 {
            continue;
        }
        let addr = addr.ok_or(ImageError::BadDynamic { reason: what })?;
        tables.push(table_in_file(elf, addr, size, segments)?);
    }
    Ok(tables)
}

/// The relocation table at image address `addr`, `size` bytes long, found in the file part of
/// the loadable segment that holds it.
fn table_in_file<'a>(
    elf: &'a [u8],
    addr: u64,
    size: u64,
    segments: &[Segment],
) -> Result<&'a [u8], ImageError> {
    if size % RELA_SIZE as u64 != 0 {
        return Err(ImageError::BadDynamic {
            reason: "relocation table size is not a multiple of 24",
        });
    }
    let end = addr.checked_add(size);
    segments
        .iter()
        .find(|seg| {
            seg.vaddr <= addr
                && end.is_some_and(|end| Some(end) <= seg.vaddr.checked_add(seg.file_size))
        })
        .and_then(|seg| {
            let offset = seg.offset_in_file.checked_add(addr - seg.vaddr)?;
            file_range(elf, offset, size)
        })
        .ok_or(ImageError::BadDynamic {
            reason: "relocation table is not inside a loadable segment's file data",
        })
}

/// Without `PT_DYNAMIC`: the allocated RELA sections, as slices of the file.
fn section_tables<'a>(
    elf: &'a [u8],
    file: &ElfBytes<'a, LittleEndian>,
) -> Result<Vec<&'a [u8]>, ImageError> {
    let mut tables = Vec::new();
    let Some(shdrs) = file.section_headers() else {
        return Ok(tables);
    };
    // Bounded: the section header table lies inside the file.
    for sh in shdrs.iter() {
        // Sections that are not allocated (`--emit-relocs` leftovers) are for the linker.
        if sh.sh_flags & u64::from(abi::SHF_ALLOC) == 0 || sh.sh_size == 0 {
            continue;
        }
        match sh.sh_type {
            abi::SHT_RELA => {
                if sh.sh_size % RELA_SIZE as u64 != 0 {
                    return Err(ImageError::BadDynamic {
                        reason: "relocation table size is not a multiple of 24",
                    });
                }
                let table = file_range(elf, sh.sh_offset, sh.sh_size).ok_or(
                    ImageError::BadDynamic {
                        reason: "relocation section extends beyond the end of the file",
                    },
                )?;
                tables.push(table);
            }
            abi::SHT_REL => {
                return Err(ImageError::UnsupportedRelocationTable { table: "SHT_REL" })
            }
            SHT_RELR => {
                return Err(ImageError::UnsupportedRelocationTable { table: "SHT_RELR" })
            }
            _ => {}
        }
    }
    Ok(tables)
}

/// Checks every relocation and hands each RELATIVE one's offset and addend to `apply`.
/// Returns how many there were.
fn walk_relocations(
    plan: &Plan<'_>,
    machine: Machine,
    mut apply: impl FnMut(u64, i64) -> Result<(), ImageError>,
) -> Result<usize, ImageError> {
    let segments = &plan.layout.segments;
    let code_end = plan.layout.code.end;
    let mut count = 0usize;
    for table in &plan.tables {
        // Each table is a whole number of entries, so the iterator yields all of them.
        for rela in RelaIterator::new(LittleEndian, Class::ELF64, table) {
            let offset = rela.r_offset;
            if rela.r_type == machine.none() {
                continue;
            }
            if rela.r_type != machine.relative() {
                return Err(ImageError::UnsupportedRelocation {
                    kind: rela.r_type,
                    offset,
                });
            }
            if offset < code_end {
                return Err(ImageError::RelocationInCode { offset });
            }
            // The last segment starting at or below `offset` is the only one that can hold it.
            let below = segments.partition_point(|seg| seg.vaddr <= offset);
            let inside = below
                .checked_sub(1)
                .and_then(|i| segments.get(i))
                .zip(offset.checked_add(RELOC_WIDTH))
                .is_some_and(|(seg, end)| !seg.is_executable() && end <= seg.range().end);
            if !inside {
                return Err(ImageError::RelocationOutsideImage { offset });
            }
            apply(offset, rela.r_addend)?;
            count = count.saturating_add(1);
        }
    }
    Ok(count)
}
