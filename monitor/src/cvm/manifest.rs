//! cVM manifests: which cVMs to run, with how much memory and what policy, read from a
//! device-tree blob (format and rationale: `cvms/manifests/README.md`).
//!
//! The blob is untrusted: the monitor reads it from a bundle it did not build, and the host
//! tool reads whatever file it is given. So [`parse_manifest`] and [`parse_bundle`] first pass
//! the blob through the platform module's hardened FDT validation (the same code that checks
//! the boot device tree and is fuzzed in `platform/fuzz_tests.rs`), then collect its nodes
//! with a small reader that only indexes through `.get()` and whose loops each advance a cursor
//! through a bounded slice, and finally check every field. Every problem is reported, not just
//! the first, each naming the cVM and the field, so one run of `capmon-tool manifest check`
//! shows everything to fix.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::cvm::expect::{self, Expect};
use crate::cvm::grant::DiskSpec;
use crate::cvm::net_grant::NetSpec;
use crate::cvm::share::spec::{self as share_spec, FileSpec};
use crate::cvm::share::stream::{self as stream_spec, StreamSpec};
use crate::platform;

/// The root `compatible` of a version-1 manifest.
pub const COMPATIBLE: &str = "capmon,manifest-v1";
/// The prefix shared by every manifest version, to tell "wrong version" from "not a manifest".
const COMPATIBLE_FAMILY: &str = "capmon,manifest-";
/// cVM indices (unit addresses) are below this. It bounds every per-cVM table in the monitor
/// and keeps the sealing object types (`plan::FIRST_CVM_OTYPE + index`) small.
pub const MAX_CVMS: u32 = 64;
/// Granule of `memory-size`: regions are handed out in whole pages.
pub const PAGE_SIZE: u64 = 4096;
/// Smallest `memory-size`: image, heap and the default stack must fit.
pub const MIN_MEMORY_SIZE: u64 = 64 << 10;
/// Largest `memory-size`; anything bigger is almost certainly a typo in the manifest.
pub const MAX_MEMORY_SIZE: u64 = 1 << 30;
/// `stack-size` when the manifest gives none.
pub const DEFAULT_STACK_SIZE: u64 = 64 << 10;
/// Both ABIs want a 16-byte aligned stack pointer.
pub const STACK_ALIGN: u64 = 16;
/// Longest cVM or image name, in bytes (the `whoami` record holds it).
pub const NAME_MAX: usize = capmon_abi::NAME_MAX;
/// Longest console label, in bytes (it prefixes every console line of the cVM).
pub const CONSOLE_LABEL_MAX: usize = 16;
/// Largest scheduling share (time slices per round).
pub const MAX_SHARE: u32 = 16;
/// Largest restart count with `on-fault = "restart"`.
pub const MAX_RESTARTS: u32 = 100;
/// Most `args` strings, and their total size with NULs: argv is built on the cVM's stack.
pub const MAX_ARGS: usize = 16;
pub const MAX_ARGS_BYTES: usize = 1024;
/// Largest `cpu-budget-ms` (about 49.7 days); its nanoseconds fit a u64 with room to spare.
pub const MAX_CPU_BUDGET_MS: u64 = u32::MAX as u64;
/// Fields the format reserves for later versions: a clear "not supported yet" beats
/// "unknown field" for someone who read about them.
pub const RESERVED_FIELDS: &[&str] = &["calls"];
/// Every field of a cVM's `disk { … }` child node (a grant of sectors on a virtio-blk device).
pub const DISK_FIELDS: &[&str; 4] = &["device", "first-sector", "sectors", "read-only"];
/// Every field of a cVM's `net { … }` child node (an interface on a virtio-net device).
pub const NET_FIELDS: &[&str; 2] = &["device", "mac"];
/// Largest `disk/device` or `net/device` index: the platform keeps at most 32 virtio-mmio transports.
pub const MAX_DISK_DEVICE: u32 = 31;
/// Every field a cVM node may have in version 1.
pub const CVM_FIELDS: &[&str] = &[
    "name",
    "image",
    "memory-size",
    "stack-size",
    "args",
    "console-label",
    "share",
    "cores",
    "on-fault",
    "restarts",
    "cpu-budget-ms",
    "expect",
    "serve-children",
    "abi",
];
/// Deepest nesting of cVMs: a top-level cVM is level 1, its children level 2, and so on.
pub const MAX_NESTING: usize = 4;
/// How `dtc` must compile a manifest (after the input file name or before it, any order):
/// `-W no-unit_address_vs_reg` because `cvm@N` nodes have a unit address but no `reg`, and
/// `-E no-name_properties` because dtc treats a `name` property as the legacy copy of the node
/// name: it rejects one that differs from the node name and silently deletes one that equals
/// it. Shared with the host tool so that every blob is built the same way.
pub const DTC_FLAGS: &[&str] = &[
    "-I",
    "dts",
    "-O",
    "dtb",
    "-b",
    "0",
    "-W",
    "no-unit_address_vs_reg",
    "-E",
    "no-name_properties",
];
/// The first bytes of every ELF file.
pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";

/// Bounds on what the reader collects, so a hostile blob cannot make it allocate without end
/// (a legitimate manifest has 2 + MAX_CVMS nodes and about a dozen properties per node).
const MAX_NODES: usize = 512;
const MAX_PROPS_PER_NODE: usize = 128;
/// Deepest nesting the reader keeps track of; platform validation already enforces 32.
const MAX_DEPTH: usize = 32;

/// A whole manifest. cVMs are in tree order: top-level cVMs by index, each followed by its
/// children (by index), depth first, so a parent always comes before its children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Keep the monitor running when every cVM has ended (default: power off).
    pub keep_running: bool,
    pub cvms: Vec<CvmSpec>,
    /// The shared objects of the root's `files { … }` node (`cvm::share::spec`).
    pub files: Vec<FileSpec>,
    /// The calls of the root's `calls { … }` node (`cvm::share::calls`).
    pub calls: Vec<crate::cvm::share::calls::CallSpec>,
    /// The streams of the root's `streams { … }` node (`cvm::share::stream`); each also has
    /// its carrying run-time object in `files`.
    pub streams: Vec<StreamSpec>,
}

impl Manifest {
    /// The cVM's full path, `outer/middle/inner` (names are unique across the manifest).
    pub fn path(&self, at: usize) -> String {
        let mut names = Vec::new();
        let mut next = Some(at);
        while let Some(i) = next.filter(|&i| i < self.cvms.len() && names.len() <= MAX_NESTING) {
            names.push(self.cvms[i].name.as_str());
            next = self.cvms[i].parent;
        }
        names.reverse();
        names.join("/")
    }

    /// Positions of the cVM's children, in order (their handles are 0, 1, ...).
    pub fn children(&self, at: usize) -> Vec<usize> {
        (0..self.cvms.len())
            .filter(|&i| self.cvms[i].parent == Some(at))
            .collect()
    }

    /// How deep the cVM is: 1 for a top-level cVM.
    pub fn level(&self, at: usize) -> usize {
        let mut level = 1;
        let mut next = self.cvms.get(at).and_then(|c| c.parent);
        while let Some(p) = next.filter(|_| level <= MAX_NESTING) {
            level += 1;
            next = self.cvms.get(p).and_then(|c| c.parent);
        }
        level
    }
}

/// One cVM as the manifest describes it, with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvmSpec {
    /// The unit address of its node (`cvm@N`): its id, and its sealing type's offset.
    pub index: u32,
    pub name: String,
    /// Name of its ELF image under the bundle's `/images`.
    pub image: String,
    /// Bytes of its region: image, heap and stack together.
    pub memory_size: u64,
    pub stack_size: u64,
    /// argv[1..]; argv[0] is the name.
    pub args: Vec<String>,
    pub console_label: String,
    /// Time slices per scheduling round.
    pub share: u32,
    /// The cores it may run on, a bit per core index (`cores = <0 2>;`); 0: any core.
    pub cores: u64,
    pub on_fault: OnFault,
    /// Total CPU time allowed; exceeding it is a fault.
    pub cpu_budget_ms: Option<u64>,
    /// The `disk { … }` grant, if any (checked against the device at boot).
    pub disk: Option<DiskSpec>,
    /// The `net { … }` grant, if any (checked against the device at boot).
    pub net: Option<NetSpec>,
    /// How it is expected to end (`expect`; default: exit 0), for the verdict.
    pub expect: Expect,
    /// Its parent's position in [`Manifest::cvms`] when it is nested (a `cvm@N` node inside
    /// another cVM's node); parents come before their children.
    pub parent: Option<usize>,
    /// `serve-children;`: its children's hostcalls go to it first (see `cvm/nest.rs`).
    pub serve_children: bool,
    /// How it runs: cap-unaware under DDC/PCC (default), or pure-capability.
    pub abi: Abi,
}

/// A cVM's binary interface, the manifest's `abi` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Abi {
    /// `"hybrid"` (the default): a cap-unaware program; its integer addresses are checked
    /// against its DDC and PCC.
    #[default]
    Hybrid,
    /// `"purecap"`: starts in capability mode (C64 / CHERI-RISC-V capability encoding mode)
    /// with a null DDC; everything it may touch arrives as capabilities in registers, and its
    /// hostcall buffers are capabilities. Needs capability hardware.
    Purecap,
}

impl Abi {
    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            Abi::Hybrid => "hybrid",
            Abi::Purecap => "purecap",
        }
    }
}

/// What the monitor does when a cVM faults (or exhausts its CPU budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnFault {
    Stop,
    /// Reload and start it again, at most `max` times.
    Restart {
        max: u32,
    },
}

/// A manifest and the images it refers to, all borrowed from one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle<'a> {
    pub manifest: Manifest,
    /// Every image under `/images`, in blob order.
    pub images: Vec<(String, &'a [u8])>,
}

impl Bundle<'_> {
    /// The image called `name`.
    pub fn image(&self, name: &str) -> Option<&[u8]> {
        self.images
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, bytes)| *bytes)
    }
}

/// Which cVM an error is about: by name once the name is known and valid, else by its node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CvmRef {
    Name(String),
    /// The node name as written (`cvm@3`), escaped for printing.
    Node(String),
}

impl fmt::Display for CvmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CvmRef::Name(name) => write!(f, "cvm \"{name}\""),
            CvmRef::Node(node) => f.write_str(node),
        }
    }
}

/// One problem with a manifest. Displays as `cvm "hello": field "memory-size": must be …`;
/// the host tool prefixes the manifest's file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pub cvm: Option<CvmRef>,
    pub field: Option<String>,
    pub message: String,
}

