//! A bounds-checked reader for flattened device trees (DTB), safe on corrupt or hostile input.
//!
//! capmon does not hand blobs to the `fdt` crate: fdt 0.1.5 panics on inputs that pass any
//! reasonable validation (a spec-legal FDT_NOP before a node's first property trips an
//! `assert_eq!` in `skip_current_node`; non-UTF-8 names hit `unwrap`; more than 63 levels index
//! past a fixed array), and before the heap and console exist a panic is a silent hang.
//! Instead [`Tree::new`] validates the whole blob once (header, block bounds and alignment,
//! every structure token, every property name, the reservation block's terminator), and every
//! later read still goes through `.get()`, so a gap in validation degrades to "not found",
//! never to a panic. Every loop advances a cursor through a bounded slice, so none can spin.

use super::error::DtError;
use super::fixed_str::FixedStr;
use crate::addr::PhysRange;
use crate::fixed::FixedVec;

pub const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Size of a version-17 header; version-16 blobs also reserve these bytes in practice.
pub const HEADER_SIZE: usize = 40;
/// Deepest nesting accepted. Real trees stay under 8; the walker keeps one frame per level on
/// the (small, early-boot) stack, so this also bounds stack use.
pub const MAX_DEPTH: usize = 32;
/// Marker for a `#address-cells`/`#size-cells` property that is present but not one u32.
const BAD_CELLS: u32 = u32::MAX;

/// Reads a big-endian u32 at `off`, or `None` if it would run past `bytes`.
pub fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let word = bytes.get(off..off.checked_add(4)?)?;
    word.try_into().ok().map(u32::from_be_bytes)
}

fn be64(bytes: &[u8], off: usize) -> Option<u64> {
    let word = bytes.get(off..off.checked_add(8)?)?;
    word.try_into().ok().map(u64::from_be_bytes)
}

/// Reads a value of `cells` big-endian u32 cells (0, 1 or 2; wider values don't fit a u64).
pub fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(bytes, 0).map(u64::from),
        2 => be64(bytes, 0),
        _ => None,
    }
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// A blob offset for an error message; blobs are < 4 GiB, so this only saturates on nonsense.
fn off32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The NUL-terminated string starting at `off` (without the NUL).
fn cstr_at(bytes: &[u8], off: usize) -> Option<&[u8]> {
    let rest = bytes.get(off..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    rest.get(..len)
}

/// Longest property name accepted. The spec allows 31 characters; the bound matters because
/// every property's name is looked up, and without it many properties pointing into one long
/// unterminated string would make validation quadratic in the blob size.
pub const MAX_PROP_NAME: usize = 255;

/// A property name from the strings block: NUL-terminated within `MAX_PROP_NAME` bytes.
fn prop_name_at(strings: &[u8], off: usize) -> Option<&[u8]> {
    let rest = strings.get(off..)?;
    cstr_at(rest.get(..rest.len().min(MAX_PROP_NAME + 1))?, 0)
}

/// The fields of an FDT header, host-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub totalsize: u32,
    pub off_dt_struct: u32,
    pub off_dt_strings: u32,
    pub off_mem_rsvmap: u32,
    pub version: u32,
    pub last_comp_version: u32,
    pub boot_cpuid_phys: u32,
    pub size_dt_strings: u32,
    pub size_dt_struct: u32,
}

/// Version 16 is the oldest with `size_dt_strings`; a blob whose `last_comp_version` is above 17
/// has a layout a version-17 reader is not promised to understand.
fn check_version(version: u32, last_comp_version: u32) -> Result<(), DtError> {
    if version < 16 || last_comp_version > 17 {
        return Err(DtError::BadVersion {
            version,
            last_comp_version,
        });
    }
    Ok(())
}

