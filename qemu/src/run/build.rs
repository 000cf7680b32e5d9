//! Board images for capmon-run: the cargo build of a board (with the bundle of a manifest's
//! cVMs embedded), and the per-manifest copies kept so variants built one after the other
//! stay apart.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::boards::{self, Board};
use super::cvm_build;
use crate::process;
use crate::workspace::Workspace;

// Board-image paths are methods of the workspace; they live here, with the builds.
impl Workspace {
    /// Where cargo leaves a board's image.
    pub fn image_path(&self, board: &Board) -> PathBuf {
        self.target_dir
            .join(board.target)
            .join("release")
            .join(board.bin)
    }

    /// Where capmon-run keeps a copy of a board image per manifest (`default`: no bundle), so
    /// variants built one after the other do not overwrite each other before they run.
    pub fn stashed_image_path(&self, board: &Board, manifest: Option<&str>) -> PathBuf {
        self.target_dir
            .join("capmon-run")
            .join(board.name)
            .join(manifest.unwrap_or("default"))
            .join(board.bin)
    }
}

/// The cargo command line (arguments and manifest environment) that builds a board image.
pub fn cargo_build_args(board: &Board) -> Vec<String> {
    let mut args: Vec<String> = [
        "build",
        "--release",
        "-p",
        board.package,
        "--target",
        board.target,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !board.features.is_empty() {
        args.push("--features".into());
        args.push(board.features.join(","));
    }
    args
}

/// Builds a board image with cargo (its output goes straight to the terminal, so a long build
/// shows progress) and returns the path of its per-manifest copy
/// ([`Workspace::stashed_image_path`]). With a `manifest`, the cVM images it names and its
/// bundle are built first (`cvm_build`, next to that copy) and the board is built with
/// `CAPMON_BUNDLE=<bundle>` (its build script embeds the file); without one, the image embeds
/// no bundle.
pub fn build_image(
    ws: &Workspace,
    board: &Board,
    manifest: Option<&str>,
) -> Result<PathBuf, String> {
    let bundle = match manifest {
        Some(m) => Some(cvm_build::prepare_bundle(ws, board, m)?),
        None => None,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let args = cargo_build_args(board);
    let shown = match &bundle {
        Some(b) => format!(
            "CAPMON_BUNDLE={} ",
            boards::shell_quote(&b.to_string_lossy())
        ),
        None => String::new(),
    };
    eprintln!(
        "building {}: {shown}{}",
        board.name,
        boards::shell_line("cargo", &args)
    );
    let mut cmd = Command::new(&cargo);
    cmd.args(&args).current_dir(&ws.root);
    match &bundle {
        Some(b) => cmd.env("CAPMON_BUNDLE", b),
        // A stray value in the caller's environment must not change the default image.
        None => cmd.env_remove("CAPMON_BUNDLE"),
    };
    let status = process::status(cmd, process::limits::CARGO)
        .map_err(|e| format!("building {}: {e}", board.name))?;
    if !status.success() {
        return Err(format!("building {} failed ({status})", board.name));
    }
    let elf = ws.image_path(board);
    if !elf.is_file() {
        return Err(format!(
            "cargo reported success but {} does not exist",
            elf.display()
        ));
    }
    // Cargo's output is overwritten by the next variant built; the copy stays.
    stash_image(ws, board, manifest, &elf)
}

/// Returns the image without a bundle built earlier, without building (`--no-build`): the
/// copy [`build_image`] kept, else cargo's output.
pub fn existing_image(ws: &Workspace, board: &Board) -> Result<PathBuf, String> {
    let stashed = ws.stashed_image_path(board, None);
    if stashed.is_file() {
        return Ok(stashed);
    }
    let elf = ws.image_path(board);
    if elf.is_file() {
        Ok(elf)
    } else {
        Err(format!(
            "{} does not exist; build it first (drop --no-build)",
            elf.display()
        ))
    }
}

/// Copies an image to its per-manifest place (see [`Workspace::stashed_image_path`]).
pub fn stash_image(
    ws: &Workspace,
    board: &Board,
    manifest: Option<&str>,
    elf: &Path,
) -> Result<PathBuf, String> {
    let dest = ws.stashed_image_path(board, manifest);
    // Copying a file onto itself would truncate it.
    if dest == elf {
        return Ok(dest);
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::copy(elf, &dest)
        .map_err(|e| format!("cannot copy {} to {}: {e}", elf.display(), dest.display()))?;
    Ok(dest)
}

/// Builds (or, with `no_build`, finds) a board image variant: the per-manifest copy
/// [`build_image`] keeps, so variants built one after the other stay apart.
pub fn image_for(
    ws: &Workspace,
    board: &Board,
    manifest: Option<&str>,
    no_build: bool,
) -> Result<PathBuf, String> {
    match (no_build, manifest) {
        (true, None) => existing_image(ws, board),
        // Manifest variants only exist as the copies earlier runs kept.
        (true, Some(_)) => {
            let stashed = ws.stashed_image_path(board, manifest);
            if stashed.is_file() {
                Ok(stashed)
            } else {
                Err(format!(
                    "{} does not exist; build it first (drop --no-build)",
                    stashed.display()
                ))
            }
        }
        (false, _) => build_image(ws, board, manifest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_args_and_image_paths() {
        let b = boards::board("qemu-riscv64").expect("board");
        assert_eq!(
            cargo_build_args(b).join(" "),
            "build --release -p board-qemu-riscv64 --target riscv64gc-unknown-none-elf"
        );
        let ws = Workspace {
            root: "/w".into(),
            target_dir: "/w/target".into(),
        };
        assert_eq!(
            ws.image_path(b),
            Path::new("/w/target/riscv64gc-unknown-none-elf/release/capmon-qemu-riscv64")
        );
        assert_eq!(
            ws.stashed_image_path(b, Some("attack-1")),
            Path::new("/w/target/capmon-run/qemu-riscv64/attack-1/capmon-qemu-riscv64")
        );
    }
}
