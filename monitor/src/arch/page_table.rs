//! The aarch64 stage-1 page tables of capmon's EL2&0 translation regime (VHE): one identity map,
//! built at boot from the discovered memory map. Pure data, so it builds on the host and the unit
//! tests below check every descriptor; only the aarch64 backend (`aarch64/mmu.rs`) installs it.
//!
//! Geometry: 4 KiB granule, 48-bit input addresses (TCR T0SZ = 16), walks start at level 0.
//! Level 1 maps 1 GiB blocks, level 2 2 MiB blocks, level 3 4 KiB pages; a range is covered
//! with the largest blocks its alignment allows.
//!
//! What each kind of memory gets is decided in one place, [`descriptor_bits`]:
//!
//! | kind | memory type | EL2 | EL0 | capability loads / stores |
//! |---|---|---|---|---|
//! | monitor code | Normal WB | read, execute | none | LC=01 / no SC |
//! | monitor read-only (rodata, device tree) | Normal WB | read | none | LC=01 / no SC |
//! | monitor data (data, bss, stack, heap, these tables) | Normal WB | read, write | none | LC=01 / SC |
//! | cVM memory | Normal WB | read, write | read, write, execute | LC=01 / SC |
//! | device registers | Device-nGnRE | read, write | none | LC=00 / no SC |
//!
//! LC/SC (descriptor bits 61/60, cheri.md A.2.3) only take effect when TCR_EL2 sets HPD0 and
//! HWU060/HWU061, which the Morello build does; elsewhere the bits are ignored.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::addr::{PhysAddr, PhysRange};

/// The translation granule and the smallest unit mapped.
pub const GRANULE: u64 = 4096;
/// Input (and, identity-mapped, output) address bits: TCR T0SZ = 64 - 48.
pub const ADDRESS_BITS: u32 = 48;
const ENTRIES: usize = 512;
/// Bytes mapped by one entry at levels 0..=3.
const LEVEL_SIZE: [u64; 4] = [1 << 39, 1 << 30, 1 << 21, 1 << 12];

/// MAIR_EL2 attribute indices and the register value that defines them.
pub const ATTR_NORMAL_WB: u64 = 0;
pub const ATTR_DEVICE_NGNRE: u64 = 1;
/// Attr0 = 0xFF: Normal, Inner and Outer Write-Back Read/Write-Allocate non-transient;
/// Attr1 = 0x04: Device-nGnRE.
pub const MAIR: u64 = 0xff | (0x04 << 8);

/// Descriptor fields (VMSAv8-64 stage 1, two-range EL2&0 regime, plus Morello's LC/SC).
pub mod bits {
    /// Bits 1:0 of a valid level 0..2 table entry and of a level 3 page.
    pub const TABLE_OR_PAGE: u64 = 0b11;
    /// Bits 1:0 of a level 1/2 block.
    pub const BLOCK: u64 = 0b01;
    pub const VALID: u64 = 1;
    /// AttrIndx, bits 4:2.
    pub const ATTR_SHIFT: u32 = 2;
    /// AP[1], bit 6: EL0 may access.
    pub const AP_EL0: u64 = 1 << 6;
    /// AP[2], bit 7: read-only.
    pub const AP_READ_ONLY: u64 = 1 << 7;
    /// SH, bits 9:8 = 0b11: Inner Shareable.
    pub const INNER_SHAREABLE: u64 = 0b11 << 8;
    /// AF, bit 10: set up front (no hardware access-flag management).
    pub const ACCESS_FLAG: u64 = 1 << 10;
    /// PXN, bit 53: EL2 must not execute.
    pub const PXN: u64 = 1 << 53;
    /// UXN, bit 54: EL0 must not execute.
    pub const UXN: u64 = 1 << 54;
    /// Morello SC, bit 60: capability stores allowed (without it they fault, DFSC 0x2C).
    pub const SC: u64 = 1 << 60;
    /// Morello LC = 0b01, bits 62:61: capability loads keep their tags (0b00 clears them).
    pub const LC_NORMAL: u64 = 1 << 61;
    /// The output address, bits 47:12.
    pub const ADDRESS: u64 = ((1 << 48) - 1) & !0xfff;
}

