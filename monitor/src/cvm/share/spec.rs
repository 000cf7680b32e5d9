//! The manifest's `files { … }` node: shared objects (CP_File), each a named range of an
//! exporting cVM's memory or a monitor-allocated buffer, and the cVMs that may import it
//! read-only or read-write. Checked here once every cVM node is known, so that names can be
//! resolved; errors name the field as `files/<object>/<field>` (format: `cvms/manifests/README.md`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::cap::{CheriRiscv, Format, Morello};
use crate::cvm::manifest::{
    cells_u64, show, show_bytes, string_list, string_value, valid_name, CvmSpec, ManifestError,
    RawNode, MAX_MEMORY_SIZE, NAME_RULE,
};

/// The root node that holds the shared objects.
pub const NODE: &str = "files";
/// Every field of a shared object's node.
pub const FILE_FIELDS: &[&str] = &[
    "size",
    "exporter",
    "offset",
    "run-time",
    "read-write",
    "read-only",
];
/// Most shared objects in one manifest (it bounds the monitor's tables).
pub const MAX_FILES: usize = 64;

/// Where a shared object's bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A zeroed buffer the monitor allocates at boot, outside every cVM's region.
    Buffer,
    /// `[offset, offset + size)` of the exporter's region (offsets are region-relative),
    /// shared from boot on.
    Region { exporter: String, offset: u64 },
    /// A range of the exporter's memory it chooses at run time (`cp_export`, at most `size`
    /// bytes) and may revoke (`cp_revoke`) and export again.
    RunTime { exporter: String },
}

/// One shared object as the manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub name: String,
    /// Bytes (any length, not only pages); the largest export for a run-time object.
    pub size: u64,
    pub source: Source,
    /// cVMs that may import it read-write, and read-only. Disjoint, never the exporter.
    pub read_write: Vec<String>,
    pub read_only: Vec<String>,
}

impl FileSpec {
    /// The exporting cVM's name, if the object lives in a cVM's memory.
    pub fn exporter(&self) -> Option<&str> {
        match &self.source {
            Source::Buffer => None,
            Source::Region { exporter, .. } | Source::RunTime { exporter } => Some(exporter),
        }
    }
}

/// Checks the `files` node at `at` against the (already checked) `cvms`; returns the objects
/// that are valid, pushing an error for each problem.
pub(crate) fn check_files(
    nodes: &[RawNode<'_>],
    at: usize,
    cvms: &[CvmSpec],
    errors: &mut Vec<ManifestError>,
) -> Vec<FileSpec> {
    let mut files = Vec::new();
    let root_node = nodes.get(at);
    for (pname, _) in root_node.map_or(&[][..], |n| n.props.as_slice()) {
        errors.push(ManifestError::root(
            Some(&format!("{NODE}/{}", show_bytes(pname))),
            "the files node holds one child node per shared object, no properties",
        ));
    }
    let children: Vec<&RawNode<'_>> = nodes.iter().filter(|n| n.parent == Some(at)).collect();
    if children.len() > MAX_FILES {
        errors.push(ManifestError::root(
            None,
            format!(
                "node /files: at most {MAX_FILES} shared objects, found {}",
                children.len()
            ),
        ));
        return files;
    }
    for (i, node) in children.iter().enumerate() {
        if children.iter().take(i).any(|n| n.name == node.name) {
            errors.push(ManifestError::root(
                None,
                format!(
                    "node /files/{} appears more than once",
                    show_bytes(node.name)
                ),
            ));
            continue;
        }
        let sub = nodes.iter().position(|n| core::ptr::eq(n, *node));
        let grandchild = sub.and_then(|s| nodes.iter().find(|n| n.parent == Some(s)));
        if let Some(child) = grandchild {
            errors.push(ManifestError::root(
                None,
                format!(
                    "node /files/{}: unknown child node {}: a shared object has only properties",
                    show_bytes(node.name),
                    show_bytes(child.name)
                ),
            ));
            continue;
        }
        if let Some(file) = check_file(node, cvms, errors) {
            files.push(file);
        }
    }
    files
}

/// Collects one object's errors under `files/<name>/<field>`.
struct FileErrors<'e> {
    name: String,
    errors: &'e mut Vec<ManifestError>,
    count: usize,
}

impl FileErrors<'_> {
    fn field(&mut self, field: &str, message: impl Into<String>) {
        self.count += 1;
        let field = format!("{NODE}/{}/{field}", self.name);
        self.errors.push(ManifestError::root(Some(&field), message));
    }
}

