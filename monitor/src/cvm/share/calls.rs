//! CP_Call as plain data: the manifest's `calls { … }` node (which cVM exports each call and
//! which cVMs may import it) and the state of exports and imports, with every decision the
//! hostcalls make. The capabilities themselves are made in `live`; the call path is the SDK's
//! (`cvms/sdk/src/call.rs`) and has no monitor on it. Design: docs/architecture.md, "CP_Call".

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ops::Range;

use capmon_abi::{call_descriptor, Error, CALL_LAST_PAIR_SLOT};

use crate::cvm::manifest::{
    show, show_bytes, string_list, string_value, valid_name, CvmSpec, ManifestError, RawNode,
};

/// The root node that holds the calls.
pub const NODE: &str = "calls";
/// Every field of a call's node.
pub const CALL_FIELDS: &[&str] = &["exporter", "importers"];
/// Most calls in one manifest, and importers of one call: together they bound the descriptors
/// an exporter needs (they live in its capability-store page, after the store's 256 bytes).
pub const MAX_CALLS: usize = 16;
pub const MAX_IMPORTERS: usize = 8;
/// Where descriptors start in a capability-store page, and how many fit in one.
pub const DESCRIPTORS_AT: u64 = 256;
pub const DESCRIPTORS_PER_PAGE: u64 = (4096 - DESCRIPTORS_AT) / call_descriptor::BYTES;
/// How long one call may run before the monitor ends it as a fault of the callee, measured
/// from the first timer interrupt that finds the caller inside it (so a call is ended after
/// between this and this plus one scheduler slice).
pub const CALL_BUDGET_MS: u64 = 20;
/// The smallest call stack the monitor hands out (each importer gets its own).
pub const MIN_CALL_STACK: u64 = 1024;

/// One call as the manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    pub name: String,
    pub exporter: String,
    /// cVMs that may import it: distinct, never the exporter.
    pub importers: Vec<String>,
}