/// What a range of the address space is, which fixes its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// The monitor's code: EL2 read-only and executable, no EL0 access.
    MonitorCode,
    /// The monitor's constants and the device tree: EL2 read-only, never executable.
    MonitorReadOnly,
    /// The monitor's writable memory (data, bss, stack, heap, page tables).
    MonitorData,
    /// RAM cVMs are placed in: EL0 read/write/execute. Capabilities (Morello) confine each cVM
    /// to its own region inside it; the page tables only keep EL0 out of everything else.
    CvmMemory,
    /// Device registers: Device-nGnRE, never executable, no EL0 access.
    Device,
}

impl Kind {
    /// True for the kinds EL0 may touch (only cVM memory).
    pub const fn el0_accessible(self) -> bool {
        matches!(self, Kind::CvmMemory)
    }
    fn name(self) -> &'static str {
        match self {
            Kind::MonitorCode => "monitor code",
            Kind::MonitorReadOnly => "monitor read-only data",
            Kind::MonitorData => "monitor data",
            Kind::CvmMemory => "cVM memory",
            Kind::Device => "device registers",
        }
    }
}

/// The attribute bits (everything but the type and address) of a block or page of `kind`.
pub const fn descriptor_bits(kind: Kind) -> u64 {
    use bits::*;
    let normal = (ATTR_NORMAL_WB << ATTR_SHIFT) | INNER_SHAREABLE | ACCESS_FLAG | LC_NORMAL;
    match kind {
        Kind::MonitorCode => normal | AP_READ_ONLY | UXN,
        Kind::MonitorReadOnly => normal | AP_READ_ONLY | UXN | PXN,
        Kind::MonitorData => normal | SC | UXN | PXN,
        Kind::CvmMemory => normal | SC | AP_EL0 | PXN,
        // Shareability is ignored for Device memory; capability tags never live in registers.
        Kind::Device => (ATTR_DEVICE_NGNRE << ATTR_SHIFT) | ACCESS_FLAG | UXN | PXN,
    }
}

/// One range of the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub range: PhysRange,
    pub kind: Kind,
}

/// Why a memory map cannot be turned into page tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A range does not start and end on a 4 KiB boundary.
    Unaligned(Region),
    /// A range reaches beyond the 48-bit (or the CPU's smaller physical) address space.
    OutOfRange { region: Region, limit: u64 },
    /// Two ranges of different kinds share addresses.
    Overlap { first: Region, second: Region },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Unaligned(r) => {
                write!(f, "{} {} is not 4 KiB aligned", r.kind.name(), r.range)
            }
            MapError::OutOfRange { region, limit } => {
                write!(
                    f,
                    "{} {} lies beyond the {limit:#x} address limit",
                    region.kind.name(),
                    region.range
                )
            }
            MapError::Overlap { first, second } => write!(
                f,
                "{} {} overlaps {} {}",
                first.kind.name(),
                first.range,
                second.kind.name(),
                second.range
            ),
        }
    }
}

/// Checks `regions` and puts them in address order: empty ranges dropped, touching or
/// overlapping ranges of one kind merged (devices often share a page), anything else that
/// overlaps refused. `limit` is the first address that cannot be mapped.
pub fn normalize(regions: &[Region], limit: u64) -> Result<Vec<Region>, MapError> {
    let mut sorted: Vec<Region> = Vec::with_capacity(regions.len());
    for r in regions.iter().filter(|r| !r.range.is_empty()) {
        if !r.range.start.0.is_multiple_of(GRANULE) || !r.range.end.0.is_multiple_of(GRANULE) {
            return Err(MapError::Unaligned(*r));
        }
        if r.range.end.0 > limit {
            return Err(MapError::OutOfRange { region: *r, limit });
        }
        sorted.push(*r);
    }
    sorted.sort_unstable_by_key(|r| (r.range.start, r.range.end, r.kind));
    let mut out: Vec<Region> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if last.kind == r.kind && r.range.start <= last.range.end => {
                last.range.end = last.range.end.max(r.range.end);
            }
            Some(last) if r.range.start < last.range.end => {
                return Err(MapError::Overlap {
                    first: *last,
                    second: r,
                });
            }
            _ => out.push(r),
        }
    }
    Ok(out)
}

/// One translation table: 512 descriptors, 4 KiB aligned as TTBR and table descriptors need.
#[repr(C, align(4096))]
struct Table([u64; ENTRIES]);

/// A leaf of the walk for one address: the level it was found at and its descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub level: usize,
    pub descriptor: u64,
}

