//! Capability relocations: finds and checks the capabilities a pure-capability image asks its
//! loader to create, and plans each one as a model value derived from the cVM's own code and
//! data capabilities.
//!
//! A CHERI toolchain emits them in one of two forms (facts: shared/reference/sealed-calls.md):
//!
//! - **`__cap_relocs`** (lld, both ISAs): a table of 40-byte entries `{location, object, offset,
//!   size, permissions}`, found as the section of that name or between the symbols
//!   `__start___cap_relocs` and `__stop___cap_relocs`, or (CHERI-RISC-V) through the
//!   `PT_DYNAMIC` tags `DT_RISCV_CHERI___CAPRELOCS`/`…SZ`; every one present must agree.
//!   Permissions bit 63 = function, bit 62 = read-only; any other bit is refused. `object` 0
//!   without the function bit is a null pointer (capmon links code at 0, so a function at 0
//!   is real code).
//! - **`R_MORELLO_RELATIVE`** (type 59395, aarch64 only; the image loader refuses it elsewhere):
//!   `r_offset` is the location, which holds in the file a 16-byte fragment: word 0 the
//!   object's address, word 1 `length[55:0] | permissions[63:56]` (1 = read-only, 2 =
//!   read-write, 4 = executable; anything else is refused); `r_addend` is the offset.
//!
//! Each becomes one [`PlannedCap`], all addresses absolute:
//!
//! | kind | derived from | bounds | permissions | sealed |
//! |---|---|---|---|---|
//! | function | the code capability | the code capability's (not the request's) | the code capability's (Global, Load, Execute) | sentry |
//! | read-only data | the data capability | exactly `[object, object + size)` | Global, Load, LoadCap | no |
//! | data | the data capability | exactly `[object, object + size)` | Global, Load, Store, LoadCap, StoreCap | no |
//! | null | nothing | none (untagged, address = offset) | none | no |
//!
//! The address is `object + offset` (functions: the target, whose bit 0 on Morello is the C64
//! marker and is kept). Data permissions are intersected with the data capability's, so a
//! relocation never holds more than its parent: derived from a hybrid cVM's DDC (no
//! LoadCap/StoreCap) it gets none either. A data pointer whose object lies in a read-only
//! segment is read-only whatever its flags say. No relocation gets Execute unless it is a
//! sentry, and none gets StoreLocalCap, Seal, Unseal, System/ASR, Executive or user
//! permissions. Functions are bounded to the code because capmon's PCC covers only the code:
//! a Morello linker asks for its "PCC range" (code, read-only data and the GOT), which is
//! checked to lie inside the image but not granted.
//!
//! Refused, each error naming the relocation (form and index), its location and why: a
//! location that is not 16-byte aligned, lies in the code, or is not inside one writable
//! segment; two relocations at one location, or one overlapping an integer RELATIVE target; a
//! data object overlapping the code or outside the image's data; a function target outside
//! the code or misaligned; a request beyond the image; lengths or addresses that wrap; bounds
//! that cannot be exact (never padded: padding would widen the pointer over its neighbours);
//! an address the bounds cannot represent; unknown permission bits; a table that is not a
//! whole number of entries or not in the file; a fragment not in the file (bss).
//!
//! The file is hostile: all arithmetic is checked, nothing indexes without `get`, every loop
//! walks a table inside the file, so any input ends in `Ok` or `Err` without panicking.

use alloc::vec::Vec;
use core::fmt;

use elf::endian::LittleEndian;
use elf::file::Class;
use elf::relocation::RelaIterator;
use elf::ElfBytes;

use super::image::{self, ImageError, ImageLayout, Machine, Segment, R_MORELLO_RELATIVE};
use super::plan::{CvmFormat, DefaultCaps};
use crate::cap::{Capability, CheriRiscv, Format, Morello, MorelloPerms, PermSet, RiscvPerms};

/// Size of one `__cap_relocs` entry (five 64-bit words).
pub const CAP_RELOC_SIZE: usize = 40;
/// Size and alignment of a capability in memory.
pub const CAP_SIZE: u64 = 16;
/// `__cap_relocs` permissions: the object is a function.
pub const CAP_RELOC_FUNCTION: u64 = 1 << 63;
/// `__cap_relocs` permissions: the object is read-only.
pub const CAP_RELOC_READ_ONLY: u64 = 1 << 62;
/// `R_MORELLO_RELATIVE` fragment permission byte: read-only data.
pub const FRAGMENT_READ_ONLY: u8 = 1;
/// `R_MORELLO_RELATIVE` fragment permission byte: read-write data.
pub const FRAGMENT_READ_WRITE: u8 = 2;
/// `R_MORELLO_RELATIVE` fragment permission byte: executable (a function).
pub const FRAGMENT_EXECUTABLE: u8 = 4;
/// The fragment's length field: bits 55:0 of its second word.
const FRAGMENT_LENGTH_MASK: u64 = (1 << 56) - 1;
/// Where the permission byte sits in the fragment's second word.
const FRAGMENT_PERMS_SHIFT: u32 = 56;
const SECTION_NAME: &str = "__cap_relocs";
const START_SYMBOL: &str = "__start___cap_relocs";
const STOP_SYMBOL: &str = "__stop___cap_relocs";
/// CHERI-RISC-V psABI dynamic tag: the `__cap_relocs` table's address. What finds the table
/// in images stripped of section headers and symbols (as `capmon-run` trims them).
pub const DT_RISCV_CHERI_CAPRELOCS: i64 = 0x7000_c000;
/// CHERI-RISC-V psABI dynamic tag: the `__cap_relocs` table's size in bytes.
pub const DT_RISCV_CHERI_CAPRELOCSSZ: i64 = 0x7000_c001;
/// Bytes an integer RELATIVE relocation writes.
const INTEGER_RELOC_WIDTH: u64 = 8;

/// The permissions relocated data pointers get (before intersecting with the data parent's).
pub trait RelocFormat: CvmFormat {
    /// Read-write data: Global, Load, Store, LoadCap, StoreCap.
    const RELOC_DATA_PERMS: Self::Perms;
    /// Read-only data: Global, Load, LoadCap.
    const RELOC_READ_ONLY_PERMS: Self::Perms;
    /// The flags a pure cVM's code capability, and so its function sentries, carry: on
    /// CHERI-RISC-V capability mode (a sentry without it would run its target in integer
    /// mode); on Morello none (C64 is bit 0 of the target address, which the linker sets).
    const PURE_CODE_FLAGS: u32;
}

impl RelocFormat for Morello {
    // Not MutableLoad: capabilities loaded through these lose Store, as through the pure
    // cVM's data capability (the shared entry-register decision), which is their parent.
    const RELOC_DATA_PERMS: MorelloPerms = MorelloPerms::GLOBAL
        .union(MorelloPerms::LOAD)
        .union(MorelloPerms::STORE)
        .union(MorelloPerms::LOAD_CAP)
        .union(MorelloPerms::STORE_CAP);
    const RELOC_READ_ONLY_PERMS: MorelloPerms = MorelloPerms::GLOBAL
        .union(MorelloPerms::LOAD)
        .union(MorelloPerms::LOAD_CAP);
    const PURE_CODE_FLAGS: u32 = 0;
}

impl RelocFormat for CheriRiscv {
    const RELOC_DATA_PERMS: RiscvPerms = RiscvPerms::GLOBAL
        .union(RiscvPerms::LOAD)
        .union(RiscvPerms::STORE)
        .union(RiscvPerms::LOAD_CAP)
        .union(RiscvPerms::STORE_CAP);
    const RELOC_READ_ONLY_PERMS: RiscvPerms = RiscvPerms::GLOBAL
        .union(RiscvPerms::LOAD)
        .union(RiscvPerms::LOAD_CAP);
    const PURE_CODE_FLAGS: u32 = crate::cap::riscv::FLAG_CAPABILITY_MODE;
}

/// Which of the two forms a relocation came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// An entry of the `__cap_relocs` table (index = entry number).
    CapRelocs,
    /// An `R_MORELLO_RELATIVE` (index = position among all RELA entries).
    MorelloRelative,
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Form::CapRelocs => "__cap_relocs",
            Form::MorelloRelative => "R_MORELLO_RELATIVE",
        })
    }
}

/// What a relocation points at, which decides the capability's permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Function,
    ReadOnly,
    Data,
    Null,
}

/// One capability the loader will store: `cap` at `location` (an offset from the region base,
/// 16-byte aligned, inside a writable segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedCap<F: Format> {
    pub form: Form,
    pub index: usize,
    pub location: u64,
    pub kind: Kind,
    pub cap: Capability<F>,
}

/// The capabilities relocations are derived from: functions from `code`, data from `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parents<F: Format> {
    pub code: Capability<F>,
    pub data: Capability<F>,
}

impl<F: RelocFormat> Parents<F> {
    /// A pure cVM's parents: its code capability in capability mode ([`RelocFormat::
    /// PURE_CODE_FLAGS`]), and a data capability with the data capability's bounds and the
    /// pure data permissions (Global, Load, Store, LoadCap, StoreCap: the shared decision's
    /// arg2).
    pub fn purecap(caps: &DefaultCaps<F>) -> Self {
        let length = u64::try_from(caps.data.length()).unwrap_or(u64::MAX);
        let data = Capability::<F>::root()
            .set_address(caps.data.base())
            .set_bounds_exact(length)
            .without_perms(all_but::<F>(F::RELOC_DATA_PERMS));
        Parents {
            code: caps.code.set_flags(F::PURE_CODE_FLAGS),
            data,
        }
    }
}

fn all_but<F: Format>(keep: F::Perms) -> F::Perms {
    F::Perms::from_bits(F::Perms::ALL.bits() & !keep.bits())
}

/// Why one relocation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    LocationMisaligned,
    LocationInCode,
    LocationNotWritable,
    /// Another capability relocation writes the same 16 bytes.
    DuplicateLocation {
        other: (Form, usize),
    },
    /// An integer RELATIVE relocation at `offset` writes into the same 16 bytes.
    OverlapsIntegerRelocation {
        offset: u64,
    },
    /// The fragment's 16 bytes are not in the file (the location is in the bss).
    FragmentNotInFile,
    UnknownPermissions {
        bits: u64,
    },
    UnknownPermissionByte {
        byte: u8,
    },
    /// `address + length` or `address + offset` wraps.
    LengthOverflow {
        address: u64,
        length: u64,
    },
    /// A data object overlapping the code.
    DataInCode {
        address: u64,
        length: u64,
    },
    /// A data object outside the image's data `[start, end)`.
    OutsideImage {
        address: u64,
        length: u64,
        start: u64,
        end: u64,
    },
    /// A function's requested range beyond the image's end.
    RequestBeyondImage {
        address: u64,
        length: u64,
        end: u64,
    },
    FunctionOutsideCode {
        target: u64,
        code_end: u64,
    },
    FunctionMisaligned {
        target: u64,
        align: u64,
    },
    /// Bounds `[base, base + length)` (absolute) are not exactly representable: the format
    /// needs an `align`-aligned base and a length of `rounded` (≥ `length`).
    NotRepresentable {
        base: u64,
        length: u64,
        align: u64,
        rounded: u64,
    },
    /// The bounds do not fit in the parent capability (the cVM's region).
    OutsideParent {
        base: u64,
        length: u64,
    },
    /// The address cannot be represented with the bounds (too far outside them).
    AddressNotRepresentable {
        address: u64,
    },
}