/// Looks for a valid FDT header at `addr`, returning its `totalsize`.
///
/// `read_be32(a)` must return the big-endian u32 stored at address `a` (on target:
/// `u32::from_be(ptr::read_volatile(a as *const u32))`); it is only called for `addr`,
/// `addr + 4`, `addr + 20` and `addr + 24`, after `addr` is checked to be non-zero and 4-byte
/// aligned, so a raw-pointer reader never performs an unaligned or null access. The caller
/// should only probe addresses known to be RAM. `max_size` bounds `totalsize`, so a stray
/// magic number cannot make the caller build a slice over gigabytes.
pub fn probe_header(
    read_be32: impl Fn(u64) -> u32,
    addr: u64,
    max_size: u32,
) -> Result<u32, DtError> {
    if addr == 0 {
        return Err(DtError::NullAddress);
    }
    if !addr.is_multiple_of(4) {
        return Err(DtError::Misaligned {
            what: "device tree address",
            value: addr,
            align: 4,
        });
    }
    let field = |off: u64| -> Result<u32, DtError> {
        let at = addr
            .checked_add(off)
            .ok_or(DtError::AddressOverflow { addr })?;
        Ok(read_be32(at))
    };
    // Check the end of the header first, so no read happens past the end of the address space.
    field(HEADER_SIZE as u64 - 4)?;
    let magic = field(0)?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic { found: magic });
    }
    let totalsize = field(4)?;
    if (totalsize as usize) < HEADER_SIZE {
        return Err(DtError::BadHeader {
            field: "totalsize",
            value: totalsize,
            why: "is smaller than the 40-byte header",
        });
    }
    if totalsize > max_size {
        return Err(DtError::TooLarge {
            totalsize,
            max: max_size,
        });
    }
    check_version(field(20)?, field(24)?)?;
    Ok(totalsize)
}

/// A validated device tree. Cheap to copy: it is a few slices into the caller's blob.
#[derive(Clone, Copy, Debug)]
pub struct Tree<'a> {
    pub header: Header,
    /// The structure block, up to and including FDT_END.
    structs: &'a [u8],
    strings: &'a [u8],
    /// The reservation entries, without the (0, 0) terminator.
    rsvmap: &'a [u8],
}

/// Whether a walk goes on after visiting a node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flow {
    Continue,
    Stop,
}

impl<'a> Tree<'a> {
    /// Validates `blob` completely; afterwards walking it cannot fail or panic.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtError> {
        let header_truncated = DtError::HeaderTruncated {
            available: blob.len(),
        };
        let magic = be32(blob, 0).ok_or(header_truncated)?;
        if magic != FDT_MAGIC {
            return Err(DtError::BadMagic { found: magic });
        }
        let field = |i: usize| be32(blob, 4 * i).ok_or(header_truncated);
        let header = Header {
            totalsize: field(1)?,
            off_dt_struct: field(2)?,
            off_dt_strings: field(3)?,
            off_mem_rsvmap: field(4)?,
            version: field(5)?,
            last_comp_version: field(6)?,
            boot_cpuid_phys: field(7)?,
            size_dt_strings: field(8)?,
            size_dt_struct: field(9)?,
        };
        check_version(header.version, header.last_comp_version)?;
        let total = usize::try_from(header.totalsize).unwrap_or(usize::MAX);
        if total < HEADER_SIZE {
            return Err(DtError::BadHeader {
                field: "totalsize",
                value: header.totalsize,
                why: "is smaller than the 40-byte header",
            });
        }
        let blob = blob.get(..total).ok_or(DtError::Truncated {
            header_says: header.totalsize,
            available: blob.len(),
        })?;