impl ManifestError {
    pub(crate) fn root(field: Option<&str>, message: impl Into<String>) -> Self {
        ManifestError {
            cvm: None,
            field: field.map(String::from),
            message: message.into(),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(cvm) = &self.cvm {
            write!(f, "{cvm}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Parses and checks a manifest on its own (no images), as the host tool does before
/// bundling. A manifest must not contain `/images`: the bundler adds it.
pub fn parse_manifest(blob: &[u8]) -> Result<Manifest, Vec<ManifestError>> {
    let nodes = read_checked(blob)?;
    let (manifest, _, errors) = check(&nodes, Mode::Manifest);
    finish(manifest, errors)
}

/// Parses and checks a bundle: a manifest plus `/images`, every cVM's image present and an
/// ELF file (deeper ELF checks are the loader's).
pub fn parse_bundle(blob: &[u8]) -> Result<Bundle<'_>, Vec<ManifestError>> {
    let nodes = read_checked(blob)?;
    let (manifest, images, errors) = check(&nodes, Mode::Bundle);
    finish(manifest, errors).map(|manifest| Bundle { manifest, images })
}

fn finish(manifest: Manifest, errors: Vec<ManifestError>) -> Result<Manifest, Vec<ManifestError>> {
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the blob

/// A node as the reader found it.
pub(crate) struct RawNode<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) depth: usize,
    pub(crate) parent: Option<usize>,
    pub(crate) props: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> RawNode<'a> {
    pub(crate) fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| *v)
    }
}

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let word = bytes.get(off..off.checked_add(4)?)?;
    word.try_into().ok().map(u32::from_be_bytes)
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// The NUL-terminated string at `off`, without the NUL, at most `max` bytes long.
fn cstr_at(bytes: &[u8], off: usize, max: usize) -> Option<&[u8]> {
    let rest = bytes.get(off..)?;
    let rest = rest.get(..rest.len().min(max.saturating_add(1)))?;
    let len = rest.iter().position(|&b| b == 0)?;
    rest.get(..len)
}

/// Validates the blob with the platform's FDT checks, then reads its nodes.
fn read_checked(blob: &[u8]) -> Result<Vec<RawNode<'_>>, Vec<ManifestError>> {
    let structural = |message: String| alloc::vec![ManifestError::root(None, message)];
    // The platform's full structural validation (header, block bounds and alignment, every
    // token, every property name, nesting depth) runs before any node is read.
    platform::validate(blob)
        .map_err(|e| structural(format!("not a valid device-tree blob: {e}")))?;
    read_nodes(blob).map_err(|why| structural(format!("cannot read the device tree: {why}")))
}

/// Collects every node with its properties. Only called on validated blobs, but written so that
/// any input gives `Ok` or `Err`: every access is `.get()`, and every loop iteration moves
/// `pos` forward by at least 4 bytes through the bounded structure block.
fn read_nodes(blob: &[u8]) -> Result<Vec<RawNode<'_>>, &'static str> {
    const BAD_HEADER: &str = "header fields out of range";
    let field = |i: usize| -> Result<usize, &'static str> {
        let value = be32(blob, 4 * i).ok_or(BAD_HEADER)?;
        usize::try_from(value).map_err(|_| BAD_HEADER)
    };
    let (totalsize, off_struct, off_strings, version) =
        (field(1)?, field(2)?, field(3)?, field(5)?);
    let size_strings = field(8)?;
    // Version 16 has no size_dt_struct: the block runs at most to the end of the blob.
    let size_struct = if version >= 17 {
        field(9)?
    } else {
        totalsize.saturating_sub(off_struct)
    };
    let blob = blob.get(..totalsize).ok_or(BAD_HEADER)?;
    let block = |off: usize, size: usize| {
        off.checked_add(size)
            .and_then(|end| blob.get(off..end))
            .ok_or(BAD_HEADER)
    };
    let structs = block(off_struct, size_struct)?;
    let strings = block(off_strings, size_strings)?;

    let mut nodes: Vec<RawNode<'_>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut pos = 0usize;
    loop {
        let token = be32(structs, pos).ok_or("structure block ends without FDT_END")?;
        match token {
            FDT_BEGIN_NODE => {
                let name_at = pos.checked_add(4).ok_or("node name out of range")?;
                let name =
                    cstr_at(structs, name_at, structs.len()).ok_or("unterminated node name")?;
                if nodes.len() >= MAX_NODES {
                    return Err("more than 512 nodes");
                }
                if open.len() >= MAX_DEPTH {
                    return Err("nodes nest too deeply");
                }
                nodes.push(RawNode {
                    name,
                    depth: open.len(),
                    parent: open.last().copied(),
                    props: Vec::new(),
                });
                open.push(nodes.len() - 1);
                pos = align4(name_at + name.len() + 1).ok_or("node name out of range")?;
            }
            FDT_END_NODE => {
                open.pop().ok_or("unbalanced FDT_END_NODE")?;
                pos += 4;
            }
            FDT_PROP => {
                let len = be32(structs, pos + 4).ok_or("truncated property")?;
                let nameoff = be32(structs, pos + 8).ok_or("truncated property")?;
                let len = usize::try_from(len).map_err(|_| "property too long")?;
                let start = pos + 12;
                let value = start
                    .checked_add(len)
                    .and_then(|end| structs.get(start..end))
                    .ok_or("property value out of range")?;
                let nameoff = usize::try_from(nameoff).map_err(|_| "bad property name")?;
                let name = cstr_at(strings, nameoff, 255).ok_or("bad property name")?;
                let node = open
                    .last()
                    .and_then(|&i| nodes.get_mut(i))
                    .ok_or("property outside any node")?;
                if node.props.len() >= MAX_PROPS_PER_NODE {
                    return Err("more than 128 properties in one node");
                }
                node.props.push((name, value));
                pos = align4(start + len).ok_or("property value out of range")?;
            }
            FDT_NOP => pos += 4,
            FDT_END => break,
            _ => return Err("unknown structure token"),
        }
    }
    if nodes.is_empty() {
        return Err("no root node");
    }
    Ok(nodes)
}

// ---------------------------------------------------------------------------------------------
// Checking

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Manifest,
    Bundle,
}

/// Escapes arbitrary bytes from the blob (node and property names) for an error message:
/// printable ASCII as is, anything else as `\xNN`, so a hostile name cannot drive the console.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(64) {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > 64 {
        out.push_str("...");
    }
    out
}

/// A string value for an error message, escaped like [`show_bytes`].
pub(crate) fn show(s: &str) -> String {
    show_bytes(s.as_bytes())
}

/// A single NUL-terminated UTF-8 string.
pub(crate) fn string_value(value: &[u8]) -> Result<&str, String> {
    let Some(body) = value.strip_suffix(&[0]) else {
        return Err(if value.is_empty() {
            "expected a string, found an empty property".to_string()
        } else {
            "expected a string (\"...\"), found a value that is not NUL-terminated".to_string()
        });
    };
    if body.contains(&0) {
        return Err("expected one string, found a list of strings".to_string());
    }
    core::str::from_utf8(body).map_err(|_| "is not valid UTF-8".to_string())
}

/// A list of NUL-terminated UTF-8 strings (`"a", "b"`).
pub(crate) fn string_list(value: &[u8]) -> Result<Vec<&str>, String> {
    let Some(body) = value.strip_suffix(&[0]) else {
        return Err(if value.is_empty() {
            "expected a list of strings, found an empty property".to_string()
        } else {
            "expected a list of strings, found a value that is not NUL-terminated".to_string()
        });
    };
    body.split(|&b| b == 0)
        .map(|s| core::str::from_utf8(s).map_err(|_| "is not valid UTF-8".to_string()))
        .collect()
}

/// What a value of the wrong size looks like, for "expected cells" messages: a string if it
/// reads as one (the usual mistake is quotes around a number), else its length.
fn describe_value(value: &[u8]) -> String {
    match string_value(value) {
        Ok(s) if !s.is_empty() => format!("the string \"{}\"", show(s)),
        _ => format!("{} bytes", value.len()),
    }
}

/// One 32-bit cell.
pub(crate) fn cell_u32(value: &[u8]) -> Result<u32, String> {
    match (value.len(), be32(value, 0)) {
        (4, Some(v)) => Ok(v),
        _ => Err(format!(
            "expected one 32-bit cell (<N>), found {}",
            describe_value(value)
        )),
    }
}

/// `cores`: a list of core indices, each below [`crate::smp::MAX_CORES`], as a bit mask.
fn core_list(value: &[u8]) -> Result<u64, String> {
    let looks_like_text = matches!(string_value(value), Ok(s) if !s.is_empty());
    if looks_like_text || value.is_empty() || !value.len().is_multiple_of(4) {
        return Err(format!(
            "expected core indices (<0 1>), found {}",
            describe_value(value)
        ));
    }
    let mut mask = 0u64;
    for cell in value.chunks_exact(4) {
        let core = cell_u32(cell)?;
        if usize::try_from(core).map_or(true, |c| c >= crate::smp::MAX_CORES) {
            return Err(format!(
                "core {core} does not exist: capmon runs at most {} cores (0 to {})",
                crate::smp::MAX_CORES,
                crate::smp::MAX_CORES - 1
            ));
        }
        if mask & (1 << core) != 0 {
            return Err(format!("core {core} is listed twice"));
        }
        mask |= 1 << core;
    }
    Ok(mask)
}

/// One or two 32-bit cells.
pub(crate) fn cells_u64(value: &[u8]) -> Result<u64, String> {
    match (value.len(), be32(value, 0), be32(value, 4)) {
        (4, Some(v), _) => Ok(v.into()),
        (8, Some(hi), Some(lo)) => Ok(u64::from(hi) << 32 | u64::from(lo)),
        _ => Err(format!(
            "expected one or two 32-bit cells (<N> or <HI LO>), found {}",
            describe_value(value)
        )),
    }
}

/// `[a-z0-9_-]`, 1 to NAME_MAX bytes: safe in console output, file names and DT property
/// names (images are `/images/<name>` properties).
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(crate) const NAME_RULE: &str = "must be 1 to 32 characters from a-z, 0-9, '_' and '-'";

