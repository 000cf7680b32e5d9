//! `capmon-tool new NAME`: starts a Rust cVM project outside the capmon repository. The
//! project depends on the SDK by path (`cvms/sdk` of the capmon checkout the tool belongs to),
//! uses the SDK's shared build script for the static-PIE link, and pins the same toolchain;
//! `cargo build --release` in it gives an image any capmon-run board can boot with
//! `capmon-run boot BOARD NAME/manifest.dts --images NAME/target/<target>/release`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files of a new project, as (path relative to the project, contents).
pub fn project_files(name: &str, sdk: &Path, toolchain: &str) -> Vec<(PathBuf, String)> {
    // TOML and Rust string literals: the SDK path may hold backslashes or quotes.
    let sdk_lit = toml_string(&sdk.to_string_lossy());
    let build_lit = toml_string(&sdk.join("build-cvm.rs").to_string_lossy());
    let cargo_toml = format!(
        r#"# {name}: a capmon cVM (made by `capmon-tool new`).
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
# The SDK's build script links the image as a static PIE with the SDK's cvm.ld.
build = {build_lit}

[[bin]]
name = "{name}"
path = "src/main.rs"
test = false
bench = false

[dependencies]
capmon-sdk = {{ path = {sdk_lit} }}

# A project of its own, even if it sits inside another cargo workspace.
[workspace]

[profile.release]
opt-level = "s"
debug = true
panic = "abort"
lto = true
codegen-units = 1

[profile.dev]
panic = "abort"
"#
    );
    let config = format!(
        r#"# cVMs are position-independent code for a bare-metal target.
[env]
# Where the SDK's build script finds cvm.ld.
CAPMON_SDK_DIR = {sdk_lit}

[build]
target = "aarch64-unknown-none"   # riscv64: --target riscv64gc-unknown-none-elf

[target.aarch64-unknown-none]
rustflags = ["-C", "relocation-model=pie"]

[target.riscv64gc-unknown-none-elf]
rustflags = ["-C", "relocation-model=pie"]
"#
    );
    let main = format!(
        r#"//! {name}: a capmon cVM. Prints its arguments (argv[0] is its name in the manifest) and
//! exits 0. capmon_sdk gives printing, the hostcalls, the entry point and the panic handler.
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::{{println, Args}};

capmon_sdk::main!(run);

fn run(args: Args) -> i32 {{
    let argc = args.len();
    for (i, arg) in args.enumerate() {{
        println!("{name}: argv[{{i}}] of {{argc}} = {{arg}}");
    }}
    0
}}
"#
    );
    let manifest = format!(
        r#"/* The manifest of {name}: one cVM running the image `{name}`. Format: capmon's
 * cvms/manifests/README.md. */
/dts-v1/;
/ {{
    compatible = "capmon,manifest-v1";

    cvm@0 {{
        name = "{name}";
        image = "{name}";
        memory-size = <0x100000>;   /* 1 MiB */
        args = "hello";
    }};
}};
"#
    );
    let readme = format!(
        r#"# {name}

A capmon cVM. Build it (aarch64 by default, see `.cargo/config.toml`):

```sh
cargo build --release                                       # aarch64 boards
cargo build --release --target riscv64gc-unknown-none-elf  # riscv64 boards
```

Boot it with one prebuilt capmon image, nothing in capmon rebuilt (from this directory; the
bundle of `manifest.dts` and the image is passed to capmon as an initrd):

```sh
cargo run --release --manifest-path CAPMON/Cargo.toml -p capmon-host --bin capmon-run -- \
    boot qemu-aarch64 manifest.dts --images target/aarch64-unknown-none/release
```

`capmon-tool manifest check manifest.dts --images target/aarch64-unknown-none/release`
checks the manifest alone; `capmon-tool bundle` writes the bundle file for a real board.
"#
    );
    let gitignore = "/target\n".to_string();
    vec![
        (PathBuf::from("Cargo.toml"), cargo_toml),
        (PathBuf::from(".cargo/config.toml"), config),
        (PathBuf::from("rust-toolchain.toml"), toolchain.to_string()),
        (PathBuf::from("src/main.rs"), main),
        (PathBuf::from("manifest.dts"), manifest),
        (PathBuf::from("README.md"), readme),
        (PathBuf::from(".gitignore"), gitignore),
    ]
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `name` can be a cargo package, a binary and a manifest image name at once.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 31
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable cVM name: a lowercase letter, then up to 30 lowercase \
             letters, digits, `-` or `_`"
        ))
    }
}