/// Checks the `calls` node at `at` against the (already checked) `cvms`; returns the calls that
/// are valid, pushing an error for each problem (`calls/<call>/<field>`).
pub(crate) fn check_calls(
    nodes: &[RawNode<'_>],
    at: usize,
    cvms: &[CvmSpec],
    errors: &mut Vec<ManifestError>,
) -> Vec<CallSpec> {
    let mut calls: Vec<CallSpec> = Vec::new();
    for (pname, _) in nodes.get(at).map_or(&[][..], |n| n.props.as_slice()) {
        errors.push(ManifestError::root(
            Some(&format!("{NODE}/{}", show_bytes(pname))),
            "the calls node holds one child node per call, no properties",
        ));
    }
    let children: Vec<(usize, &RawNode<'_>)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.parent == Some(at))
        .collect();
    if children.len() > MAX_CALLS {
        errors.push(ManifestError::root(
            None,
            format!(
                "node /calls: at most {MAX_CALLS} calls, found {}",
                children.len()
            ),
        ));
        return calls;
    }
    for &(i, node) in &children {
        let shown = show_bytes(node.name);
        let field = |f: &str| format!("{NODE}/{shown}/{f}");
        if nodes.iter().any(|n| n.parent == Some(i)) {
            errors.push(ManifestError::root(
                None,
                format!("node /calls/{shown}: a call has only properties, no child nodes"),
            ));
            continue;
        }
        let Some(name) = core::str::from_utf8(node.name)
            .ok()
            .filter(|s| valid_name(s))
        else {
            errors.push(ManifestError::root(
                None,
                format!(
                    "node /calls/{shown}: not a valid name ({})",
                    crate::cvm::manifest::NAME_RULE
                ),
            ));
            continue;
        };
        if calls.iter().any(|c| c.name == name) {
            errors.push(ManifestError::root(
                None,
                format!("node /calls/{shown} appears more than once"),
            ));
            continue;
        }
        let before = errors.len();
        for (pname, _) in &node.props {
            if !CALL_FIELDS.iter().any(|f| f.as_bytes() == *pname) {
                errors.push(ManifestError::root(
                    Some(&field(&show_bytes(pname))),
                    format!("unknown field (a call has {})", CALL_FIELDS.join(", ")),
                ));
            }
        }
        let exporter = match node.prop("exporter").map(string_value) {
            None => {
                errors.push(ManifestError::root(Some(&field("exporter")), "missing"));
                None
            }
            Some(Err(why)) => {
                errors.push(ManifestError::root(Some(&field("exporter")), why));
                None
            }
            Some(Ok(e)) if !cvms.iter().any(|c| c.name == e) => {
                errors.push(ManifestError::root(
                    Some(&field("exporter")),
                    format!("no cVM is called \"{}\"", show(e)),
                ));
                None
            }
            Some(Ok(e)) => Some(e.to_string()),
        };
        let mut importers: Vec<String> = Vec::new();
        match node.prop("importers").map(string_list) {
            None => errors.push(ManifestError::root(
                Some(&field("importers")),
                "missing: name the cVMs that may call it",
            )),
            Some(Err(why)) => errors.push(ManifestError::root(Some(&field("importers")), why)),
            Some(Ok(list)) => {
                for who in list {
                    if !cvms.iter().any(|c| c.name == who) {
                        errors.push(ManifestError::root(
                            Some(&field("importers")),
                            format!("no cVM is called \"{}\"", show(who)),
                        ));
                    } else if importers.iter().any(|n| n == who) {
                        errors.push(ManifestError::root(
                            Some(&field("importers")),
                            format!("\"{who}\" is named twice"),
                        ));
                    } else if exporter.as_deref() == Some(who) {
                        errors.push(ManifestError::root(
                            Some(&field("importers")),
                            format!("\"{who}\" exports the call: it cannot import it too"),
                        ));
                    } else {
                        importers.push(who.to_string());
                    }
                }
                if importers.len() > MAX_IMPORTERS {
                    errors.push(ManifestError::root(
                        Some(&field("importers")),
                        format!("at most {MAX_IMPORTERS} importers"),
                    ));
                }
            }
        }
        if errors.len() == before {
            if let Some(exporter) = exporter {
                calls.push(CallSpec {
                    name: name.to_string(),
                    exporter,
                    importers,
                });
            }
        }
    }
    // Descriptors of one exporter must fit in its capability-store page.
    for cvm in cvms {
        let needed: usize = calls
            .iter()
            .filter(|c| c.exporter == cvm.name)
            .map(|c| c.importers.len())
            .sum();
        if u64::try_from(needed).unwrap_or(u64::MAX) > DESCRIPTORS_PER_PAGE {
            errors.push(ManifestError::root(
                None,
                format!(
                    "node /calls: cvm \"{}\" exports calls to {needed} importers in all; at most {DESCRIPTORS_PER_PAGE}",
                    cvm.name
                ),
            ));
        }
    }
    calls
}

/// A call its exporter has offered (`cp_call_export`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    pub gate: u64,
    pub entry: u64,
    pub stack: Range<u64>,
}

/// What `live` must make for an import: the exporter's descriptor for this importer and the
/// importer's store slots to fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub exporter: usize,
    /// Byte offset of the descriptor in the exporter's capability-store page.
    pub descriptor: u64,
    /// The importer's own call stack in the exporter's memory (`[start, end)`).
    pub stack: Range<u64>,
    pub gate: u64,
    pub entry: u64,
}

/// Every call's state: exports by call, the cVM index of exporters and importers.
pub struct Calls {
    specs: Vec<CallSpec>,
    /// `exporter[c]`, `importers[c]`: cVM indices.
    exporter: Vec<usize>,
    importers: Vec<Vec<usize>>,
    /// Each call's descriptor base index in its exporter's page.
    first_descriptor: Vec<u64>,
    exports: Vec<Option<Export>>,
    /// `code[i]`: cVM i's code range (gates, entries and return stubs must lie in it).
    code: Vec<Range<u64>>,
}

