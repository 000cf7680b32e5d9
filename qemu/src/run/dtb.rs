//! Device-tree edits for tests that boot with a modified DTB (`-dtb`), e.g. a broken one.
//!
//! The runner dumps the machine's own DTB (`-machine dumpdtb=`), decompiles it with `dtc`,
//! applies a [`DtsEdit`] to the source text and recompiles it. The edits work on `dtc -O dts`
//! output, which has one node header (`name {`) or property per line and no labels, so a
//! line-based walk is enough and stays easy to test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;

/// A change to a device tree, addressed by full node path (`/`, `/cpus`, `/soc/plic@c000000`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DtsEdit {
    /// Delete a node and everything under it.
    RemoveNode(String),
    /// Set (or add) a property of a node; `value` is DTS syntax after `=`, e.g. `<0x00 0x01 0x02>`.
    SetProperty {
        node: String,
        property: String,
        value: String,
    },
    /// Delete a property of a node.
    RemoveProperty { node: String, property: String },
}

/// Splits a dtc source line into its node name if it opens a node (`name {`).
fn node_open(line: &str) -> Option<&str> {
    let t = line.trim();
    let name = t.strip_suffix('{')?.trim_end();
    if name.is_empty() || name.contains('=') {
        return None;
    }
    Some(name)
}

fn is_node_close(line: &str) -> bool {
    line.trim() == "};"
}

/// The property name a line sets, if it is a property line (`name = ...;` or `name;`).
fn property_name(line: &str) -> Option<&str> {
    let t = line.trim();
    if !t.ends_with(';') || is_node_close(line) {
        return None;
    }
    let name = t.split(['=', ';']).next()?.trim();
    if name.is_empty() || name.starts_with("/") {
        return None;
    }
    Some(name)
}

/// Full path of the node a `name {` line opens, given the path of its parent.
fn child_path(parent: &str, name: &str) -> String {
    if name == "/" {
        "/".to_string()
    } else if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Finds the node at `path`: (index of its opening line, index of its closing line).
fn find_node(lines: &[&str], path: &str) -> Option<(usize, usize)> {
    let mut stack: Vec<(String, usize)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(name) = node_open(line) {
            let parent = stack.last().map_or("", |(p, _)| p.as_str());
            stack.push((child_path(parent, name), i));
        } else if is_node_close(line) {
            let (node, open) = stack.pop()?;
            if node == path {
                return Some((open, i));
            }
        }
    }
    None
}