/// Printable ASCII without spaces, 1 to CONSOLE_LABEL_MAX bytes.
fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= CONSOLE_LABEL_MAX && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// The index in a `cvm@N` node name: N is hex, as device-tree unit addresses are, written
/// canonically (lowercase, no leading zeros) so that two spellings cannot name one index.
fn unit_index(node_name: &[u8]) -> Result<u32, String> {
    let Some(unit) = node_name.strip_prefix(b"cvm@") else {
        return Err("needs a unit address: name the node cvm@<index>".to_string());
    };
    let canonical = !unit.is_empty()
        && unit.len() <= 8
        && unit
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && (unit == b"0" || unit.first() != Some(&b'0'));
    let parsed = core::str::from_utf8(unit)
        .ok()
        .filter(|_| canonical)
        .and_then(|s| u32::from_str_radix(s, 16).ok());
    match parsed {
        Some(index) if index < MAX_CVMS => Ok(index),
        Some(index) => Err(format!(
            "index {index} is too large: at most {} cVMs (cvm@0 to cvm@{:x})",
            MAX_CVMS,
            MAX_CVMS - 1
        )),
        None => Err(
            "the unit address must be the cVM's index in lowercase hex without leading zeros \
             (cvm@0, cvm@1, ..., cvm@a, ...)"
                .to_string(),
        ),
    }
}

/// Named images borrowed from the blob.
type Images<'a> = Vec<(String, &'a [u8])>;

/// Checks the tree; returns what could be read plus every error. The manifest is only
/// meaningful when there are no errors.
fn check<'a>(nodes: &[RawNode<'a>], mode: Mode) -> (Manifest, Images<'a>, Vec<ManifestError>) {
    let mut errors = Vec::new();
    let mut manifest = Manifest {
        keep_running: false,
        cvms: Vec::new(),
        files: Vec::new(),
        calls: Vec::new(),
        streams: Vec::new(),
    };
    let mut images = Vec::new();
    let Some(root) = nodes.first() else {
        errors.push(ManifestError::root(
            None,
            "the device tree has no root node",
        ));
        return (manifest, images, errors);
    };

    // Without the right compatible nothing else can be interpreted; one error says why.
    if let Err(e) = check_compatible(root.prop("compatible")) {
        errors.push(e);
        return (manifest, images, errors);
    }
    for (i, (name, value)) in root.props.iter().enumerate() {
        let shown = show_bytes(name);
        if root.props.iter().take(i).any(|(n, _)| n == name) {
            errors.push(ManifestError::root(Some(&shown), "appears more than once"));
            continue;
        }
        match *name {
            b"compatible" => {}
            b"keep-running" if value.is_empty() => manifest.keep_running = true,
            b"keep-running" => errors.push(ManifestError::root(
                Some("keep-running"),
                "is a flag: write `keep-running;` without a value",
            )),
            _ => errors.push(ManifestError::root(Some(&shown), "unknown field")),
        }
    }

    // Names are matched across all cVM nodes before any is checked, so a cVM whose name
    // repeats an earlier one is named by its node in every message, never confused with the
    // first, even when either has other errors.
    let mut named: Vec<(&str, usize)> = Vec::new();
    for (i, node) in nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| cvm_level(nodes, *i).is_some())
    {
        if let Some(name) = node_name_value(node) {
            named.push((name, i));
        }
    }

    let mut images_seen = false;
    let mut files_node = None;
    let mut calls_node = None;
    let mut streams_node = None;
    for (i, node) in nodes.iter().enumerate() {
        if node.depth != 1 {
            continue;
        }
        let shown = show_bytes(node.name);
        if node.name == b"images" {
            match mode {
                Mode::Manifest => errors.push(ManifestError::root(
                    None,
                    "node /images: a manifest must not contain /images (capmon-tool bundle \
                     adds it from --images)",
                )),
                Mode::Bundle if images_seen => errors.push(ManifestError::root(
                    None,
                    "node /images appears more than once",
                )),
                Mode::Bundle => {
                    images_seen = true;
                    check_images(nodes, i, node, &mut images, &mut errors);
                }
            }
        } else if node.name == share_spec::NODE.as_bytes() {
            // Checked once every cVM is known: it names them.
            if files_node.replace(i).is_some() {
                errors.push(ManifestError::root(
                    None,
                    "node /files appears more than once",
                ));
            }
        } else if node.name == crate::cvm::share::calls::NODE.as_bytes() {
            if calls_node.replace(i).is_some() {
                errors.push(ManifestError::root(
                    None,
                    "node /calls appears more than once",
                ));
            }
        } else if node.name == stream_spec::NODE.as_bytes() {
            if streams_node.replace(i).is_some() {
                errors.push(ManifestError::root(
                    None,
                    "node /streams appears more than once",
                ));
            }
        } else if is_cvm_node(node.name) {
            check_cvm_tree(nodes, i, None, &named, &mut manifest.cvms, &mut errors);
        } else {
            errors.push(ManifestError::root(
                None,
                format!(
                    "unknown node /{shown}: the root holds only cvm@N nodes{}",
                    if mode == Mode::Bundle {
                        ", files, calls, streams and /images"
                    } else {
                        ", files, calls and streams"
                    }
                ),
            ));
        }
    }

    check_unique(&manifest.cvms, &mut errors);
    if let Some(at) = files_node {
        manifest.files = share_spec::check_files(nodes, at, &manifest.cvms, &mut errors);
    }
    if let Some(at) = calls_node {
        manifest.calls =
            crate::cvm::share::calls::check_calls(nodes, at, &manifest.cvms, &mut errors);
    }
    if let Some(at) = streams_node {
        manifest.streams =
            stream_spec::check_streams(nodes, at, &manifest.cvms, &manifest.files, &mut errors);
        let carriers: Vec<FileSpec> = manifest.streams.iter().map(StreamSpec::as_file).collect();
        manifest.files.extend(carriers);
    }
    let cvm_nodes = nodes
        .iter()
        .filter(|n| n.depth == 1 && is_cvm_node(n.name))
        .count();
    if cvm_nodes == 0 {
        errors.push(ManifestError::root(
            None,
            "the manifest has no cVMs: add a cvm@0 node",
        ));
    }
    if mode == Mode::Bundle {
        if !images_seen {
            errors.push(ManifestError::root(None, "the bundle has no /images node"));
        }
        for cvm in &manifest.cvms {
            let who = Some(CvmRef::Name(cvm.name.clone()));
            let image = images.iter().find(|(n, _)| *n == cvm.image);
            let message = match image {
                None if images_seen => {
                    format!("no image \"{}\" in the bundle's /images", cvm.image)
                }
                None => continue,
                Some((_, bytes)) if !bytes.starts_with(&ELF_MAGIC) => format!(
                    "image \"{}\" is not an ELF file (it starts with {}, not 7f 45 4c 46)",
                    cvm.image,
                    hex_prefix(bytes)
                ),
                Some(_) => continue,
            };
            errors.push(ManifestError {
                cvm: who,
                field: Some("image".to_string()),
                message,
            });
        }
    }
    manifest.cvms = tree_order(core::mem::take(&mut manifest.cvms));
    check_nesting(&manifest, &mut errors);
    (manifest, images, errors)
}