        // Version 16 has no size_dt_struct: the block runs to FDT_END, at most to the blob's end.
        let size_struct = if header.version >= 17 {
            header.size_dt_struct
        } else {
            header.totalsize.saturating_sub(header.off_dt_struct)
        };
        let structs = block(
            blob,
            &header,
            "structure",
            header.off_dt_struct,
            size_struct,
            4,
        )?;
        let strings = block(
            blob,
            &header,
            "strings",
            header.off_dt_strings,
            header.size_dt_strings,
            1,
        )?;
        let rsv_size = header.totalsize.saturating_sub(header.off_mem_rsvmap);
        let rsv_all = block(
            blob,
            &header,
            "memory reservation",
            header.off_mem_rsvmap,
            rsv_size,
            8,
        )?;
        let rsvmap = reservation_entries(rsv_all, header.off_mem_rsvmap)?;
        let end = validate_structure(structs, strings, header.off_dt_struct)?;
        let structs = structs.get(..end).unwrap_or(structs);
        Ok(Tree {
            header,
            structs,
            strings,
            rsvmap,
        })
    }

    /// The memory reservation block's entries as (address, size).
    pub fn reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        self.rsvmap
            .chunks_exact(16)
            .filter_map(|entry| Some((be64(entry, 0)?, be64(entry, 8)?)))
    }

    /// Visits every node depth-first (parents before children, in blob order) until the
    /// visitor returns `Stop` or an error.
    pub fn walk<F>(&self, mut visit: F) -> Result<(), DtError>
    where
        F: FnMut(&Node<'_, 'a>) -> Result<Flow, DtError>,
    {
        let mut frames = [Frame::default(); MAX_DEPTH];
        let mut depth = 0usize;
        let mut pos = 0usize;
        // Each iteration moves `pos` forward by at least 4, so this ends within len/4 steps.
        while let Some(token) = be32(self.structs, pos) {
            match token {
                FDT_BEGIN_NODE => {
                    let Some(name) = cstr_at(self.structs, pos + 4) else {
                        break;
                    };
                    let Some(props_pos) = align4(pos + 4 + name.len() + 1) else {
                        break;
                    };
                    let Some(ancestors) = frames.get(..depth) else {
                        break;
                    };
                    let own = Frame::compute(self, name, props_pos, ancestors.last());
                    let node = Node {
                        tree: self,
                        name,
                        depth,
                        props_pos,
                        own,
                        ancestors,
                    };
                    if visit(&node)? == Flow::Stop {
                        return Ok(());
                    }
                    let Some(slot) = frames.get_mut(depth) else {
                        break;
                    };
                    *slot = own;
                    depth += 1;
                    pos = props_pos;
                }
                FDT_END_NODE => {
                    depth = depth.saturating_sub(1);
                    pos += 4;
                }
                FDT_PROP => {
                    let Some(len) = be32(self.structs, pos + 4) else {
                        break;
                    };
                    let next = usize::try_from(len).ok().and_then(|l| align4(pos + 12 + l));
                    let Some(next) = next else { break };
                    pos = next;
                }
                FDT_NOP => pos += 4,
                _ => break,
            }
        }
        Ok(())
    }

    /// Runs `f` on the first node `pred` accepts; `Ok(None)` if there is none.
    pub fn find_map<R>(
        &self,
        mut pred: impl FnMut(&Node<'_, 'a>) -> bool,
        f: impl FnOnce(&Node<'_, 'a>) -> Result<R, DtError>,
    ) -> Result<Option<R>, DtError> {
        let mut f = Some(f);
        let mut out = None;
        self.walk(|node| {
            if !pred(node) {
                return Ok(Flow::Continue);
            }
            if let Some(f) = f.take() {
                out = Some(f(node)?);
            }
            Ok(Flow::Stop)
        })?;
        Ok(out)
    }

    /// Runs `f` on the node at `path` ("/soc/serial@10000000"; a component without `@` also
    /// matches a node name with a unit address, first match wins).
    pub fn find_path<R>(
        &self,
        path: &[u8],
        f: impl FnOnce(&Node<'_, 'a>) -> Result<R, DtError>,
    ) -> Result<Option<R>, DtError> {
        if path.first() != Some(&b'/') {
            return Ok(None);
        }
        // Split once up front: re-splitting per node would cost O(nodes x path length).
        let mut components: FixedVec<&[u8], MAX_DEPTH> = FixedVec::new();
        for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            if components.push(comp).is_err() {
                // Deeper than any valid tree can nest: no such node.
                return Ok(None);
            }
        }
        let wanted = components.len();
        // `matched` = how many components the chain of open ancestors matches. A node at depth
        // d closes every deeper chain, and extends the chain if its parent is on it.
        let mut matched = 0usize;
        self.find_map(
            |node| {
                if node.depth == 0 {
                    return wanted == 0;
                }
                matched = matched.min(node.depth - 1);
                if matched == node.depth - 1 {
                    if let Some(comp) = components.get(matched) {
                        if name_matches(node.name, comp) {
                            matched += 1;
                        }
                    }
                }
                matched == wanted && node.depth == wanted
            },
            f,
        )
    }

    /// Runs `f` on the node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    pub fn find_phandle<R>(
        &self,
        phandle: u32,
        f: impl FnOnce(&Node<'_, 'a>) -> Result<R, DtError>,
    ) -> Result<Option<R>, DtError> {
        // 0 and all-ones are reserved and never name a node.
        if phandle == 0 || phandle == u32::MAX {
            return Ok(None);
        }
        self.find_map(
            |node| {
                let own = node.prop("phandle").or_else(|| node.prop("linux,phandle"));
                own.and_then(|v| be32(v, 0)) == Some(phandle)
            },
            f,
        )
    }

    fn props_at(&self, pos: usize) -> Props<'a> {
        Props {
            structs: self.structs,
            strings: self.strings,
            pos,
        }
    }
}