/// A list of cVM names, each an existing cVM, none repeated.
fn cvm_list(
    value: &[u8],
    field: &str,
    cvms: &[CvmSpec],
    e: &mut FileErrors<'_>,
) -> Option<Vec<String>> {
    let list = match string_list(value) {
        Ok(list) => list,
        Err(why) => {
            e.field(field, why);
            return None;
        }
    };
    let mut out: Vec<String> = Vec::new();
    let before = e.count;
    for name in list {
        if !cvms.iter().any(|c| c.name == name) {
            e.field(field, format!("no cVM is called \"{}\"", show(name)));
        } else if out.iter().any(|n| n == name) {
            e.field(field, format!("\"{name}\" is named twice"));
        } else {
            out.push(name.to_string());
        }
    }
    (e.count == before).then_some(out)
}

fn check_file(
    node: &RawNode<'_>,
    cvms: &[CvmSpec],
    errors: &mut Vec<ManifestError>,
) -> Option<FileSpec> {
    let raw_name = show_bytes(node.name);
    let name = core::str::from_utf8(node.name)
        .ok()
        .filter(|s| valid_name(s));
    let mut e = FileErrors {
        name: raw_name.clone(),
        errors,
        count: 0,
    };
    if name.is_none() {
        e.errors.push(ManifestError::root(
            None,
            format!("node /files/{raw_name}: an object's name {NAME_RULE}"),
        ));
        e.count += 1;
    }
    let mut values: [Option<&[u8]>; 6] = [None; 6];
    for (i, (pname, value)) in node.props.iter().enumerate() {
        let shown = show_bytes(pname);
        if node.props.iter().take(i).any(|(n, _)| n == pname) {
            e.field(&shown, "appears more than once");
            continue;
        }
        match FILE_FIELDS.iter().position(|f| f.as_bytes() == *pname) {
            Some(slot) => values[slot] = Some(*value),
            None => e.field(
                &shown,
                format!(
                    "unknown field (a shared object has {})",
                    FILE_FIELDS.join(", ")
                ),
            ),
        }
    }
    let [size, exporter, offset, run_time, read_write, read_only] = values;

    let size = match size.map(cells_u64) {
        None => {
            e.field("size", "required: the object's length in bytes");
            None
        }
        Some(Err(why)) => {
            e.field("size", why);
            None
        }
        Some(Ok(0)) => {
            e.field("size", "must not be 0");
            None
        }
        Some(Ok(n)) if n > MAX_MEMORY_SIZE => {
            e.field(
                "size",
                format!("must be at most 1 GiB (0x40000000), is {n:#x}"),
            );
            None
        }
        Some(Ok(n)) if !exact_everywhere(n) => {
            e.field(
                "size",
                format!(
                    "{n:#x} bytes cannot have exact capability bounds on every CHERI format: \
                     use {:#x} (any length up to 4 KiB can)",
                    Morello::representable_length(n).max(CheriRiscv::representable_length(n))
                ),
            );
            None
        }
        Some(Ok(n)) => Some(n),
    };
    let exporter = match exporter.map(string_value) {
        None => None,
        Some(Err(why)) => {
            e.field("exporter", why);
            None
        }
        Some(Ok(who)) => match cvms.iter().find(|c| c.name == who) {
            Some(cvm) => Some(cvm),
            None => {
                e.field("exporter", format!("no cVM is called \"{}\"", show(who)));
                None
            }
        },
    };
    let exporter_given = values_given(node, "exporter");
    let run_time = match run_time {
        None => false,
        Some([]) => true,
        Some(_) => {
            e.field("run-time", "is a flag: write `run-time;` without a value");
            false
        }
    };
    let offset = match offset.map(cells_u64) {
        None => None,
        Some(Err(why)) => {
            e.field("offset", why);
            None
        }
        Some(Ok(o)) => Some(o),
    };
    let offset_given = values_given(node, "offset");
    if !exporter_given && (offset_given || run_time) {
        e.field(
            if offset_given { "offset" } else { "run-time" },
            "only with exporter: without one the monitor allocates the object",
        );
    }
    if exporter_given && offset_given && run_time {
        e.field(
            "run-time",
            "a run-time object has no offset: its exporter chooses the range with cp_export",
        );
    }
    if exporter_given && !offset_given && !run_time {
        e.field(
            "offset",
            "required with exporter: where the object starts in the exporter's memory (or \
             `run-time;` to let the exporter choose with cp_export)",
        );
    }
    if let (Some(cvm), Some(o), Some(n)) = (exporter, offset, size) {
        match o.checked_add(n) {
            Some(end) if end <= cvm.memory_size => {}
            _ => e.field(
                "offset",
                format!(
                    "[{o:#x}, +{n:#x}) is not inside the memory of \"{}\" ({:#x} bytes)",
                    cvm.name, cvm.memory_size
                ),
            ),
        }
    }
    if let (Some(cvm), Some(n), true) = (exporter, size, run_time) {
        if n > cvm.memory_size {
            e.field(
                "size",
                format!(
                    "{n:#x} is larger than the memory of \"{}\" ({:#x} bytes)",
                    cvm.name, cvm.memory_size
                ),
            );
        }
    }

    let read_write = match read_write {
        None => Some(Vec::new()),
        Some(v) => cvm_list(v, "read-write", cvms, &mut e),
    };
    let read_only = match read_only {
        None => Some(Vec::new()),
        Some(v) => cvm_list(v, "read-only", cvms, &mut e),
    };
    if let (Some(rw), Some(ro)) = (&read_write, &read_only) {
        if rw.is_empty() && ro.is_empty() {
            e.field(
                "read-write",
                "no importers: name the cVMs that may import it in read-write or read-only",
            );
        }
        for both in rw.iter().filter(|n| ro.contains(n)) {
            e.field(
                "read-only",
                format!("\"{both}\" is also in read-write: give each importer one access"),
            );
        }
        if let Some(cvm) = exporter {
            if rw.contains(&cvm.name) || ro.contains(&cvm.name) {
                e.field(
                    if rw.contains(&cvm.name) {
                        "read-write"
                    } else {
                        "read-only"
                    },
                    format!(
                        "\"{}\" is the exporter: it cannot import its own object",
                        cvm.name
                    ),
                );
            }
        }
    }
    if e.count > 0 {
        return None;
    }
    let source = match (exporter, offset, run_time) {
        (None, _, _) => Source::Buffer,
        (Some(cvm), _, true) => Source::RunTime {
            exporter: cvm.name.clone(),
        },
        (Some(cvm), Some(offset), false) => Source::Region {
            exporter: cvm.name.clone(),
            offset,
        },
        (Some(_), None, false) => return None,
    };
    Some(FileSpec {
        name: name?.to_string(),
        size: size?,
        source,
        read_write: read_write?,
        read_only: read_only?,
    })
}