/// The nesting level of the node at `at` when it is a cVM node in the cVM tree (1 for a root
/// child, parent level + 1 for a cVM node inside a cVM node), else `None`.
fn cvm_level(nodes: &[RawNode<'_>], at: usize) -> Option<usize> {
    let node = nodes.get(at)?;
    if !is_cvm_node(node.name) {
        return None;
    }
    match node.parent {
        Some(p) if nodes.get(p).is_some_and(|n| n.depth == 0) => Some(1),
        Some(p) => cvm_level(nodes, p)
            .map(|l| l + 1)
            .filter(|&l| l <= MAX_DEPTH),
        None => None,
    }
}

/// Checks the cVM node at `at` and, depth first, the cVM nodes nested in it. `parent` is the
/// parent's position in `cvms` (build order; [`tree_order`] fixes the final order).
fn check_cvm_tree(
    nodes: &[RawNode<'_>],
    at: usize,
    parent: Option<usize>,
    named: &[(&str, usize)],
    cvms: &mut Vec<CvmSpec>,
    errors: &mut Vec<ManifestError>,
) {
    let Some(node) = nodes.get(at) else { return };
    let first_with_name = node_name_value(node)
        .and_then(|name| named.iter().find(|(n, _)| *n == name))
        .map(|(_, first)| *first)
        .filter(|&first| first != at)
        .and_then(|first| nodes.get(first))
        .map(|n| n.name);
    let Some(mut spec) = check_cvm(nodes, at, node, first_with_name, errors) else {
        return;
    };
    spec.parent = parent;
    let level = cvm_level(nodes, at).unwrap_or(usize::MAX);
    let me = cvms.len();
    let name = spec.name.clone();
    cvms.push(spec);
    for child in
        (0..nodes.len()).filter(|&c| nodes[c].parent == Some(at) && is_cvm_node(nodes[c].name))
    {
        if level >= MAX_NESTING {
            errors.push(ManifestError {
                cvm: Some(CvmRef::Name(name.clone())),
                field: None,
                message: format!(
                    "child node {}: cVMs nest at most {MAX_NESTING} levels deep",
                    show_bytes(nodes[child].name)
                ),
            });
            continue;
        }
        check_cvm_tree(nodes, child, Some(me), named, cvms, errors);
    }
}

/// Puts cVMs in tree order (top-level cVMs by index, each followed depth first by its
/// children by index) and renumbers the `parent` positions to match.
fn tree_order(cvms: Vec<CvmSpec>) -> Vec<CvmSpec> {
    let mut order = Vec::with_capacity(cvms.len());
    fn visit(cvms: &[CvmSpec], parent: Option<usize>, order: &mut Vec<usize>) {
        let mut level: Vec<usize> = (0..cvms.len())
            .filter(|&i| cvms[i].parent == parent)
            .collect();
        level.sort_by_key(|&i| cvms[i].index);
        for i in level {
            order.push(i);
            if order.len() <= cvms.len() {
                visit(cvms, Some(i), order);
            }
        }
    }
    visit(&cvms, None, &mut order);
    let mut new_position = alloc::vec![usize::MAX; cvms.len()];
    for (new, &old) in order.iter().enumerate() {
        new_position[old] = new;
    }
    let mut slots: Vec<Option<CvmSpec>> = cvms.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&old| slots[old].take())
        .map(|mut spec| {
            spec.parent = spec.parent.map(|p| new_position[p]);
            spec
        })
        .collect()
}

/// What a nested cVM may ask for given its parent: memory from the parent's region (all the
/// children together must leave the parent its stack and at least 64 KiB of its own) and only
/// grants the parent holds (a disk range inside the parent's, read-only if the parent's is;
/// a network interface on the parent's device). The planner places the memory exactly.
fn check_nesting(manifest: &Manifest, errors: &mut Vec<ManifestError>) {
    for (at, parent) in manifest.cvms.iter().enumerate() {
        let children = manifest.children(at);
        if children.is_empty() {
            if parent.serve_children {
                errors.push(ManifestError {
                    cvm: Some(CvmRef::Name(parent.name.clone())),
                    field: Some("serve-children".to_string()),
                    message: "the cVM has no children (cvm@N nodes inside its node) to serve"
                        .to_string(),
                });
            }
            continue;
        }
        let needed = children.iter().fold(0u64, |sum, &c| {
            sum.saturating_add(manifest.cvms[c].memory_size)
        });
        let own = parent.memory_size.saturating_sub(needed);
        if needed >= parent.memory_size || own < MIN_MEMORY_SIZE || own <= parent.stack_size {
            errors.push(ManifestError {
                cvm: Some(CvmRef::Name(parent.name.clone())),
                field: Some("memory-size".to_string()),
                message: format!(
                    "{:#x} cannot hold its children ({needed:#x} together) and still leave it its \
                     stack and at least 64 KiB of its own: a child's memory is carved from its \
                     parent's",
                    parent.memory_size
                ),
            });
        }
        for &c in &children {
            let child = &manifest.cvms[c];
            let who = || Some(CvmRef::Name(child.name.clone()));
            if let Some(disk) = &child.disk {
                let inside = parent.disk.as_ref().is_some_and(|p| {
                    let p_end = p.sectors.map(|n| p.first_sector.saturating_add(n));
                    let c_end = disk.sectors.map(|n| disk.first_sector.saturating_add(n));
                    p.device == disk.device
                        && disk.first_sector >= p.first_sector
                        && match (c_end, p_end) {
                            (_, None) => true,
                            (Some(c), Some(p)) => c <= p,
                            (None, Some(_)) => false,
                        }
                        && (disk.read_only || !p.read_only)
                });
                if !inside {
                    errors.push(ManifestError {
                        cvm: who(),
                        field: Some("disk".to_string()),
                        message: format!(
                            "asks for sectors its parent \"{}\" does not hold: a nested cVM's disk grant \
                             must lie inside its parent's (same device, read-only if the parent's is)",
                            parent.name
                        ),
                    });
                }
            }
            if let Some(net) = &child.net {
                if parent.net.as_ref().is_none_or(|p| p.device != net.device) {
                    errors.push(ManifestError {
                        cvm: who(),
                        field: Some("net".to_string()),
                        message: format!(
                            "asks for an interface on net{} but its parent \"{}\" has none there: a \
                             nested cVM's grants must come from its parent's",
                            net.device, parent.name
                        ),
                    });
                }
            }
        }
    }
}

/// Up to the first four bytes in hex, for "not an ELF file" messages.
fn hex_prefix(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (it is empty)".to_string();
    }
    let shown: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

fn check_compatible(value: Option<&[u8]>) -> Result<(), ManifestError> {
    let not_manifest = |why: &str| {
        ManifestError::root(
            Some("compatible"),
            format!("{why}: a capmon manifest's root has compatible = \"{COMPATIBLE}\""),
        )
    };
    let Some(value) = value else {
        return Err(not_manifest("missing"));
    };
    let list = string_list(value).map_err(|e| not_manifest(&e))?;
    if list.contains(&COMPATIBLE) {
        return Ok(());
    }
    match list.iter().find(|s| s.starts_with(COMPATIBLE_FAMILY)) {
        Some(other) => Err(ManifestError::root(
            Some("compatible"),
            format!(
                "\"{}\" is a manifest version this monitor does not read (it reads \"{COMPATIBLE}\")",
                show(other)
            ),
        )),
        None => Err(not_manifest("not a capmon manifest")),
    }
}

fn check_images<'a>(
    nodes: &[RawNode<'a>],
    at: usize,
    node: &RawNode<'a>,
    images: &mut Images<'a>,
    errors: &mut Vec<ManifestError>,
) {
    for (i, (name, value)) in node.props.iter().enumerate() {
        let shown = show_bytes(name);
        let valid = core::str::from_utf8(name).ok().filter(|s| valid_name(s));
        let problem = match valid {
            None => Some(format!("image name \"{shown}\" {NAME_RULE}")),
            Some(_) if node.props.iter().take(i).any(|(n, _)| n == name) => {
                Some(format!("image \"{shown}\" appears more than once"))
            }
            Some(_) if value.is_empty() => Some(format!("image \"{shown}\" is empty")),
            Some(name) => {
                images.push((name.to_string(), *value));
                None
            }
        };
        if let Some(problem) = problem {
            errors.push(ManifestError::root(None, format!("/images: {problem}")));
        }
    }
    for child in nodes.iter().filter(|n| n.parent == Some(at)) {
        errors.push(ManifestError::root(
            None,
            format!(
                "/images: unknown node {}: images are properties, not nodes",
                show_bytes(child.name)
            ),
        ));
    }
}

/// Indices must be unique. dtc merges nodes of the same name, so only a hand-made blob can
/// repeat one, but the monitor must not trust that.
fn check_unique(cvms: &[CvmSpec], errors: &mut Vec<ManifestError>) {
    for (i, cvm) in cvms.iter().enumerate() {
        let earlier = cvms.get(..i).unwrap_or(&[]);
        if let Some(first) = earlier.iter().find(|c| c.index == cvm.index) {
            errors.push(ManifestError {
                cvm: Some(CvmRef::Name(cvm.name.clone())),
                field: None,
                message: format!(
                    "index {:#x} is also used by cvm \"{}\": unit addresses must be unique",
                    cvm.index, first.name
                ),
            });
        }
    }
}

/// Whether a root child is meant as a cVM (`cvm` or `cvm@...`).
fn is_cvm_node(name: &[u8]) -> bool {
    name == b"cvm" || name.starts_with(b"cvm@")
}

/// A cVM node's name, if it is present and well-formed.
fn node_name_value<'a>(node: &RawNode<'a>) -> Option<&'a str> {
    node.prop("name")
        .and_then(|v| string_value(v).ok())
        .filter(|s| valid_name(s))
}

/// The raw values of a cVM node's fields, after unknown/reserved/duplicate checks.
#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a [u8]>,
    image: Option<&'a [u8]>,
    memory_size: Option<&'a [u8]>,
    stack_size: Option<&'a [u8]>,
    args: Option<&'a [u8]>,
    console_label: Option<&'a [u8]>,
    share: Option<&'a [u8]>,
    cores: Option<&'a [u8]>,
    on_fault: Option<&'a [u8]>,
    restarts: Option<&'a [u8]>,
    cpu_budget_ms: Option<&'a [u8]>,
    expect: Option<&'a [u8]>,
    serve_children: Option<&'a [u8]>,
    abi: Option<&'a [u8]>,
}

/// Collects one cVM's errors under a fixed [`CvmRef`].
struct CvmErrors<'e> {
    who: CvmRef,
    errors: &'e mut Vec<ManifestError>,
    count: usize,
}

impl CvmErrors<'_> {
    fn field(&mut self, field: &str, message: impl Into<String>) {
        self.count += 1;
        self.errors.push(ManifestError {
            cvm: Some(self.who.clone()),
            field: Some(field.to_string()),
            message: message.into(),
        });
    }
    fn node(&mut self, message: impl Into<String>) {
        self.count += 1;
        self.errors.push(ManifestError {
            cvm: Some(self.who.clone()),
            field: None,
            message: message.into(),
        });
    }
}