/// Writes a new project `dir` (which must not exist) using the SDK of the capmon checkout at
/// `root`; returns the files written.
pub fn create(name: &str, dir: &Path, root: &Path) -> Result<Vec<PathBuf>, String> {
    check_name(name)?;
    if dir.exists() {
        return Err(format!("{} already exists", dir.display()));
    }
    let sdk = root.join("cvms").join("sdk");
    let sdk = sdk
        .canonicalize()
        .map_err(|e| format!("the capmon SDK {}: {e}", sdk.display()))?;
    let toolchain_file = root.join("rust-toolchain.toml");
    let toolchain = fs::read_to_string(&toolchain_file)
        .map_err(|e| format!("{}: {e}", toolchain_file.display()))?;
    let mut written = Vec::new();
    for (rel, text) in project_files(name, &sdk, &toolchain) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `capmon-tool new NAME [--dir DIR]`.
pub fn new_command(name: &str, dir: Option<&Path>) -> ExitCode {
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    let root = match crate::workspace::Workspace::locate() {
        Ok(ws) => ws.root,
        Err(e) => {
            eprintln!("capmon-tool new: {e}");
            return ExitCode::FAILURE;
        }
    };
    match create(name, &dir, &root) {
        Ok(files) => {
            for f in files {
                println!("created {}", f.display());
            }
            println!(
                "next: cd {} && cargo build --release (then see its README.md to boot it)",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("capmon-tool new: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["app", "my-cvm", "a1_b"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "App",
            "1app",
            "-x",
            "a b",
            "a/b",
            "a\"b",
            &"x".repeat(32),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn files_point_at_the_sdk() {
        let files = project_files(
            "demo-app",
            Path::new("/opt/cap\"mon/cvms/sdk"),
            "[toolchain]\n",
        );
        let get = |name: &str| {
            files
                .iter()
                .find(|(p, _)| p == Path::new(name))
                .map(|(_, t)| t.as_str())
                .unwrap_or_else(|| panic!("{name}"))
        };
        let toml = get("Cargo.toml");
        assert!(toml.contains(r#"capmon-sdk = { path = "/opt/cap\"mon/cvms/sdk" }"#));
        assert!(toml.contains(r#"build = "/opt/cap\"mon/cvms/sdk/build-cvm.rs""#));
        assert!(toml.contains("[workspace]"));
        assert!(get(".cargo/config.toml").contains(r#"rustflags = ["-C", "relocation-model=pie"]"#));
        assert!(get("manifest.dts").contains(r#"image = "demo-app";"#));
        assert_eq!(get("rust-toolchain.toml"), "[toolchain]\n");
        assert!(get("src/main.rs").contains("capmon_sdk::main!(run);"));
    }

    /// The generated project builds against this checkout's SDK with cargo, offline, as a
    /// user's would (aarch64, its default target), and the image is an AArch64 static PIE.
    /// Slow-ish (a fresh target directory: the SDK and the project, ~30 s on 2 cores).
    #[test]
    fn a_generated_project_builds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("qemu/ has a parent");
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("my-cvm");
        create("my-cvm", &dir, root).expect("created");
        assert!(create("my-cvm", &dir, root)
            .expect_err("exists")
            .contains("already exists"));
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--release", "--offline", "-q"])
            .current_dir(&dir)
            // The test's own cargo settings must not leak into the user's build.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTUP_TOOLCHAIN");
        let out =
            crate::process::output(cmd, std::time::Duration::from_secs(300)).expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let image = dir.join("target/aarch64-unknown-none/release/my-cvm");
        let bytes = std::fs::read(&image).expect("the image exists");
        let elf = crate::elf_file::parse(&bytes).expect("an ELF file");
        assert_eq!(elf.ehdr.e_machine, 183, "AArch64");
        assert_eq!(elf.ehdr.e_type, 3, "ET_DYN: a static PIE");
        // And its manifest and image make a bundle, as capmon-run boot would build it.
        crate::tools::manifest::check_manifest(
            &dir.join("manifest.dts"),
            Some(&dir.join("target/aarch64-unknown-none/release")),
        )
        .expect("manifest and image check");
    }
}
