//! Where a manifest's nodes and properties are in its source, so semantic errors (which the
//! monitor's parser reports by cVM and field) read `FILE:LINE: cvm "x": field "y": …`.
//!
//! dtc gives lines only for its own syntax errors, but it can annotate a decompiled tree with
//! the source position of every node and property (`-O dts -T`); this module reads that output
//! and looks positions up. It works with includes too: each annotation names its own file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use capmon::cvm::manifest::{CvmRef, ManifestError};

/// A source position: file as dtc names it, 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: String,
    pub line: u32,
}

/// Positions of the nodes (`/cvm@0`) and properties (`/cvm@0` + `memory-size`) of one tree.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    nodes: HashMap<String, Pos>,
    props: HashMap<(String, String), Pos>,
    /// cVM name (its `name` property) → node path.
    cvm_names: HashMap<String, String>,
}

/// The `/* FILE:LINE */` (or `FILE:LINE.COL-…`) annotation at the end of a line.
fn annotation(line: &str) -> Option<Pos> {
    let start = line.rfind("/* ")?;
    let inner = line[start + 3..].strip_suffix(" */")?;
    // With -T -T dtc writes ranges; the first position is where the item starts.
    let first = inner.split([' ', ',']).next()?;
    let (file, rest) = first.rsplit_once(':')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Pos {
        file: file.to_string(),
        line: digits.parse().ok()?,
    })
}

fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

impl SourceMap {
    /// Reads dtc's annotated output (`dtc -I dts -O dts -T`).
    pub fn parse(annotated: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut stack: Vec<String> = Vec::new();
        for raw in annotated.lines() {
            let code = raw.split("/*").next().unwrap_or("").trim();
            if let Some(name) = code.strip_suffix('{').map(str::trim) {
                // `label: name {`: the label is not part of the path.
                let name = name.rsplit(": ").next().unwrap_or(name).trim();
                let path = match stack.last() {
                    None => "/".to_string(),
                    Some(parent) => child(parent, name),
                };
                if let Some(pos) = annotation(raw) {
                    map.nodes.insert(path.clone(), pos);
                }
                stack.push(path);
            } else if code.starts_with("};") {
                stack.pop();
            } else if let (Some(node), Some(prop)) = (stack.last(), code.strip_suffix(';')) {
                let (name, value) = match prop.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim())),
                    None => (prop.trim(), None),
                };
                if let Some(pos) = annotation(raw) {
                    map.props.insert((node.clone(), name.to_string()), pos);
                }
                if let (Some(value), "name") = (value, name) {
                    if let Some(cvm) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                        // With duplicate names the first node is the one errors name by it.
                        map.cvm_names
                            .entry(cvm.to_string())
                            .or_insert_with(|| node.clone());
                    }
                }
            }
        }
        map
    }

    /// Where an error's cVM and field are written: the field's line if it is there, else its
    /// node's line; `None` when the error names neither (or the map does not know them).
    pub fn locate(&self, error: &ManifestError) -> Option<&Pos> {
        let node = match &error.cvm {
            Some(CvmRef::Name(name)) => self.cvm_names.get(name)?.clone(),
            Some(CvmRef::Node(node)) => child("/", node),
            None => "/".to_string(),
        };
        let field = error.field.as_deref();
        // `disk/sectors` is the property `sectors` of the cVM's child node `disk`.
        let (node, prop) = match field.and_then(|f| f.split_once('/')) {
            Some((sub, prop)) => (child(&node, sub), Some(prop)),
            None => (node, field),
        };
        prop.and_then(|p| self.props.get(&(node.clone(), p.to_string())))
            .or_else(|| self.nodes.get(&node))
            .filter(|_| error.cvm.is_some() || field.is_some())
    }
}

/// The file a position names, as the user wrote it: the manifest path itself when the
/// position is in the manifest, else the file beside it.
pub fn shown_file(manifest: &Path, pos: &Pos) -> PathBuf {
    let same = Path::new(&pos.file).file_name() == manifest.file_name();
    if same || pos.file.is_empty() {
        manifest.to_path_buf()
    } else if Path::new(&pos.file).is_absolute() {
        PathBuf::from(&pos.file)
    } else {
        manifest
            .parent()
            .unwrap_or(Path::new(""))
            .join(Path::new(&pos.file).file_name().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATED: &str = r#"/dts-v1/;

/ { /* demo.dts:6 */
	compatible = "capmon,manifest-v1"; /* demo.dts:7 */

	cvm@0 { /* demo.dts:10 */
		name = "hello"; /* demo.dts:11 */
		image = "hello"; /* demo.dts:12 */
		memory-size = <0x100000>; /* demo.dts:13 */
		disk { /* demo.dts:14 */
			sectors = <0x10>; /* demo.dts:15 */
		}; /* demo.dts:16 */
	}; /* demo.dts:17 */

	ref: cvm@1 { /* common.dtsi:3 */
		read-only; /* common.dtsi:4 */
	}; /* common.dtsi:5 */
}; /* demo.dts:30 */
"#;

    fn err(cvm: Option<CvmRef>, field: Option<&str>) -> ManifestError {
        ManifestError {
            cvm,
            field: field.map(String::from),
            message: "bad".into(),
        }
    }

    fn line(map: &SourceMap, e: &ManifestError) -> Option<(String, u32)> {
        map.locate(e).map(|p| (p.file.clone(), p.line))
    }

    #[test]
    fn errors_map_to_the_line_of_their_field_or_node() {
        let map = SourceMap::parse(ANNOTATED);
        let hello = || Some(CvmRef::Name("hello".into()));
        assert_eq!(
            line(&map, &err(hello(), Some("memory-size"))),
            Some(("demo.dts".into(), 13))
        );
        assert_eq!(
            line(&map, &err(hello(), Some("disk/sectors"))),
            Some(("demo.dts".into(), 15))
        );
        // A field that is missing points at its node.
        assert_eq!(
            line(&map, &err(hello(), Some("stack-size"))),
            Some(("demo.dts".into(), 10))
        );
        assert_eq!(
            line(
                &map,
                &err(Some(CvmRef::Node("cvm@1".into())), Some("read-only"))
            ),
            Some(("common.dtsi".into(), 4))
        );
        assert_eq!(
            line(&map, &err(None, Some("compatible"))),
            Some(("demo.dts".into(), 7))
        );
        assert_eq!(line(&map, &err(None, None)), None);
        assert_eq!(
            line(&map, &err(Some(CvmRef::Name("nobody".into())), None)),
            None
        );
    }

    #[test]
    fn annotations_with_columns_and_ranges() {
        assert_eq!(
            annotation("\tx = <1>; /* a/b.dts:12.3-14 */"),
            Some(Pos {
                file: "a/b.dts".into(),
                line: 12
            })
        );
        assert_eq!(annotation("no annotation;"), None);
        assert_eq!(
            shown_file(
                Path::new("cvms/manifests/demo.dts"),
                &Pos {
                    file: "demo.dts".into(),
                    line: 1
                }
            ),
            Path::new("cvms/manifests/demo.dts")
        );
        assert_eq!(
            shown_file(
                Path::new("m/demo.dts"),
                &Pos {
                    file: "inc.dtsi".into(),
                    line: 1
                }
            ),
            Path::new("m/inc.dtsi")
        );
    }
}