/// Page tables under construction or installed. Tables are heap boxes that never move (the
/// `Vec` holds pointers), so a table's address is its physical address on the identity-mapped
/// monitor, and the host tests can follow descriptors the same way.
pub struct PageTables {
    tables: Vec<Box<Table>>,
}

impl PageTables {
    /// Tables mapping exactly `regions` (see [`normalize`]); everything else faults.
    pub fn build(regions: &[Region], limit: u64) -> Result<Self, MapError> {
        let regions = normalize(regions, limit.min(1 << ADDRESS_BITS))?;
        let mut tables = PageTables { tables: Vec::new() };
        tables.new_table();
        for r in &regions {
            tables.map(r.range, descriptor_bits(r.kind));
        }
        Ok(tables)
    }

    /// The level 0 table's address, for TTBR0_EL2.
    pub fn root(&self) -> u64 {
        self.address_of(0)
    }

    /// How many 4 KiB tables the map uses.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// The address range of every table, for cache maintenance before the walker reads them.
    pub fn table_ranges(&self) -> impl Iterator<Item = PhysRange> + '_ {
        (0..self.tables.len())
            .filter_map(|i| PhysRange::from_start_size(self.address_of(i), GRANULE))
    }

    fn address_of(&self, index: usize) -> u64 {
        core::ptr::from_ref::<Table>(&self.tables[index]) as u64
    }

    fn index_of(&self, address: u64) -> usize {
        // Every table descriptor was written by `new_table`'s caller from `address_of`.
        (0..self.tables.len())
            .find(|&i| self.address_of(i) == address)
            .unwrap_or(0)
    }

    fn new_table(&mut self) -> usize {
        self.tables.push(Box::new(Table([0; ENTRIES])));
        self.tables.len() - 1
    }

    /// Maps `range` (aligned, inside the address space) with `attrs`, largest blocks first.
    fn map(&mut self, range: PhysRange, attrs: u64) {
        self.map_in(0, 0, range.start.0, range.end.0, attrs);
    }

    /// Maps `[start, end)`, which lies within the span of `table` (at `level`): one pass over
    /// the entries it touches, so a large range costs one write per block, not one walk.
    fn map_in(&mut self, table: usize, level: usize, start: u64, end: u64, attrs: u64) {
        let size = LEVEL_SIZE[level];
        let mut address = start;
        while address < end {
            let slot = entry_index(address, level);
            let entry_end = ((address & !(size - 1)) + size).min(end);
            let entry = self.tables[table].0[slot];
            let whole = level >= 1 && address.is_multiple_of(size) && entry_end - address == size;
            if whole && !is_table(entry, level) {
                let kind = if level == 3 {
                    bits::TABLE_OR_PAGE
                } else {
                    bits::BLOCK
                };
                self.tables[table].0[slot] = address | attrs | kind;
            } else {
                let next = self.next_table(table, slot, level);
                self.map_in(next, level + 1, address, entry_end, attrs);
            }
            address = entry_end;
        }
    }

    /// The table below entry `slot` of `table` (at `level`), created if the entry is invalid
    /// and split out of the block if it is one, so the rest of the block keeps its mapping.
    fn next_table(&mut self, table: usize, slot: usize, level: usize) -> usize {
        let entry = self.tables[table].0[slot];
        if is_table(entry, level) {
            return self.index_of(entry & bits::ADDRESS);
        }
        let next = self.new_table();
        if entry & bits::VALID != 0 {
            // A block: the next level holds the same memory in 512 smaller pieces.
            let child_size = LEVEL_SIZE[level + 1];
            let base = entry & bits::ADDRESS;
            let attrs = entry & !bits::ADDRESS & !0b11;
            let kind = if level + 1 == 3 {
                bits::TABLE_OR_PAGE
            } else {
                bits::BLOCK
            };
            for (i, e) in self.tables[next].0.iter_mut().enumerate() {
                *e = (base + child_size * i as u64) | attrs | kind;
            }
        }
        self.tables[table].0[slot] = self.address_of(next) | bits::TABLE_OR_PAGE;
        next
    }

    /// Walks the tables for `address` as the MMU would: the block or page mapping it, if any.
    pub fn translate(&self, address: u64) -> Option<Leaf> {
        if address >= 1 << ADDRESS_BITS {
            return None;
        }
        let mut table = 0;
        for level in 0..LEVEL_SIZE.len() {
            let entry = self.tables[table].0[entry_index(address, level)];
            if entry & bits::VALID == 0 {
                return None;
            }
            if !is_table(entry, level) {
                return Some(Leaf {
                    level,
                    descriptor: entry,
                });
            }
            table = self.index_of(entry & bits::ADDRESS);
        }
        None
    }
}