/// Checks one cVM node. `first_with_name` is the earlier node that has the same name, if any.
fn check_cvm(
    nodes: &[RawNode<'_>],
    at: usize,
    node: &RawNode<'_>,
    first_with_name: Option<&[u8]>,
    errors: &mut Vec<ManifestError>,
) -> Option<CvmSpec> {
    let node_name = show_bytes(node.name);
    // The name first, so every later error can say which cVM it is about.
    let who = match node_name_value(node) {
        Some(name) if first_with_name.is_none() => CvmRef::Name(name.to_string()),
        _ => CvmRef::Node(node_name.clone()),
    };
    let mut e = CvmErrors {
        who,
        errors,
        count: 0,
    };

    let index = match unit_index(node.name) {
        Ok(index) => Some(index),
        Err(why) => {
            e.node(format!("node {node_name}: {why}"));
            None
        }
    };

    let mut f = Fields::default();
    for (i, (pname, value)) in node.props.iter().enumerate() {
        let shown = show_bytes(pname);
        if node.props.iter().take(i).any(|(n, _)| n == pname) {
            e.field(&shown, "appears more than once");
            continue;
        }
        let slot = match *pname {
            b"name" => &mut f.name,
            b"image" => &mut f.image,
            b"memory-size" => &mut f.memory_size,
            b"stack-size" => &mut f.stack_size,
            b"args" => &mut f.args,
            b"console-label" => &mut f.console_label,
            b"share" => &mut f.share,
            b"cores" => &mut f.cores,
            b"on-fault" => &mut f.on_fault,
            b"restarts" => &mut f.restarts,
            b"cpu-budget-ms" => &mut f.cpu_budget_ms,
            b"expect" => &mut f.expect,
            b"serve-children" => &mut f.serve_children,
            b"abi" => &mut f.abi,
            b"disk" => {
                e.field(
                    "disk",
                    "is a node, not a property: write disk { device = <0>; };",
                );
                continue;
            }
            b"net" => {
                e.field(
                    "net",
                    "is a node, not a property: write net { device = <0>; };",
                );
                continue;
            }
            b"streams" => {
                e.field(
                    "streams",
                    "streams are declared in the root's streams { … } node, which names their \
                     sender and receiver (see cvms/manifests/README.md)",
                );
                continue;
            }
            b"files" => {
                e.field(
                    "files",
                    "shared objects are declared in the root's files { … } node, which names \
                     their exporter and importers (see cvms/manifests/README.md)",
                );
                continue;
            }
            _ if RESERVED_FIELDS.iter().any(|r| r.as_bytes() == *pname) => {
                e.field(&shown, "not supported yet");
                continue;
            }
            _ => {
                e.field(&shown, "unknown field");
                continue;
            }
        };
        *slot = Some(*value);
    }
    let mut disk = None;
    let mut disks_seen = 0;
    let mut net = None;
    let mut nets_seen = 0;
    for (child_at, child) in nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.parent == Some(at))
    {
        let child_name = show_bytes(child.name);
        if child.name == b"disk" {
            disks_seen += 1;
            if disks_seen > 1 {
                e.node("child node disk appears more than once: a cVM has at most one disk grant");
            } else {
                disk = check_disk(nodes, child_at, child, &mut e);
            }
        } else if child.name == b"net" {
            nets_seen += 1;
            if nets_seen > 1 {
                e.node(
                    "child node net appears more than once: a cVM has at most one network grant",
                );
            } else {
                net = check_net(nodes, child_at, child, &mut e);
            }
        } else if is_cvm_node(child.name) {
            // A nested cVM: checked on its own by `check_cvm_tree`.
        } else {
            e.node(format!(
                "unknown child node {child_name}: a cVM node has only properties"
            ));
        }
    }

    let name = required_string(&mut e, "name", f.name).and_then(|s| {
        if let Some(first) = first_with_name {
            e.field(
                "name",
                format!(
                    "\"{s}\" is already the name of {}: names must be unique",
                    show_bytes(first)
                ),
            );
            None
        } else if valid_name(s) {
            Some(s.to_string())
        } else {
            e.field("name", format!("{NAME_RULE}, is \"{}\"", show(s)));
            None
        }
    });
    let image = required_string(&mut e, "image", f.image).and_then(|s| {
        if valid_name(s) {
            Some(s.to_string())
        } else {
            e.field("image", format!("{NAME_RULE}, is \"{}\"", show(s)));
            None
        }
    });

    let memory_size = match f.memory_size {
        None => {
            e.field(
                "memory-size",
                "required: the bytes of the cVM's region (image, heap and stack)",
            );
            None
        }
        Some(v) => match cells_u64(v) {
            Err(why) => {
                e.field("memory-size", why);
                None
            }
            Ok(size) => {
                let problem = if !size.is_multiple_of(PAGE_SIZE) {
                    Some(format!(
                        "must be a multiple of 4 KiB (0x1000), is {size:#x}"
                    ))
                } else if size < MIN_MEMORY_SIZE {
                    Some(format!("must be at least 64 KiB (0x10000), is {size:#x}"))
                } else if size > MAX_MEMORY_SIZE {
                    Some(format!("must be at most 1 GiB (0x40000000), is {size:#x}"))
                } else {
                    None
                };
                match problem {
                    Some(p) => {
                        e.field("memory-size", p);
                        None
                    }
                    None => Some(size),
                }
            }
        },
    };

    let stack_size = match f.stack_size.map(cells_u64) {
        None => Some(DEFAULT_STACK_SIZE),
        Some(Err(why)) => {
            e.field("stack-size", why);
            None
        }
        Some(Ok(0)) => {
            e.field("stack-size", "must not be 0");
            None
        }
        Some(Ok(size)) if !size.is_multiple_of(STACK_ALIGN) => {
            e.field(
                "stack-size",
                format!("must be a multiple of 16, is {size:#x}"),
            );
            None
        }
        Some(Ok(size)) => Some(size),
    };
    if let (Some(stack), Some(memory)) = (stack_size, memory_size) {
        if stack >= memory {
            let what = if f.stack_size.is_some() {
                format!("{stack:#x}")
            } else {
                format!("the default {stack:#x}")
            };
            e.field(
                "stack-size",
                format!("must be smaller than memory-size ({memory:#x}), is {what}"),
            );
        }
    }

    let args = match f.args.map(string_list) {
        None => Some(Vec::new()),
        Some(Err(why)) => {
            e.field("args", why);
            None
        }
        Some(Ok(list)) if list.len() > MAX_ARGS => {
            e.field(
                "args",
                format!("at most {MAX_ARGS} arguments, found {}", list.len()),
            );
            None
        }
        Some(Ok(_)) if f.args.map_or(0, <[u8]>::len) > MAX_ARGS_BYTES => {
            e.field(
                "args",
                format!("at most {MAX_ARGS_BYTES} bytes in total (NULs included)"),
            );
            None
        }
        Some(Ok(list)) => Some(list.into_iter().map(String::from).collect()),
    };

    let console_label = match f.console_label.map(string_value) {
        // The default is the name, cut to the label limit (names are ASCII, so any cut is
        // on a character boundary).
        None => name
            .as_ref()
            .map(|n| n.chars().take(CONSOLE_LABEL_MAX).collect()),
        Some(Err(why)) => {
            e.field("console-label", why);
            None
        }
        Some(Ok(label)) if !valid_label(label) => {
            e.field(
                "console-label",
                format!(
                    "must be 1 to {CONSOLE_LABEL_MAX} printable ASCII characters without spaces, \
                     is \"{}\"",
                    show(label)
                ),
            );
            None
        }
        Some(Ok(label)) => Some(label.to_string()),
    };

    let share = match f.share.map(cell_u32) {
        None => Some(1),
        Some(Err(why)) => {
            e.field("share", why);
            None
        }
        Some(Ok(share)) if share == 0 || share > MAX_SHARE => {
            e.field("share", format!("must be 1 to {MAX_SHARE}, is {share}"));
            None
        }
        Some(Ok(share)) => Some(share),
    };

    let cores = match f.cores.map(core_list) {
        None => Some(0),
        Some(Err(why)) => {
            e.field("cores", why);
            None
        }
        Some(Ok(mask)) => Some(mask),
    };

    let restart = match f.on_fault.map(string_value) {
        None => Some(false),
        Some(Err(why)) => {
            e.field("on-fault", why);
            None
        }
        Some(Ok("stop")) => Some(false),
        Some(Ok("restart")) => Some(true),
        Some(Ok(other)) => {
            e.field(
                "on-fault",
                format!("must be \"stop\" or \"restart\", is \"{}\"", show(other)),
            );
            None
        }
    };
    let restarts = match f.restarts.map(cell_u32) {
        None => None,
        Some(Err(why)) => {
            e.field("restarts", why);
            None
        }
        Some(Ok(n)) if n == 0 || n > MAX_RESTARTS => {
            e.field("restarts", format!("must be 1 to {MAX_RESTARTS}, is {n}"));
            None
        }
        Some(Ok(n)) => Some(n),
    };
    let on_fault = match restart {
        Some(false) if f.restarts.is_some() => {
            e.field("restarts", "only allowed with on-fault = \"restart\"");
            None
        }
        Some(false) => Some(OnFault::Stop),
        Some(true) if f.restarts.is_none() => {
            e.field(
                "restarts",
                format!(
                    "required with on-fault = \"restart\": how many restarts at most (1 to \
                     {MAX_RESTARTS})"
                ),
            );
            None
        }
        Some(true) => restarts.map(|max| OnFault::Restart { max }),
        None => None,
    };

    let cpu_budget_ms = match f.cpu_budget_ms.map(cells_u64) {
        None => Some(None),
        Some(Err(why)) => {
            e.field("cpu-budget-ms", why);
            None
        }
        Some(Ok(ms)) if ms == 0 || ms > MAX_CPU_BUDGET_MS => {
            e.field(
                "cpu-budget-ms",
                format!("must be 1 to {MAX_CPU_BUDGET_MS} milliseconds, is {ms}"),
            );
            None
        }
        Some(Ok(ms)) => Some(Some(ms)),
    };

    let expect = match f.expect.map(string_value) {
        None => Some(Expect::default()),
        Some(Ok(text)) => expect::parse(text)
            .map_err(|why| e.field("expect", format!("{why}, is \"{}\"", show(text))))
            .ok(),
        Some(Err(why)) => {
            e.field("expect", why);
            None
        }
    };
    let serve_children = match f.serve_children {
        None => false,
        Some([]) => true,
        Some(_) => {
            e.field(
                "serve-children",
                "is a flag: write `serve-children;` without a value",
            );
            false
        }
    };
    let abi = match f.abi.map(string_value) {
        None => Some(Abi::Hybrid),
        Some(Err(why)) => {
            e.field("abi", why);
            None
        }
        Some(Ok("hybrid")) => Some(Abi::Hybrid),
        Some(Ok("purecap")) => Some(Abi::Purecap),
        Some(Ok(other)) => {
            e.field(
                "abi",
                format!("must be \"hybrid\" or \"purecap\", is \"{}\"", show(other)),
            );
            None
        }
    };

    if e.count > 0 {
        return None;
    }
    Some(CvmSpec {
        index: index?,
        name: name?,
        image: image?,
        memory_size: memory_size?,
        stack_size: stack_size?,
        args: args?,
        console_label: console_label?,
        share: share?,
        cores: cores?,
        on_fault: on_fault?,
        cpu_budget_ms: cpu_budget_ms?,
        disk,
        net,
        expect: expect?,
        parent: None,
        serve_children,
        abi: abi?,
    })
}

