//! Where things are on disk for both host tools: the capmon workspace, cargo's target
//! directory and scratch directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process;

/// Where the workspace is and where cargo puts its output.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Finds the workspace: `$CAPMON_WORKSPACE` (lets the runner drive another tree, e.g. a
    /// throwaway one), else the parent of this crate's manifest directory, else
    /// `git rev-parse --show-toplevel`.
    pub fn locate() -> Result<Workspace, String> {
        let root = if let Some(dir) = std::env::var_os("CAPMON_WORKSPACE").filter(|v| !v.is_empty())
        {
            PathBuf::from(dir)
        } else {
            let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf);
            match built_in.filter(|d| d.join("Cargo.toml").is_file()) {
                Some(dir) => dir,
                None => git_toplevel()?,
            }
        };
        if !root.join("Cargo.toml").is_file() {
            return Err(format!(
                "{} has no Cargo.toml; is it the capmon workspace?",
                root.display()
            ));
        }
        // Relative CARGO_TARGET_DIR values are relative to where cargo runs, which is the root.
        let target_dir = match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Ok(Workspace { root, target_dir })
    }
}

fn git_toplevel() -> Result<PathBuf, String> {
    let mut git = Command::new("git");
    git.args(["rev-parse", "--show-toplevel"]);
    let out = process::output(git, process::limits::TOOL)
        .map_err(|e| format!("cannot find the workspace: {e}"))?;
    if !out.status.success() {
        return Err(
            "cannot find the workspace: not in a git checkout; set CAPMON_WORKSPACE".into(),
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// A scratch directory, removed with its contents when dropped; `label` appears in its name so
/// a leftover one (after a crash) says what made it.
pub fn temp_dir(label: &str) -> Result<tempfile::TempDir, String> {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    tempfile::Builder::new()
        .prefix(&format!("capmon-{label}-"))
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_are_labelled_and_removed() {
        let dir = temp_dir("unit test/x").expect("tempdir");
        let kept = dir.path().to_path_buf();
        let name = kept.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(name.starts_with("capmon-unit_test_x-"), "{name}");
        drop(dir);
        assert!(!kept.exists());
    }
}