/// The first string of a `compatible` value that appears in `table`.
pub fn first_compatible<'a>(compatible: &'a [u8], table: &[&str]) -> Option<&'a [u8]> {
    compatible
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .find(|c| table.iter().any(|t| t.as_bytes() == *c))
}

/// `comp` names `name` exactly, or names its part before `@` when `comp` has no unit address.
fn name_matches(name: &[u8], comp: &[u8]) -> bool {
    name == comp || (!comp.contains(&b'@') && name.split(|&b| b == b'@').next() == Some(comp))
}

/// `[offset, offset + size)` as a slice of `blob`, after checking it misses the header and is aligned.
fn block<'a>(
    blob: &'a [u8],
    header: &Header,
    name: &'static str,
    offset: u32,
    size: u32,
    align: u32,
) -> Result<&'a [u8], DtError> {
    let oob = DtError::BlockOutOfBounds {
        block: name,
        offset,
        size,
        totalsize: header.totalsize,
    };
    if (offset as usize) < HEADER_SIZE {
        return Err(oob);
    }
    if !offset.is_multiple_of(align) {
        return Err(DtError::Misaligned {
            what: match name {
                "structure" => "structure block offset",
                _ => "memory reservation block offset",
            },
            value: offset.into(),
            align: align.into(),
        });
    }
    let start = usize::try_from(offset).map_err(|_| oob)?;
    let end = start
        .checked_add(usize::try_from(size).map_err(|_| oob)?)
        .ok_or(oob)?;
    blob.get(start..end).ok_or(oob)
}

/// The reservation entries before the (0, 0) terminator, which must lie inside the blob.
fn reservation_entries(rsv: &[u8], offset: u32) -> Result<&[u8], DtError> {
    for (i, entry) in rsv.chunks_exact(16).enumerate() {
        if be64(entry, 0) == Some(0) && be64(entry, 8) == Some(0) {
            return Ok(rsv.get(..16 * i).unwrap_or(&[]));
        }
    }
    Err(DtError::RsvmapUnterminated { offset })
}

/// Walks every token of the structure block with bounds checks; returns the length up to and
/// including FDT_END. `base` is the block's offset in the blob, for error messages.
fn validate_structure(structs: &[u8], strings: &[u8], base: u32) -> Result<usize, DtError> {
    let at = |pos: usize| base.saturating_add(off32(pos));
    let broken = |pos: usize, why| DtError::BadStructure {
        offset: at(pos),
        why,
    };
    let mut pos = 0usize;
    let mut depth = 0usize;
    let mut root_closed = false;
    // Bit d set: the open node at depth d (root = 1) already has a child, so a property
    // after it would be out of order (the spec puts properties first; the walker relies on it).
    let mut has_child: u64 = 0;
    // Each iteration moves `pos` forward by at least 4 or returns, so this is bounded.
    loop {
        let token = be32(structs, pos).ok_or(DtError::NoEndToken { offset: at(pos) })?;
        match token {
            FDT_BEGIN_NODE => {
                if root_closed {
                    return Err(broken(pos, "a second root node"));
                }
                let name = cstr_at(structs, pos + 4)
                    .ok_or(broken(pos, "node name runs past the structure block"))?;
                has_child |= 1 << depth;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtError::TooDeep {
                        offset: at(pos),
                        max: MAX_DEPTH,
                    });
                }
                has_child &= !(1 << depth);
                pos = align4(pos + 4 + name.len() + 1)
                    .ok_or(broken(pos, "node name runs past the structure block"))?;
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return Err(broken(
                        pos,
                        "FDT_END_NODE without a matching FDT_BEGIN_NODE",
                    ));
                }
                depth -= 1;
                root_closed = depth == 0;
                pos += 4;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(broken(pos, "property outside any node"));
                }
                if has_child & (1 << depth) != 0 {
                    return Err(broken(pos, "property after a subnode"));
                }
                let (Some(len), Some(nameoff)) = (be32(structs, pos + 4), be32(structs, pos + 8))
                else {
                    return Err(broken(pos, "property header runs past the structure block"));
                };
                let value_end = usize::try_from(len)
                    .ok()
                    .and_then(|l| (pos + 12).checked_add(l))
                    .filter(|&end| end <= structs.len())
                    .ok_or(broken(pos, "property value runs past the structure block"))?;
                if prop_name_at(strings, usize::try_from(nameoff).unwrap_or(usize::MAX)).is_none() {
                    return Err(DtError::BadPropName {
                        offset: at(pos),
                        nameoff,
                    });
                }
                pos = align4(value_end)
                    .ok_or(broken(pos, "property value runs past the structure block"))?;
            }
            FDT_NOP => pos += 4,
            FDT_END => {
                if depth != 0 {
                    return Err(broken(pos, "FDT_END inside an unclosed node"));
                }
                if !root_closed {
                    return Err(broken(pos, "no root node"));
                }
                return Ok(pos + 4);
            }
            token => {
                return Err(DtError::BadToken {
                    offset: at(pos),
                    token,
                })
            }
        }
    }
}