/// Why the relocations as a whole were refused.
#[derive(Debug)]
pub enum CapRelocError {
    /// The image itself is invalid (as `image::inspect` says).
    Image(ImageError),
    /// The `__cap_relocs` table is malformed.
    Table { reason: &'static str, size: u64 },
    /// One relocation is refused.
    Entry {
        form: Form,
        index: usize,
        location: u64,
        problem: Problem,
    },
}

impl core::error::Error for CapRelocError {}

impl From<ImageError> for CapRelocError {
    fn from(e: ImageError) -> Self {
        CapRelocError::Image(e)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |a: u64, l: u64| u128::from(a) + u128::from(l);
        match *self {
            Problem::LocationMisaligned => f.write_str("the location is not 16-byte aligned"),
            Problem::LocationInCode => f.write_str("the location is in the code"),
            Problem::LocationNotWritable => {
                f.write_str("the location is not inside one writable segment of the image")
            }
            Problem::DuplicateLocation {
                other: (form, index),
            } => {
                write!(
                    f,
                    "capability relocation {index} ({form}) already writes there"
                )
            }
            Problem::OverlapsIntegerRelocation { offset } => write!(
                f,
                "it overlaps the integer RELATIVE relocation at {offset:#x}"
            ),
            Problem::FragmentNotInFile => {
                f.write_str("the fragment at the location is not in the file (bss)")
            }
            Problem::UnknownPermissions { bits } => write!(
                f,
                "unknown permission bits {bits:#x} (only function 1<<63 and read-only 1<<62)"
            ),
            Problem::UnknownPermissionByte { byte } => write!(
                f,
                "unknown fragment permission byte {byte:#x} (1 read-only, 2 read-write, 4 \
                 executable)"
            ),
            Problem::LengthOverflow { address, length } => write!(
                f,
                "{address:#x} + {length:#x} wraps around the address space"
            ),
            Problem::DataInCode { address, length } => write!(
                f,
                "its data object [{address:#x}, {:#x}) overlaps the code",
                end(address, length)
            ),
            Problem::OutsideImage {
                address,
                length,
                start,
                end: image_end,
            } => write!(
                f,
                "its object [{address:#x}, {:#x}) is outside the image's data [{start:#x}, \
                 {image_end:#x})",
                end(address, length)
            ),
            Problem::RequestBeyondImage {
                address,
                length,
                end: image_end,
            } => write!(
                f,
                "it asks for [{address:#x}, {:#x}), beyond the image's end {image_end:#x}",
                end(address, length)
            ),
            Problem::FunctionOutsideCode { target, code_end } => write!(
                f,
                "its function {target:#x} is outside the code [0, {code_end:#x})"
            ),
            Problem::FunctionMisaligned { target, align } => {
                write!(f, "its function {target:#x} is not {align}-byte aligned")
            }
            Problem::NotRepresentable {
                base,
                length,
                align,
                rounded,
            } => {
                write!(
                    f,
                    "bounds [{base:#x}, {:#x}) cannot be exact: the format needs a \
                     {align:#x}-aligned base",
                    end(base, length)
                )?;
                if rounded != length {
                    write!(f, " and a length of {rounded:#x}")?;
                }
                f.write_str(" (the loader does not pad bounds)")
            }
            Problem::OutsideParent { base, length } => write!(
                f,
                "bounds [{base:#x}, {:#x}) are outside the cVM's capability for them",
                end(base, length)
            ),
            Problem::AddressNotRepresentable { address } => write!(
                f,
                "address {address:#x} is too far outside its bounds to be represented"
            ),
        }
    }
}

impl fmt::Display for CapRelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapRelocError::Image(e) => write!(f, "{e}"),
            CapRelocError::Table { reason, size } => {
                write!(f, "__cap_relocs table ({size:#x} bytes): {reason}")
            }
            CapRelocError::Entry {
                form,
                index,
                location,
                problem,
            } => write!(
                f,
                "capability relocation {index} ({form}) at {location:#x}: {problem}"
            ),
        }
    }
}

/// One relocation as read from the file, before any check of what it asks for.
#[derive(Debug, Clone, Copy)]
struct Raw {
    form: Form,
    index: usize,
    location: u64,
    object: u64,
    /// Added to `object` to make the address (wrapping, as a two's-complement offset).
    offset: u64,
    size: u64,
    kind: Kind,
}

/// Whether the image carries capability relocations of either form (an error if the image or
/// its relocations are malformed). Region and stack sizes are needed only to check the image.
pub fn has_cap_relocs(
    elf: &[u8],
    machine: Machine,
    region_size: u64,
    stack_size: u64,
) -> Result<bool, CapRelocError> {
    let (layout, tables) = image::relocation_tables(elf, machine, region_size, stack_size)?;
    Ok(!read_all(elf, machine, &layout, &tables)?.0.is_empty())
}

/// Finds, checks and plans every capability relocation of the image for a region at
/// `region_base` (`region_size` bytes, the top `stack_size` of them stack), deriving functions
/// from `parents.code` and data from `parents.data`. The result is in table order
/// (`__cap_relocs` first, then `R_MORELLO_RELATIVE`s); empty when the image has none.
pub fn plan<F: RelocFormat>(
    elf: &[u8],
    machine: Machine,
    region_base: u64,
    region_size: u64,
    stack_size: u64,
    parents: &Parents<F>,
) -> Result<Vec<PlannedCap<F>>, CapRelocError> {
    let (layout, tables) = image::relocation_tables(elf, machine, region_size, stack_size)?;
    let (raws, integer_targets) = read_all(elf, machine, &layout, &tables)?;
    let mut planned = Vec::with_capacity(raws.len());
    for raw in &raws {
        let refuse = |problem| CapRelocError::Entry {
            form: raw.form,
            index: raw.index,
            location: raw.location,
            problem,
        };
        check_location(raw, &layout, &integer_targets).map_err(refuse)?;
        let cap = plan_one(raw, machine, &layout, region_base, parents).map_err(refuse)?;
        planned.push(cap);
    }
    // Two relocations at one location: sorted by location, equal neighbours (locations are
    // 16-byte aligned by now, so overlapping means equal).
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_unstable_by_key(|&i| planned.get(i).map(|p| (p.location, i)));
    for pair in order.windows(2) {
        if let [a, b] = *pair {
            if let (Some(first), Some(second)) = (planned.get(a), planned.get(b)) {
                if first.location == second.location {
                    return Err(CapRelocError::Entry {
                        form: second.form,
                        index: second.index,
                        location: second.location,
                        problem: Problem::DuplicateLocation {
                            other: (first.form, first.index),
                        },
                    });
                }
            }
        }
    }
    Ok(planned)
}

/// Every capability relocation as read from the file, and the targets of the integer
/// RELATIVE relocations (which must not overlap a capability's location).
fn read_all(
    elf: &[u8],
    machine: Machine,
    layout: &ImageLayout,
    tables: &[&[u8]],
) -> Result<(Vec<Raw>, Vec<u64>), CapRelocError> {
    let mut raws = Vec::new();
    if let Some(table) = find_table(elf, machine, &layout.segments)? {
        for (index, entry) in table.chunks_exact(CAP_RELOC_SIZE).enumerate() {
            let word = |i: usize| read_u64(entry, i * 8).unwrap_or(0);
            let (location, object, offset, size, perms) =
                (word(0), word(1), word(2), word(3), word(4));
            let unknown = perms & !(CAP_RELOC_FUNCTION | CAP_RELOC_READ_ONLY);
            if unknown != 0 {
                return Err(CapRelocError::Entry {
                    form: Form::CapRelocs,
                    index,
                    location,
                    problem: Problem::UnknownPermissions { bits: unknown },
                });
            }
            // Function wins over read-only, as cheri_init_globals decides.
            let kind = if perms & CAP_RELOC_FUNCTION != 0 {
                Kind::Function
            } else if object == 0 {
                Kind::Null
            } else if perms & CAP_RELOC_READ_ONLY != 0 {
                Kind::ReadOnly
            } else {
                Kind::Data
            };
            raws.push(Raw {
                form: Form::CapRelocs,
                index,
                location,
                object,
                offset,
                size,
                kind,
            });
        }
    }
    let mut integer_targets = Vec::new();
    let mut index = 0usize;
    for table in tables {
        // Each table is a whole number of entries (checked by the image loader).
        for rela in RelaIterator::new(LittleEndian, Class::ELF64, table) {
            if rela.r_type == machine.relative() {
                integer_targets.push(rela.r_offset);
            } else if rela.r_type == R_MORELLO_RELATIVE && machine == Machine::Aarch64 {
                raws.push(fragment(elf, layout, index, rela.r_offset, rela.r_addend)?);
            }
            index = index.saturating_add(1);
        }
    }
    integer_targets.sort_unstable();
    Ok((raws, integer_targets))
}

/// Reads the `R_MORELLO_RELATIVE` fragment at image offset `location`.
fn fragment(
    elf: &[u8],
    layout: &ImageLayout,
    index: usize,
    location: u64,
    addend: i64,
) -> Result<Raw, CapRelocError> {
    let refuse = |problem| CapRelocError::Entry {
        form: Form::MorelloRelative,
        index,
        location,
        problem,
    };
    // A bad location is reported as such before its bytes are read as a fragment.
    let stub = Raw {
        form: Form::MorelloRelative,
        index,
        location,
        object: 0,
        offset: 0,
        size: 0,
        kind: Kind::Data,
    };
    check_location(&stub, layout, &[]).map_err(refuse)?;
    let bytes = file_bytes_at(elf, &layout.segments, location, CAP_SIZE)
        .ok_or(refuse(Problem::FragmentNotInFile))?;
    let address = read_u64(bytes, 0).unwrap_or(0);
    let high = read_u64(bytes, 8).unwrap_or(0);
    let byte = u8::try_from(high >> FRAGMENT_PERMS_SHIFT).unwrap_or(u8::MAX);
    let kind = match byte {
        FRAGMENT_READ_ONLY => Kind::ReadOnly,
        FRAGMENT_READ_WRITE => Kind::Data,
        FRAGMENT_EXECUTABLE => Kind::Function,
        _ => return Err(refuse(Problem::UnknownPermissionByte { byte })),
    };
    Ok(Raw {
        form: Form::MorelloRelative,
        index,
        location,
        object: address,
        offset: u64::from_ne_bytes(addend.to_ne_bytes()),
        size: high & FRAGMENT_LENGTH_MASK,
        kind,
    })
}