fn entry_index(address: u64, level: usize) -> usize {
    let shift = 39 - 9 * level;
    // Masked to 9 bits, so the value always fits.
    usize::try_from((address >> shift) & 0x1ff).unwrap_or(0)
}

/// A valid table descriptor: bits 1:0 = 0b11 below level 3 (at level 3 the same bits mean a page).
fn is_table(entry: u64, level: usize) -> bool {
    level < 3 && entry & 0b11 == bits::TABLE_OR_PAGE
}

/// What the monitor knows about memory when it builds the map. Every range is page aligned
/// except `read_only` and `devices`, which are rounded outward to whole pages.
pub struct Layout<'a> {
    /// The monitor image's sections: code, read-only data, then writable data through the end
    /// of the boot stack (the linker script aligns each to 4 KiB).
    pub code: PhysRange,
    pub rodata: PhysRange,
    pub data: PhysRange,
    /// The monitor's heap (page tables and DMA buffers live there).
    pub heap: PhysRange,
    /// Usable RAM (banks minus reservations and the image), the heap among it.
    pub usable: &'a [PhysRange],
    /// Blobs the monitor keeps reading (device trees, the initrd bundle).
    pub read_only: &'a [PhysRange],
    /// MMIO ranges of the devices the monitor drives.
    pub devices: &'a [PhysRange],
}

/// The memory map of `layout`: RAM the monitor does not use becomes cVM memory; firmware
/// reservations stay unmapped, so nothing (not even a speculative walk) touches them.
pub fn memory_map(layout: &Layout<'_>) -> Vec<Region> {
    let mut regions = Vec::new();
    let mut push = |range: PhysRange, kind: Kind| regions.push(Region { range, kind });
    push(layout.code, Kind::MonitorCode);
    push(layout.rodata, Kind::MonitorReadOnly);
    push(layout.data, Kind::MonitorData);
    push(layout.heap, Kind::MonitorData);
    for range in crate::cvm::plan::without(layout.usable, &[layout.heap]) {
        push(range, Kind::CvmMemory);
    }
    for range in layout.read_only {
        push(round_out(*range), Kind::MonitorReadOnly);
    }
    for range in layout.devices {
        push(round_out(*range), Kind::Device);
    }
    regions
}

/// The whole pages covering `range` (an empty range stays empty).
fn round_out(range: PhysRange) -> PhysRange {
    if range.is_empty() {
        return PhysRange::default();
    }
    let end = range
        .end
        .checked_align_up(GRANULE)
        .unwrap_or(PhysAddr(!(GRANULE - 1)));
    PhysRange {
        start: range.start.align_down(GRANULE),
        end,
    }
}

/// What the boot line reports about a map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of Normal write-back memory, and of it the part EL0 may use.
    pub normal: u64,
    pub cvm: u64,
    pub device: u64,
}