/// What a node passes down to its children: cell sizes, interrupt parent, address mapping.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    pub name: &'a [u8],
    /// `#address-cells` for the children (default 2), or `BAD_CELLS` if malformed.
    pub addr_cells: u32,
    /// `#size-cells` for the children (default 1), or `BAD_CELLS` if malformed.
    pub size_cells: u32,
    /// The interrupt parent in effect for this node and, unless overridden, its children.
    pub irq_parent: Option<u32>,
    /// `ranges`: `None` if absent, empty for an identity mapping.
    pub ranges: Option<&'a [u8]>,
    /// What the tree says about this node's DMA and the cache: `Some(true)` for
    /// `dma-coherent`, `Some(false)` for `dma-noncoherent` (which wins when a node has both),
    /// inherited from the nearest ancestor that says either; `None` when none does, and the
    /// architecture's default applies (as Linux's `of_dma_is_coherent` reads it).
    pub dma_coherent: Option<bool>,
}

impl Default for Frame<'_> {
    fn default() -> Self {
        Frame {
            name: &[],
            addr_cells: 2,
            size_cells: 1,
            irq_parent: None,
            ranges: None,
            dma_coherent: None,
        }
    }
}

impl<'a> Frame<'a> {
    fn compute(tree: &Tree<'a>, name: &'a [u8], props_pos: usize, parent: Option<&Frame>) -> Self {
        let cells = |v: &[u8]| {
            if v.len() == 4 {
                be32(v, 0).unwrap_or(BAD_CELLS)
            } else {
                BAD_CELLS
            }
        };
        let mut frame = Frame {
            name,
            irq_parent: parent.and_then(|p| p.irq_parent),
            dma_coherent: parent.and_then(|p| p.dma_coherent),
            ..Frame::default()
        };
        let (mut coherent, mut noncoherent) = (false, false);
        for (pname, value) in tree.props_at(props_pos) {
            match pname {
                b"#address-cells" => frame.addr_cells = cells(value),
                b"#size-cells" => frame.size_cells = cells(value),
                // A malformed interrupt-parent is reported when an interrupt is resolved.
                b"interrupt-parent" => frame.irq_parent = Some(be32(value, 0).unwrap_or(0)),
                b"ranges" => frame.ranges = Some(value),
                b"dma-coherent" => coherent = true,
                b"dma-noncoherent" => noncoherent = true,
                _ => {}
            }
        }
        // Contradicting itself, a node gets the safe reading: cache maintenance.
        if noncoherent {
            frame.dma_coherent = Some(false);
        } else if coherent {
            frame.dma_coherent = Some(true);
        }
        frame
    }
}

/// Iterator over a node's properties as (name, value).
pub struct Props<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    pos: usize,
}