/// The `__cap_relocs` table as a slice of the file, or `None` when the image has none.
fn find_table<'a>(
    elf: &'a [u8],
    machine: Machine,
    segments: &[Segment],
) -> Result<Option<&'a [u8]>, CapRelocError> {
    let file = ElfBytes::<LittleEndian>::minimal_parse(elf).map_err(ImageError::from)?;
    let (shdrs, strtab) = file
        .section_headers_with_strtab()
        .map_err(ImageError::from)?;
    let mut section = None;
    if let (Some(shdrs), Some(strtab)) = (shdrs, strtab) {
        // Bounded: the section header table lies inside the file.
        for sh in shdrs.iter() {
            let name = strtab.get(usize::try_from(sh.sh_name).unwrap_or(usize::MAX));
            if matches!(name, Ok(name) if name == SECTION_NAME) {
                if section.is_some() {
                    return Err(table_error("two __cap_relocs sections", sh.sh_size));
                }
                section = Some(sh);
            }
        }
    }
    let mut start = None;
    let mut stop = None;
    if let Some((symtab, strtab)) = file.symbol_table().map_err(ImageError::from)? {
        // Bounded: the symbol table lies inside the file.
        for sym in symtab.iter() {
            match strtab.get(usize::try_from(sym.st_name).unwrap_or(usize::MAX)) {
                Ok(START_SYMBOL) => start = Some(sym.st_value),
                Ok(STOP_SYMBOL) => stop = Some(sym.st_value),
                _ => {}
            }
        }
    }
    let symbols = match (start, stop) {
        (None, None) => None,
        (Some(start), Some(stop)) => Some((
            start,
            stop.checked_sub(start).ok_or(table_error(
                "__stop___cap_relocs lies below __start___cap_relocs",
                0,
            ))?,
        )),
        _ => {
            return Err(table_error(
                "only one of __start___cap_relocs and __stop___cap_relocs is defined",
                0,
            ))
        }
    };
    let dynamic = match machine {
        Machine::Riscv64 => dynamic_range(elf, &file)?,
        Machine::Aarch64 => None,
    };
    // Every way of naming the table that the image uses must name the same bytes.
    let ranges = [
        section.map(|sh| ("section", sh.sh_addr, sh.sh_size)),
        symbols.map(|(addr, size)| ("__start/__stop symbols", addr, size)),
        dynamic.map(|(addr, size)| ("DT_RISCV_CHERI___CAPRELOCS tags", addr, size)),
    ];
    let mut named = ranges.iter().flatten();
    let Some(&(_, addr, size)) = named.next() else {
        return Ok(None);
    };
    if named.any(|&(_, a, n)| (a, n) != (addr, size)) {
        return Err(table_error(
            "the __cap_relocs section, __start/__stop symbols and dynamic tags disagree",
            size,
        ));
    }
    let table = match section {
        Some(sh) => {
            if sh.sh_size != 0 && sh.sh_type == elf::abi::SHT_NOBITS {
                return Err(table_error("the section has no file data", sh.sh_size));
            }
            let start = usize::try_from(sh.sh_offset).ok();
            let end = start
                .zip(usize::try_from(sh.sh_size).ok())
                .and_then(|(s, n)| s.checked_add(n));
            start
                .zip(end)
                .and_then(|(s, e)| elf.get(s..e))
                .ok_or(table_error(
                    "the section extends beyond the end of the file",
                    sh.sh_size,
                ))?
        }
        None => file_bytes_at(elf, segments, addr, size).ok_or(table_error(
            "the symbols or dynamic tags do not delimit file data of one loadable segment",
            size,
        ))?,
    };
    let size = u64::try_from(table.len()).unwrap_or(u64::MAX);
    if !table.len().is_multiple_of(CAP_RELOC_SIZE) {
        return Err(table_error("not a whole number of 40-byte entries", size));
    }
    Ok(Some(table))
}

/// The `(address, size)` the CHERI-RISC-V dynamic tags give the table, if the image has them.
fn dynamic_range(
    elf: &[u8],
    file: &ElfBytes<'_, LittleEndian>,
) -> Result<Option<(u64, u64)>, CapRelocError> {
    let Some(phdrs) = file.segments() else {
        return Ok(None);
    };
    let Some(ph) = phdrs.iter().find(|ph| ph.p_type == elf::abi::PT_DYNAMIC) else {
        return Ok(None);
    };
    // The image loader has checked that PT_DYNAMIC is in the file, whole entries.
    let data = usize::try_from(ph.p_offset)
        .ok()
        .zip(usize::try_from(ph.p_filesz).ok())
        .and_then(|(start, len)| elf.get(start..start.checked_add(len)?))
        .ok_or(ImageError::BadDynamic {
            reason: "PT_DYNAMIC is not in the file",
        })?;
    let (mut addr, mut size) = (None, None);
    // Bounded by the segment's file size.
    for entry in elf::dynamic::DynamicTable::new(LittleEndian, Class::ELF64, data).iter() {
        match entry.d_tag {
            elf::abi::DT_NULL => break,
            DT_RISCV_CHERI_CAPRELOCS => addr = Some(entry.d_val()),
            DT_RISCV_CHERI_CAPRELOCSSZ => size = Some(entry.d_val()),
            _ => {}
        }
    }
    match (addr, size) {
        (None, None) => Ok(None),
        (Some(addr), Some(size)) => Ok(Some((addr, size))),
        _ => Err(table_error(
            "only one of DT_RISCV_CHERI___CAPRELOCS and DT_RISCV_CHERI___CAPRELOCSSZ is present",
            size.unwrap_or(0),
        )),
    }
}

fn table_error(reason: &'static str, size: u64) -> CapRelocError {
    CapRelocError::Table { reason, size }
}

/// The file bytes that image addresses `[addr, addr + len)` were loaded from, if they all lie
/// in the file part of one loadable segment.
fn file_bytes_at<'a>(elf: &'a [u8], segments: &[Segment], addr: u64, len: u64) -> Option<&'a [u8]> {
    let end = addr.checked_add(len)?;
    let seg = segments
        .iter()
        .find(|s| s.vaddr <= addr && s.vaddr.checked_add(s.file_size).is_some_and(|e| end <= e))?;
    let start = seg.offset_in_file.checked_add(addr - seg.vaddr)?;
    let start = usize::try_from(start).ok()?;
    elf.get(start..start.checked_add(usize::try_from(len).ok()?)?)
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let word = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(word.try_into().ok()?))
}

/// The location must be 16-byte aligned, outside the code, inside one writable segment, and
/// clear of every integer RELATIVE target (`integer_targets` sorted).
fn check_location(raw: &Raw, layout: &ImageLayout, integer_targets: &[u64]) -> Result<(), Problem> {
    let location = raw.location;
    if !location.is_multiple_of(CAP_SIZE) {
        return Err(Problem::LocationMisaligned);
    }
    if location < layout.code.end {
        return Err(Problem::LocationInCode);
    }
    let end = location
        .checked_add(CAP_SIZE)
        .ok_or(Problem::LocationNotWritable)?;
    let inside = layout.segments.iter().any(|s| {
        s.is_writable() && !s.is_executable() && s.vaddr <= location && end <= s.range().end
    });
    if !inside {
        return Err(Problem::LocationNotWritable);
    }
    // The first integer target that could reach into [location, end): any at or above
    // location - 7.
    let low = location.saturating_sub(INTEGER_RELOC_WIDTH - 1);
    let first = integer_targets.partition_point(|&t| t < low);
    if let Some(&offset) = integer_targets.get(first).filter(|&&t| t < end) {
        return Err(Problem::OverlapsIntegerRelocation { offset });
    }
    Ok(())
}

/// The capability one relocation asks for, checked against the image and derived from
/// `parents`.
fn plan_one<F: RelocFormat>(
    raw: &Raw,
    machine: Machine,
    layout: &ImageLayout,
    region_base: u64,
    parents: &Parents<F>,
) -> Result<PlannedCap<F>, Problem> {
    let planned = |kind, cap| PlannedCap {
        form: raw.form,
        index: raw.index,
        location: raw.location,
        kind,
        cap,
    };
    let overflow = || Problem::LengthOverflow {
        address: raw.object,
        length: raw.size,
    };
    let absolute = |offset: u64| region_base.checked_add(offset).ok_or_else(overflow);
    let object_end = raw.object.checked_add(raw.size).ok_or_else(overflow)?;
    match raw.kind {
        Kind::Null => {
            // Untagged, address = offset: what `(char *)NULL + offset` is.
            Ok(planned(
                Kind::Null,
                Capability::null().set_address(raw.offset),
            ))
        }
        Kind::Function => {
            if object_end > layout.load_end {
                return Err(Problem::RequestBeyondImage {
                    address: raw.object,
                    length: raw.size,
                    end: layout.load_end,
                });
            }
            let target = raw.object.wrapping_add(raw.offset);
            // Morello: bit 0 marks a C64 (pure-capability) function and is kept.
            let instruction = match machine {
                Machine::Aarch64 => target & !1,
                Machine::Riscv64 => target,
            };
            if !layout.code.contains(&instruction) {
                return Err(Problem::FunctionOutsideCode {
                    target,
                    code_end: layout.code.end,
                });
            }
            let align = machine.entry_align();
            if !instruction.is_multiple_of(align) {
                return Err(Problem::FunctionMisaligned { target, align });
            }
            let address = absolute(target)?;
            let cap = parents.code.set_address(address).seal_entry();
            if !cap.tag() {
                return Err(Problem::AddressNotRepresentable { address });
            }
            Ok(planned(Kind::Function, cap))
        }
        Kind::ReadOnly | Kind::Data => {
            if raw.object < layout.code.end {
                return Err(Problem::DataInCode {
                    address: raw.object,
                    length: raw.size,
                });
            }
            if raw.object < layout.data.start || object_end > layout.data.end {
                return Err(Problem::OutsideImage {
                    address: raw.object,
                    length: raw.size,
                    start: layout.data.start,
                    end: layout.data.end,
                });
            }
            // An object inside a read-only segment gets no Store, whatever the flags say.
            let in_read_only = layout
                .segments
                .iter()
                .any(|s| !s.is_writable() && s.vaddr <= raw.object && object_end <= s.range().end);
            let kind = if in_read_only {
                Kind::ReadOnly
            } else {
                raw.kind
            };
            let keep = match kind {
                Kind::ReadOnly => F::RELOC_READ_ONLY_PERMS,
                _ => F::RELOC_DATA_PERMS,
            };
            let base = absolute(raw.object)?;
            let bounded = parents.data.set_address(base).set_bounds(raw.size);
            if !bounded.tag() {
                return Err(Problem::OutsideParent {
                    base,
                    length: raw.size,
                });
            }
            if !bounded.exact {
                let rounded = F::representable_length(raw.size);
                return Err(Problem::NotRepresentable {
                    base,
                    length: raw.size,
                    align: (!F::alignment_mask(rounded)).saturating_add(1),
                    rounded,
                });
            }
            let address = base.wrapping_add(raw.offset);
            let cap = bounded
                .cap
                .without_perms(all_but::<F>(keep))
                .set_address(address);
            if !cap.tag() {
                return Err(Problem::AddressNotRepresentable { address });
            }
            Ok(planned(kind, cap))
        }
    }
}