pub fn summarize(regions: &[Region]) -> Summary {
    let mut s = Summary::default();
    for r in regions {
        match r.kind {
            Kind::Device => s.device += r.range.size(),
            Kind::CvmMemory => {
                s.cvm += r.range.size();
                s.normal += r.range.size();
            }
            _ => s.normal += r.range.size(),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1 << ADDRESS_BITS;

    fn range(start: u64, end: u64) -> PhysRange {
        PhysRange {
            start: PhysAddr(start),
            end: PhysAddr(end),
        }
    }
    fn region(start: u64, end: u64, kind: Kind) -> Region {
        Region {
            range: range(start, end),
            kind,
        }
    }
    fn leaf(t: &PageTables, address: u64) -> Leaf {
        t.translate(address)
            .unwrap_or_else(|| panic!("{address:#x} is not mapped"))
    }
    /// The attribute bits of a leaf, without type and address.
    fn attrs(l: Leaf) -> u64 {
        l.descriptor & !bits::ADDRESS & !0b11
    }

    #[test]
    fn descriptors_have_the_documented_bits() {
        use bits::*;
        // Normal WB, inner shareable, AF, EL2 read-write, never executable, LC=01 and SC.
        assert_eq!(descriptor_bits(Kind::MonitorData), 0x3060_0000_0000_0700);
        // The cVM pool: EL0 read-write (AP[1]), EL0-executable (no UXN), never EL2-executable.
        assert_eq!(descriptor_bits(Kind::CvmMemory), 0x3020_0000_0000_0740);
        // Code: read-only, EL2-executable only; no SC (never written).
        assert_eq!(descriptor_bits(Kind::MonitorCode), 0x2040_0000_0000_0780);
        assert_eq!(
            descriptor_bits(Kind::MonitorReadOnly),
            0x2060_0000_0000_0780
        );
        // Device-nGnRE (AttrIndx 1), EL2 only, never executable, no capability bits.
        assert_eq!(descriptor_bits(Kind::Device), 0x0060_0000_0000_0404);
        for kind in [
            Kind::MonitorCode,
            Kind::MonitorReadOnly,
            Kind::MonitorData,
            Kind::CvmMemory,
            Kind::Device,
        ] {
            let d = descriptor_bits(kind);
            assert_eq!(d & AP_EL0 != 0, kind.el0_accessible(), "{kind:?}");
            assert_ne!(d & ACCESS_FLAG, 0, "{kind:?} would take access-flag faults");
            assert_eq!(d & ADDRESS, 0, "{kind:?}");
            // Writable memory is never EL2-executable; Device is never executable at all.
            if d & AP_READ_ONLY == 0 {
                assert_ne!(d & PXN, 0, "{kind:?}");
            }
            let normal = (d >> ATTR_SHIFT) & 0b111 == ATTR_NORMAL_WB;
            assert_eq!(normal, kind != Kind::Device);
            // Tags survive loads from all RAM; capability stores only where data is written.
            assert_eq!(d & LC_NORMAL != 0, normal, "{kind:?}");
            assert_eq!(d & (1 << 62), 0, "LC[1] would trap on the TGEN check");
            assert_eq!(
                d & SC != 0,
                matches!(kind, Kind::MonitorData | Kind::CvmMemory),
                "{kind:?}"
            );
        }
        // MAIR: attr 0 = Normal WB RW-allocate, attr 1 = Device-nGnRE.
        assert_eq!(MAIR & 0xff, 0xff);
        assert_eq!((MAIR >> 8) & 0xff, 0x04);
    }

    #[test]
    fn largest_blocks_with_pages_at_unaligned_edges() {
        // 4 KiB past a 2 MiB boundary through 1 GiB + 2 MiB + 8 KiB past a 1 GiB boundary.
        let start = 0x4000_0000 - 0x20_0000 + 0x1000;
        let end = 0x8000_0000 + 0x20_0000 + 0x2000;
        let t = PageTables::build(&[region(start, end, Kind::CvmMemory)], LIMIT).unwrap();
        assert_eq!(leaf(&t, start).level, 3);
        assert_eq!(leaf(&t, 0x4000_0000 - 0x20_0000 + 0x1f_f000).level, 3);
        assert_eq!(
            leaf(&t, 0x4000_0000).level,
            1,
            "an aligned GiB is one block"
        );
        assert_eq!(leaf(&t, 0x7fff_ffff).level, 1);
        assert_eq!(leaf(&t, 0x8000_0000).level, 2);
        assert_eq!(leaf(&t, 0x8020_0000).level, 3);
        assert_eq!(leaf(&t, end - 1).descriptor & bits::ADDRESS, end - 0x1000);
        assert!(t.translate(start - 1).is_none());
        assert!(t.translate(end).is_none());
        // Identity: every leaf maps its own address, with the kind's attributes.
        for a in [start, 0x4000_0000, 0x4123_4567, 0x8000_0000, end - 1] {
            let l = leaf(&t, a);
            let size = LEVEL_SIZE[l.level];
            assert_eq!(l.descriptor & bits::ADDRESS, a & !(size - 1));
            assert_eq!(attrs(l), descriptor_bits(Kind::CvmMemory));
            assert_eq!(l.descriptor & 0b11, if l.level == 3 { 0b11 } else { 0b01 });
        }
        // L0, L1, an L2 on each side of the aligned GiB, an L3 at each edge.
        assert_eq!(t.table_count(), 6);
    }

    #[test]
    fn splitting_a_block_keeps_the_rest_of_it() {
        let mut t =
            PageTables::build(&[region(0x4000_0000, 0x8000_0000, Kind::CvmMemory)], LIMIT).unwrap();
        assert_eq!(leaf(&t, 0x4000_0000).level, 1);
        // Remap one page in the middle: the GiB block becomes 2 MiB blocks and one of those
        // becomes pages; every other address keeps its old mapping.
        t.map(
            range(0x4030_1000, 0x4030_2000),
            descriptor_bits(Kind::MonitorData),
        );
        let page = leaf(&t, 0x4030_1000);
        assert_eq!(
            (page.level, attrs(page)),
            (3, descriptor_bits(Kind::MonitorData))
        );
        for a in [
            0x4000_0000u64,
            0x4030_0fff,
            0x4030_2000,
            0x403f_ffff,
            0x4040_0000,
            0x7fff_f000,
        ] {
            let l = leaf(&t, a);
            assert_eq!(attrs(l), descriptor_bits(Kind::CvmMemory), "{a:#x}");
            assert_eq!(
                l.descriptor & bits::ADDRESS,
                a & !(LEVEL_SIZE[l.level] - 1),
                "{a:#x}"
            );
        }
        assert_eq!(leaf(&t, 0x4030_0000).level, 3);
        assert_eq!(leaf(&t, 0x4040_0000).level, 2);
    }

    /// QEMU virt's shape: the monitor inside the first GiB of RAM, the DTB below it, devices low.
    fn qemu_like() -> (Vec<Region>, PageTables) {
        let usable = [
            range(0x4010_0000, 0x4020_0000),
            range(0x4026_0000, 0xc000_0000),
        ];
        let layout = Layout {
            code: range(0x4020_0000, 0x4022_0000),
            rodata: range(0x4022_0000, 0x4023_0000),
            data: range(0x4023_0000, 0x4026_0000),
            heap: range(0x4026_0000, 0x4066_0000),
            usable: &usable,
            read_only: &[range(0x4000_0000, 0x4000_0000 + 0x10_0000)],
            devices: &[
                range(0x0900_0000, 0x0900_1000),
                range(0x0800_0000, 0x0801_0000),
                range(0x080a_0000, 0x0900_0000),
                range(0x0a00_3e00, 0x0a00_4000),
                range(0x0a00_3c00, 0x0a00_3e00),
            ],
        };
        let regions = memory_map(&layout);
        let t = PageTables::build(&regions, LIMIT).unwrap();
        (regions, t)
    }

    #[test]
    fn monitor_memory_is_never_el0_accessible() {
        let (regions, t) = qemu_like();
        for r in normalize(&regions, LIMIT).unwrap() {
            let mut a = r.range.start.0;
            while a < r.range.end.0 {
                let l = leaf(&t, a);
                assert_eq!(
                    l.descriptor & bits::AP_EL0 != 0,
                    r.kind.el0_accessible(),
                    "{a:#x} in {r:?}"
                );
                assert_eq!(attrs(l), descriptor_bits(r.kind), "{a:#x} in {r:?}");
                a += GRANULE;
            }
        }
        assert!(t
            .table_ranges()
            .all(|table| table.size() == GRANULE && table.start.0 % GRANULE == 0));
        // Everything not in the map faults: address 0, the gap after the virtio pages, past RAM.
        assert!(t.translate(0x0).is_none());
        assert!(t.translate(0x0a00_0000).is_none());
        assert!(t.translate(0xc000_0000).is_none());
    }

    #[test]
    fn device_ranges_share_pages_and_code_is_executable() {
        let (_, t) = qemu_like();
        // Two virtio transports in one page merge into one device page.
        let l = leaf(&t, 0x0a00_3c00);
        assert_eq!(attrs(l), descriptor_bits(Kind::Device));
        assert_eq!(leaf(&t, 0x0a00_3e00), l);
        let code = leaf(&t, 0x4020_0000);
        assert_eq!(
            code.descriptor & (bits::PXN | bits::AP_READ_ONLY | bits::AP_EL0),
            bits::AP_READ_ONLY
        );
        let rodata = leaf(&t, 0x4022_0000);
        assert_ne!(rodata.descriptor & bits::PXN, 0);
        let summary = summarize(&normalize(&qemu_like().0, LIMIT).unwrap());
        assert_eq!(summary.cvm, 0x10_0000 + (0xc000_0000 - 0x4066_0000));
        assert_eq!(
            summary.device,
            0x1000 + 0x1_0000 + (0x0900_0000 - 0x080a_0000) + 0x1000
        );
    }

    #[test]
    fn bad_maps_give_clear_errors() {
        let unaligned = region(0x4000_0800, 0x4000_2000, Kind::CvmMemory);
        let e = PageTables::build(&[unaligned], LIMIT).err().unwrap();
        assert_eq!(e, MapError::Unaligned(unaligned));
        assert_eq!(
            e.to_string(),
            "cVM memory [0x40000800..0x40002000) is not 4 KiB aligned"
        );

        let code = region(0x4020_0000, 0x4022_0000, Kind::MonitorCode);
        let pool = region(0x4000_0000, 0x4021_0000, Kind::CvmMemory);
        let e = PageTables::build(&[code, pool], LIMIT).err().unwrap();
        assert_eq!(
            e,
            MapError::Overlap {
                first: pool,
                second: code
            }
        );
        assert_eq!(
            e.to_string(),
            "cVM memory [0x40000000..0x40210000) overlaps monitor code [0x40200000..0x40220000)"
        );
        // RAM named as a device too.
        let device = region(0x4000_0000, 0x4000_1000, Kind::Device);
        assert!(matches!(
            PageTables::build(&[pool, device], LIMIT),
            Err(MapError::Overlap { .. })
        ));

        // Beyond what the CPU can address (a 40-bit PARange here).
        let high = region(0x100_0000_0000, 0x100_0000_1000, Kind::CvmMemory);
        let e = PageTables::build(&[high], 1 << 40).err().unwrap();
        assert_eq!(
            e,
            MapError::OutOfRange {
                region: high,
                limit: 1 << 40
            }
        );
        assert!(e
            .to_string()
            .contains("beyond the 0x10000000000 address limit"));

        // Same kind, overlapping or touching: merged, not refused. Empty: ignored.
        let a = region(0x1000, 0x3000, Kind::Device);
        let b = region(0x2000, 0x5000, Kind::Device);
        let c = region(0x5000, 0x6000, Kind::Device);
        let empty = region(0x9000, 0x9000, Kind::CvmMemory);
        assert_eq!(
            normalize(&[c, b, a, empty], LIMIT).unwrap(),
            [region(0x1000, 0x6000, Kind::Device)]
        );
    }

    #[test]
    fn morello_sdp_shape_maps_high_dram() {
        // DRAM0 below 4 GiB, DRAM1 at 0x80_8000_0000 (beyond a 39-bit space), GIC and UART low.
        let usable = [
            range(0x8000_0000, 0xe000_0000),
            range(0xe040_0000, 0xfe00_0000),
            range(0xfe00_1000, 0xfef0_0000),
            range(0x80_8000_0000, 0x83_f800_0000),
        ];
        let layout = Layout {
            code: range(0xe000_0000, 0xe002_0000),
            rodata: range(0xe002_0000, 0xe003_0000),
            data: range(0xe003_0000, 0xe004_0000),
            heap: range(0x8000_0000, 0x8040_0000),
            usable: &usable,
            read_only: &[range(0xfe00_0000, 0xfe00_0321)],
            devices: &[
                range(0x2a40_0000, 0x2a40_1000),
                range(0x3000_0000, 0x3001_0000),
                range(0x300c_0000, 0x3014_0000),
            ],
        };
        let t = PageTables::build(&memory_map(&layout), LIMIT).unwrap();
        assert_eq!(
            attrs(leaf(&t, 0x81_0000_0000)),
            descriptor_bits(Kind::CvmMemory)
        );
        assert_eq!(leaf(&t, 0x81_0000_0000).level, 1);
        assert_eq!(
            attrs(leaf(&t, 0xfe00_0000)),
            descriptor_bits(Kind::MonitorReadOnly)
        );
        assert_eq!(
            attrs(leaf(&t, 0x8000_0000)),
            descriptor_bits(Kind::MonitorData)
        );
        assert_eq!(attrs(leaf(&t, 0x2a40_0000)), descriptor_bits(Kind::Device));
        // The gap between the image and the rest of DRAM0 (a carve-out) stays unmapped.
        assert!(t.translate(0xe004_0000).is_none());
        assert!(t.translate(0xff00_0000).is_none(), "the secure carve-out");
    }
}
