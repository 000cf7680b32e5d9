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
//! - The only relocations are `R_*_RELATIVE` (`R_*_NONE` is skipped; on aarch64 so is
//!   `R_MORELLO_RELATIVE`, a capability relocation that `cap_relocs` checks and applies), found through
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
/// `SHT_RELR`: a packed relative relocation section.
const SHT_RELR: u32 = 19;
/// Morello's capability relocation (a 16-byte fragment at `r_offset`), handled by
/// [`super::cap_relocs`]; allowed only in aarch64 images.
pub const R_MORELLO_RELATIVE: u32 = 59395;

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
    pub(crate) const fn entry_align(self) -> u64 {
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

impl ImageLayout {
    /// The window the code capability (and on RISC-V the PMP fetch window) covers, as offsets:
    /// the code segment up to the page boundary where the SDK layout starts data. Page-granular
    /// windows keep data out of reach as code and suit PMP; the monitor and the host audit both
    /// use this, so their tables agree.
    pub fn code_window(&self) -> Range<u64> {
        let page = crate::platform::PAGE_SIZE;
        self.code.start..self.code.end.div_ceil(page).saturating_mul(page)
    }
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
                write!(
                    f,
                    "program header {index} extends beyond the end of the file"
                )
            }
            ImageError::SegmentOverlap { a, b } => {
                write!(f, "loadable program headers {a} and {b} overlap")
            }
            ImageError::FileSizeExceedsMemSize { index } => {
                write!(
                    f,
                    "program header {index} has a file size above its memory size"
                )
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
            ImageError::UnsupportedRelocation {
                kind: R_MORELLO_RELATIVE,
                offset,
            } => write!(
                f,
                "R_MORELLO_RELATIVE (type {R_MORELLO_RELATIVE}) at {offset:#x} is a Morello \
                 capability relocation, and this is not an aarch64 image"
            ),
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
/// Everything [`inspect`] checks is checked again before the first write, so an error leaves
/// `region` untouched (the checks after that point are defensive and cannot fail).
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
    if !region_base.is_multiple_of(plan.align) {
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
            .and_then(|start| image.get_mut(start..start.checked_add(size_of::<u64>())?))
            .ok_or(ImageError::RelocationOutsideImage { offset })?;
        // Wrapping, as ld.so computes it: the value is data to the cVM, not an address the
        // monitor uses, and the cVM's capabilities bound whatever it points at.
        slot.copy_from_slice(&region_base.wrapping_add_signed(addend).to_le_bytes());
        Ok(())
    })?;
    Ok(plan.layout)
}