impl<'a> Props<'a> {
    /// The next property as (name offset in the strings block, value).
    fn next_raw(&mut self) -> Option<(usize, &'a [u8])> {
        // `pos` grows by at least 4 per iteration, bounded by the structure block.
        while let Some(token) = be32(self.structs, self.pos) {
            match token {
                FDT_NOP => self.pos += 4,
                FDT_PROP => {
                    let found = (|| {
                        let len = usize::try_from(be32(self.structs, self.pos + 4)?).ok()?;
                        let nameoff = usize::try_from(be32(self.structs, self.pos + 8)?).ok()?;
                        let start = self.pos + 12;
                        let value = self.structs.get(start..start.checked_add(len)?)?;
                        Some((nameoff, value, align4(start + len)?))
                    })();
                    let Some((nameoff, value, next)) = found else {
                        break;
                    };
                    self.pos = next;
                    return Some((nameoff, value));
                }
                _ => break,
            }
        }
        self.pos = usize::MAX;
        None
    }

    /// The value of the property called `name`. Compares in place rather than measuring
    /// every name first: discovery asks several questions of every node.
    fn find(mut self, name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        while let Some((nameoff, value)) = self.next_raw() {
            let end = nameoff.checked_add(name.len())?;
            if self.strings.get(nameoff..end) == Some(name) && self.strings.get(end) == Some(&0) {
                return Some(value);
            }
        }
        None
    }
}

impl<'a> Iterator for Props<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let (nameoff, value) = self.next_raw()?;
        match prop_name_at(self.strings, nameoff) {
            Some(name) => Some((name, value)),
            None => {
                self.pos = usize::MAX;
                None
            }
        }
    }
}

/// One node during a walk, with what its ancestors say about how to read it.
pub struct Node<'t, 'a> {
    tree: &'t Tree<'a>,
    pub name: &'a [u8],
    /// 0 for the root.
    pub depth: usize,
    props_pos: usize,
    /// What this node passes to its children (and its own effective interrupt parent).
    pub own: Frame<'a>,
    /// Frames of the root .. the parent.
    ancestors: &'t [Frame<'a>],
}

impl<'t, 'a> Node<'t, 'a> {
    pub fn tree(&self) -> &'t Tree<'a> {
        self.tree
    }

