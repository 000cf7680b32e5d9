//! Why device-tree discovery failed, with a message that names the offending offset, node or property.

use core::fmt;

use super::fixed_str::FixedStr;

/// Everything that can go wrong between "here is a pointer" and a [`super::Platform`].
///
/// Offsets are byte offsets from the start of the blob, so they can be checked against a hexdump.
/// The type is `Copy` and holds no references, so it can be printed after the blob is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    /// `probe_header` was given address 0 (e.g. QEMU's x0 when it passed no DTB).
    NullAddress,
    /// An address or offset that must be aligned was not.
    Misaligned {
        what: &'static str,
        value: u64,
        align: u64,
    },
    /// The header fields of a probe at `addr` would lie past the end of the address space.
    AddressOverflow { addr: u64 },
    /// Fewer bytes than the 40-byte FDT header (or its 4-byte magic) are available.
    HeaderTruncated { available: usize },
    /// The first word is not 0xd00dfeed.
    BadMagic { found: u32 },
    /// The header's `totalsize` is larger than the bytes we were given.
    Truncated { header_says: u32, available: usize },
    /// `totalsize` is larger than the caller's sanity limit (see `probe_header`).
    TooLarge { totalsize: u32, max: u32 },
    /// Version older than 16 (no strings-block size) or a layout newer than 17 requires.
    BadVersion {
        version: u32,
        last_comp_version: u32,
    },
    /// A header field holds an impossible value.
    BadHeader {
        field: &'static str,
        value: u32,
        why: &'static str,
    },
    /// A block named by the header does not lie within `[40, totalsize)`.
    BlockOutOfBounds {
        block: &'static str,
        offset: u32,
        size: u32,
        totalsize: u32,
    },
    /// The memory reservation block has no (0, 0) terminator before the end of the blob.
    RsvmapUnterminated { offset: u32 },
    /// An unknown token in the structure block.
    BadToken { offset: u32, token: u32 },
    /// The structure block's tokens do not nest into one well-formed tree.
    BadStructure { offset: u32, why: &'static str },
    /// The structure block ended without an FDT_END token.
    NoEndToken { offset: u32 },
    /// Nodes nest deeper than capmon keeps state for.
    TooDeep { offset: u32, max: usize },
    /// A property's name offset does not point at a NUL-terminated string of at most
    /// `MAX_PROP_NAME` bytes in the strings block.
    BadPropName { offset: u32, nameoff: u32 },
    /// A node the machine cannot be described without is absent.
    MissingNode { path: &'static str },
    /// A property capmon relies on has the wrong length or an impossible value.
    Malformed {
        node: FixedStr<64>,
        prop: &'static str,
        why: &'static str,
    },
    /// More entries than capmon's fixed-capacity storage, where dropping some would be unsafe.
    TooMany { what: &'static str, capacity: usize },
    /// Only TF-A's NT_FW_CONFIG tree (x0) was valid; it says how much DRAM there is but
    /// describes no hardware, so capmon cannot boot from it.
    NotHardwareDescription {
        local_ddr_size: Option<u64>,
        remote_ddr_size: Option<u64>,
    },
    /// `discover_tf_a` was given neither tree.
    NoTree,
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtError::NullAddress => write!(f, "no device tree: address is 0"),
            DtError::Misaligned { what, value, align } => {
                write!(f, "{what} {value:#x} is not {align}-byte aligned")
            }
            DtError::AddressOverflow { addr } => {
                write!(f, "device tree header at {addr:#x} would run past the end of memory")
            }
            DtError::HeaderTruncated { available } => write!(
                f,
                "device tree truncated: only {available} bytes, less than the 40-byte FDT header"
            ),
            DtError::BadMagic { found } => {
                write!(f, "not a device tree: magic is {found:#010x}, expected 0xd00dfeed")
            }
            DtError::Truncated { header_says, available } => write!(
                f,
                "device tree truncated: header says {header_says} bytes but only {available} available"
            ),
            DtError::TooLarge { totalsize, max } => write!(
                f,
                "device tree totalsize {totalsize} bytes exceeds the {max}-byte limit"
            ),
            DtError::BadVersion { version, last_comp_version } => write!(
                f,
                "unsupported device tree version {version} (last compatible {last_comp_version}); \
                 need version >= 16 readable by a version-17 parser"
            ),
            DtError::BadHeader { field, value, why } => {
                write!(f, "bad device tree header: {field} = {value:#x} {why}")
            }
            DtError::BlockOutOfBounds { block, offset, size, totalsize } => write!(
                f,
                "device tree {block} block at offset {offset:#x} size {size:#x} lies outside \
                 the blob (header is 40 bytes, totalsize {totalsize:#x})"
            ),
            DtError::RsvmapUnterminated { offset } => write!(
                f,
                "device tree memory reservation block at {offset:#x} has no terminating entry"
            ),
            DtError::BadToken { offset, token } => {
                write!(f, "device tree structure: unknown token {token:#x} at offset {offset:#x}")
            }
            DtError::BadStructure { offset, why } => {
                write!(f, "device tree structure broken at offset {offset:#x}: {why}")
            }
            DtError::NoEndToken { offset } => write!(
                f,
                "device tree structure block ends at offset {offset:#x} without an FDT_END token"
            ),
            DtError::TooDeep { offset, max } => write!(
                f,
                "device tree nodes nest deeper than {max} levels at offset {offset:#x}"
            ),
            DtError::BadPropName { offset, nameoff } => write!(
                f,
                "device tree property at offset {offset:#x} names string {nameoff:#x}, which is \
                 outside the strings block, unterminated or longer than 255 bytes"
            ),
            DtError::MissingNode { path } => write!(f, "device tree has no {path} node"),
            DtError::Malformed { node, prop, why } => {
                write!(f, "device tree node {node}: property `{prop}` malformed: {why}")
            }
            DtError::TooMany { what, capacity } => {
                write!(f, "device tree has more {what} than capmon can hold ({capacity})")
            }
            DtError::NotHardwareDescription { local_ddr_size, remote_ddr_size } => {
                write!(
                    f,
                    "only TF-A's NT_FW_CONFIG tree (x0) is valid; it is not a hardware \
                     description (HW_CONFIG in x1 is missing or invalid)"
                )?;
                if let Some(size) = local_ddr_size {
                    write!(f, "; local-ddr-size {size:#x}")?;
                }
                if let Some(size) = remote_ddr_size {
                    write!(f, "; remote-ddr-size {size:#x}")?;
                }
                Ok(())
            }
            DtError::NoTree => write!(f, "no device tree was passed (x0 and x1 both absent)"),
        }
    }
}