/// Checks the image as [`inspect`] does and also returns its RELA tables (each a whole number
/// of 24-byte entries, as slices of the file), for `cap_relocs` to find `R_MORELLO_RELATIVE`s
/// and the integer relocations' targets.
pub(crate) fn relocation_tables(
    elf: &[u8],
    machine: Machine,
    region_size: u64,
    stack_size: u64,
) -> Result<(ImageLayout, Vec<&[u8]>), ImageError> {
    plan(elf, machine, region_size, stack_size).map(|plan| (plan.layout, plan.tables))
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
    let highest = segments
        .last()
        .map_or(code.range().end, |seg| seg.range().end);
    let data_start = segments.get(1).map_or(code.range().end, |seg| seg.vaddr);
    let load_end = highest
        .checked_next_multiple_of(LOAD_END_ALIGN)
        .ok_or(too_large)?;

    let entry = ehdr.e_entry;
    if !code.range().contains(&entry) {
        return Err(ImageError::EntryOutsideCode { entry });
    }
    if !entry.is_multiple_of(machine.entry_align()) {
        return Err(ImageError::BadAlignment {
            what: "entry point",
            value: entry,
        });
    }
    let needed = load_end
        .checked_add(PAGE_SIZE)
        .and_then(|n| n.checked_add(stack_size));
    if needed.is_none_or(|needed| needed > region_size) {
        return Err(ImageError::TooLarge {
            needed: needed.unwrap_or(u64::MAX),
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
    let data = file_range(elf, ph.p_offset, ph.p_filesz)
        .ok_or(ImageError::SegmentOutsideFile { index })?;
    if !data.len().is_multiple_of(DYN_SIZE) {
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
            abi::DT_PLTREL => pltrel = Some(value),
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
    if !size.is_multiple_of(RELA_SIZE as u64) {
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
                if !sh.sh_size.is_multiple_of(RELA_SIZE as u64) {
                    return Err(ImageError::BadDynamic {
                        reason: "relocation table size is not a multiple of 24",
                    });
                }
                let table =
                    file_range(elf, sh.sh_offset, sh.sh_size).ok_or(ImageError::BadDynamic {
                        reason: "relocation section extends beyond the end of the file",
                    })?;
                tables.push(table);
            }
            abi::SHT_REL => {
                return Err(ImageError::UnsupportedRelocationTable { table: "SHT_REL" })
            }
            SHT_RELR => return Err(ImageError::UnsupportedRelocationTable { table: "SHT_RELR" }),
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
            if rela.r_type == R_MORELLO_RELATIVE && machine == Machine::Aarch64 {
                // A capability, not an integer: `cap_relocs` checks and writes it.
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

#[cfg(test)]
// Test-only offsets and RNG output are small or deliberately truncated.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::format;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::string::{String, ToString};
    use std::vec;

    /// Built by `testdata/images/build.sh` from `fixture.c` and `image.ld`.
    const AARCH64: &[u8] = include_bytes!("testdata/images/aarch64.elf");
    const RISCV64: &[u8] = include_bytes!("testdata/images/riscv64.elf");
    const FIXTURES: [(&str, &[u8], Machine); 2] = [
        ("aarch64", AARCH64, Machine::Aarch64),
        ("riscv64", RISCV64, Machine::Riscv64),
    ];

    const REGION: u64 = 64 * 1024;
    const STACK: u64 = 16 * 1024;
    /// Page-aligned, as the fixtures' `p_align` (4 KiB) requires.
    const BASE: u64 = 0x4000_0000;
    /// Guard bytes on each side of the region slice `load` gets.
    const GUARD: usize = 4096;
    const GUARD_BYTE: u8 = 0xa5;
    /// What the region holds before loading, to see which bytes `load` wrote.
    const REGION_BYTE: u8 = 0x5a;

    // ELF64 field offsets (System V gABI), for mutating the fixtures.
    const E_TYPE: usize = 16;
    const E_MACHINE: usize = 18;
    const E_ENTRY: usize = 24;
    const E_PHOFF: usize = 32;
    const E_SHOFF: usize = 40;
    const E_PHNUM: usize = 56;
    const PHDR_SIZE: usize = 56;
    const P_TYPE: usize = 0;
    const P_FLAGS: usize = 4;
    const P_OFFSET: usize = 8;
    const P_VADDR: usize = 16;
    const P_FILESZ: usize = 32;
    const P_MEMSZ: usize = 40;
    const P_ALIGN: usize = 48;
    const DT_DEBUG: u64 = 21;
    const DT_RELACOUNT: u64 = 0x6fff_fff9;

    fn rd16(b: &[u8], off: usize) -> u16 {
        u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
    }
    fn rd32(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn rd64(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }
    fn wr16(b: &mut [u8], off: usize, v: u16) {
        b[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn wr32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn wr64(b: &mut [u8], off: usize, v: u64) {
        b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// File offset of program header `i`.
    fn phdr(elf: &[u8], i: usize) -> usize {
        rd64(elf, E_PHOFF) as usize + i * PHDR_SIZE
    }

    /// Index of the first program header of type `p_type` whose flags include `flags`.
    fn find_phdr(elf: &[u8], p_type: u32, flags: u32) -> usize {
        (0..usize::from(rd16(elf, E_PHNUM)))
            .find(|&i| {
                let ph = phdr(elf, i);
                rd32(elf, ph + P_TYPE) == p_type && rd32(elf, ph + P_FLAGS) & flags == flags
            })
            .expect("fixture lacks the program header")
    }

    /// The fixtures' three loadable segments: code (R X), rodata (R), data (R W).
    fn code_rodata_data(elf: &[u8]) -> (usize, usize, usize) {
        let code = find_phdr(elf, abi::PT_LOAD, abi::PF_X);
        let data = find_phdr(elf, abi::PT_LOAD, abi::PF_W);
        let rodata = (0..3).find(|i| *i != code && *i != data).unwrap();
        assert_eq!(rd32(elf, phdr(elf, rodata) + P_TYPE), abi::PT_LOAD);
        (code, rodata, data)
    }

    /// File offset of the `PT_DYNAMIC` entry with tag `tag`.
    fn dyn_entry(elf: &[u8], tag: u64) -> usize {
        let ph = phdr(elf, find_phdr(elf, abi::PT_DYNAMIC, 0));
        let (start, size) = (
            rd64(elf, ph + P_OFFSET) as usize,
            rd64(elf, ph + P_FILESZ) as usize,
        );
        (start..start + size)
            .step_by(16)
            .find(|&off| rd64(elf, off) == tag)
            .expect("fixture lacks the dynamic tag")
    }

    /// What the fixture should load as, read from its section and symbol tables with the
    /// `elf` crate, independently of the loader.
    struct Reference {
        /// name -> (address, size, file offset)
        sections: HashMap<String, (u64, u64, u64)>,
        symbols: HashMap<String, u64>,
        /// (r_offset, r_addend) of `.rela.dyn`, file offset of each entry
        relas: Vec<(u64, i64, usize)>,
    }

    impl Reference {
        fn new(elf: &[u8]) -> Self {
            let file = ElfBytes::<LittleEndian>::minimal_parse(elf).unwrap();
            let (shdrs, strtab) = file.section_headers_with_strtab().unwrap();
            let (shdrs, strtab) = (shdrs.unwrap(), strtab.unwrap());
            let mut sections = HashMap::new();
            let mut relas = Vec::new();
            for sh in shdrs.iter() {
                let name = strtab.get(sh.sh_name as usize).unwrap().to_string();
                if name == ".rela.dyn" {
                    for (i, r) in file.section_data_as_relas(&sh).unwrap().enumerate() {
                        relas.push((r.r_offset, r.r_addend, sh.sh_offset as usize + i * 24));
                    }
                }
                sections.insert(name, (sh.sh_addr, sh.sh_size, sh.sh_offset));
            }
            let (symtab, strtab) = file.symbol_table().unwrap().unwrap();
            let symbols = symtab
                .iter()
                .map(|s| {
                    (
                        strtab.get(s.st_name as usize).unwrap().to_string(),
                        s.st_value,
                    )
                })
                .collect();
            Reference {
                sections,
                symbols,
                relas,
            }
        }
        fn section(&self, name: &str) -> (u64, u64, u64) {
            self.sections[name]
        }
        fn sym(&self, name: &str) -> u64 {
            self.symbols[name]
        }
    }

    /// A region between guard bytes, prefilled so unwritten bytes are recognisable.
    struct Guarded(Vec<u8>);

    impl Guarded {
        fn new(size: u64) -> Self {
            let size = size as usize;
            let mut buf = vec![GUARD_BYTE; GUARD + size + GUARD];
            buf[GUARD..GUARD + size].fill(REGION_BYTE);
            Guarded(buf)
        }
        fn region(&mut self) -> &mut [u8] {
            let end = self.0.len() - GUARD;
            &mut self.0[GUARD..end]
        }
        fn view(&self) -> &[u8] {
            &self.0[GUARD..self.0.len() - GUARD]
        }
        fn guards_intact(&self) -> bool {
            let (head, tail) = (&self.0[..GUARD], &self.0[self.0.len() - GUARD..]);
            head.iter().chain(tail).all(|b| *b == GUARD_BYTE)
        }
        fn load(&mut self, elf: &[u8], machine: Machine) -> Result<ImageLayout, ImageError> {
            let result = load(elf, machine, self.region(), BASE, STACK);
            assert!(self.guards_intact(), "load wrote outside the region");
            result
        }
    }

    fn mutated(elf: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut copy = elf.to_vec();
        f(&mut copy);
        copy
    }

    /// Both `inspect` and `load` must reject `elf` with an error `expect` accepts, and `load`
    /// must leave the region as it was.
    fn reject(what: &str, elf: &[u8], machine: Machine, expect: fn(&ImageError) -> bool) {
        let err = inspect(elf, machine, REGION, STACK).expect_err(what);
        assert!(expect(&err), "{what}: inspect gave {err:?}");
        let mut region = Guarded::new(REGION);
        let err = region.load(elf, machine).expect_err(what);
        assert!(expect(&err), "{what}: load gave {err:?}");
        assert!(
            region.view().iter().all(|b| *b == REGION_BYTE),
            "{what}: load wrote before failing"
        );
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn fixtures_inspect() {
        for (name, elf, machine) in FIXTURES {
            let r = Reference::new(elf);
            let layout = inspect(elf, machine, REGION, STACK).unwrap();
            let (text, text_size, _) = r.section(".text");
            let (rodata, _, _) = r.section(".rodata");
            let (bss, bss_size, _) = r.section(".bss");
            assert_eq!(layout.entry, r.sym("_start"), "{name}");
            assert_eq!(text, 0, "{name}: the SDK script links .text at 0");
            assert_eq!(layout.code, text..text + text_size, "{name}");
            assert_eq!(layout.data, rodata..bss + bss_size, "{name}");
            assert_eq!(
                layout.load_end,
                (bss + bss_size).next_multiple_of(16),
                "{name}"
            );
            assert_eq!(layout.relocations, r.relas.len(), "{name}");
            assert_eq!(
                layout.relocations, 6,
                "{name}: 2 function + 4 data pointers"
            );
            let flags: Vec<u32> = layout.segments.iter().map(|s| s.flags).collect();
            let (r_, w, x) = (abi::PF_R, abi::PF_W, abi::PF_X);
            assert_eq!(flags, [r_ | x, r_, r_ | w], "{name}");
            assert!(layout
                .segments
                .windows(2)
                .all(|p| p[0].range().end <= p[1].vaddr));
        }
    }

    #[test]
    fn fixtures_load() {
        for (name, elf, machine) in FIXTURES {
            let r = Reference::new(elf);
            let mut region = Guarded::new(REGION);
            let layout = region.load(elf, machine).unwrap();
            assert_eq!(
                layout,
                inspect(elf, machine, REGION, STACK).unwrap(),
                "{name}"
            );
            let mem = region.view();
            let at = |addr: u64| rd64(mem, addr as usize);

            // Code and read-only data are copied verbatim.
            for section in [".text", ".rodata"] {
                let (addr, size, offset) = r.section(section);
                let (addr, size, offset) = (addr as usize, size as usize, offset as usize);
                assert_eq!(
                    mem[addr..addr + size],
                    elf[offset..offset + size],
                    "{name} {section}"
                );
            }
            let greeting = r.sym("fixture_greeting") as usize;
            assert_eq!(
                &mem[greeting..greeting + 17],
                b"hello from a cVM\0",
                "{name}"
            );
            assert_eq!(at(r.sym("fixture_counter")), 42, "{name}");

            // The bss and the gap between code and data are zero; nothing past load_end moved.
            let (bss, bss_size, _) = r.section(".bss");
            let bss = bss as usize..(bss + bss_size) as usize;
            assert!(mem[bss].iter().all(|b| *b == 0), "{name}: bss");
            let gap = layout.code.end as usize..layout.data.start as usize;
            assert!(
                !gap.is_empty() && mem[gap].iter().all(|b| *b == 0),
                "{name}: gap"
            );
            let rest = &mem[layout.load_end as usize..];
            assert!(
                rest.iter().all(|b| *b == REGION_BYTE),
                "{name}: past load_end"
            );

            // Relocated pointers point at their targets at the region's real address.
            let ops = r.sym("fixture_ops");
            assert_eq!(at(ops), BASE + r.sym("fixture_add"), "{name}: ops[0]");
            assert_eq!(at(ops + 8), BASE + r.sym("fixture_sub"), "{name}: ops[1]");
            let pointers = r.sym("fixture_pointers");
            let expected = [
                r.sym("fixture_greeting"),
                r.sym("fixture_farewell"),
                r.sym("fixture_counter"),
                r.sym("fixture_scratch") + 3 * 8,
            ];
            for (i, target) in expected.into_iter().enumerate() {
                let slot = pointers + 8 * i as u64;
                assert_eq!(at(slot), BASE + target, "{name}: pointers[{i}]");
            }
            // And every relocation the table lists was applied.
            for (offset, addend, _) in &r.relas {
                assert_eq!(at(*offset), BASE.wrapping_add_signed(*addend), "{name}");
            }
        }
    }

    #[test]
    fn wrong_machine() {
        reject("aarch64 as riscv64", AARCH64, Machine::Riscv64, |e| {
            matches!(
                e,
                ImageError::WrongMachine {
                    expected: Machine::Riscv64,
                    found: 183
                }
            )
        });
        reject("riscv64 as aarch64", RISCV64, Machine::Aarch64, |e| {
            matches!(
                e,
                ImageError::WrongMachine {
                    expected: Machine::Aarch64,
                    found: 243
                }
            )
        });
        let other = mutated(AARCH64, |b| wr16(b, E_MACHINE, abi::EM_X86_64));
        reject("x86-64", &other, Machine::Aarch64, |e| {
            matches!(e, ImageError::WrongMachine { found: 62, .. })
        });
    }

    #[test]
    fn bad_identification() {
        for (name, elf, m) in FIXTURES {
            let bad = mutated(elf, |b| b[0] = 0);
            reject(name, &bad, m, |e| matches!(e, ImageError::BadMagic));
            reject(name, &[], m, |e| matches!(e, ImageError::BadMagic));
            reject(name, &elf[..20], m, |e| {
                matches!(e, ImageError::Truncated { .. })
            });
            let bad = mutated(elf, |b| b[abi::EI_CLASS] = abi::ELFCLASS32);
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NotElf64 { class: 1 })
            });
            let bad = mutated(elf, |b| b[abi::EI_DATA] = abi::ELFDATA2MSB);
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::WrongEndian { data: 2 })
            });
            let bad = mutated(elf, |b| b[abi::EI_VERSION] = 2);
            reject(name, &bad, m, |e| matches!(e, ImageError::Parse(_)));
            let bad = mutated(elf, |b| wr16(b, E_TYPE, abi::ET_EXEC));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NotPie { e_type: 2 })
            });
            let bad = mutated(elf, |b| wr16(b, E_TYPE, abi::ET_REL));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NotPie { e_type: 1 })
            });
        }
    }

    #[test]
    fn truncated_everywhere() {
        for (name, elf, m) in FIXTURES {
            for len in (0..elf.len()).step_by(64) {
                let what = format!("{name} truncated to {len}");
                reject(&what, &elf[..len], m, |_| true);
            }
        }
    }

    #[test]
    fn bad_segments() {
        for (name, elf, m) in FIXTURES {
            let (code, rodata, data) = code_rodata_data(elf);
            let (pc, pr, pd) = (phdr(elf, code), phdr(elf, rodata), phdr(elf, data));
            let len = elf.len() as u64;
            let data_vaddr = rd64(elf, pd + P_VADDR);

            let bad = mutated(elf, |b| wr64(b, pc + P_OFFSET, len));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOutsideFile { index: 0 })
            });
            let bad = mutated(elf, |b| wr64(b, pr + P_FILESZ, u64::MAX));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOutsideFile { index: 1 })
            });
            let bad = mutated(elf, |b| wr64(b, pd + P_OFFSET, u64::MAX - 4));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOutsideFile { index: 2 })
            });

            let bad = mutated(elf, |b| wr64(b, pr + P_VADDR, data_vaddr - 16));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOverlap { a: 1, b: 2 })
            });
            let bad = mutated(elf, |b| wr64(b, pr + P_VADDR, 0x40));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOverlap { a: 0, b: 1 })
            });
            let bad = mutated(elf, |b| wr64(b, pr + P_VADDR, 0));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SegmentOverlap { a: 0, b: 1 })
            });

            let bad = mutated(elf, |b| {
                wr32(b, pc + P_FLAGS, abi::PF_R | abi::PF_W | abi::PF_X)
            });
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::WritableCode { index: 0 })
            });
            let bad = mutated(elf, |b| {
                wr32(b, pd + P_FLAGS, abi::PF_R | abi::PF_W | abi::PF_X)
            });
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::WritableCode { index: 2 })
            });
            let bad = mutated(elf, |b| wr32(b, pr + P_FLAGS, abi::PF_R | abi::PF_X));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::SeveralCodeSegments { a: 0, b: 1 })
            });
            let bad = mutated(elf, |b| wr32(b, pc + P_FLAGS, abi::PF_R));
            reject(name, &bad, m, |e| matches!(e, ImageError::NoCodeSegment));

            // Code moved above everything else, or off address 0.
            let bad = mutated(elf, |b| wr64(b, pc + P_VADDR, 0x8000));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::CodeNotFirst { index: 1 })
            });
            let bad = mutated(elf, |b| wr64(b, pc + P_VADDR, 0x100));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::CodeNotAtZero { vaddr: 0x100 })
            });

            let memsz = rd64(elf, pd + P_MEMSZ);
            let bad = mutated(elf, |b| wr64(b, pd + P_FILESZ, memsz + 1));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::FileSizeExceedsMemSize { index: 2 })
            });
            let bad = mutated(elf, |b| wr64(b, pd + P_MEMSZ, 1 << 40));
            reject(name, &bad, m, |e| matches!(e, ImageError::TooLarge { .. }));
            let bad = mutated(elf, |b| wr64(b, pd + P_MEMSZ, u64::MAX - 0x100));
            reject(name, &bad, m, |e| matches!(e, ImageError::TooLarge { .. }));

            let bad = mutated(elf, |b| wr64(b, pd + P_ALIGN, 0x1800));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadAlignment { value: 0x1800, .. })
            });

            // No program headers at all, or none loadable.
            let bad = mutated(elf, |b| wr16(b, E_PHNUM, 0));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NoLoadableSegment)
            });
            let bad = mutated(elf, |b| wr64(b, E_PHOFF, 0));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NoLoadableSegment)
            });
            let bad = mutated(elf, |b| {
                for i in [code, rodata, data] {
                    wr64(b, phdr(elf, i) + P_MEMSZ, 0);
                    wr64(b, phdr(elf, i) + P_FILESZ, 0);
                }
            });
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::NoLoadableSegment)
            });
            let bad = mutated(elf, |b| wr64(b, E_PHOFF, len - 8));
            reject(name, &bad, m, |e| matches!(e, ImageError::Truncated { .. }));
        }
    }

    #[test]
    fn bad_entry() {
        for (name, elf, m) in FIXTURES {
            let code_end = inspect(elf, m, REGION, STACK).unwrap().code.end;
            let bad = mutated(elf, |b| wr64(b, E_ENTRY, code_end));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::EntryOutsideCode { .. })
            });
            let bad = mutated(elf, |b| wr64(b, E_ENTRY, 1));
            reject(name, &bad, m, |e| {
                matches!(
                    e,
                    ImageError::BadAlignment {
                        what: "entry point",
                        value: 1
                    }
                )
            });
        }
        // RISC-V's compressed instructions make 2-byte entry points legal.
        let ok = mutated(RISCV64, |b| wr64(b, E_ENTRY, 2));
        assert_eq!(
            inspect(&ok, Machine::Riscv64, REGION, STACK).unwrap().entry,
            2
        );
        let bad = mutated(AARCH64, |b| wr64(b, E_ENTRY, 2));
        reject("aarch64 entry 2", &bad, Machine::Aarch64, |e| {
            matches!(e, ImageError::BadAlignment { value: 2, .. })
        });
    }

    #[test]
    fn region_size() {
        for (name, elf, m) in FIXTURES {
            let load_end = inspect(elf, m, REGION, STACK).unwrap().load_end;
            let needed = load_end + PAGE_SIZE + STACK;
            assert!(inspect(elf, m, needed, STACK).is_ok(), "{name}: exact fit");
            let err = inspect(elf, m, needed - 1, STACK).unwrap_err();
            assert!(
                matches!(err, ImageError::TooLarge { needed: n, region: r } if n == needed && r == needed - 1),
                "{name}: {err:?}"
            );
            let err = inspect(elf, m, u64::MAX, u64::MAX).unwrap_err();
            assert!(
                matches!(
                    err,
                    ImageError::TooLarge {
                        needed: u64::MAX,
                        ..
                    }
                ),
                "{name}"
            );

            // load takes the region size from the slice.
            let mut exact = Guarded::new(needed);
            assert!(exact.load(elf, m).is_ok(), "{name}");
            let mut short = Guarded::new(needed - 16);
            let err = short.load(elf, m).unwrap_err();
            assert!(
                matches!(err, ImageError::TooLarge { .. }),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn region_base() {
        for (name, elf, m) in FIXTURES {
            let mut region = vec![0u8; REGION as usize];
            for base in [BASE + 16, BASE + 0x800, 1] {
                let err = load(elf, m, &mut region, base, STACK).unwrap_err();
                assert!(
                    matches!(
                        err,
                        ImageError::BadAlignment {
                            what: "region base",
                            ..
                        }
                    ),
                    "{name}: {err:?}"
                );
            }
            let err = load(elf, m, &mut region, !0xfff, STACK).unwrap_err();
            assert!(
                matches!(err, ImageError::BadRegion { .. }),
                "{name}: {err:?}"
            );
            assert!(region.iter().all(|b| *b == 0));
            let layout = load(elf, m, &mut region, 0, STACK).unwrap();
            assert_eq!(layout.relocations, 6, "{name}: base 0 is fine");
        }
    }

    #[test]
    fn bad_relocations() {
        for (name, elf, m) in FIXTURES {
            let r = Reference::new(elf);
            let layout = inspect(elf, m, REGION, STACK).unwrap();
            let (_, _, first) = r.relas[0];
            let info = first + 8;
            let set_offset = |offset: u64| mutated(elf, |b| wr64(b, first, offset));

            // A type other than RELATIVE: R_AARCH64_ABS64 = 257, R_RISCV_64 = 2; IRELATIVE.
            for kind in [257, 2, 1032, 58, 0xffff_ffff] {
                let bad = mutated(elf, |b| wr64(b, info, u64::from(kind)));
                let offset = r.relas[0].0;
                reject(name, &bad, m, |e| {
                    matches!(e, ImageError::UnsupportedRelocation { .. })
                });
                let err = inspect(&bad, m, REGION, STACK).unwrap_err();
                assert!(
                    matches!(err, ImageError::UnsupportedRelocation { kind: k, offset: o } if k == kind && o == offset),
                    "{name}: {err:?}"
                );
            }
            // The symbol index in the upper half does not change the type.
            let sym = mutated(elf, |b| wr64(b, info, (1 << 32) | u64::from(m.relative())));
            assert!(inspect(&sym, m, REGION, STACK).is_ok());

            // Targets beyond the image, straddling its end, in a gap, in the code, wrapping.
            let last_end = layout.data.end;
            for offset in [
                layout.load_end + 0x100,
                last_end - 4,
                layout.code.end + 0x100,
                layout.data.start - 8,
                u64::MAX - 3,
                REGION,
            ] {
                let bad = set_offset(offset);
                reject(name, &bad, m, |e| {
                    matches!(e, ImageError::RelocationOutsideImage { .. })
                });
            }
            for offset in [0, layout.entry, layout.code.end - 4, layout.code.end - 8] {
                let bad = set_offset(offset);
                reject(name, &bad, m, |e| {
                    matches!(e, ImageError::RelocationInCode { .. })
                });
            }

            // Read-only data, the bss and the last 8 bytes of the image are fair targets.
            let (bss, bss_size, _) = r.section(".bss");
            for offset in [layout.data.start, bss, bss + bss_size - 8, last_end - 8] {
                let ok = set_offset(offset);
                let mut region = Guarded::new(REGION);
                region.load(&ok, m).unwrap();
                let addend = r.relas[0].1;
                let got = rd64(region.view(), offset as usize);
                assert_eq!(
                    got,
                    BASE.wrapping_add_signed(addend),
                    "{name} at {offset:#x}"
                );
            }

            // R_MORELLO_RELATIVE is left to cap_relocs on aarch64 (not counted, not written)
            // and refused, by name, elsewhere.
            let morello = mutated(elf, |b| wr64(b, info, u64::from(R_MORELLO_RELATIVE)));
            if m == Machine::Aarch64 {
                let layout = inspect(&morello, m, REGION, STACK).unwrap();
                assert_eq!(layout.relocations, 5, "{name}");
                // Its location keeps the file's bytes, as if it were R_*_NONE.
                let mut region = Guarded::new(REGION);
                region.load(&morello, m).unwrap();
                let mut skipped = Guarded::new(REGION);
                skipped
                    .load(&mutated(elf, |b| wr64(b, info, 0)), m)
                    .unwrap();
                let slot = r.relas[0].0 as usize;
                assert_eq!(
                    rd64(region.view(), slot),
                    rd64(skipped.view(), slot),
                    "{name}"
                );
                assert_ne!(
                    rd64(region.view(), slot),
                    BASE.wrapping_add_signed(r.relas[0].1)
                );
            } else {
                reject(name, &morello, m, |e| {
                    matches!(
                        e,
                        ImageError::UnsupportedRelocation {
                            kind: R_MORELLO_RELATIVE,
                            ..
                        }
                    )
                });
                let err = inspect(&morello, m, REGION, STACK).unwrap_err().to_string();
                assert!(
                    err.contains("R_MORELLO_RELATIVE") && err.contains("not an aarch64 image"),
                    "{err}"
                );
            }

            // R_*_NONE is skipped and not counted.
            let none = mutated(elf, |b| wr64(b, info, 0));
            let layout = inspect(&none, m, REGION, STACK).unwrap();
            assert_eq!(layout.relocations, 5, "{name}");

            // Negative and huge addends wrap as ld.so computes them.
            let neg = mutated(elf, |b| wr64(b, first + 16, (-16i64) as u64));
            let mut region = Guarded::new(REGION);
            region.load(&neg, m).unwrap();
            assert_eq!(
                rd64(region.view(), r.relas[0].0 as usize),
                BASE - 16,
                "{name}"
            );
        }
    }

    #[test]
    fn dynamic_section() {
        for (name, elf, m) in FIXTURES {
            let tag_to = |from: u64, tag: i64, value: Option<u64>| {
                mutated(elf, |b| {
                    let off = dyn_entry(elf, from);
                    wr64(b, off, tag as u64);
                    if let Some(v) = value {
                        wr64(b, off + 8, v);
                    }
                })
            };
            let bad = tag_to(DT_DEBUG, abi::DT_NEEDED, Some(1));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::DynamicLinking { what: "DT_NEEDED" })
            });
            let bad = mutated(elf, |b| {
                let ph = phdr(elf, find_phdr(elf, abi::PT_DYNAMIC, 0));
                wr32(b, ph + P_TYPE, abi::PT_INTERP);
            });
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::DynamicLinking { what: "PT_INTERP" })
            });
            let bad = tag_to(DT_RELACOUNT, abi::DT_RELSZ, None);
            reject(name, &bad, m, |e| {
                matches!(
                    e,
                    ImageError::UnsupportedRelocationTable { table: "DT_REL" }
                )
            });
            let bad = tag_to(DT_RELACOUNT, DT_RELRSZ, None);
            reject(name, &bad, m, |e| {
                matches!(
                    e,
                    ImageError::UnsupportedRelocationTable { table: "DT_RELR" }
                )
            });
            let bad = tag_to(abi::DT_RELAENT as u64, abi::DT_RELAENT, Some(16));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            let bad = tag_to(abi::DT_RELASZ as u64, abi::DT_RELASZ, Some(143));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            let bad = tag_to(abi::DT_RELASZ as u64, abi::DT_RELASZ, Some(24 << 20));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            let bad = tag_to(abi::DT_RELA as u64, abi::DT_RELA, Some(u64::MAX - 8));
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            let bad = tag_to(abi::DT_RELA as u64, DT_DEBUG as i64, None);
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            let bad = mutated(elf, |b| {
                let ph = phdr(elf, find_phdr(elf, abi::PT_DYNAMIC, 0));
                wr64(b, ph + P_FILESZ, rd64(elf, ph + P_FILESZ) - 8);
            });
            reject(name, &bad, m, |e| {
                matches!(e, ImageError::BadDynamic { .. })
            });
            // PLT relocations are checked like the others: JMPREL over .rela.dyn, REL or RELA.
            let rela = rd64(elf, dyn_entry(elf, abi::DT_RELA as u64) + 8);
            let jmprel = mutated(elf, |b| {
                let off = dyn_entry(elf, DT_DEBUG);
                wr64(b, off, abi::DT_JMPREL as u64);
                wr64(b, off + 8, rela);
                let off = dyn_entry(elf, DT_RELACOUNT);
                wr64(b, off, abi::DT_PLTRELSZ as u64);
                wr64(b, off + 8, 48);
            });
            let layout = inspect(&jmprel, m, REGION, STACK).unwrap();
            assert_eq!(layout.relocations, 8, "{name}: 6 RELA + 2 JMPREL");
            let rel_plt = mutated(&jmprel, |b| {
                let off = dyn_entry(elf, abi::DT_GNU_HASH as u64);
                wr64(b, off, abi::DT_PLTREL as u64);
                wr64(b, off + 8, abi::DT_REL as u64);
            });
            reject(name, &rel_plt, m, |e| {
                matches!(e, ImageError::UnsupportedRelocationTable { .. })
            });
        }
    }

    #[test]
    fn no_relocations() {
        for (name, elf, m) in FIXTURES {
            let rela = dyn_entry(elf, abi::DT_RELA as u64);
            let relasz = dyn_entry(elf, abi::DT_RELASZ as u64);
            // GNU ld's empty table, an empty table somewhere, and no table.
            let empty = mutated(elf, |b| {
                wr64(b, rela + 8, 0);
                wr64(b, relasz + 8, 0);
            });
            let sized0 = mutated(elf, |b| wr64(b, relasz + 8, 0));
            let absent = mutated(elf, |b| {
                wr64(b, rela, DT_DEBUG);
                wr64(b, relasz, DT_DEBUG);
            });
            // No PT_DYNAMIC and no section headers.
            let bare = mutated(elf, |b| {
                let ph = phdr(elf, find_phdr(elf, abi::PT_DYNAMIC, 0));
                wr32(b, ph + P_TYPE, abi::PT_NULL);
                wr64(b, E_SHOFF, 0);
            });
            for (what, image) in [
                ("empty", empty),
                ("sized0", sized0),
                ("absent", absent),
                ("bare", bare),
            ] {
                let mut region = Guarded::new(REGION);
                let layout = region.load(&image, m).unwrap();
                assert_eq!(layout.relocations, 0, "{name} {what}");
            }
        }
    }

    #[test]
    fn section_header_fallback() {
        for (name, elf, m) in FIXTURES {
            let mut expected = Guarded::new(REGION);
            expected.load(elf, m).unwrap();
            let dynamic = find_phdr(elf, abi::PT_DYNAMIC, 0);
            // Without PT_DYNAMIC the allocated .rela.dyn section is used instead.
            let no_dynamic = mutated(elf, |b| wr32(b, phdr(elf, dynamic) + P_TYPE, abi::PT_NULL));
            // Same, with the ex-PT_DYNAMIC turned into an empty PT_LOAD, which is ignored.
            let empty_load = mutated(elf, |b| {
                let ph = phdr(elf, dynamic);
                wr32(b, ph + P_TYPE, abi::PT_LOAD);
                wr32(b, ph + P_FLAGS, abi::PF_R | abi::PF_X);
                wr64(b, ph + P_FILESZ, 0);
                wr64(b, ph + P_MEMSZ, 0);
            });
            for (what, image) in [("no PT_DYNAMIC", no_dynamic), ("empty PT_LOAD", empty_load)] {
                let mut region = Guarded::new(REGION);
                let layout = region.load(&image, m).unwrap();
                assert_eq!(layout.relocations, 6, "{name} {what}");
                assert!(region.view() == expected.view(), "{name} {what}");
            }
        }
    }

    use crate::testing::Rng;

    /// Corrupts `elf` a few ways, mostly where the loader looks: headers, dynamic, relocations.
    fn corrupt(elf: &mut [u8], rng: &mut Rng, hot: &[Range<usize>]) {
        for _ in 0..1 + rng.below(4) {
            let area = match rng.below(10) {
                0..=2 => 0..EHDR_SIZE + 8 * PHDR_SIZE,
                3..=6 => hot[rng.below(hot.len())].clone(),
                _ => 0..elf.len(),
            };
            let off = area.start + rng.below(area.len());
            if off >= elf.len() {
                continue;
            }
            match rng.below(4) {
                0 => elf[off] = rng.next() as u8,
                1 => elf[off] ^= 1 << rng.below(8),
                2 => elf[off] = [0, 0xff, 1, 0x80][rng.below(4)],
                _ => {
                    // A whole aligned field: sizes, offsets and addresses change wholesale.
                    let off = off & !7;
                    if off + 8 <= elf.len() {
                        let v = match rng.below(3) {
                            0 => rng.next(),
                            1 => rng.next() & 0xffff,
                            _ => rd64(elf, off)
                                .wrapping_add(rng.next() % 64)
                                .wrapping_sub(32),
                        };
                        wr64(elf, off, v);
                    }
                }
            }
        }
    }

    /// The fuzz target's checks (`fuzzing/image.rs`), on the test region.
    fn exercise(elf: &[u8], machine: Machine) -> bool {
        crate::fuzzing::image::exercise(elf, machine, REGION, STACK)
    }

    #[test]
    fn random_corruptions() {
        const ROUNDS: u64 = 2500;
        for (name, elf, machine) in FIXTURES {
            let r = Reference::new(elf);
            let section = |s: &str| {
                let (_, size, offset) = r.section(s);
                offset as usize..(offset + size) as usize
            };
            let hot = [
                section(".dynamic"),
                section(".rela.dyn"),
                section(".data.rel.ro"),
            ];
            let mut accepted = 0;
            for seed in 0..ROUNDS {
                let mut image = elf.to_vec();
                corrupt(&mut image, &mut Rng::new(seed), &hot);
                match catch_unwind(AssertUnwindSafe(|| exercise(&image, machine))) {
                    Ok(ok) => accepted += usize::from(ok),
                    Err(_) => panic!("{name}: seed {seed} panicked (replay with Rng::new({seed}))"),
                }
            }
            // Both outcomes must be well represented, or the corruption misses the headers.
            let rejected = ROUNDS as usize - accepted;
            assert!(
                accepted > 100 && rejected > 500,
                "{name}: {accepted} ok, {rejected} err"
            );
        }
    }
}