impl Calls {
    /// `cvms`: each cVM's name and code range, in manifest order.
    pub fn new(specs: &[CallSpec], cvms: &[(String, Range<u64>)]) -> Result<Self, String> {
        let index = |name: &str| {
            cvms.iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| format!("call refers to an unknown cVM \"{name}\""))
        };
        let mut exporter = Vec::new();
        let mut importers = Vec::new();
        let mut first_descriptor = Vec::new();
        let mut used = alloc::vec![0u64; cvms.len()];
        for spec in specs {
            let e = index(&spec.exporter)?;
            exporter.push(e);
            importers.push(
                spec.importers
                    .iter()
                    .map(|n| index(n))
                    .collect::<Result<Vec<_>, _>>()?,
            );
            first_descriptor.push(used[e]);
            used[e] += u64::try_from(spec.importers.len()).unwrap_or(u64::MAX);
            if used[e] > DESCRIPTORS_PER_PAGE {
                return Err(format!("cvm \"{}\" exports too many calls", spec.exporter));
            }
        }
        Ok(Calls {
            specs: specs.to_vec(),
            exporter,
            importers,
            first_descriptor,
            exports: specs.iter().map(|_| None).collect(),
            code: cvms.iter().map(|(_, c)| c.clone()).collect(),
        })
    }

    fn find(&self, name: &[u8]) -> Result<usize, Error> {
        self.specs
            .iter()
            .position(|s| s.name.as_bytes() == name)
            .ok_or(Error::Invalid)
    }

    fn in_code(&self, cvm: usize, address: u64) -> bool {
        self.code.get(cvm).is_some_and(|c| c.contains(&address))
    }

    /// `cp_call_export`: `memory` is the caller's own memory (where its stack must lie).
    pub fn export(
        &mut self,
        caller: usize,
        name: &[u8],
        export: Export,
        memory: &Range<u64>,
    ) -> Result<(), Error> {
        let c = self.find(name)?;
        if self.exporter[c] != caller {
            return Err(Error::Denied);
        }
        if !self.in_code(caller, export.gate) || !self.in_code(caller, export.entry) {
            return Err(Error::Fault);
        }
        let stack = &export.stack;
        if stack.start >= stack.end || stack.start < memory.start || stack.end > memory.end {
            return Err(Error::Fault);
        }
        let importers = u64::try_from(self.importers[c].len()).unwrap_or(u64::MAX);
        if (stack.end - stack.start) / importers.max(1) < MIN_CALL_STACK {
            return Err(Error::Invalid);
        }
        if self.exports[c].is_some() {
            return Err(Error::Again);
        }
        self.exports[c] = Some(export);
        Ok(())
    }

    /// `cp_call_import`: what to build for `caller`, or why not.
    pub fn import(
        &self,
        caller: usize,
        name: &[u8],
        slot: u64,
        return_stub: u64,
    ) -> Result<Import, Error> {
        let c = self.find(name)?;
        let Some(k) = self.importers[c].iter().position(|&i| i == caller) else {
            return Err(Error::Denied);
        };
        if slot > CALL_LAST_PAIR_SLOT {
            return Err(Error::Invalid);
        }
        if !self.in_code(caller, return_stub) {
            return Err(Error::Fault);
        }
        let export = self.exports[c].as_ref().ok_or(Error::Again)?;
        let n = u64::try_from(self.importers[c].len()).unwrap_or(1).max(1);
        let k = u64::try_from(k).unwrap_or(0);
        // Each importer's stack: an equal, 16-byte aligned share of the exported range.
        let share = ((export.stack.end - export.stack.start) / n) & !15;
        let start = (export.stack.start + 15) & !15;
        let stack = start + k * share..start + (k + 1) * share;
        Ok(Import {
            exporter: self.exporter[c],
            descriptor: DESCRIPTORS_AT + (self.first_descriptor[c] + k) * call_descriptor::BYTES,
            stack: stack.start..stack.end.min(export.stack.end),
            gate: export.gate,
            entry: export.entry,
        })
    }

    /// A cVM ended or restarts: its exports are gone (it must export again), and so is what
    /// was built from them (the sweep clears the importers' pairs: they reach its region).
    pub fn teardown(&mut self, cvm: usize) {
        for (c, e) in self.exporter.iter().enumerate() {
            if *e == cvm {
                self.exports[c] = None;
            }
        }
    }

    /// The cVM whose code holds `pc`: the callee of an outstanding call whose caller's context
    /// was interrupted or faulted there.
    pub fn code_owner(&self, pc: u64) -> Option<usize> {
        self.code.iter().position(|c| c.contains(&pc))
    }

    /// cVM `cvm`'s code range.
    pub fn code(&self, cvm: usize) -> Option<&Range<u64>> {
        self.code.get(cvm)
    }

    /// Whether `cvm` exports or imports any call (else a teardown has no call state to end).
    pub fn involves(&self, cvm: usize) -> bool {
        self.exporter.contains(&cvm) || self.importers.iter().any(|i| i.contains(&cvm))
    }

    /// Every descriptor made for `importer`: (exporter, byte offset in its page).
    pub fn descriptors_of(&self, importer: usize) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for (c, who) in self.importers.iter().enumerate() {
            if let Some(k) = who.iter().position(|&i| i == importer) {
                let k = u64::try_from(k).unwrap_or(0);
                out.push((
                    self.exporter[c],
                    DESCRIPTORS_AT + (self.first_descriptor[c] + k) * call_descriptor::BYTES,
                ));
            }
        }
        out
    }

    /// Whether `cvm` imports any call from `exporter` (its PMP window must then hold the
    /// exporter's region: the exporter's code runs on the importer's turn).
    pub fn imports_from(&self, cvm: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for (c, who) in self.importers.iter().enumerate() {
            if who.contains(&cvm) && !out.contains(&self.exporter[c]) {
                out.push(self.exporter[c]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cvm::manifest::{parse_manifest, tests::dtc};
    use alloc::vec;
    extern crate std;

    /// A manifest with cVMs kv, a and b and the given `calls` node body, compiled with dtc.
    fn compile(calls: &str) -> vec::Vec<u8> {
        let dts = std::format!(
            "/dts-v1/;\n/ {{\n compatible = \"capmon,manifest-v1\";\n\
             cvm@0 {{ name = \"kv\"; image = \"kv\"; memory-size = <0x100000>; }};\n\
             cvm@1 {{ name = \"a\"; image = \"c\"; memory-size = <0x100000>; }};\n\
             cvm@2 {{ name = \"b\"; image = \"c\"; memory-size = <0x100000>; }};\n\
             calls {{ {calls} }};\n}};\n"
        );
        let dir = std::env::temp_dir().join(std::format!("capmon-calls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        static N: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let path = dir.join(std::format!("m{n}.dts"));
        std::fs::write(&path, dts).expect("write dts");
        dtc(&path, &[])
    }

    #[test]
    fn calls_parse() {
        let m = parse_manifest(&compile(
            "get { exporter = \"kv\"; importers = \"a\", \"b\"; };\n\
             put { exporter = \"kv\"; importers = \"a\"; };",
        ))
        .expect("valid");
        assert_eq!(
            m.calls,
            vec![
                CallSpec {
                    name: "get".into(),
                    exporter: "kv".into(),
                    importers: vec!["a".into(), "b".into()],
                },
                CallSpec {
                    name: "put".into(),
                    exporter: "kv".into(),
                    importers: vec!["a".into()],
                },
            ]
        );
    }

    #[test]
    fn bad_calls_are_errors_naming_the_field() {
        let got: vec::Vec<String> = parse_manifest(&compile(
            "c1 { exporter = \"nobody\"; importers = \"a\"; };\n\
             c2 { exporter = \"kv\"; importers = \"kv\"; };\n\
             c3 { exporter = \"kv\"; importers = \"a\", \"a\"; };\n\
             c4 { exporter = \"kv\"; };\n\
             c5 { importers = \"a\"; };\n\
             c6 { exporter = \"kv\"; importers = \"ghost\"; colour = \"red\"; };",
        ))
        .expect_err("should be rejected")
        .iter()
        .map(|e| std::format!("{e}"))
        .collect();
        let expected = [
            r#"field "calls/c1/exporter": no cVM is called "nobody""#,
            r#"field "calls/c2/importers": "kv" exports the call: it cannot import it too"#,
            r#"field "calls/c3/importers": "a" is named twice"#,
            r#"field "calls/c4/importers": missing"#,
            r#"field "calls/c5/exporter": missing"#,
            r#"field "calls/c6/colour": unknown field"#,
            r#"field "calls/c6/importers": no cVM is called "ghost""#,
        ];
        for want in expected {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expected.len(), "{got:#?}");
    }

    fn calls() -> Calls {
        let specs = vec![CallSpec {
            name: "kv-get".into(),
            exporter: "kv".into(),
            importers: vec!["a".into(), "b".into()],
        }];
        Calls::new(
            &specs,
            &[
                ("kv".into(), 0x1000..0x2000),
                ("a".into(), 0x10000..0x11000),
                ("b".into(), 0x20000..0x21000),
            ],
        )
        .unwrap()
    }

    fn export() -> Export {
        Export {
            gate: 0x1100,
            entry: 0x1200,
            stack: 0x5000..0x7000,
        }
    }

    #[test]
    fn only_the_exporter_exports_from_its_code_into_its_memory() {
        let mut c = calls();
        let mem = 0x3000..0x8000;
        assert_eq!(c.export(1, b"kv-get", export(), &mem), Err(Error::Denied));
        assert_eq!(c.export(0, b"nope", export(), &mem), Err(Error::Invalid));
        let outside_code = Export {
            entry: 0x10100,
            ..export()
        };
        assert_eq!(
            c.export(0, b"kv-get", outside_code, &mem),
            Err(Error::Fault)
        );
        let outside_memory = Export {
            stack: 0x7000..0x9000,
            ..export()
        };
        assert_eq!(
            c.export(0, b"kv-get", outside_memory, &mem),
            Err(Error::Fault)
        );
        let tiny = Export {
            stack: 0x5000..0x5400,
            ..export()
        };
        assert_eq!(c.export(0, b"kv-get", tiny, &mem), Err(Error::Invalid));
        assert_eq!(c.export(0, b"kv-get", export(), &mem), Ok(()));
        assert_eq!(c.export(0, b"kv-get", export(), &mem), Err(Error::Again));
    }

    #[test]
    fn importers_get_disjoint_stacks_and_descriptors() {
        let mut c = calls();
        assert_eq!(c.import(1, b"kv-get", 0, 0x10010), Err(Error::Again));
        c.export(0, b"kv-get", export(), &(0x3000..0x8000)).unwrap();
        let a = c.import(1, b"kv-get", 0, 0x10010).unwrap();
        let b = c.import(2, b"kv-get", 4, 0x20010).unwrap();
        assert_eq!(a.exporter, 0);
        assert_ne!(a.descriptor, b.descriptor);
        assert!(a.stack.end <= b.stack.start || b.stack.end <= a.stack.start);
        assert!(a.stack.end - a.stack.start >= MIN_CALL_STACK);
        assert!(a.stack.start >= 0x5000 && b.stack.end <= 0x7000);
        assert_eq!(a.descriptor, DESCRIPTORS_AT);
        assert_eq!(b.descriptor, DESCRIPTORS_AT + call_descriptor::BYTES);
    }

    #[test]
    fn imports_are_refused_to_others_and_to_bad_slots_or_stubs() {
        let mut c = calls();
        c.export(0, b"kv-get", export(), &(0x3000..0x8000)).unwrap();
        assert_eq!(c.import(0, b"kv-get", 0, 0x1010), Err(Error::Denied));
        assert_eq!(
            c.import(1, b"kv-get", CALL_LAST_PAIR_SLOT + 1, 0x10010),
            Err(Error::Invalid)
        );
        // A return stub outside the importer's own code (here: the callee's).
        assert_eq!(c.import(1, b"kv-get", 0, 0x1010), Err(Error::Fault));
        c.teardown(0);
        assert_eq!(c.import(1, b"kv-get", 0, 0x10010), Err(Error::Again));
    }

    #[test]
    fn code_owner_names_the_callee() {
        let c = calls();
        assert_eq!(c.code_owner(0x1100), Some(0));
        assert_eq!(c.code_owner(0x20004), Some(2));
        assert_eq!(c.code_owner(0x9000), None);
        assert_eq!(c.imports_from(1), vec![0]);
        assert!(c.imports_from(0).is_empty());
        assert!(c.involves(0) && c.involves(2));
        assert_eq!(c.code(1), Some(&(0x10000..0x11000)));
    }
}