/// Indices of the property lines that belong directly to the node spanning `open..close`.
fn own_property_lines(lines: &[&str], open: usize, close: usize) -> Vec<usize> {
    let mut depth = 0usize;
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate().take(close).skip(open + 1) {
        if node_open(line).is_some() {
            depth += 1;
        } else if is_node_close(line) {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && property_name(line).is_some() {
            found.push(i);
        }
    }
    found
}

/// Applies an edit to dtc source text. Fails if the node (or, for removal, the property) is
/// not there, so a test never silently boots an unmodified tree.
pub fn apply_edit(dts: &str, edit: &DtsEdit) -> Result<String, String> {
    let lines: Vec<&str> = dts.lines().collect();
    let node = match edit {
        DtsEdit::RemoveNode(node) => node,
        DtsEdit::SetProperty { node, .. } | DtsEdit::RemoveProperty { node, .. } => node,
    };
    let (open, close) =
        find_node(&lines, node).ok_or_else(|| format!("device tree has no node {node}"))?;
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match edit {
        DtsEdit::RemoveNode(_) => {
            if node == "/" {
                return Err("refusing to remove the root node".to_string());
            }
            out.drain(open..=close);
        }
        DtsEdit::SetProperty {
            property, value, ..
        } => {
            let indent: String = lines
                .get(open)
                .map_or("", |l| &l[..l.len() - l.trim_start().len()])
                .to_string()
                + "\t";
            let new_line = format!("{indent}{property} = {value};");
            let existing = own_property_lines(&lines, open, close)
                .into_iter()
                .find(|&i| property_name(lines[i]) == Some(property.as_str()));
            match existing {
                Some(i) => out[i] = new_line,
                None => out.insert(open + 1, new_line),
            }
        }
        DtsEdit::RemoveProperty { property, .. } => {
            let i = own_property_lines(&lines, open, close)
                .into_iter()
                .find(|&i| property_name(lines[i]) == Some(property.as_str()))
                .ok_or_else(|| format!("device tree node {node} has no property {property}"))?;
            out.remove(i);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

fn run_dtc(args: &[&str], what: &str) -> Result<(), String> {
    let mut cmd = Command::new("dtc");
    cmd.args(args);
    let output = process::output(cmd, process::limits::DTC).map_err(|e| match e {
        process::RunError::NotFound { .. } => {
            "`dtc` not found in PATH; install it with `apt-get install device-tree-compiler`"
                .to_string()
        }
        e => format!("{e} (trying to {what})"),
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "dtc failed to {what} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Decompiles `dtb`, applies `edits` in order and compiles the result to `out_dtb` (the edited
/// source is kept beside it as `<out_dtb>.dts` for people debugging a failure).
pub fn edit_dtb(dtb: &Path, edits: &[DtsEdit], out_dtb: &Path) -> Result<(), String> {
    let source = dtb.with_extension("dts");
    let dtb_s = dtb.to_string_lossy();
    let source_s = source.to_string_lossy();
    run_dtc(
        &["-q", "-I", "dtb", "-O", "dts", "-o", &source_s, &dtb_s],
        "decompile the DTB",
    )?;
    let mut text = std::fs::read_to_string(&source)
        .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    for edit in edits {
        text = apply_edit(&text, edit)?;
    }
    let edited = out_dtb.with_extension("dts");
    std::fs::write(&edited, &text)
        .map_err(|e| format!("cannot write {}: {e}", edited.display()))?;
    let edited_s = edited.to_string_lossy();
    let out_s = out_dtb.to_string_lossy();
    run_dtc(
        &["-q", "-I", "dts", "-O", "dtb", "-o", &out_s, &edited_s],
        "compile the edited DTS",
    )
}

/// Dumps the DTB QEMU builds for exactly `run` (`-machine dumpdtb`), so the edited tree
/// differs from the real one only by the edits, applies `edits` and returns the edited file in
/// `dir`, for `-dtb`.
pub fn edited_machine_dtb(
    qemu: &Path,
    spec: &super::boards::QemuSpec,
    run: &super::boards::RunArgs,
    edits: &[DtsEdit],
    dir: &Path,
) -> Result<PathBuf, String> {
    let dumped = dir.join("machine.dtb");
    let mut dump_args = super::boards::qemu_args(spec, run);
    dump_args.push("-machine".into());
    dump_args.push(format!(
        "dumpdtb={}",
        super::boards::qemu_escape(&dumped.to_string_lossy())
    ));
    crate::process::run_quiet(qemu, &dump_args, crate::process::limits::QEMU_DUMP)
        .map_err(|e| format!("dumping the machine's DTB failed: {e}"))?;
    if !dumped.is_file() {
        return Err(format!(
            "QEMU did not write {} (-machine dumpdtb)",
            dumped.display()
        ));
    }
    let edited = dir.join("edited.dtb");
    edit_dtb(&dumped, edits, &edited)?;
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTS: &str = "/dts-v1/;

/ {
\t#address-cells = <0x02>;
\tmodel = \"linux,dummy-virt\";

\tintc@8000000 {
\t\treg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0xf60000>;
\t\tcompatible = \"arm,gic-v3\";
\t\tinterrupt-controller;

\t\tits@8080000 {
\t\t\treg = <0x00 0x8080000 0x00 0x20000>;
\t\t};
\t};

\tcpus {
\t\t#size-cells = <0x00>;

\t\tcpu@0 {
\t\t\treg = <0x00>;
\t\t};
\t};

\tchosen {
\t\tstdout-path = \"/pl011@9000000\";
\t};
};
";

    #[test]
    fn removes_a_node_and_its_children() {
        let out = apply_edit(DTS, &DtsEdit::RemoveNode("/cpus".into())).expect("edit");
        assert!(!out.contains("cpus {"));
        assert!(!out.contains("cpu@0"));
        assert!(out.contains("chosen {"));
        assert!(out.contains("its@8080000"));
        assert_eq!(out.matches('{').count(), out.matches("};").count());
    }

    #[test]
    fn sets_replaces_and_removes_properties() {
        let edit = DtsEdit::SetProperty {
            node: "/intc@8000000".into(),
            property: "reg".into(),
            value: "<0x00 0x8000000 0x00>".into(),
        };
        let out = apply_edit(DTS, &edit).expect("edit");
        assert!(out.contains("\t\treg = <0x00 0x8000000 0x00>;\n"));
        // The child's reg is untouched.
        assert!(out.contains("reg = <0x00 0x8080000 0x00 0x20000>;"));
        assert!(!out.contains("0xf60000"));

        let add = DtsEdit::SetProperty {
            node: "/chosen".into(),
            property: "bootargs".into(),
            value: "\"log=debug\"".into(),
        };
        let out = apply_edit(DTS, &add).expect("edit");
        assert!(out.contains("\tchosen {\n\t\tbootargs = \"log=debug\";\n"));

        let rm = DtsEdit::RemoveProperty {
            node: "/intc@8000000".into(),
            property: "interrupt-controller".into(),
        };
        let out = apply_edit(DTS, &rm).expect("edit");
        assert!(!out.contains("interrupt-controller;"));
    }

    #[test]
    fn missing_node_or_property_is_an_error() {
        assert!(apply_edit(DTS, &DtsEdit::RemoveNode("/soc".into()))
            .unwrap_err()
            .contains("/soc"));
        assert!(
            apply_edit(DTS, &DtsEdit::RemoveNode("/cpu@0".into())).is_err(),
            "paths are full"
        );
        let rm = DtsEdit::RemoveProperty {
            node: "/cpus".into(),
            property: "reg".into(),
        };
        assert!(
            apply_edit(DTS, &rm).is_err(),
            "cpu@0's reg is not /cpus' own"
        );
        assert!(apply_edit(DTS, &DtsEdit::RemoveNode("/".into())).is_err());
    }

    #[test]
    fn nested_paths() {
        let out = apply_edit(DTS, &DtsEdit::RemoveNode("/cpus/cpu@0".into())).expect("edit");
        assert!(out.contains("cpus {"));
        assert!(!out.contains("cpu@0"));
    }
}