    pub fn props(&self) -> Props<'a> {
        self.tree.props_at(self.props_pos)
    }

    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props().find(name)
    }

    /// The parent node's name, `None` for the root.
    pub fn parent_name(&self) -> Option<&'a [u8]> {
        self.ancestors.last().map(|f| f.name)
    }

    /// The first string of a string property (up to its NUL).
    pub fn prop_str(&self, name: &str) -> Option<&'a [u8]> {
        let value = self.prop(name)?;
        value.split(|&b| b == 0).next()
    }

    /// The NUL-separated strings of a string-list property.
    pub fn prop_strings(&self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.prop(name)
            .unwrap_or(&[])
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
    }

    /// The first entry of this node's `compatible` list that appears in `table`
    /// (the node's own order decides, so its most specific supported string wins).
    pub fn compatible_in(&self, table: &[&str]) -> Option<&'a [u8]> {
        first_compatible(self.prop("compatible").unwrap_or(&[]), table)
    }

    /// `status` absent, "okay" or "ok".
    pub fn is_enabled(&self) -> bool {
        matches!(self.prop_str("status"), None | Some(b"okay") | Some(b"ok"))
    }

    /// The node's path, for error messages.
    pub fn path(&self) -> FixedStr<64> {
        let mut out = FixedStr::new();
        for frame in self.ancestors.iter().skip(1) {
            out.push_str("/");
            out.push_str(FixedStr::<64>::from_dt_bytes(frame.name).as_str());
        }
        out.push_str("/");
        if self.depth > 0 {
            out.push_str(FixedStr::<64>::from_dt_bytes(self.name).as_str());
        }
        out
    }

    pub fn malformed(&self, prop: &'static str, why: &'static str) -> DtError {
        DtError::Malformed {
            node: self.path(),
            prop,
            why,
        }
    }

    /// A one-cell property, `None` if absent, an error if not exactly 4 bytes.
    pub fn prop_u32(&self, name: &'static str) -> Result<Option<u32>, DtError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) if v.len() == 4 => Ok(be32(v, 0)),
            Some(_) => Err(self.malformed(name, "expected one 32-bit cell")),
        }
    }

    /// A one- or two-cell number (e.g. `clock-frequency`, `timebase-frequency`, DDR sizes).
    pub fn prop_u64(&self, name: &'static str) -> Result<Option<u64>, DtError> {
        match self.prop(name) {
            None => Ok(None),
            Some(v) if v.len() == 4 || v.len() == 8 => Ok(read_cells(v, off32(v.len() / 4))),
            Some(_) => Err(self.malformed(name, "expected one or two 32-bit cells")),
        }
    }

    /// (`#address-cells`, `#size-cells`) that apply to this node's `reg`: its parent's.
    pub fn reg_cells(&self) -> (u32, u32) {
        self.ancestors
            .last()
            .map_or((2, 1), |p| (p.addr_cells, p.size_cells))
    }

    /// Entry `i` of `reg` as raw (address, size) in the parent's address space.
    pub fn reg_raw(&self, i: usize) -> Result<Option<(u64, u64)>, DtError> {
        let Some(value) = self.prop("reg") else {
            return Ok(None);
        };
        let (ac, sc) = self.reg_cells();
        if ac == 0 || ac > 2 || sc > 2 {
            return Err(self.malformed("reg", "parent #address-cells/#size-cells unsupported"));
        }
        let entry = usize::try_from(4 * (ac + sc)).unwrap_or(usize::MAX);
        if value.len() % entry != 0 {
            return Err(self.malformed("reg", "length is not a whole number of entries"));
        }
        let Some(bytes) = i.checked_mul(entry).and_then(|start| value.get(start..)) else {
            return Ok(None);
        };
        let addr = read_cells(bytes, ac);
        let size = bytes.get(4 * ac as usize..).and_then(|b| read_cells(b, sc));
        match (addr, size) {
            (Some(addr), Some(size)) => Ok(Some((addr, size))),
            _ => Ok(None),
        }
    }

    /// Entry `i` of `reg` as a physical range, translated through the ancestors' `ranges`.
    pub fn reg(&self, i: usize) -> Result<Option<PhysRange>, DtError> {
        let Some((addr, size)) = self.reg_raw(i)? else {
            return Ok(None);
        };
        let addr = self.translate(addr)?;
        PhysRange::from_start_size(addr, size)
            .map(Some)
            .ok_or(self.malformed("reg", "range wraps past the end of the address space"))
    }

    /// Maps a bus address up through each ancestor bus's `ranges` to a CPU physical address.
    /// A bus without `ranges` is taken as identity-mapped (lenient: the spec would call the
    /// address untranslatable, but refusing would only lose a device).
    fn translate(&self, mut addr: u64) -> Result<u64, DtError> {
        // ancestors[k] maps its children's addresses into ancestors[k - 1]'s children's space.
        for k in (1..self.ancestors.len()).rev() {
            let (Some(bus), Some(above)) = (self.ancestors.get(k), self.ancestors.get(k - 1))
            else {
                break;
            };
            let Some(ranges) = bus.ranges.filter(|r| !r.is_empty()) else {
                continue;
            };
            let (cac, csc, pac) = (bus.addr_cells, bus.size_cells, above.addr_cells);
            if cac == 0 || cac > 2 || csc > 2 || pac == 0 || pac > 2 {
                return Err(
                    self.malformed("reg", "an ancestor's ranges use unsupported cell sizes")
                );
            }
            let entry = 4 * (cac + pac + csc) as usize;
            if ranges.len() % entry != 0 {
                return Err(self.malformed("reg", "an ancestor's ranges is not whole entries"));
            }
            let mut mapped = None;
            for e in ranges.chunks_exact(entry) {
                let child = read_cells(e, cac);
                let parent = e.get(4 * cac as usize..).and_then(|b| read_cells(b, pac));
                let len = e
                    .get(4 * (cac + pac) as usize..)
                    .and_then(|b| read_cells(b, csc));
                if let (Some(child), Some(parent), Some(len)) = (child, parent, len) {
                    if addr >= child && addr - child < len {
                        mapped = parent.checked_add(addr - child);
                        break;
                    }
                }
            }
            addr = mapped
                .ok_or(self.malformed("reg", "address not covered by an ancestor's ranges"))?;
        }
        Ok(addr)
    }
}