/// POLICY: the one place that decides which cVMs may carry capability relocations and from
/// which capabilities they are derived; called each time a cVM is (re)started.
///
/// A pure-capability cVM (`abi = "purecap"`) gets its relocations planned with its own code
/// and data capabilities as the parents ([`Parents::purecap`]); `region_size` is the part of
/// its region that holds its image and stack. A hybrid (cap-unaware) cVM with capability
/// relocations is refused: the image was built for a pure-capability cVM, and a hybrid cVM's
/// DDC has no LoadCap/StoreCap, so the pointers could not even be loaded.
#[cfg(target_os = "none")]
pub fn for_cvm(
    spec: &super::manifest::CvmSpec,
    image: &[u8],
    region_base: u64,
    region_size: u64,
    caps: &DefaultCaps<crate::arch::current::cvm::Format>,
) -> Result<Vec<PlannedCap<crate::arch::current::cvm::Format>>, alloc::string::String> {
    let machine = crate::arch::current::cvm::MACHINE;
    let has = has_cap_relocs(image, machine, region_size, spec.stack_size)
        .map_err(|e| alloc::format!("image {:?}: {e}", spec.image))?;
    if !has {
        return Ok(Vec::new());
    }
    if spec.abi == super::manifest::Abi::Purecap {
        return plan(
            image,
            machine,
            region_base,
            region_size,
            spec.stack_size,
            &Parents::purecap(caps),
        )
        .map_err(|e| alloc::format!("image {:?}: {e}", spec.image));
    }
    Err(alloc::format!(
        "image {:?} has capability relocations (a pure-capability image), but the cVM is \
         cap-unaware (hybrid); pure-capability cVMs need abi = \"purecap\"",
        spec.image
    ))
}

/// Stores every planned capability into the cVM's memory (`memory` is its own part, from the
/// region's base), derived from its authority,
/// each derived in hardware and checked against its model by the arch layer.
#[cfg(target_os = "none")]
pub fn apply(
    memory: &mut [u8],
    planned: &[PlannedCap<crate::arch::current::cvm::Format>],
    authority: &crate::arch::current::cvm::Authority,
) -> Result<(), alloc::string::String> {
    for p in planned {
        let fail = |why: &str| {
            alloc::format!(
                "capability relocation {} ({}) at {:#x}: {why}",
                p.index,
                p.form,
                p.location
            )
        };
        let slot = usize::try_from(p.location)
            .ok()
            .and_then(|at| memory.get_mut(at..at.checked_add(16)?))
            .filter(|s| s.as_ptr().addr().is_multiple_of(16))
            .ok_or_else(|| fail("not a 16-byte aligned slot of the region"))?;
        // SAFETY: `slot` is 16 bytes of the cVM's region, exclusively borrowed, and 16-byte
        // aligned (checked), so it is a valid `[u64; 2]` and a capability-aligned slot.
        let slot = unsafe { &mut *slot.as_mut_ptr().cast::<[u64; 2]>() };
        crate::arch::current::cvm::store_relocated(slot, &p.cap, authority)
            .map_err(|why| fail(&why))?;
    }
    Ok(())
}

/// What the hardware reports for a capability it derived (GC* / CGet*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub tag: bool,
    pub base: u64,
    /// Saturated at `u64::MAX` for a 2^64 length.
    pub length: u64,
    pub address: u64,
    pub perms: u64,
    /// As GCTYPE / CGetType report it (CHERI-RISC-V sign-extends the reserved types).
    pub otype: u64,
}

/// Compares what the hardware derived for a planned capability with the model; the error
/// says both.
pub fn check_against_model<F: Format>(
    hw: Observed,
    model: &Capability<F>,
) -> Result<(), alloc::string::String> {
    let otype_mask = (1u64 << F::LAYOUT.otype.width) - 1;
    let expected = Observed {
        tag: model.tag(),
        base: model.base(),
        length: u64::try_from(model.length()).unwrap_or(u64::MAX),
        address: model.address(),
        perms: u64::from(model.perms().bits()),
        otype: u64::from(model.otype()),
    };
    let observed = Observed {
        otype: hw.otype & otype_mask,
        ..hw
    };
    if observed == expected {
        return Ok(());
    }
    Err(alloc::format!(
        "hardware gave tag={} base={:#x} len={:#x} addr={:#x} perms={:#x} otype={:#x}, model \
         says {}",
        u8::from(hw.tag),
        hw.base,
        hw.length,
        hw.address,
        hw.perms,
        hw.otype,
        model
    ))
}