/// Checks a cVM's `net { … }` node. Errors name the field as `net/<field>`; the device and
/// the MAC's uniqueness are checked at boot (`net_grant::resolve`), where the devices are
/// known.
fn check_net(
    nodes: &[RawNode<'_>],
    at: usize,
    node: &RawNode<'_>,
    e: &mut CvmErrors<'_>,
) -> Option<NetSpec> {
    let before = e.count;
    let [device, mac] = grant_fields(nodes, at, node, "net", NET_FIELDS, e);
    let device = match device.map(cell_u32) {
        None => Some(0),
        Some(Err(why)) => {
            e.field("net/device", why);
            None
        }
        Some(Ok(d)) if d > MAX_DISK_DEVICE => {
            e.field(
                "net/device",
                format!("must be 0 to {MAX_DISK_DEVICE}, is {d}"),
            );
            None
        }
        Some(Ok(d)) => Some(d),
    };
    let mac = match mac {
        None => Some(None),
        Some(bytes) => match <[u8; 6]>::try_from(bytes) {
            Err(_) => {
                e.field(
                    "net/mac",
                    format!(
                        "must be 6 bytes, written mac = [52 54 00 12 34 56]; found {} bytes",
                        bytes.len()
                    ),
                );
                None
            }
            Ok(m) if !crate::cvm::net_grant::is_unicast(&m) => {
                e.field("net/mac", format!("{} is not a unicast address (the first byte must be even, and not all zero)", crate::cvm::net_grant::Mac(m)));
                None
            }
            Ok(m) => Some(Some(m)),
        },
    };
    if e.count > before {
        return None;
    }
    Some(NetSpec {
        device: device?,
        mac: mac?,
    })
}

/// The values of a grant node's (`disk`, `net`) properties, in the order of `names`; reports
/// repeated and unknown properties and any child node as `<kind>/<field>` errors.
fn grant_fields<'a, const N: usize>(
    nodes: &[RawNode<'_>],
    at: usize,
    node: &RawNode<'a>,
    kind: &str,
    names: &[&str; N],
    e: &mut CvmErrors<'_>,
) -> [Option<&'a [u8]>; N] {
    let mut values = [None; N];
    for (i, (pname, value)) in node.props.iter().enumerate() {
        let field = format!("{kind}/{}", show_bytes(pname));
        if node.props.iter().take(i).any(|(n, _)| n == pname) {
            e.field(&field, "appears more than once");
            continue;
        }
        match names.iter().position(|n| n.as_bytes() == *pname) {
            Some(slot) => values[slot] = Some(*value),
            None => e.field(
                &field,
                format!("unknown field (a {kind} node has {})", names.join(", ")),
            ),
        }
    }
    for child in nodes.iter().filter(|n| n.parent == Some(at)) {
        e.node(format!(
            "{kind}: unknown child node {}: a {kind} node has only properties",
            show_bytes(child.name)
        ));
    }
    values
}

/// Checks a cVM's `disk { … }` node. Errors name the field as `disk/<field>`; the grant's
/// range is checked against the device's capacity at boot (`grant::resolve`), where the device
/// is known.
fn check_disk(
    nodes: &[RawNode<'_>],
    at: usize,
    node: &RawNode<'_>,
    e: &mut CvmErrors<'_>,
) -> Option<DiskSpec> {
    let before = e.count;
    let [device, first, sectors, read_only] = grant_fields(nodes, at, node, "disk", DISK_FIELDS, e);
    let device = match device.map(cell_u32) {
        None => {
            e.field(
                "disk/device",
                "required: the index of the virtio-blk device (0 for the first)",
            );
            None
        }
        Some(Err(why)) => {
            e.field("disk/device", why);
            None
        }
        Some(Ok(d)) if d > MAX_DISK_DEVICE => {
            e.field(
                "disk/device",
                format!("must be 0 to {MAX_DISK_DEVICE}, is {d}"),
            );
            None
        }
        Some(Ok(d)) => Some(d),
    };
    let first_sector = match first.map(cells_u64) {
        None => Some(0),
        Some(Err(why)) => {
            e.field("disk/first-sector", why);
            None
        }
        Some(Ok(s)) => Some(s),
    };
    let sectors = match sectors.map(cells_u64) {
        None => Some(None),
        Some(Err(why)) => {
            e.field("disk/sectors", why);
            None
        }
        Some(Ok(0)) => {
            e.field("disk/sectors", "must not be 0");
            None
        }
        Some(Ok(n)) => match first_sector.map(|f| f.checked_add(n)) {
            Some(None) => {
                e.field(
                    "disk/sectors",
                    format!("first-sector + sectors overflows 64 bits ({n:#x})"),
                );
                None
            }
            _ => Some(Some(n)),
        },
    };
    let read_only = match read_only {
        None => false,
        Some([]) => true,
        Some(_) => {
            e.field(
                "disk/read-only",
                "is a flag: write `read-only;` without a value",
            );
            false
        }
    };
    if e.count > before {
        return None;
    }
    Some(DiskSpec {
        device: device?,
        first_sector: first_sector?,
        sectors: sectors?,
        read_only,
    })
}

/// A required string field; reports a missing or malformed value.
fn required_string<'a>(
    e: &mut CvmErrors<'_>,
    field: &str,
    value: Option<&'a [u8]>,
) -> Option<&'a str> {
    let Some(value) = value else {
        e.field(field, "required");
        return None;
    };
    match string_value(value) {
        Ok(s) => Some(s),
        Err(why) => {
            e.field(field, why);
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    // Test blobs are small: lengths fit u32, and the RNG truncates on purpose.
    #![allow(clippy::cast_possible_truncation)]

    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::vec;

    pub(crate) const VALID: &[u8] = include_bytes!("testdata/valid.dtb");
    const CVM_ERRORS: &[u8] = include_bytes!("testdata/cvm-errors.dtb");
    const ROOT_ERRORS: &[u8] = include_bytes!("testdata/root-errors.dtb");
    const WRONG_VERSION: &[u8] = include_bytes!("testdata/wrong-version.dtb");
    pub(crate) const BUNDLE: &[u8] = include_bytes!("testdata/bundle.dtb");
    const BUNDLE_ERRORS: &[u8] = include_bytes!("testdata/bundle-errors.dtb");

    const NESTING: &[u8] = include_bytes!("testdata/nesting.dtb");
    const NESTING_ERRORS: &[u8] = include_bytes!("testdata/nesting-errors.dtb");
    const FIXTURES: [(&str, &[u8]); 8] = [
        ("nesting", NESTING),
        ("nesting-errors", NESTING_ERRORS),
        ("valid", VALID),
        ("cvm-errors", CVM_ERRORS),
        ("root-errors", ROOT_ERRORS),
        ("wrong-version", WRONG_VERSION),
        ("bundle", BUNDLE),
        ("bundle-errors", BUNDLE_ERRORS),
    ];

    fn messages(errors: &[ManifestError]) -> Vec<String> {
        errors.iter().map(|e| format!("{e}")).collect()
    }

    fn manifest_errors(blob: &[u8]) -> Vec<String> {
        messages(&parse_manifest(blob).expect_err("the manifest should be rejected"))
    }

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Compiles a .dts with `dtc` as the host tool does, plus `extra` flags. Fails the test
    /// (rather than skipping it) when dtc is missing, so a machine without it cannot pass.
    pub(crate) fn dtc(dts: &Path, extra: &[&str]) -> Vec<u8> {
        let output = Command::new("dtc")
            .args(DTC_FLAGS)
            .args(extra)
            .arg(dts)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run dtc ({e}): install the device-tree compiler \
                     (Debian: apt-get install device-tree-compiler; .ci/bootstrap does it)"
                )
            });
        assert!(
            output.status.success(),
            "dtc failed on {}:\n{}",
            dts.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn dtc_available() -> bool {
        Command::new("dtc").arg("--version").output().is_ok()
    }

    /// A hand-built FDT, for what dtc will not produce: repeated properties and nodes, NOPs.
    struct Builder {
        structs: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Builder {
        fn new() -> Self {
            Builder {
                structs: Vec::new(),
                strings: Vec::new(),
            }
        }
        fn word(&mut self, w: u32) -> &mut Self {
            self.structs.extend_from_slice(&w.to_be_bytes());
            self
        }
        fn pad(&mut self) {
            while !self.structs.len().is_multiple_of(4) {
                self.structs.push(0);
            }
        }
        fn begin(&mut self, name: &str) -> &mut Self {
            self.word(FDT_BEGIN_NODE);
            self.structs.extend_from_slice(name.as_bytes());
            self.structs.push(0);
            self.pad();
            self
        }
        fn end(&mut self) -> &mut Self {
            self.word(FDT_END_NODE)
        }
        fn nop(&mut self) -> &mut Self {
            self.word(FDT_NOP)
        }
        fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let nameoff = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            self.word(FDT_PROP).word(value.len() as u32).word(nameoff);
            self.structs.extend_from_slice(value);
            self.pad();
            self
        }
        fn str_prop(&mut self, name: &str, value: &str) -> &mut Self {
            let mut v = value.as_bytes().to_vec();
            v.push(0);
            self.prop(name, &v)
        }
        fn cell_prop(&mut self, name: &str, value: u32) -> &mut Self {
            self.prop(name, &value.to_be_bytes())
        }
        fn cvm(&mut self, node: &str, name: &str) -> &mut Self {
            self.begin(node)
                .str_prop("name", name)
                .str_prop("image", name)
                .cell_prop("memory-size", 0x10_0000)
                .end()
        }
        fn finish(&mut self) -> Vec<u8> {
            self.word(FDT_END);
            let off_rsv = 40usize;
            let off_struct = off_rsv + 16;
            let off_strings = off_struct + self.structs.len();
            let total = off_strings + self.strings.len();
            let mut blob = Vec::new();
            for w in [
                0xd00d_feed,
                total as u32,
                off_struct as u32,
                off_strings as u32,
                off_rsv as u32,
                17,
                16,
                0,
                self.strings.len() as u32,
                self.structs.len() as u32,
            ] {
                blob.extend_from_slice(&u32::to_be_bytes(w));
            }
            blob.extend_from_slice(&[0; 16]);
            blob.extend_from_slice(&self.structs);
            blob.extend_from_slice(&self.strings);
            blob
        }
    }

    fn manifest_root(b: &mut Builder) -> &mut Builder {
        b.begin("").str_prop("compatible", COMPATIBLE)
    }

    #[test]
    fn fixtures_are_up_to_date() {
        if !dtc_available() {
            std::println!("SKIPPED (no dtc): fixtures_are_up_to_date");
            return;
        }
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cvm/testdata");
        for (name, committed) in FIXTURES {
            let fresh = dtc(
                &dir.join(format!("{name}.dts")),
                &["-E", "no-name_is_string"],
            );
            assert!(
                fresh == committed,
                "testdata/{name}.dtb is stale: run monitor/src/cvm/testdata/build-manifests.sh"
            );
        }
    }

    #[test]
    fn a_manifest_using_every_field_parses_with_defaults_filled_in() {
        let manifest = parse_manifest(VALID).expect("valid.dts is valid");
        assert!(manifest.keep_running);
        let expected = vec![
            CvmSpec {
                index: 0,
                name: "hello".into(),
                image: "hello".into(),
                memory_size: 0x10_0000,
                stack_size: DEFAULT_STACK_SIZE,
                args: vec![],
                console_label: "hello".into(),
                share: 1,
                cores: 0,
                on_fault: OnFault::Stop,
                cpu_budget_ms: None,
                disk: None,
                net: None,
                expect: Expect::default(),
                parent: None,
                serve_children: false,
                abi: Abi::Hybrid,
            },
            CvmSpec {
                index: 1,
                name: "a-very-long-name-of-32-bytes-xyz".into(),
                image: "hello".into(),
                memory_size: 0x1000_0000,
                stack_size: DEFAULT_STACK_SIZE,
                args: vec![],
                // The default label is the name cut to 16 bytes.
                console_label: "a-very-long-name".into(),
                share: 1,
                cores: 0,
                on_fault: OnFault::Stop,
                cpu_budget_ms: None,
                disk: None,
                net: None,
                expect: Expect::default(),
                parent: None,
                serve_children: false,
                abi: Abi::Hybrid,
            },
            CvmSpec {
                index: 2,
                name: "worker_2".into(),
                image: "worker".into(),
                memory_size: 0x40_0000,
                stack_size: 0x2_0000,
                args: vec!["--fast".into(), "".into(), "two words".into()],
                console_label: "W2".into(),
                share: 4,
                cores: 0b110,
                on_fault: OnFault::Restart { max: 3 },
                cpu_budget_ms: Some(2000),
                disk: Some(DiskSpec {
                    device: 1,
                    first_sector: 0x1_0000_0000,
                    sectors: Some(2048),
                    read_only: true,
                }),
                net: Some(NetSpec {
                    device: 0,
                    mac: Some([0x52, 0x54, 0, 0xc0, 0xff, 0x15]),
                }),
                expect: Expect::default(),
                parent: None,
                serve_children: false,
                abi: Abi::Hybrid,
            },
        ];
        assert_eq!(manifest.cvms, expected);
    }

    #[test]
    fn every_cvm_error_is_reported_with_cvm_and_field() {
        let expected = [
            r#"cvm@1: field "name": required"#,
            r#"cvm@2: field "name": must be 1 to 32 characters from a-z, 0-9, '_' and '-', is "Bad Name""#,
            r#"cvm@3: field "name": "ok" is already the name of cvm@0: names must be unique"#,
            r#"cvm "no-image": field "image": required"#,
            r#"cvm "no-memory": field "memory-size": required: the bytes of the cVM's region (image, heap and stack)"#,
            r#"cvm "odd-memory": field "memory-size": must be a multiple of 4 KiB (0x1000), is 0x10800"#,
            r#"cvm "small-memory": field "memory-size": must be at least 64 KiB (0x10000), is 0x8000"#,
            r#"cvm "huge-memory": field "memory-size": must be at most 1 GiB (0x40000000), is 0x100000000"#,
            r#"cvm "three-cells": field "memory-size": expected one or two 32-bit cells (<N> or <HI LO>), found 12 bytes"#,
            r#"cvm "odd-stack": field "stack-size": must be a multiple of 16, is 0x1001"#,
            r#"cvm "default-stack": field "stack-size": must be smaller than memory-size (0x10000), is the default 0x10000"#,
            r#"cvm "zero-stack": field "stack-size": must not be 0"#,
            r#"cvm "colour": field "colour": unknown field"#,
            r#"cvm "disk": field "disk": is a node, not a property: write disk { device = <0>; };"#,
            r#"cvm "explode": field "on-fault": must be "stop" or "restart", is "explode""#,
            r#"cvm "stop-restarts": field "restarts": only allowed with on-fault = "restart""#,
            r#"cvm "restart-forever": field "restarts": required with on-fault = "restart": how many restarts at most (1 to 100)"#,
            r#"cvm "restart-often": field "restarts": must be 1 to 100, is 101"#,
            r#"cvm "no-share": field "share": must be 1 to 16, is 0"#,
            r#"cvm "big-share": field "share": must be 1 to 16, is 17"#,
            r#"cvm "long-label": field "console-label": must be 1 to 16 printable ASCII characters without spaces, is "this-label-is-too-long""#,
            r#"cvm "cell-args": field "args": expected a list of strings, found a value that is not NUL-terminated"#,
            r#"cvm "no-budget": field "cpu-budget-ms": must be 1 to 4294967295 milliseconds, is 0"#,
            r#"cvm "child": field "image": required"#,
            r#"cvm "child": field "memory-size": required: the bytes of the cVM's region (image, heap and stack)"#,
            r#"cvm@19: field "name": expected one string, found a list of strings"#,
            r#"cvm "upper-image": field "image": must be 1 to 32 characters from a-z, 0-9, '_' and '-', is "UPPER""#,
            r#"cvm "many-args": field "args": at most 16 arguments, found 17"#,
            r#"cvm "string-memory": field "memory-size": expected one or two 32-bit cells (<N> or <HI LO>), found the string "big-memory""#,
            r#"cvm "with-child": unknown child node config: a cVM node has only properties"#,
            r#"cvm "pair-share": field "share": expected one 32-bit cell (<N>), found 8 bytes"#,
            r#"cvm "cell-fault": field "on-fault": expected a string ("..."), found a value that is not NUL-terminated"#,
            r#"cvm@20: field "name": is not valid UTF-8"#,
            r#"cvm "calls": field "calls": not supported yet"#,
            r#"cvm "big-index": node cvm@40: index 64 is too large: at most 64 cVMs (cvm@0 to cvm@3f)"#,
            r#"cvm "leading-zero": node cvm@022: the unit address must be the cVM's index in lowercase hex without leading zeros (cvm@0, cvm@1, ..., cvm@a, ...)"#,
            r#"cvm "no-unit": node cvm: needs a unit address: name the node cvm@<index>"#,
            r#"cvm "disk-no-device": field "disk/device": required: the index of the virtio-blk device (0 for the first)"#,
            r#"cvm "disk-errors": field "disk/size": unknown field (a disk node has device, first-sector, sectors, read-only)"#,
            r#"cvm "disk-errors": field "disk/device": must be 0 to 31, is 32"#,
            r#"cvm "disk-errors": field "disk/sectors": must not be 0"#,
            r#"cvm "disk-errors": field "disk/read-only": is a flag: write `read-only;` without a value"#,
            r#"cvm "disk-overflow": field "disk/sectors": first-sector + sectors overflows 64 bits (0x2)"#,
            r#"cvm "disk-cells": field "disk/first-sector": expected one or two 32-bit cells (<N> or <HI LO>), found the string "0""#,
            r#"cvm "disk-child": disk: unknown child node part: a disk node has only properties"#,
            r#"cvm "net-prop": field "net": is a node, not a property: write net { device = <0>; };"#,
            r#"cvm "net-errors": field "net/speed": unknown field (a net node has device, mac)"#,
            r#"cvm "net-errors": field "net/device": must be 0 to 31, is 40"#,
            r#"cvm "net-errors": field "net/mac": must be 6 bytes, written mac = [52 54 00 12 34 56]; found 5 bytes"#,
            r#"cvm "net-group": field "net/mac": 01:00:5e:00:00:01 is not a unicast address (the first byte must be even, and not all zero)"#,
            r#"cvm "net-twice": unknown child node net@1: a cVM node has only properties"#,
            r#"cvm "far-core": field "cores": core 8 does not exist: capmon runs at most 8 cores (0 to 7)"#,
            r#"cvm "core-twice": field "cores": core 1 is listed twice"#,
            r#"cvm "string-cores": field "cores": expected core indices (<0 1>), found the string "all""#,
        ];
        assert_eq!(manifest_errors(CVM_ERRORS), expected);
    }

    #[test]
    fn nested_cvms_come_in_tree_order_with_their_parents() {
        let m = parse_manifest(NESTING).expect("nesting.dts is valid");
        let order: Vec<(&str, Option<usize>)> =
            m.cvms.iter().map(|c| (c.name.as_str(), c.parent)).collect();
        assert_eq!(
            order,
            [
                ("outer", None),
                ("middle", Some(0)),
                ("inner", Some(1)),
                ("sibling", Some(0)),
                ("other", None)
            ]
        );
        assert_eq!(m.path(2), "outer/middle/inner");
        assert_eq!(m.path(4), "other");
        assert_eq!(m.children(0), [1, 3]);
        assert_eq!(m.children(2), Vec::<usize>::new());
        assert_eq!((m.level(0), m.level(1), m.level(2)), (1, 2, 3));
        assert!(m.cvms[0].serve_children && m.cvms[1].serve_children && !m.cvms[2].serve_children);
    }

    #[test]
    fn nested_cvms_cannot_ask_for_more_than_their_parents_hold() {
        let expected = [
            r#"cvm "small": field "memory-size": 0x100000 cannot hold its children (0x200000 together) and still leave it its stack and at least 64 KiB of its own: a child's memory is carved from its parent's"#,
            r#"cvm "crowded": field "memory-size": 0x200000 cannot hold its children (0x1f0000 together) and still leave it its stack and at least 64 KiB of its own: a child's memory is carved from its parent's"#,
            r#"cvm "wider-disk": field "disk": asks for sectors its parent "granter" does not hold: a nested cVM's disk grant must lie inside its parent's (same device, read-only if the parent's is)"#,
            r#"cvm "writer": field "disk": asks for sectors its parent "granter" does not hold: a nested cVM's disk grant must lie inside its parent's (same device, read-only if the parent's is)"#,
            r#"cvm "netless": field "net": asks for an interface on net0 but its parent "granter" has none there: a nested cVM's grants must come from its parent's"#,
            r#"cvm "lonely": field "serve-children": the cVM has no children (cvm@N nodes inside its node) to serve"#,
        ];
        let mut got = manifest_errors(NESTING_ERRORS);
        // Field-level errors come first (in node order), the tree checks after them.
        let field_errors: Vec<String> = got.drain(..3).collect();
        assert_eq!(
            field_errors,
            [
                r#"cvm "leaf": field "serve-children": is a flag: write `serve-children;` without a value"#,
                r#"cvm "l4": child node cvm@f: cVMs nest at most 4 levels deep"#,
                r#"cvm@11: field "name": "small" is already the name of cvm@0: names must be unique"#,
            ]
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn errors_carry_structured_cvm_and_field() {
        let errors = parse_manifest(CVM_ERRORS).unwrap_err();
        let odd = errors
            .iter()
            .find(|e| e.cvm == Some(CvmRef::Name("odd-memory".into())))
            .unwrap();
        assert_eq!(odd.field.as_deref(), Some("memory-size"));
        assert_eq!(
            odd.message,
            "must be a multiple of 4 KiB (0x1000), is 0x10800"
        );
        let unnamed = errors.first().unwrap();
        assert_eq!(unnamed.cvm, Some(CvmRef::Node("cvm@1".into())));
    }

    #[test]
    fn root_errors_and_an_empty_manifest_are_reported() {
        assert_eq!(
            manifest_errors(ROOT_ERRORS),
            [
                "field \"keep-running\": is a flag: write `keep-running;` without a value",
                "field \"model\": unknown field",
                "unknown node /chosen: the root holds only cvm@N nodes, files, calls and streams",
                "node /images: a manifest must not contain /images (capmon-tool bundle adds it \
                 from --images)",
                "the manifest has no cVMs: add a cvm@0 node",
            ]
        );
    }

    #[test]
    fn wrong_version_or_foreign_tree_gives_one_error() {
        assert_eq!(
            manifest_errors(WRONG_VERSION),
            [
                r#"field "compatible": "capmon,manifest-v2" is a manifest version this monitor does not read (it reads "capmon,manifest-v1")"#
            ]
        );
        let machine =
            std::fs::read(workspace().join("../shared/testdata/dt/qemu-aarch64-virt.dtb"))
                .expect("shared machine tree");
        assert_eq!(
            manifest_errors(&machine),
            [
                r#"field "compatible": not a capmon manifest: a capmon manifest's root has compatible = "capmon,manifest-v1""#
            ]
        );
        let mut no_compatible = Builder::new();
        no_compatible.begin("").end();
        assert_eq!(
            manifest_errors(&no_compatible.finish()),
            [
                r#"field "compatible": missing: a capmon manifest's root has compatible = "capmon,manifest-v1""#
            ]
        );
    }

    #[test]
    fn structurally_broken_blobs_are_rejected_by_platform_validation() {
        assert_eq!(
            manifest_errors(b"not a device tree at all, just text"),
            ["not a valid device-tree blob: not a device tree: magic is 0x6e6f7420, expected 0xd00dfeed"]
        );
        let truncated = VALID.get(..VALID.len() - 8).unwrap();
        let errors = manifest_errors(truncated);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("not a valid device-tree blob: device tree truncated"),
            "{errors:?}"
        );
        assert_eq!(
            messages(&parse_bundle(&[]).unwrap_err()),
            [
                "not a valid device-tree blob: device tree truncated: only 0 bytes, less than the \
              40-byte FDT header"
            ]
        );
    }

    #[test]
    fn a_bundle_gives_its_manifest_and_images() {
        let bundle = parse_bundle(BUNDLE).expect("bundle.dts is valid");
        let names: Vec<&str> = bundle
            .manifest
            .cvms
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["hello", "clock", "hello-again"]);
        assert_eq!(bundle.manifest.cvms[1].args, ["10"]);
        let images: Vec<&str> = bundle.images.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(images, ["hello", "clock"]);
        assert_eq!(
            bundle.image("clock"),
            Some(&b"\x7fELF\x02\x01\x01\x00clock"[..])
        );
        assert_eq!(bundle.image("nope"), None);
        // The manifest alone refuses /images: only the bundler may add it.
        assert!(manifest_errors(BUNDLE)
            .iter()
            .any(|e| e.starts_with("node /images: a manifest must not contain /images")));
    }

    #[test]
    fn bundle_image_errors_are_reported() {
        assert_eq!(
            messages(&parse_bundle(BUNDLE_ERRORS).unwrap_err()),
            [
                r#"/images: image "empty" is empty"#,
                r#"/images: image name "Upper" must be 1 to 32 characters from a-z, 0-9, '_' and '-'"#,
                "/images: unknown node nested: images are properties, not nodes",
                r#"cvm "missing": field "image": no image "absent" in the bundle's /images"#,
                r#"cvm "script": field "image": image "script" is not an ELF file (it starts with 23 21 2f 62, not 7f 45 4c 46)"#,
            ]
        );
        assert_eq!(
            messages(&parse_bundle(VALID).unwrap_err()),
            ["the bundle has no /images node"]
        );
    }

    #[test]
    fn repeated_properties_nodes_and_indices_in_hand_made_blobs_are_errors() {
        let mut b = Builder::new();
        manifest_root(&mut b)
            .str_prop("compatible", COMPATIBLE)
            .nop()
            .begin("cvm@0")
            .str_prop("name", "one")
            .nop()
            .str_prop("image", "one")
            .cell_prop("memory-size", 0x10_0000)
            .cell_prop("memory-size", 0x20_0000)
            .end()
            .cvm("cvm@1", "two")
            .cvm("cvm@1", "three")
            .end();
        assert_eq!(
            manifest_errors(&b.finish()),
            [
                r#"field "compatible": appears more than once"#,
                r#"cvm "one": field "memory-size": appears more than once"#,
                r#"cvm "three": index 0x1 is also used by cvm "two": unit addresses must be unique"#,
            ]
        );
    }

    #[test]
    fn expect_says_how_a_cvm_should_end() {
        let cvm = |b: &mut Builder, node: &str, name: &str, expect: &str| {
            b.begin(node)
                .str_prop("name", name)
                .str_prop("image", "x")
                .cell_prop("memory-size", 0x10_0000)
                .str_prop("expect", expect)
                .end();
        };
        let mut b = Builder::new();
        manifest_root(&mut b);
        cvm(&mut b, "cvm@0", "a", "fault");
        cvm(&mut b, "cvm@1", "b", "exit 3");
        b.end();
        let m = parse_manifest(&b.finish()).expect("valid");
        assert_eq!(m.cvms[0].expect, Expect::Fault);
        assert_eq!(m.cvms[1].expect, Expect::Exit(3));
        let mut b = Builder::new();
        manifest_root(&mut b);
        cvm(&mut b, "cvm@0", "a", "crash");
        b.end();
        assert_eq!(
            manifest_errors(&b.finish()),
            [
                r#"cvm "a": field "expect": must be "exit", "exit N" (N a decimal exit code) or "fault", is "crash""#
            ]
        );
    }

    #[test]
    fn abi_is_hybrid_by_default_purecap_on_request_and_nothing_else() {
        let mut b = Builder::new();
        let node = |b: &mut Builder, unit: &str, name: &str| {
            b.begin(unit)
                .str_prop("name", name)
                .str_prop("image", name)
                .cell_prop("memory-size", 0x10_0000);
        };
        manifest_root(&mut b);
        node(&mut b, "cvm@0", "plain");
        b.end();
        node(&mut b, "cvm@1", "pure");
        b.str_prop("abi", "purecap").end();
        node(&mut b, "cvm@2", "said-hybrid");
        b.str_prop("abi", "hybrid").end();
        b.end();
        let m = parse_manifest(&b.finish()).unwrap();
        let abis: Vec<Abi> = m.cvms.iter().map(|c| c.abi).collect();
        assert_eq!(abis, [Abi::Hybrid, Abi::Purecap, Abi::Hybrid]);
        assert_eq!(Abi::Purecap.name(), "purecap");

        let mut b = Builder::new();
        manifest_root(&mut b);
        node(&mut b, "cvm@0", "cheri");
        b.str_prop("abi", "cheri").end();
        node(&mut b, "cvm@1", "cell");
        b.cell_prop("abi", 1).end();
        b.end();
        assert_eq!(
            manifest_errors(&b.finish()),
            [
                r#"cvm "cheri": field "abi": must be "hybrid" or "purecap", is "cheri""#,
                r#"cvm "cell": field "abi": expected a string ("..."), found a value that is not NUL-terminated"#,
            ]
        );
    }

    #[test]
    fn hostile_names_are_escaped_in_messages() {
        let mut b = Builder::new();
        manifest_root(&mut b)
            .begin("cvm@0")
            .str_prop("name", "ok")
            .str_prop("image", "ok")
            .cell_prop("memory-size", 0x10_0000)
            .str_prop("on-fault", "\u{1b}[2Jgone")
            .prop("evil\"\u{7}", b"")
            .end()
            .begin("x\u{1b}y")
            .end()
            .end();
        assert_eq!(
            manifest_errors(&b.finish()),
            [
                r#"cvm "ok": field "evil\x22\x07": unknown field"#,
                r#"cvm "ok": field "on-fault": must be "stop" or "restart", is "\x1b[2Jgone""#,
                r#"unknown node /x\x1by: the root holds only cvm@N nodes, files, calls and streams"#,
            ]
        );
    }

    #[test]
    fn too_many_nodes_is_an_error_not_an_allocation_spree() {
        let mut b = Builder::new();
        manifest_root(&mut b);
        for _ in 0..MAX_NODES {
            b.begin("x").end();
        }
        b.end();
        assert_eq!(
            manifest_errors(&b.finish()),
            ["cannot read the device tree: more than 512 nodes"]
        );
    }

    #[test]
    fn shipped_manifests_are_valid() {
        let dir = workspace().join("cvms/manifests");
        let demo = parse_manifest(&dtc(&dir.join("demo.dts"), &[])).expect("demo.dts");
        let names: Vec<&str> = demo.cvms.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["hello", "clock", "hello-c"]);
        assert!(demo
            .cvms
            .iter()
            .all(|c| c.memory_size == 0x10_0000 && c.image == c.name));

        let attacks = parse_manifest(&dtc(&dir.join("attacks.dts"), &[])).expect("attacks.dts");
        let names: Vec<&str> = attacks.cvms.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "read-monitor",
                "write-other",
                "jump-out",
                "bad-hostcall-ptr",
                "forge-cap",
                "privileged",
                "spin",
                "steady"
            ]
        );
        assert!(attacks.cvms.iter().all(|c| c.image == c.name));
        let spin = attacks.cvms.iter().find(|c| c.name == "spin").unwrap();
        assert!(spin.cpu_budget_ms.is_some());

        let disk = parse_manifest(&dtc(&dir.join("disk.dts"), &[])).expect("disk.dts");
        let grants: Vec<_> = disk
            .cvms
            .iter()
            .map(|c| (c.name.as_str(), c.disk))
            .collect();
        let grant = |read_only| {
            Some(DiskSpec {
                device: 0,
                first_sector: 0,
                sectors: Some(2048),
                read_only,
            })
        };
        assert_eq!(grants, [("logger", grant(false)), ("reader", grant(true))]);
        let bench = parse_manifest(&dtc(&dir.join("disk-bench.dts"), &[])).expect("disk-bench");
        assert_eq!(bench.cvms[0].disk.map(|d| d.first_sector), Some(1));
    }

    use crate::testing::Rng;

    /// Parses `blob` every way the monitor and host tool do, formatting every error. The
    /// reader and the checks also run without the platform validation in front, so their own
    /// robustness is tested, not only the validator's.
    fn exercise(blob: &[u8]) {
        let mut out = String::new();
        if let Ok(nodes) = read_nodes(blob) {
            for mode in [Mode::Manifest, Mode::Bundle] {
                let (manifest, images, errors) = check(&nodes, mode);
                out.push_str(&format!("{manifest:?}{images:?}{errors:?}"));
            }
        }
        match parse_bundle(blob) {
            Ok(b) => out.push_str(&format!("{b:?}")),
            Err(errors) => errors.iter().for_each(|e| out.push_str(&format!("{e}"))),
        }
        match parse_manifest(blob) {
            Ok(m) => out.push_str(&format!("{m:?}")),
            Err(errors) => errors.iter().for_each(|e| out.push_str(&format!("{e}"))),
        }
        assert!(!out.is_empty());
    }

    #[test]
    fn random_corruption_never_panics() {
        for (name, fixture) in FIXTURES {
            // Every truncation.
            for len in 0..fixture.len() {
                let cut = fixture.get(..len).unwrap();
                if catch_unwind(AssertUnwindSafe(|| exercise(cut))).is_err() {
                    panic!("{name} truncated to {len} bytes panicked");
                }
            }
            // Random byte, word and special-value corruption.
            for seed in 0..3000u64 {
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
                let mut blob = fixture.to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(blob.len());
                    match rng.below(4) {
                        0 => blob[at] ^= 1 << rng.below(8),
                        1 => blob[at] = rng.next() as u8,
                        _ => {
                            let specials =
                                [0, 1, 2, 3, 4, 9, 0xffff_ffff, 0x8000_0000, 0xd00d_feed];
                            let value = specials[rng.below(specials.len())];
                            let at = at & !3;
                            if let Some(w) = blob.get_mut(at..at + 4) {
                                w.copy_from_slice(&u32::to_be_bytes(value));
                            }
                        }
                    }
                }
                if catch_unwind(AssertUnwindSafe(|| exercise(&blob))).is_err() {
                    panic!("{name} with corruption seed {seed} panicked");
                }
            }
        }
    }
}