/// Whether a length is representable exactly (at a suitable base) on Morello and CHERI-RISC-V,
/// so one manifest means the same on both.
pub(crate) fn exact_everywhere(n: u64) -> bool {
    Morello::representable_length(n) == n && CheriRiscv::representable_length(n) == n
}

fn values_given(node: &RawNode<'_>, field: &str) -> bool {
    node.prop(field).is_some()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::cvm::manifest::{parse_manifest, tests::dtc};
    use std::vec;

    /// Compiles a manifest with `cvms` (name, memory size) and `files` as its files node body.
    fn compile(files: &str) -> std::vec::Vec<u8> {
        let dts = std::format!(
            "/dts-v1/;\n/ {{\n compatible = \"capmon,manifest-v1\";\n\
             cvm@0 {{ name = \"producer\"; image = \"p\"; memory-size = <0x100000>; }};\n\
             cvm@1 {{ name = \"consumer\"; image = \"c\"; memory-size = <0x100000>; }};\n\
             cvm@2 {{ name = \"watcher\"; image = \"w\"; memory-size = <0x100000>; }};\n\
             files {{ {files} }};\n}};\n"
        );
        let dir =
            std::env::temp_dir().join(std::format!("capmon-share-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let n = COUNTER.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let path = dir.join(std::format!("m{n}.dts"));
        std::fs::write(&path, dts).expect("write dts");
        dtc(&path, &[])
    }
    static COUNTER: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

    fn errors(files: &str) -> vec::Vec<String> {
        parse_manifest(&compile(files))
            .expect_err("should be rejected")
            .iter()
            .map(|e| std::format!("{e}"))
            .collect()
    }

    #[test]
    fn every_kind_of_object_parses() {
        let m = parse_manifest(&compile(
            "ring { size = <100>; exporter = \"producer\"; offset = <0x80000>; read-write = \"consumer\"; read-only = \"watcher\"; };\n\
             buf { size = <0x3010>; read-write = \"producer\", \"consumer\"; };\n\
             live { size = <4096>; exporter = \"consumer\"; run-time; read-only = \"producer\"; };",
        ))
        .expect("valid");
        assert_eq!(m.files.len(), 3);
        assert_eq!(
            m.files[0],
            FileSpec {
                name: "ring".into(),
                size: 100,
                source: Source::Region {
                    exporter: "producer".into(),
                    offset: 0x80000
                },
                read_write: vec!["consumer".into()],
                read_only: vec!["watcher".into()],
            }
        );
        assert_eq!(m.files[1].source, Source::Buffer);
        assert_eq!(m.files[1].size, 0x3010);
        assert_eq!(
            m.files[2].source,
            Source::RunTime {
                exporter: "consumer".into()
            }
        );
        assert_eq!(m.files[2].exporter(), Some("consumer"));
    }

    #[test]
    fn unknown_cvms_ranges_outside_and_bad_lists_are_errors() {
        let got = errors(
            "a { size = <16>; exporter = \"nobody\"; offset = <0>; read-write = \"consumer\"; };\n\
             b { size = <0x100>; exporter = \"producer\"; offset = <0xfff80>; read-only = \"consumer\"; };\n\
             c { size = <8>; read-write = \"ghost\"; };\n\
             d { size = <8>; read-write = \"consumer\"; read-only = \"consumer\"; };\n\
             e { size = <8>; exporter = \"producer\"; offset = <0>; read-write = \"producer\"; };\n\
             f { size = <8>; };\n\
             g { size = <0>; read-write = \"consumer\"; };\n\
             h { size = <8>; offset = <0>; read-write = \"consumer\"; };\n\
             i { size = <8>; exporter = \"producer\"; read-write = \"consumer\"; };\n\
             j { size = <8>; read-write = \"consumer\"; colour = \"red\"; };\n\
             k { size = <8>; read-write = \"consumer\", \"consumer\"; };\n\
             l { size = \"8\"; read-write = \"consumer\"; };\n\
             m { size = <0x100001>; read-write = \"consumer\"; };",
        );
        let expected = [
            r#"field "files/a/exporter": no cVM is called "nobody""#,
            r#"field "files/b/offset": [0xfff80, +0x100) is not inside the memory of "producer" (0x100000 bytes)"#,
            r#"field "files/c/read-write": no cVM is called "ghost""#,
            r#"field "files/d/read-only": "consumer" is also in read-write: give each importer one access"#,
            r#"field "files/e/read-write": "producer" is the exporter: it cannot import its own object"#,
            r#"field "files/f/read-write": no importers: name the cVMs that may import it in read-write or read-only"#,
            r#"field "files/g/size": must not be 0"#,
            r#"field "files/h/offset": only with exporter: without one the monitor allocates the object"#,
            r#"field "files/i/offset": required with exporter"#,
            r#"field "files/j/colour": unknown field"#,
            r#"field "files/k/read-write": "consumer" is named twice"#,
            r#"field "files/l/size": expected one or two 32-bit cells"#,
            r#"field "files/m/size": 0x100001 bytes cannot have exact capability bounds on every CHERI format: use 0x"#,
        ];
        for want in expected {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    #[test]
    fn a_files_property_in_a_cvm_points_to_the_root_node() {
        let dts = "/dts-v1/;\n/ { compatible = \"capmon,manifest-v1\";\n\
                   cvm@0 { name = \"a\"; image = \"a\"; memory-size = <0x100000>; files = \"x\"; }; };\n";
        let dir =
            std::env::temp_dir().join(std::format!("capmon-share-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("prop.dts");
        std::fs::write(&path, dts).expect("write");
        let got: vec::Vec<String> = parse_manifest(&dtc(&path, &[]))
            .expect_err("rejected")
            .iter()
            .map(|e| std::format!("{e}"))
            .collect();
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with(
                r#"cvm "a": field "files": shared objects are declared in the root's files"#
            ),
            "{got:?}"
        );
    }

    #[test]
    fn bad_object_names_and_child_nodes_are_errors() {
        let got = errors("Bad_Name { size = <8>; read-write = \"consumer\"; };\nok { size = <8>; read-write = \"consumer\"; sub { }; };");
        assert!(
            got.iter()
                .any(|g| g.contains("node /files/Bad_Name: an object's name must be")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|g| g.contains("node /files/ok: unknown child node sub")),
            "{got:?}"
        );
    }
}