#[cfg(test)]
// Test images are small: their offsets and sizes fit every integer type.
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use crate::addr::{PhysAddr, PhysRange};
    use crate::cvm::plan::default_caps;
    use crate::testing::Rng;
    use elf::abi;
    use std::format;
    use std::ops::Range;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::string::{String, ToString};
    use std::vec;

    const REGION: u64 = 0x1_0000;
    const STACK: u64 = 0x4000;
    const BASE: u64 = 0x4000_0000;

    // The test image: code R X at 0, read-only data at RO, read-write data at DATA (its first
    // 0x40 bytes are .dynamic), then the bss.
    const CODE_SIZE: u64 = 0x200;
    const RO: u64 = 0x1000;
    /// Where `.rela.dyn` starts (the `__cap_relocs` table follows it).
    const RELA_AT: u64 = RO + 0x100;
    const DATA: u64 = 0x2000;
    const DATA_FILE: u64 = 0x200;
    const DYNAMIC_SIZE: u64 = 0x60;
    const BSS: u64 = 0x100;
    /// File offsets of the three segments and of the section and symbol tables.
    const CODE_OFF: u64 = 0x1000;
    const RO_OFF: u64 = 0x2000;
    const DATA_OFF: u64 = 0x3000;
    const TAIL_OFF: u64 = 0x4000;

    // Objects relocations point at.
    const FUNC: u64 = 0x40;
    const STRING: u64 = RO + 0x20;
    const TABLE: u64 = DATA + 0x180;
    const BSS_OBJ: u64 = DATA + DATA_FILE + 0x20;

    /// The `i`th capability-sized slot of the data segment, after `.dynamic`.
    const fn slot(i: u64) -> u64 {
        DATA + DYNAMIC_SIZE + 16 * i
    }

    fn elf_machine(m: Machine) -> u16 {
        m.e_machine()
    }

    fn put(b: &mut Vec<u8>, at: u64, bytes: &[u8]) {
        let at = at as usize;
        if b.len() < at + bytes.len() {
            b.resize(at + bytes.len(), 0);
        }
        b[at..at + bytes.len()].copy_from_slice(bytes);
    }
    fn put16(b: &mut Vec<u8>, at: u64, v: u16) {
        put(b, at, &v.to_le_bytes());
    }
    fn put32(b: &mut Vec<u8>, at: u64, v: u32) {
        put(b, at, &v.to_le_bytes());
    }
    fn put64(b: &mut Vec<u8>, at: u64, v: u64) {
        put(b, at, &v.to_le_bytes());
    }

    /// Where the table comes from.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Via {
        Section,
        Symbols,
        Both,
        /// Neither (the dynamic tags may still name it).
        Neither,
    }

    /// A static-PIE image in the cVM layout with capability relocations, built byte by byte.
    #[derive(Clone)]
    struct Image {
        machine: Machine,
        /// (r_offset, r_type, r_addend) of `.rela.dyn`.
        relas: Vec<(u64, u32, i64)>,
        /// `__cap_relocs` entries.
        entries: Vec<[u64; 5]>,
        via: Via,
        /// Find `.rela.dyn` through `PT_DYNAMIC` (else through the section headers).
        dynamic: bool,
        /// Name the table with the CHERI-RISC-V dynamic tags too (needs `dynamic`).
        dt_tags: bool,
        /// The data segment's file bytes (fragments are written here).
        data: Vec<u8>,
        bss: u64,
    }

    /// (name, type, flags, addr, offset, size, link, info, entsize) of an `Elf64_Shdr`.
    type SectionHeader = (u32, u32, u64, u64, u64, u64, u32, u32, u64);

    /// An image and where its pieces landed in the file.
    struct Built {
        bytes: Vec<u8>,
        /// File offset of the `__cap_relocs` table.
        table_off: u64,
        /// Image address of the `__cap_relocs` table.
        table_addr: u64,
        /// File offset of `.rela.dyn`.
        rela_off: u64,
        /// File offsets of the section header table and `.symtab`.
        shoff: u64,
        symtab_off: u64,
    }

    impl Image {
        fn new(machine: Machine) -> Self {
            Image {
                machine,
                relas: Vec::new(),
                entries: Vec::new(),
                via: Via::Section,
                dynamic: true,
                dt_tags: false,
                data: vec![0; DATA_FILE as usize],
                bss: BSS,
            }
        }

        fn cap_reloc(&mut self, location: u64, object: u64, offset: u64, size: u64, perms: u64) {
            self.entries.push([location, object, offset, size, perms]);
        }

        /// An `R_MORELLO_RELATIVE` at `location` with its fragment.
        fn fragment(&mut self, location: u64, address: u64, length: u64, perms: u8, addend: i64) {
            let at = (location - DATA) as usize;
            self.data[at..at + 8].copy_from_slice(&address.to_le_bytes());
            let high = (length & FRAGMENT_LENGTH_MASK) | u64::from(perms) << 56;
            self.data[at + 8..at + 16].copy_from_slice(&high.to_le_bytes());
            self.relas.push((location, R_MORELLO_RELATIVE, addend));
        }

        fn integer_reloc(&mut self, location: u64, addend: i64) {
            self.relas.push((location, self.machine.relative(), addend));
        }

        fn build(&self) -> Built {
            let mut b = Vec::new();
            // The read-only segment: a string, .rela.dyn, then __cap_relocs.
            let rela_size = 24 * self.relas.len() as u64;
            let table_addr = (RELA_AT + rela_size).next_multiple_of(8);
            let table_size = 40 * self.entries.len() as u64;
            let ro_size = table_addr + table_size - RO;
            put(&mut b, RO_OFF + (STRING - RO), b"a read-only str\0");
            for (i, (offset, kind, addend)) in self.relas.iter().enumerate() {
                let at = RO_OFF + (RELA_AT - RO) + 24 * i as u64;
                put64(&mut b, at, *offset);
                put64(&mut b, at + 8, u64::from(*kind));
                put64(&mut b, at + 16, *addend as u64);
            }
            let table_off = RO_OFF + (table_addr - RO);
            for (i, entry) in self.entries.iter().enumerate() {
                for (w, word) in entry.iter().enumerate() {
                    put64(&mut b, table_off + 40 * i as u64 + 8 * w as u64, *word);
                }
            }
            // The data segment, .dynamic first.
            put(&mut b, DATA_OFF, &self.data);
            if self.dynamic {
                let mut dynamic = vec![
                    (abi::DT_RELA as u64, RELA_AT),
                    (abi::DT_RELASZ as u64, rela_size),
                    (abi::DT_RELAENT as u64, 24),
                ];
                if self.dt_tags {
                    dynamic.push((DT_RISCV_CHERI_CAPRELOCS as u64, table_addr));
                    dynamic.push((DT_RISCV_CHERI_CAPRELOCSSZ as u64, table_size));
                }
                dynamic.push((abi::DT_NULL as u64, 0));
                for (i, (tag, value)) in dynamic.iter().enumerate() {
                    put64(&mut b, DATA_OFF + 16 * i as u64, *tag);
                    put64(&mut b, DATA_OFF + 16 * i as u64 + 8, *value);
                }
            }
            put(&mut b, CODE_OFF, &vec![0; CODE_SIZE as usize]);

            // Strings, symbols, section headers.
            let mut shstr = vec![0u8];
            let mut name = |s: &str| {
                let at = shstr.len() as u32;
                shstr.extend_from_slice(s.as_bytes());
                shstr.push(0);
                at
            };
            let names: Vec<u32> = [
                ".text",
                ".rodata",
                ".rela.dyn",
                SECTION_NAME,
                ".dynamic",
                ".data",
                ".bss",
                ".symtab",
                ".strtab",
                ".shstrtab",
            ]
            .iter()
            .map(|s| name(s))
            .collect();
            let mut strtab = vec![0u8];
            let mut symbols: Vec<(u32, u64)> = Vec::new();
            let mut sym = |s: &str, value: u64| {
                symbols.push((strtab.len() as u32, value));
                strtab.extend_from_slice(s.as_bytes());
                strtab.push(0);
            };
            sym("_start", 0);
            if matches!(self.via, Via::Symbols | Via::Both) {
                sym(START_SYMBOL, table_addr);
                sym(STOP_SYMBOL, table_addr + table_size);
            }
            let shstr_off = TAIL_OFF;
            put(&mut b, shstr_off, &shstr);
            let strtab_off = shstr_off + shstr.len() as u64;
            put(&mut b, strtab_off, &strtab);
            let symtab_off = (strtab_off + strtab.len() as u64).next_multiple_of(8);
            for (i, (name, value)) in symbols.iter().enumerate() {
                let at = symtab_off + 24 * (i as u64 + 1);
                put32(&mut b, at, *name);
                b.resize(b.len().max(at as usize + 24), 0);
                b[at as usize + 4] = 0x10; // STB_GLOBAL, STT_NOTYPE
                put16(&mut b, at + 6, 1);
                put64(&mut b, at + 8, *value);
            }
            let symtab_size = 24 * (symbols.len() as u64 + 1);
            put(&mut b, symtab_off, &[0; 24]);
            let shoff = (symtab_off + symtab_size).next_multiple_of(8);
            let (alloc, write, exec) = (
                u64::from(abi::SHF_ALLOC),
                u64::from(abi::SHF_WRITE),
                u64::from(abi::SHF_EXECINSTR),
            );
            let mut sections: Vec<SectionHeader> = vec![
                (0, 0, 0, 0, 0, 0, 0, 0, 0),
                (
                    names[0],
                    abi::SHT_PROGBITS,
                    alloc | exec,
                    0,
                    CODE_OFF,
                    CODE_SIZE,
                    0,
                    0,
                    0,
                ),
                (
                    names[1],
                    abi::SHT_PROGBITS,
                    alloc,
                    RO,
                    RO_OFF,
                    0x100,
                    0,
                    0,
                    0,
                ),
                (
                    names[2],
                    abi::SHT_RELA,
                    alloc,
                    RELA_AT,
                    RO_OFF + 0x100,
                    rela_size,
                    0,
                    0,
                    24,
                ),
            ];
            if matches!(self.via, Via::Section | Via::Both) {
                sections.push((
                    names[3],
                    abi::SHT_PROGBITS,
                    alloc,
                    table_addr,
                    table_off,
                    table_size,
                    0,
                    0,
                    40,
                ));
            }
            sections.push((
                names[4],
                abi::SHT_DYNAMIC,
                alloc | write,
                DATA,
                DATA_OFF,
                DYNAMIC_SIZE,
                0,
                0,
                16,
            ));
            sections.push((
                names[5],
                abi::SHT_PROGBITS,
                alloc | write,
                DATA + DYNAMIC_SIZE,
                DATA_OFF + DYNAMIC_SIZE,
                DATA_FILE - DYNAMIC_SIZE,
                0,
                0,
                0,
            ));
            sections.push((
                names[6],
                abi::SHT_NOBITS,
                alloc | write,
                DATA + DATA_FILE,
                DATA_OFF + DATA_FILE,
                self.bss,
                0,
                0,
                0,
            ));
            let strtab_index = sections.len() as u32 + 1;
            sections.push((
                names[7],
                abi::SHT_SYMTAB,
                0,
                0,
                symtab_off,
                symtab_size,
                strtab_index,
                1,
                24,
            ));
            sections.push((
                names[8],
                abi::SHT_STRTAB,
                0,
                0,
                strtab_off,
                strtab.len() as u64,
                0,
                0,
                0,
            ));
            sections.push((
                names[9],
                abi::SHT_STRTAB,
                0,
                0,
                shstr_off,
                shstr.len() as u64,
                0,
                0,
                0,
            ));
            for (i, s) in sections.iter().enumerate() {
                let at = shoff + 64 * i as u64;
                put32(&mut b, at, s.0);
                put32(&mut b, at + 4, s.1);
                put64(&mut b, at + 8, s.2);
                put64(&mut b, at + 16, s.3);
                put64(&mut b, at + 24, s.4);
                put64(&mut b, at + 32, s.5);
                put32(&mut b, at + 40, s.6);
                put32(&mut b, at + 44, s.7);
                put64(&mut b, at + 48, 8);
                put64(&mut b, at + 56, s.8);
            }

            // Program headers: (type, flags, offset, vaddr, filesz, memsz).
            let (r, w, x) = (abi::PF_R, abi::PF_W, abi::PF_X);
            let mut phdrs = vec![
                (abi::PT_LOAD, r | x, CODE_OFF, 0, CODE_SIZE, CODE_SIZE),
                (abi::PT_LOAD, r, RO_OFF, RO, ro_size, ro_size),
                (
                    abi::PT_LOAD,
                    r | w,
                    DATA_OFF,
                    DATA,
                    DATA_FILE,
                    DATA_FILE + self.bss,
                ),
            ];
            if self.dynamic {
                phdrs.push((
                    abi::PT_DYNAMIC,
                    r | w,
                    DATA_OFF,
                    DATA,
                    DYNAMIC_SIZE,
                    DYNAMIC_SIZE,
                ));
            }
            for (i, p) in phdrs.iter().enumerate() {
                let at = 64 + 56 * i as u64;
                put32(&mut b, at, p.0);
                put32(&mut b, at + 4, p.1);
                put64(&mut b, at + 8, p.2);
                put64(&mut b, at + 16, p.3);
                put64(&mut b, at + 24, p.3);
                put64(&mut b, at + 32, p.4);
                put64(&mut b, at + 40, p.5);
                put64(&mut b, at + 48, 0x1000);
            }

            // The ELF header.
            put(&mut b, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
            put16(&mut b, 16, abi::ET_DYN);
            put16(&mut b, 18, elf_machine(self.machine));
            put32(&mut b, 20, 1);
            put64(&mut b, 24, 0);
            put64(&mut b, 32, 64);
            put64(&mut b, 40, shoff);
            put16(&mut b, 52, 64);
            put16(&mut b, 54, 56);
            put16(&mut b, 56, phdrs.len() as u16);
            put16(&mut b, 58, 64);
            put16(&mut b, 60, sections.len() as u16);
            put16(&mut b, 62, sections.len() as u16 - 1);
            Built {
                bytes: b,
                table_off,
                table_addr,
                rela_off: RO_OFF + (RELA_AT - RO),
                shoff,
                symtab_off,
            }
        }
    }

    /// The relocations' parents for a cVM whose region is `[BASE, BASE + REGION)` and whose
    /// image has the test layout (the same code for every test image).
    fn parents<F: RelocFormat>(m: Machine) -> Parents<F> {
        let elf = Image::new(m).build().bytes;
        let layout = image::inspect(&elf, m, REGION, STACK).unwrap();
        let window = layout.code_window();
        let range = |a: u64, b: u64| PhysRange {
            start: PhysAddr(a),
            end: PhysAddr(b),
        };
        let caps = default_caps::<F>(
            range(BASE, BASE + REGION),
            range(BASE + window.start, BASE + window.end),
            range(BASE + REGION - STACK, BASE + REGION),
            0,
        )
        .unwrap();
        Parents::purecap(&caps)
    }

    fn plan_image<F: RelocFormat>(
        elf: &[u8],
        m: Machine,
    ) -> Result<Vec<PlannedCap<F>>, CapRelocError> {
        plan(elf, m, BASE, REGION, STACK, &parents::<F>(m))
    }

    /// Every good relocation of both forms (the Morello form only on aarch64).
    fn good(m: Machine) -> Image {
        let mut img = Image::new(m);
        img.cap_reloc(slot(0), FUNC, 0, 0x10, CAP_RELOC_FUNCTION);
        img.cap_reloc(slot(1), STRING, 0, 0x10, CAP_RELOC_READ_ONLY);
        img.cap_reloc(slot(2), TABLE, 8, 0x40, 0);
        img.cap_reloc(slot(3), 0, 0, 0, 0);
        img.cap_reloc(slot(4), BSS_OBJ, 0, 0x20, 0);
        // Writable by its flags, but the object is in the read-only segment.
        img.cap_reloc(slot(5), STRING, 2, 0x10, 0);
        // Function and read-only together: a function.
        img.cap_reloc(
            slot(6),
            FUNC,
            4,
            0,
            CAP_RELOC_FUNCTION | CAP_RELOC_READ_ONLY,
        );
        if m == Machine::Aarch64 {
            // As a Morello linker writes a function: the PCC range plus the offset, C64 bit set.
            img.fragment(slot(8), 0, CODE_SIZE, FRAGMENT_EXECUTABLE, FUNC as i64 + 1);
            img.fragment(slot(9), STRING, 0x10, FRAGMENT_READ_ONLY, 4);
            img.fragment(slot(10), TABLE, 0x40, FRAGMENT_READ_WRITE, 0x10);
            img.fragment(slot(11), BSS_OBJ, 0x20, FRAGMENT_READ_WRITE, 0);
        }
        img.integer_reloc(slot(12), 0x40);
        img
    }

    /// (kind, base, length, address) each good relocation plans to, in order.
    fn expected_good(m: Machine) -> Vec<(Kind, u64, u64, u64)> {
        let mut v = vec![
            (Kind::Function, 0, 0, BASE + FUNC),
            (Kind::ReadOnly, BASE + STRING, 0x10, BASE + STRING),
            (Kind::Data, BASE + TABLE, 0x40, BASE + TABLE + 8),
            (Kind::Null, 0, 0, 0),
            (Kind::Data, BASE + BSS_OBJ, 0x20, BASE + BSS_OBJ),
            (Kind::ReadOnly, BASE + STRING, 0x10, BASE + STRING + 2),
            (Kind::Function, 0, 0, BASE + FUNC + 4),
        ];
        if m == Machine::Aarch64 {
            v.extend([
                (Kind::Function, 0, 0, BASE + FUNC + 1),
                (Kind::ReadOnly, BASE + STRING, 0x10, BASE + STRING + 4),
                (Kind::Data, BASE + TABLE, 0x40, BASE + TABLE + 0x10),
                (Kind::Data, BASE + BSS_OBJ, 0x20, BASE + BSS_OBJ),
            ]);
        }
        v
    }

    fn check_good<F: RelocFormat>(m: Machine) {
        for via in [Via::Section, Via::Symbols, Via::Both] {
            for dynamic in [true, false] {
                let mut img = good(m);
                img.via = via;
                img.dynamic = dynamic;
                let elf = img.build().bytes;
                let what = format!("{m} via {via:?} dynamic {dynamic}");
                let parents = parents::<F>(m);
                let planned = plan_image::<F>(&elf, m).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(has_cap_relocs(&elf, m, REGION, STACK).unwrap());
                let expected = expected_good(m);
                assert_eq!(planned.len(), expected.len(), "{what}");
                let mut locations = Vec::new();
                for (p, (kind, base, length, address)) in planned.iter().zip(expected) {
                    let cap = p.cap;
                    let what = format!("{what}: {} {} {cap}", p.form, p.index);
                    assert_eq!(p.kind, kind, "{what}");
                    assert_eq!(cap.address(), address, "{what}");
                    locations.push(p.location);
                    match kind {
                        Kind::Function => {
                            assert!(cap.tag() && cap.is_sealed(), "{what}");
                            assert_eq!(cap.otype(), F::SENTRY_OTYPE, "{what}");
                            assert_eq!(cap.bounds(), parents.code.bounds(), "{what}: code bounds");
                            assert_eq!(cap.perms(), parents.code.perms(), "{what}");
                            assert_eq!(format!("{}", cap.perms()), "[Load,Execute,Global]");
                            assert_eq!(cap.flags(), F::PURE_CODE_FLAGS, "{what}: mode");
                        }
                        Kind::ReadOnly | Kind::Data => {
                            assert!(cap.tag() && !cap.is_sealed(), "{what}");
                            assert_eq!(
                                (cap.base(), cap.length()),
                                (base, u128::from(length)),
                                "{what}"
                            );
                            assert!(parents.data.bounds().contains(&cap.bounds()), "{what}");
                            let names = if kind == Kind::Data {
                                "[Load,Store,LoadCap,StoreCap,Global]"
                            } else {
                                "[Load,LoadCap,Global]"
                            };
                            assert_eq!(format!("{}", cap.perms()), names, "{what}");
                        }
                        Kind::Null => assert!(!cap.tag(), "{what}"),
                    }
                }
                let mut sorted = locations.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(sorted.len(), locations.len(), "{what}: one location each");
                assert!(locations.iter().all(|l| l % 16 == 0));
            }
        }
    }

    #[test]
    fn good_images_morello() {
        check_good::<Morello>(Machine::Aarch64);
        // The Morello permission mapping, by name: no Executive, System, MutableLoad,
        // StoreLocalCap, sealing or branch-sealed-pair rights anywhere; Execute only on sentries.
        let elf = good(Machine::Aarch64).build().bytes;
        for p in plan_image::<Morello>(&elf, Machine::Aarch64).unwrap() {
            let perms = p.cap.perms();
            for never in [
                MorelloPerms::EXECUTIVE,
                MorelloPerms::SYSTEM,
                MorelloPerms::MUTABLE_LOAD,
                MorelloPerms::STORE_LOCAL_CAP,
                MorelloPerms::SEAL,
                MorelloPerms::UNSEAL,
                MorelloPerms::BRANCH_SEALED_PAIR,
                MorelloPerms::COMPARTMENT_ID,
            ] {
                assert!(!perms.contains(never), "{}: {perms}", p.index);
            }
            assert_eq!(
                perms.contains(MorelloPerms::EXECUTE),
                p.kind == Kind::Function
            );
            assert_eq!(perms.contains(MorelloPerms::STORE), p.kind == Kind::Data);
            assert_eq!(
                perms.contains(MorelloPerms::STORE_CAP),
                p.kind == Kind::Data
            );
        }
    }

    #[test]
    fn good_images_riscv() {
        check_good::<CheriRiscv>(Machine::Riscv64);
        assert_eq!(
            CheriRiscv::PURE_CODE_FLAGS,
            crate::cap::riscv::FLAG_CAPABILITY_MODE
        );
        let elf = good(Machine::Riscv64).build().bytes;
        for p in plan_image::<CheriRiscv>(&elf, Machine::Riscv64).unwrap() {
            let perms = p.cap.perms();
            for never in [
                RiscvPerms::ACCESS_SYSTEM_REGS,
                RiscvPerms::SET_CID,
                RiscvPerms::CINVOKE,
                RiscvPerms::STORE_LOCAL_CAP,
                RiscvPerms::SEAL,
                RiscvPerms::UNSEAL,
            ] {
                assert!(!perms.contains(never), "{}: {perms}", p.index);
            }
            assert_eq!(
                perms.contains(RiscvPerms::EXECUTE),
                p.kind == Kind::Function
            );
            assert_eq!(perms.contains(RiscvPerms::STORE), p.kind == Kind::Data);
        }
    }

    #[test]
    fn images_without_capability_relocations() {
        for m in [Machine::Aarch64, Machine::Riscv64] {
            let mut img = Image::new(m);
            img.integer_reloc(slot(0), 8);
            let elf = img.build().bytes;
            assert!(!has_cap_relocs(&elf, m, REGION, STACK).unwrap());
            // The image loader's own fixtures (GNU ld, no capability relocations).
            let fixture: &[u8] = match m {
                Machine::Aarch64 => include_bytes!("testdata/images/aarch64.elf"),
                Machine::Riscv64 => include_bytes!("testdata/images/riscv64.elf"),
            };
            assert!(!has_cap_relocs(fixture, m, REGION, STACK).unwrap());
        }
        let elf = Image::new(Machine::Aarch64).build().bytes;
        assert!(plan_image::<Morello>(&elf, Machine::Aarch64)
            .unwrap()
            .is_empty());
    }

    /// `img` must be refused with an error `expect` accepts; returns its message, which must
    /// name the relocation when it is about one.
    fn refused<F: RelocFormat>(img: &Image, expect: impl Fn(&CapRelocError) -> bool) -> String {
        let elf = img.build().bytes;
        let err = match plan_image::<F>(&elf, img.machine) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => e,
        };
        assert!(expect(&err), "{err:?}");
        let message = err.to_string();
        if let CapRelocError::Entry {
            form,
            index,
            location,
            ..
        } = err
        {
            let prefix = format!("capability relocation {index} ({form}) at {location:#x}: ");
            assert!(message.starts_with(&prefix), "{message}");
        }
        message
    }

    fn problem(e: &CapRelocError) -> Option<Problem> {
        match e {
            CapRelocError::Entry { problem, .. } => Some(*problem),
            _ => None,
        }
    }

    /// A good image with one more `__cap_relocs` entry; `refused` names it as entry 7.
    fn with_entry(m: Machine, entry: [u64; 5]) -> Image {
        let mut img = good(m);
        img.entries.push(entry);
        img
    }

    fn check_refusals<F: RelocFormat>(m: Machine) {
        let is = |p: Problem| move |e: &CapRelocError| problem(e) == Some(p);
        let entry = |e: [u64; 5]| with_entry(m, e);

        // Locations.
        let msg = refused::<F>(
            &entry([slot(13) + 8, TABLE, 0, 8, 0]),
            is(Problem::LocationMisaligned),
        );
        assert!(
            msg.contains("relocation 7 (__cap_relocs)") && msg.contains("16-byte aligned"),
            "{msg}"
        );
        refused::<F>(&entry([0x40, TABLE, 0, 8, 0]), is(Problem::LocationInCode));
        refused::<F>(
            &entry([STRING, TABLE, 0, 8, 0]),
            is(Problem::LocationNotWritable),
        );
        for outside in [
            DATA + DATA_FILE + BSS,
            0x9000,
            u64::MAX - 15,
            CODE_SIZE + 0x100,
        ] {
            refused::<F>(
                &entry([outside, TABLE, 0, 8, 0]),
                is(Problem::LocationNotWritable),
            );
        }
        // The bss is writable: a location there is fine (the fragment form is not).
        let mut ok = entry([DATA + DATA_FILE + BSS - 16, TABLE, 0, 8, 0]);
        assert_eq!(
            plan_image::<F>(&ok.build().bytes, m).unwrap().len(),
            expected_good(m).len() + 1
        );
        let msg = refused::<F>(&entry([slot(2), TABLE, 0, 8, 0]), |e| {
            matches!(
                problem(e),
                Some(Problem::DuplicateLocation {
                    other: (Form::CapRelocs, 2)
                })
            )
        });
        assert!(
            msg.contains("capability relocation 2 (__cap_relocs) already writes there"),
            "{msg}"
        );
        ok.integer_reloc(DATA + DATA_FILE + BSS - 16 + 8, 0);
        refused::<F>(&ok, |e| {
            matches!(problem(e), Some(Problem::OverlapsIntegerRelocation { .. }))
        });
        let mut img = good(m);
        img.integer_reloc(slot(1) - 7, 0);
        refused::<F>(&img, |e| {
            matches!(problem(e), Some(Problem::OverlapsIntegerRelocation { .. }))
        });
        let mut img = good(m);
        img.integer_reloc(slot(7) + 8, 0);
        assert!(
            plan_image::<F>(&img.build().bytes, m).is_ok(),
            "adjacent integer targets are fine"
        );

        // What data pointers ask for.
        let msg = refused::<F>(&entry([slot(13), FUNC, 0, 8, 0]), |e| {
            matches!(problem(e), Some(Problem::DataInCode { .. }))
        });
        assert!(msg.contains("overlaps the code"), "{msg}");
        refused::<F>(
            &entry([slot(13), CODE_SIZE - 8, 0, 0x10, CAP_RELOC_READ_ONLY]),
            |e| matches!(problem(e), Some(Problem::DataInCode { .. })),
        );
        for (object, size) in [
            (DATA + DATA_FILE + BSS, 0x10),
            (TABLE, 0x1_0000),
            (CODE_SIZE + 0x10, 4),
            (0x8000, 0),
        ] {
            let msg = refused::<F>(&entry([slot(13), object, 0, size, 0]), |e| {
                matches!(problem(e), Some(Problem::OutsideImage { .. }))
            });
            assert!(msg.contains("outside the image's data"), "{msg}");
        }
        refused::<F>(&entry([slot(13), u64::MAX - 4, 0, 0x10, 0]), |e| {
            matches!(problem(e), Some(Problem::LengthOverflow { .. }))
        });
        // One past the end, size 0, is a valid pointer.
        let ok = entry([slot(13), DATA + DATA_FILE + BSS, 0, 0, 0]);
        assert!(plan_image::<F>(&ok.build().bytes, m).is_ok());
        let msg = refused::<F>(&entry([slot(13), TABLE, 1 << 40, 0x40, 0]), |e| {
            matches!(problem(e), Some(Problem::AddressNotRepresentable { .. }))
        });
        assert!(msg.contains("too far outside its bounds"), "{msg}");

        // Functions.
        for target in [CODE_SIZE, RO, DATA + 0x10] {
            let msg = refused::<F>(&entry([slot(13), target, 0, 0, CAP_RELOC_FUNCTION]), |e| {
                matches!(problem(e), Some(Problem::FunctionOutsideCode { .. }))
            });
            assert!(msg.contains("outside the code"), "{msg}");
        }
        refused::<F>(
            &entry([slot(13), 0, u64::MAX - 3, 0, CAP_RELOC_FUNCTION]),
            |e| matches!(problem(e), Some(Problem::FunctionOutsideCode { .. })),
        );
        refused::<F>(
            &entry([
                slot(13),
                0,
                0x100,
                DATA + DATA_FILE + BSS + 0x100,
                CAP_RELOC_FUNCTION,
            ]),
            |e| matches!(problem(e), Some(Problem::RequestBeyondImage { .. })),
        );
        refused::<F>(
            &entry([slot(13), FUNC + 3, 0, 0, CAP_RELOC_FUNCTION]),
            |e| matches!(problem(e), Some(Problem::FunctionMisaligned { .. })),
        );

        // Permission bits.
        for bits in [1 << 61, 1, 0xff] {
            let msg = refused::<F>(
                &entry([slot(13), TABLE, 0, 8, bits]),
                |e| matches!(problem(e), Some(Problem::UnknownPermissions { bits: b }) if b == bits),
            );
            assert!(msg.contains("unknown permission bits"), "{msg}");
        }

        // Bounds that cannot be exact: a large object at an odd base in a large bss.
        let (base, size) = (BSS_OBJ + 1, 0x5001);
        assert!(
            !F::bounds_are_exact(BASE + base, size),
            "the case must be inexact"
        );
        let mut img = entry([slot(13), base, 0, size, 0]);
        refused::<F>(&img, |e| {
            matches!(problem(e), Some(Problem::OutsideImage { .. }))
        });
        img.bss = 0x8000;
        let rounded = F::representable_length(size);
        assert!(
            rounded > size,
            "0x5001 is not representable in either format"
        );
        let msg = refused::<F>(&img, |e| {
            matches!(problem(e), Some(Problem::NotRepresentable { base: b, length: 0x5001, align, rounded: r })
                if b == BASE + base && align > 1 && r == rounded)
        });
        assert!(
            msg.contains("cannot be exact") && msg.contains("does not pad"),
            "{msg}"
        );
        assert!(msg.contains(&format!("a length of {rounded:#x}")), "{msg}");
        // A representable length at a misaligned base is refused; at an aligned one accepted.
        let align = (!F::alignment_mask(rounded)) + 1;
        let exact_base = (BSS_OBJ + align).next_multiple_of(align);
        img.entries.last_mut().unwrap()[1] = exact_base + align / 2;
        img.entries.last_mut().unwrap()[3] = rounded;
        let msg = refused::<F>(&img, |e| {
            matches!(problem(e), Some(Problem::NotRepresentable { .. }))
        });
        assert!(!msg.contains("a length of"), "{msg}");
        img.entries.last_mut().unwrap()[1] = exact_base;
        let planned = plan_image::<F>(&img.build().bytes, m).unwrap();
        let last = planned
            .iter()
            .find(|p| (p.form, p.index) == (Form::CapRelocs, 7))
            .unwrap()
            .cap;
        assert_eq!(
            (last.base(), last.length()),
            (BASE + exact_base, u128::from(rounded))
        );
    }

    #[test]
    fn refusals_morello() {
        check_refusals::<Morello>(Machine::Aarch64);
    }

    #[test]
    fn refusals_riscv() {
        check_refusals::<CheriRiscv>(Machine::Riscv64);
    }
    #[test]
    fn morello_fragment_refusals() {
        let m = Machine::Aarch64;
        let is = |p: Problem| move |e: &CapRelocError| problem(e) == Some(p);
        let frag = |location: u64, address: u64, length: u64, perms: u8, addend: i64| {
            let mut img = good(m);
            img.fragment(location, address, length, perms, addend);
            img
        };
        // The new fragment is RELA entry 5 (4 fragments and one integer relocation before it).
        for byte in [0, 3, 5, 8, 0xff] {
            let msg = refused::<Morello>(
                &frag(slot(13), TABLE, 0x10, byte, 0),
                is(Problem::UnknownPermissionByte { byte }),
            );
            assert!(
                msg.starts_with(&format!(
                    "capability relocation 5 (R_MORELLO_RELATIVE) at {:#x}",
                    slot(13)
                )),
                "{msg}"
            );
            assert!(msg.contains("unknown fragment permission byte"), "{msg}");
        }
        refused::<Morello>(
            &frag(slot(13), u64::MAX - 8, 0x20, FRAGMENT_READ_WRITE, 0),
            |e| matches!(problem(e), Some(Problem::LengthOverflow { .. })),
        );
        // The largest length the field holds asks for more than the image.
        refused::<Morello>(
            &frag(
                slot(13),
                TABLE,
                FRAGMENT_LENGTH_MASK,
                FRAGMENT_READ_WRITE,
                0,
            ),
            |e| matches!(problem(e), Some(Problem::OutsideImage { .. })),
        );
        refused::<Morello>(
            &frag(
                slot(13),
                0,
                FRAGMENT_LENGTH_MASK,
                FRAGMENT_EXECUTABLE,
                FUNC as i64,
            ),
            |e| matches!(problem(e), Some(Problem::RequestBeyondImage { .. })),
        );
        refused::<Morello>(
            &frag(
                slot(13),
                0,
                CODE_SIZE,
                FRAGMENT_EXECUTABLE,
                CODE_SIZE as i64,
            ),
            |e| matches!(problem(e), Some(Problem::FunctionOutsideCode { .. })),
        );
        refused::<Morello>(
            &frag(slot(13), 0, CODE_SIZE, FRAGMENT_EXECUTABLE, -4),
            |e| matches!(problem(e), Some(Problem::FunctionOutsideCode { .. })),
        );
        refused::<Morello>(
            &frag(slot(13), 0, CODE_SIZE, FRAGMENT_EXECUTABLE, FUNC as i64 + 2),
            |e| matches!(problem(e), Some(Problem::FunctionMisaligned { .. })),
        );
        refused::<Morello>(&frag(slot(13), FUNC, 4, FRAGMENT_READ_ONLY, 0), |e| {
            matches!(problem(e), Some(Problem::DataInCode { .. }))
        });
        // A fragment's location is checked like any other, before its bytes are read.
        let mut img = good(m);
        img.relas.push((0x40, R_MORELLO_RELATIVE, 0));
        refused::<Morello>(&img, is(Problem::LocationInCode));
        let mut img = good(m);
        img.relas.push((STRING, R_MORELLO_RELATIVE, 0));
        refused::<Morello>(&img, is(Problem::LocationNotWritable));
        let mut img = good(m);
        img.relas.push((slot(13) + 4, R_MORELLO_RELATIVE, 0));
        refused::<Morello>(&img, is(Problem::LocationMisaligned));
        // In the bss there is no fragment to read.
        let mut img = good(m);
        img.relas.push((BSS_OBJ + 0x40, R_MORELLO_RELATIVE, 0));
        let msg = refused::<Morello>(&img, is(Problem::FragmentNotInFile));
        assert!(msg.contains("not in the file"), "{msg}");
        // Both forms at one location.
        let msg = refused::<Morello>(&frag(slot(1), TABLE, 0x10, FRAGMENT_READ_WRITE, 0), |e| {
            matches!(
                problem(e),
                Some(Problem::DuplicateLocation {
                    other: (Form::CapRelocs, 1)
                })
            )
        });
        assert!(msg.contains("R_MORELLO_RELATIVE"), "{msg}");
    }

    #[test]
    fn morello_relocations_outside_aarch64_are_refused() {
        let mut img = good(Machine::Riscv64);
        img.fragment(slot(8), TABLE, 0x40, FRAGMENT_READ_WRITE, 0);
        let err = refused::<CheriRiscv>(&img, |e| {
            matches!(
                e,
                CapRelocError::Image(ImageError::UnsupportedRelocation {
                    kind: R_MORELLO_RELATIVE,
                    ..
                })
            )
        });
        assert!(
            err.contains("R_MORELLO_RELATIVE") && err.contains("not an aarch64 image"),
            "{err}"
        );
        let elf = img.build().bytes;
        assert!(has_cap_relocs(&elf, Machine::Riscv64, REGION, STACK).is_err());
    }

    #[test]
    fn table_refusals() {
        for m in [Machine::Aarch64, Machine::Riscv64] {
            let table = |e: &CapRelocError, what: &str| matches!(e, CapRelocError::Table { reason, .. } if reason.contains(what));
            // Not a whole number of entries: the section and the symbols one word short.
            let shorter = |built: &mut Built, via: Via| {
                let size = 40 * good(m).entries.len() as u64 - 8;
                if via != Via::Symbols {
                    let sh = (built.shoff + 64 * 4) as usize;
                    built.bytes[sh + 32..sh + 40].copy_from_slice(&size.to_le_bytes());
                }
                if via != Via::Section {
                    // __stop___cap_relocs is the last symbol.
                    let stop = (built.symtab_off + 24 * 3 + 8) as usize;
                    built.bytes[stop..stop + 8]
                        .copy_from_slice(&(built.table_addr + size).to_le_bytes());
                }
            };
            for via in [Via::Section, Via::Symbols, Via::Both] {
                let mut img = good(m);
                img.via = via;
                let mut built = img.build();
                shorter(&mut built, via);
                let err = plan_image::<Morello>(&built.bytes, m).map(|p| p.len());
                let err = err.expect_err(&format!("{m} {via:?}"));
                assert!(
                    table(&err, "whole number of 40-byte entries"),
                    "{via:?}: {err}"
                );
                assert!(
                    err.to_string().starts_with("__cap_relocs table (0x"),
                    "{err}"
                );
            }
            // Section and symbols disagree.
            let mut img = good(m);
            img.via = Via::Both;
            let mut built = img.build();
            shorter(&mut built, Via::Symbols);
            let err = plan_image::<Morello>(&built.bytes, m)
                .map(|_| ())
                .unwrap_err();
            assert!(table(&err, "disagree"), "{err}");
            // Only one symbol: rename __stop___cap_relocs.
            let mut img = good(m);
            img.via = Via::Symbols;
            let mut elf = img.build().bytes;
            let at = elf
                .windows(STOP_SYMBOL.len())
                .position(|w| w == STOP_SYMBOL.as_bytes())
                .unwrap();
            elf[at + 2] = b'X';
            let err = plan_image::<Morello>(&elf, m).map(|_| ()).unwrap_err();
            assert!(table(&err, "only one of"), "{err}");
            // __stop below __start.
            let mut img = good(m);
            img.via = Via::Symbols;
            let built = img.build();
            let mut elf = built.bytes.clone();
            let stop = (built.symtab_off + 24 * 3 + 8) as usize;
            elf[stop..stop + 8].copy_from_slice(&(built.table_addr - 40).to_le_bytes());
            let err = plan_image::<Morello>(&elf, m).map(|_| ()).unwrap_err();
            assert!(table(&err, "below"), "{err}");
            // Symbols that point outside the file data.
            let mut elf = built.bytes.clone();
            elf[stop..stop + 8].copy_from_slice(&(DATA + DATA_FILE + 40).to_le_bytes());
            let start = stop - 24;
            elf[start..start + 8].copy_from_slice(&(DATA + DATA_FILE).to_le_bytes());
            let err = plan_image::<Morello>(&elf, m).map(|_| ()).unwrap_err();
            assert!(table(&err, "do not delimit file data"), "{err}");
            // A section beyond the end of the file, or without file data.
            let built = good(m).build();
            let sh = (built.shoff + 64 * 4) as usize;
            let mut elf = built.bytes.clone();
            let len = elf.len() as u64;
            elf[sh + 24..sh + 32].copy_from_slice(&(len - 8).to_le_bytes());
            let err = plan_image::<Morello>(&elf, m).map(|_| ()).unwrap_err();
            assert!(table(&err, "beyond the end of the file"), "{err}");
            let mut elf = built.bytes.clone();
            elf[sh + 4..sh + 8].copy_from_slice(&abi::SHT_NOBITS.to_le_bytes());
            let err = plan_image::<Morello>(&elf, m).map(|_| ()).unwrap_err();
            assert!(table(&err, "no file data"), "{err}");
            // An empty table is no table.
            let mut img = Image::new(m);
            img.via = Via::Both;
            let elf = img.build().bytes;
            assert!(!has_cap_relocs(&elf, m, REGION, STACK).unwrap());
        }
    }

    #[test]
    fn hardware_check_compares_every_field() {
        let elf = good(Machine::Aarch64).build().bytes;
        for p in plan_image::<Morello>(&elf, Machine::Aarch64).unwrap() {
            let cap = p.cap;
            let hw = Observed {
                tag: cap.tag(),
                base: cap.base(),
                length: u64::try_from(cap.length()).unwrap_or(u64::MAX),
                address: cap.address(),
                perms: u64::from(cap.perms().bits()),
                otype: u64::from(cap.otype()),
            };
            assert!(check_against_model(hw, &cap).is_ok());
            for wrong in [
                Observed { tag: !hw.tag, ..hw },
                Observed {
                    base: hw.base ^ 16,
                    ..hw
                },
                Observed {
                    length: hw.length ^ 1,
                    ..hw
                },
                Observed {
                    address: hw.address ^ 4,
                    ..hw
                },
                Observed {
                    perms: hw.perms ^ 1,
                    ..hw
                },
                Observed {
                    otype: hw.otype ^ 1,
                    ..hw
                },
            ] {
                let err = check_against_model(wrong, &cap).unwrap_err();
                assert!(err.starts_with("hardware gave tag="), "{err}");
            }
        }
        // CGetType sign-extends the reserved types: −2 is the sentry's 0x3FFFE.
        let elf = good(Machine::Riscv64).build().bytes;
        let planned = plan_image::<CheriRiscv>(&elf, Machine::Riscv64).unwrap();
        let sentry = planned[0].cap;
        let hw = Observed {
            tag: true,
            base: sentry.base(),
            length: u64::try_from(sentry.length()).unwrap(),
            address: sentry.address(),
            perms: u64::from(sentry.perms().bits()),
            otype: (-2i64) as u64,
        };
        assert!(check_against_model(hw, &sentry).is_ok());
        assert!(check_against_model(
            Observed {
                otype: u64::MAX,
                ..hw
            },
            &sentry
        )
        .is_err());
    }

    /// Plans `elf` (under `catch_unwind` by the callers); if accepted, every planned capability
    /// must keep the promises of the module: aligned writable locations, sentries over the
    /// code only, data inside the data parent with no Execute. Returns whether it was accepted.
    fn exercise<F: RelocFormat>(elf: &[u8], m: Machine, parents: &Parents<F>) -> bool {
        let has = has_cap_relocs(elf, m, REGION, STACK);
        let result = plan(elf, m, BASE, REGION, STACK, parents);
        let Ok(planned) = result else {
            assert!(!result.unwrap_err().to_string().is_empty());
            return false;
        };
        assert_eq!(has.unwrap(), !planned.is_empty());
        let layout = image::inspect(elf, m, REGION, STACK).unwrap();
        for p in &planned {
            assert!(p.location.is_multiple_of(16));
            assert!(layout.segments.iter().any(|s| s.is_writable()
                && s.vaddr <= p.location
                && p.location + 16 <= s.range().end));
            let cap = p.cap;
            match p.kind {
                Kind::Function => {
                    assert!(cap.tag() && cap.otype() == F::SENTRY_OTYPE);
                    assert_eq!(cap.bounds(), parents.code.bounds());
                }
                Kind::Data | Kind::ReadOnly => {
                    assert!(cap.tag() && !cap.is_sealed());
                    assert!(parents.data.bounds().contains(&cap.bounds()));
                    assert!(cap.base() >= BASE + layout.data.start);
                    assert!(cap.top() <= u128::from(BASE + layout.data.end));
                    assert!(F::RELOC_DATA_PERMS.bits() & cap.perms().bits() == cap.perms().bits());
                }
                Kind::Null => assert!(!cap.tag()),
            }
        }
        true
    }

    fn corrupt(elf: &mut [u8], rng: &mut Rng, hot: &[Range<usize>]) {
        for _ in 0..1 + rng.below(3) {
            let area = hot[rng.below(hot.len())].clone();
            let off = area.start + rng.below(area.len());
            if off >= elf.len() {
                continue;
            }
            match rng.below(4) {
                0 => elf[off] = rng.next() as u8,
                1 => elf[off] ^= 1 << rng.below(8),
                2 => elf[off] = [0, 0xff, 1, 0x80, 2, 4][rng.below(6)],
                _ => {
                    let off = off & !7;
                    if off + 8 <= elf.len() {
                        let old = u64::from_le_bytes(elf[off..off + 8].try_into().unwrap());
                        let v = match rng.below(3) {
                            0 => rng.next(),
                            1 => rng.next() & 0xffff,
                            _ => old.wrapping_add(rng.next() % 64).wrapping_sub(32),
                        };
                        elf[off..off + 8].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
    }

    fn fuzz<F: RelocFormat>(m: Machine) {
        const ROUNDS: u64 = 3000;
        for dynamic in [true, false] {
            let mut img = good(m);
            img.dynamic = dynamic;
            img.dt_tags = dynamic && m == Machine::Riscv64;
            img.via = Via::Both;
            let built = img.build();
            let elf = built.bytes;
            let parents = parents::<F>(m);
            let r = |a: u64, len: u64| a as usize..(a + len) as usize;
            let hot = [
                r(0, 64 + 56 * 4),
                r(built.rela_off, 24 * img.relas.len() as u64),
                r(built.table_off, 40 * img.entries.len() as u64),
                r(DATA_OFF, DATA_FILE),
                r(built.symtab_off, 24 * 4),
                r(built.shoff, 64 * 11),
            ];
            let (mut accepted, mut rejected) = (0, 0);
            for seed in 0..ROUNDS {
                let mut image = elf.clone();
                corrupt(&mut image, &mut Rng::new(seed), &hot);
                match catch_unwind(AssertUnwindSafe(|| exercise(&image, m, &parents))) {
                    Ok(true) => accepted += 1,
                    Ok(false) => rejected += 1,
                    Err(_) => panic!("{m}: seed {seed} panicked (replay with Rng::new({seed}))"),
                }
            }
            assert!(
                accepted > 300 && rejected > 300,
                "{m}: {accepted} ok, {rejected} refused"
            );
        }
    }

    #[test]
    fn random_corruptions_morello() {
        fuzz::<Morello>(Machine::Aarch64);
    }

    #[test]
    fn random_corruptions_riscv() {
        fuzz::<CheriRiscv>(Machine::Riscv64);
    }

    #[test]
    fn truncated_everywhere() {
        truncated::<Morello>(Machine::Aarch64);
        truncated::<CheriRiscv>(Machine::Riscv64);
    }

    fn truncated<F: RelocFormat>(m: Machine) {
        {
            let mut img = good(m);
            img.via = Via::Both;
            let elf = img.build().bytes;
            let parents = parents::<F>(m);
            for len in 0..elf.len() {
                let ok = catch_unwind(AssertUnwindSafe(|| exercise(&elf[..len], m, &parents)))
                    .unwrap_or_else(|_| panic!("{m}: truncated to {len} panicked"));
                // The section headers are at the end: nothing shorter is a whole image.
                assert!(!ok, "{m}: truncated to {len} accepted");
            }
            assert!(exercise(&elf, m, &parents));
        }
    }

    #[test]
    fn riscv_dynamic_tags_find_a_trimmed_table() {
        let m = Machine::Riscv64;
        let expected = plan_image::<CheriRiscv>(&good(m).build().bytes, m).unwrap();
        // As capmon-run trims images: no section headers, so no section and no symbols.
        let trimmed = |img: &Image| {
            let mut elf = img.build().bytes;
            elf[0x28..0x30].fill(0);
            elf[0x3c..0x40].fill(0);
            elf
        };
        let mut img = good(m);
        img.via = Via::Neither;
        img.dt_tags = true;
        assert_eq!(
            plan_image::<CheriRiscv>(&trimmed(&img), m).unwrap(),
            expected
        );
        for via in [Via::Section, Via::Symbols, Via::Both] {
            img.via = via;
            assert_eq!(
                plan_image::<CheriRiscv>(&img.build().bytes, m).unwrap(),
                expected,
                "{via:?}"
            );
        }
        // Without the tags a trimmed image has no table to find.
        img.dt_tags = false;
        assert!(plan_image::<CheriRiscv>(&trimmed(&img), m)
            .unwrap()
            .is_empty());
        // The tags must agree with the section, and come in pairs.
        img.dt_tags = true;
        img.via = Via::Section;
        let mut elf = img.build().bytes;
        let size_tag = DATA_OFF + 16 * 4;
        assert_eq!(rd(&elf, size_tag), DT_RISCV_CHERI_CAPRELOCSSZ as u64);
        let size = rd(&elf, size_tag + 8);
        elf[size_tag as usize + 8..size_tag as usize + 16]
            .copy_from_slice(&(size - 40).to_le_bytes());
        let err = plan_image::<CheriRiscv>(&elf, m).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("disagree"), "{err}");
        elf[size_tag as usize..size_tag as usize + 8]
            .copy_from_slice(&(abi::DT_DEBUG as u64).to_le_bytes());
        let err = plan_image::<CheriRiscv>(&elf, m).map(|_| ()).unwrap_err();
        assert!(
            err.to_string().contains("only one of DT_RISCV_CHERI"),
            "{err}"
        );
        // Tags that point outside the file data.
        let mut img = good(m);
        img.via = Via::Neither;
        img.dt_tags = true;
        let mut elf = trimmed(&img);
        let addr_tag = DATA_OFF + 16 * 3;
        assert_eq!(rd(&elf, addr_tag), DT_RISCV_CHERI_CAPRELOCS as u64);
        elf[addr_tag as usize + 8..addr_tag as usize + 16]
            .copy_from_slice(&(DATA + DATA_FILE).to_le_bytes());
        let err = plan_image::<CheriRiscv>(&elf, m).map(|_| ()).unwrap_err();
        assert!(
            err.to_string().contains("do not delimit file data"),
            "{err}"
        );
        // On aarch64 the tags mean nothing: a trimmed image keeps only its fragments.
        let mut img = good(Machine::Aarch64);
        img.via = Via::Neither;
        img.dt_tags = true;
        let planned = plan_image::<Morello>(&trimmed(&img), Machine::Aarch64).unwrap();
        assert!(!planned.is_empty() && planned.iter().all(|p| p.form == Form::MorelloRelative));
    }

    fn rd(elf: &[u8], at: u64) -> u64 {
        u64::from_le_bytes(elf[at as usize..at as usize + 8].try_into().unwrap())
    }
}
