//! Building what a manifest needs before a board image can embed it: each cVM image the
//! manifest names, compiled for the board's architecture, then the bundle (manifest + images)
//! the board's build script embeds through `CAPMON_BUNDLE`.
//!
//! [`IMAGES`] maps each image name a manifest may use to how it is built: a binary of a Rust
//! cVM crate (`cargo build` with `-C relocation-model=pie` in its own target directory,
//! `target/cvms`, so the monitor's build cache is not invalidated by the different flags), or
//! C sources (the Debian cross gcc with the SDK's `start.c` and `cvm.ld`). Everything for one
//! variant lands in `target/capmon-run/<board>/<manifest>/`:
//!
//! ```text
//! images/<image>   each image, cut down to what the loader reads (headers and segments)
//! bundle.dtb       the bundle (qemu/src/tools/manifest.rs: build_bundle)
//! capmon-<board>   the board image with that bundle, copied there by the runner
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::boards::{self, Arch, Board};
use crate::process;
use crate::workspace::Workspace;

/// The UDP port the `net` manifest's echo cVM serves (`cvms/net`, `udp-echo`).
pub const NET_ECHO_PORT: u16 = 7;
/// The host port `boot … net` forwards to it unless told otherwise.
pub const DEFAULT_UDP_PORT: u16 = 5555;
/// The manifest `boot`, `debug` and `demo` use when none is named.
pub const DEFAULT_BOOT_MANIFEST: &str = "demo";
/// The manifest name that means "no bundle": the image prints `cvms: none in this image`.
pub const NO_MANIFEST: &str = "none";

/// How one cVM image is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// Binary `bin` of the Rust cVM crate `package`.
    Rust {
        package: &'static str,
        bin: &'static str,
    },
    /// C sources (workspace-relative), linked with `cvms/sdk/c/start.c` and `cvms/sdk/c/call.S`.
    C { sources: &'static [&'static str] },
}

/// One buildable image: the name manifests refer to it by, and its recipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: &'static str,
    pub recipe: Recipe,
}

const fn rust(name: &'static str, package: &'static str, bin: &'static str) -> ImageSpec {
    ImageSpec {
        name,
        recipe: Recipe::Rust { package, bin },
    }
}

/// Every image a manifest can use. To add a cVM: create its crate (or C file), then a row here.
pub const IMAGES: &[ImageSpec] = &[
    rust("hello", "cvm-hello", "hello"),
    rust("clock", "cvm-clock", "clock"),
    rust("stress", "cvm-smp", "stress"),
    rust("crunch", "cvm-smp", "crunch"),
    ImageSpec {
        name: "hello-c",
        recipe: Recipe::C {
            sources: &["cvms/hello-c/hello.c"],
        },
    },
    rust("read-monitor", "cvm-attacks", "read-monitor"),
    rust("write-other", "cvm-attacks", "write-other"),
    rust("jump-out", "cvm-attacks", "jump-out"),
    rust("bad-hostcall-ptr", "cvm-attacks", "bad-hostcall-ptr"),
    rust("forge-cap", "cvm-attacks", "forge-cap"),
    rust("privileged", "cvm-attacks", "privileged"),
    rust("spin", "cvm-attacks", "spin"),
    rust("steady", "cvm-attacks", "steady"),
    rust("nest", "cvm-nest", "nest"),
    rust("nest-probe", "cvm-nest", "nest-probe"),
    rust("read-parent", "cvm-nest", "read-parent"),
    rust("bench", "cvm-bench", "bench"),
    rust("regs", "cvm-regs", "regs"),
    rust("scrub", "cvm-scrub", "scrub"),
    rust("hello-pure", "cvm-pure", "hello-pure"),
    rust("pure-waiter", "cvm-pure", "pure-waiter"),
    rust("null-ddc", "cvm-pure", "null-ddc"),
    rust("pure-sealed", "cvm-pure", "pure-sealed"),
    rust("pure-forged", "cvm-pure", "pure-forged"),
    rust("pure-overrun", "cvm-pure", "pure-overrun"),
    rust("pure-regs", "cvm-pure", "pure-regs"),
    rust("bench-pure", "cvm-pure", "bench-pure"),
    rust("pure-dma-tags", "cvm-pure", "pure-dma-tags"),
    rust("cap-relocs", "cvm-pure", "cap-relocs"),
    rust("logger", "cvm-disk-log", "logger"),
    rust("reader", "cvm-disk-log", "reader"),
    rust("disk-bench", "cvm-disk-log", "disk-bench"),
    rust("udp-echo", "cvm-net", "udp-echo"),
    rust("net-ping", "cvm-net", "net-ping"),
    rust("producer", "cvm-ipc", "producer"),
    rust("consumer", "cvm-ipc", "consumer"),
    ImageSpec {
        name: "consumer-c",
        recipe: Recipe::C {
            sources: &["cvms/ipc/c/consumer-c.c"],
        },
    },
    rust("share-attack", "cvm-ipc", "share-attack"),
    rust("cp-bench", "cvm-ipc", "cp-bench"),
    rust("kv", "cvm-ipc", "kv"),
    rust("call-attack", "cvm-ipc", "call-attack"),
    rust("kv-client", "cvm-ipc", "kv-client"),
    ImageSpec {
        name: "stream-c",
        recipe: Recipe::C {
            sources: &["cvms/ipc/c/stream-c.c"],
        },
    },
    ImageSpec {
        name: "kv-client-c",
        recipe: Recipe::C {
            sources: &["cvms/ipc/c/kv-client-c.c"],
        },
    },
    rust("stream", "cvm-ipc", "stream"),
    rust("stream-bench", "cvm-ipc", "stream-bench"),
];

/// The recipe for an image name.
pub fn image_spec(name: &str) -> Option<&'static ImageSpec> {
    IMAGES.iter().find(|s| s.name == name)
}

/// The manifest to build for a command: `requested`, else `default`; `none` means no bundle.
pub fn resolve_manifest<'a>(
    requested: Option<&'a str>,
    default: Option<&'a str>,
) -> Option<&'a str> {
    requested.or(default).filter(|m| *m != NO_MANIFEST)
}

/// The Rust target cVMs are compiled for on an architecture. Hard-float on aarch64: cVMs may
/// use FP/SIMD (the monitor saves that state); the monitor itself is soft-float.
pub fn cvm_target(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "aarch64-unknown-none",
        Arch::Riscv64 => "riscv64gc-unknown-none-elf",
    }
}

/// The C compiler and its architecture flags: `-mstrict-align`, from when aarch64 cVMs ran on
/// Device memory (unaligned accesses fault; now their memory is Normal write-back, and the flag
/// only costs a little); `-mcmodel=medany` so riscv64
/// code addresses data PC-relatively anywhere, not only in the low 2 GiB.
pub fn c_compiler(arch: Arch) -> (&'static str, &'static [&'static str]) {
    match arch {
        Arch::Aarch64 => ("aarch64-linux-gnu-gcc", &["-mstrict-align"]),
        Arch::Riscv64 => ("riscv64-linux-gnu-gcc", &["-mcmodel=medany"]),
    }
}

/// Where cVM builds go: their own cargo target directory.
pub fn cvm_target_dir(ws: &Workspace) -> PathBuf {
    ws.target_dir.join("cvms")
}

/// Where an image's unstripped build output is (symbols and debug info, for gdb).
pub fn built_image_path(ws: &Workspace, arch: Arch, spec: &ImageSpec) -> PathBuf {
    let dir = cvm_target_dir(ws).join(cvm_target(arch));
    match spec.recipe {
        Recipe::Rust { bin, .. } => dir.join("release").join(bin),
        Recipe::C { .. } => dir.join("c").join(spec.name),
    }
}

/// `target/capmon-run/<board>/<manifest>`: everything built for one image variant.
pub fn variant_dir(ws: &Workspace, board: &Board, manifest: &str) -> PathBuf {
    ws.target_dir
        .join("capmon-run")
        .join(board.name)
        .join(manifest)
}

/// The manifest source for a name.
pub fn manifest_path(ws: &Workspace, manifest: &str) -> PathBuf {
    ws.root
        .join("cvms")
        .join("manifests")
        .join(format!("{manifest}.dts"))
}

/// The manifests in `cvms/manifests`, sorted (for error messages).
fn available_manifests(ws: &Workspace) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(ws.root.join("cvms").join("manifests"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".dts"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The `cargo` arguments that build the Rust images among `specs` (None if there are none):
/// one invocation for all of them, so cargo shares the SDK build and prints one progress log.
pub fn cargo_args(arch: Arch, specs: &[&ImageSpec]) -> Option<Vec<String>> {
    let mut packages: Vec<&str> = Vec::new();
    let mut bins: Vec<&str> = Vec::new();
    for spec in specs {
        if let Recipe::Rust { package, bin } = spec.recipe {
            if !packages.contains(&package) {
                packages.push(package);
            }
            if !bins.contains(&bin) {
                bins.push(bin);
            }
        }
    }
    if bins.is_empty() {
        return None;
    }
    let mut args: Vec<String> = ["build", "--release", "--target", cvm_target(arch)]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for package in packages {
        args.extend(["-p".to_string(), package.to_string()]);
    }
    for bin in bins {
        args.extend(["--bin".to_string(), bin.to_string()]);
    }
    Some(args)
}

/// The RUSTFLAGS of cVM builds: position-independent code for the static-PIE images (the
/// link arguments come from `cvms/sdk/build-cvm.rs`).
pub const CVM_RUSTFLAGS: &str = "-C relocation-model=pie";

/// The gcc arguments that build a C image (paths absolute, under `root`).
pub fn gcc_args(root: &Path, arch: Arch, sources: &[&str], out: &Path) -> Vec<OsString> {
    let (_, arch_flags) = c_compiler(arch);
    let sdk = root.join("cvms").join("sdk");
    let mut args: Vec<OsString> = [
        "-ffreestanding",
        "-nostdlib",
        "-static-pie",
        "-fPIE",
        "-O2",
        // Debian's gcc defaults that need libc or a loader: stack-protector canaries and
        // unwind tables (the script discards .eh_frame anyway).
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-fno-unwind-tables",
        "-Wall",
        "-Wextra",
    ]
    .iter()
    .chain(arch_flags)
    .map(OsString::from)
    .collect();
    let mut include = OsString::from("-I");
    include.push(sdk.join("include"));
    args.push(include);
    // The same layout as the Rust images, and the same link options as build-cvm.rs.
    let mut link = OsString::from("-Wl,-T,");
    link.push(sdk.join("cvm.ld"));
    link.push(
        ",--no-dynamic-linker,-z,text,-z,max-page-size=16,-z,common-page-size=16,\
         -z,norelro,--build-id=none,--hash-style=sysv",
    );
    args.push(link);
    args.push("-o".into());
    args.push(out.into());
    args.push(sdk.join("c").join("start.c").into());
    args.push(sdk.join("c").join("call.S").into());
    args.extend(sources.iter().map(|s| root.join(s).into_os_string()));
    // Helpers gcc may call for arithmetic it does not inline (libgcc is static and PIC).
    args.push("-lgcc".into());
    args
}

/// Builds every image the manifest names for `board`'s architecture into its variant's
/// `images/` directory, then the bundle; returns the bundle's path.
pub fn prepare_bundle(ws: &Workspace, board: &Board, manifest: &str) -> Result<PathBuf, String> {
    let source = manifest_path(ws, manifest);
    if !source.is_file() {
        return Err(format!(
            "no manifest `{manifest}`: {} does not exist (manifests: {})",
            source.display(),
            available_manifests(ws).join(", ")
        ));
    }
    let parsed = crate::tools::manifest::check_manifest(&source, None).map_err(|e| e.join("\n"))?;
    let mut specs: Vec<&ImageSpec> = Vec::new();
    for cvm in &parsed.cvms {
        let spec = image_spec(&cvm.image).ok_or_else(|| {
            format!(
                "{}: cvm \"{}\" uses image \"{}\", which capmon-run cannot build \
                 (add it to IMAGES in qemu/src/run/cvm_build.rs)",
                source.display(),
                cvm.name,
                cvm.image
            )
        })?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    eprintln!(
        "building cVM images for {} (manifest {manifest}): {}",
        board.name,
        names.join(", ")
    );
    build_rust(ws, board.arch, &specs)?;
    for spec in &specs {
        if let Recipe::C { sources } = spec.recipe {
            build_c(ws, board.arch, spec, sources)?;
        }
    }

    let dir = variant_dir(ws, board, manifest);
    let images = dir.join("images");
    // A fresh directory: images a previous version of the manifest used do not linger.
    if images.exists() {
        std::fs::remove_dir_all(&images)
            .map_err(|e| format!("cannot clear {}: {e}", images.display()))?;
    }
    std::fs::create_dir_all(&images)
        .map_err(|e| format!("cannot create {}: {e}", images.display()))?;
    for spec in &specs {
        let built = built_image_path(ws, board.arch, spec);
        let elf = std::fs::read(&built)
            .map_err(|e| format!("cannot read the built image {}: {e}", built.display()))?;
        let trimmed = crate::elf_file::loadable_part(&elf).unwrap_or(elf);
        let dest = images.join(spec.name);
        std::fs::write(&dest, &trimmed)
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }

    let bundle = dir.join("bundle.dtb");
    let fresh = dir.join("bundle.dtb.new");
    let summary =
        crate::tools::manifest::build_bundle(&source, &images, &fresh).map_err(|e| e.join("\n"))?;
    replace_if_changed(&fresh, &bundle)?;
    eprintln!(
        "bundle for {} (manifest {manifest}): {} cVMs, {} images, {} bytes: {}",
        board.name,
        summary.cvms,
        summary.images,
        summary.bytes,
        bundle.display()
    );
    Ok(bundle)
}

/// Moves `fresh` over `dest` unless `dest` already has the same bytes (then `fresh` is
/// removed), so an unchanged bundle keeps its timestamp and cargo does not relink the board.
fn replace_if_changed(fresh: &Path, dest: &Path) -> Result<(), String> {
    let same = match (std::fs::read(fresh), std::fs::read(dest)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        std::fs::remove_file(fresh).map_err(|e| format!("cannot remove {}: {e}", fresh.display()))
    } else {
        std::fs::rename(fresh, dest)
            .map_err(|e| format!("cannot move {} to {}: {e}", fresh.display(), dest.display()))
    }
}

fn build_rust(ws: &Workspace, arch: Arch, specs: &[&ImageSpec]) -> Result<(), String> {
    let Some(args) = cargo_args(arch, specs) else {
        return Ok(());
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let target_dir = cvm_target_dir(ws);
    eprintln!(
        "building cVMs: RUSTFLAGS={} CARGO_TARGET_DIR={} {}",
        boards::shell_quote(CVM_RUSTFLAGS),
        boards::shell_quote(&target_dir.to_string_lossy()),
        boards::shell_line("cargo", &args)
    );
    let mut cmd = Command::new(&cargo);
    cmd.args(&args)
        .current_dir(&ws.root)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", CVM_RUSTFLAGS)
        // Would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    let status = process::status(cmd, process::limits::CARGO)
        .map_err(|e| format!("building the Rust cVMs: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the Rust cVMs failed ({status})"))
    }
}

fn build_c(ws: &Workspace, arch: Arch, spec: &ImageSpec, sources: &[&str]) -> Result<(), String> {
    let (cc, _) = c_compiler(arch);
    let out = built_image_path(ws, arch, spec);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let args = gcc_args(&ws.root, arch, sources, &out);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    eprintln!(
        "building cVM {}: {}",
        spec.name,
        boards::shell_line(cc, &shown)
    );
    let mut cmd = Command::new(cc);
    cmd.args(&args).current_dir(&ws.root);
    let status = process::status(cmd, process::limits::GCC).map_err(|e| match e {
        process::RunError::NotFound { .. } => format!(
            "{cc} not found: C cVMs are built with Debian's cross gcc \
                 (apt-get install gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu; \
                 .ci/bootstrap installs them)"
        ),
        e => format!("building cVM {}: {e}", spec.name),
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building cVM {} failed ({status})", spec.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> Workspace {
        Workspace {
            root: "/w".into(),
            target_dir: "/w/target".into(),
        }
    }

    /// The workspace this crate belongs to, for checks against the real tree.
    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("qemu/ has a parent")
            .to_path_buf()
    }

    #[test]
    fn table_names_are_unique_and_recipes_exist() {
        let root = repo_root();
        let mut names: Vec<&str> = IMAGES.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), IMAGES.len(), "image names are unique");
        for spec in IMAGES {
            match spec.recipe {
                Recipe::Rust { package, bin } => {
                    let dir = root.join("cvms").join(package.trim_start_matches("cvm-"));
                    let toml = std::fs::read_to_string(dir.join("Cargo.toml"))
                        .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
                    assert!(
                        toml.contains(&format!("name = \"{package}\"")),
                        "{}",
                        spec.name
                    );
                    let in_bin_dir = dir.join("src/bin").join(format!("{bin}.rs")).is_file();
                    let as_main = dir.join("src/main.rs").is_file()
                        && toml.contains(&format!("name = \"{bin}\""));
                    assert!(
                        in_bin_dir || as_main,
                        "{}: no source for bin {bin}",
                        spec.name
                    );
                }
                Recipe::C { sources } => {
                    for s in sources {
                        assert!(root.join(s).is_file(), "{}: no {s}", spec.name);
                    }
                }
            }
        }
        let members = std::fs::read_to_string(root.join("Cargo.toml")).expect("workspace");
        for dir in ["cvms/sdk", "cvms/hello", "cvms/clock", "cvms/attacks"] {
            assert!(
                members.contains(&format!("\"{dir}\"")),
                "{dir} is a workspace member"
            );
        }
    }

    /// Every image a checked-in manifest names can be built (read from the .dts text, so the
    /// test needs no dtc).
    #[test]
    fn every_manifest_image_has_a_recipe() {
        let dir = repo_root().join("cvms").join("manifests");
        let re = regex::Regex::new(r#"(?m)^\s*image\s*=\s*"([^"]+)"\s*;"#).expect("regex");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("cvms/manifests") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("dts") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            for caps in re.captures_iter(&text) {
                assert!(
                    image_spec(&caps[1]).is_some(),
                    "{}: image {} has no recipe",
                    path.display(),
                    &caps[1]
                );
                seen += 1;
            }
        }
        assert!(seen >= 3, "found the manifests' images");
    }

    #[test]
    fn paths() {
        let ws = ws();
        let board = boards::board("qemu-morello").expect("board");
        assert_eq!(
            variant_dir(&ws, board, "demo"),
            Path::new("/w/target/capmon-run/qemu-morello/demo")
        );
        assert_eq!(
            manifest_path(&ws, "attacks"),
            Path::new("/w/cvms/manifests/attacks.dts")
        );
        let hello = image_spec("hello").expect("hello");
        assert_eq!(
            built_image_path(&ws, Arch::Aarch64, hello),
            Path::new("/w/target/cvms/aarch64-unknown-none/release/hello")
        );
        let c = image_spec("hello-c").expect("hello-c");
        assert_eq!(
            built_image_path(&ws, Arch::Riscv64, c),
            Path::new("/w/target/cvms/riscv64gc-unknown-none-elf/c/hello-c")
        );
        // The board's image variant sits next to its bundle.
        assert_eq!(
            ws.stashed_image_path(board, Some("demo")).parent(),
            Some(variant_dir(&ws, board, "demo").as_path())
        );
    }

    #[test]
    fn manifest_selection() {
        assert_eq!(
            resolve_manifest(None, Some(DEFAULT_BOOT_MANIFEST)),
            Some("demo")
        );
        assert_eq!(
            resolve_manifest(Some("attacks"), Some("demo")),
            Some("attacks")
        );
        assert_eq!(resolve_manifest(Some(NO_MANIFEST), Some("demo")), None);
        assert_eq!(resolve_manifest(None, None), None);
    }

    #[test]
    fn build_commands() {
        let specs: Vec<&ImageSpec> = ["hello", "hello-c", "spin", "steady"]
            .iter()
            .map(|n| image_spec(n).expect("known"))
            .collect();
        assert_eq!(
            cargo_args(Arch::Riscv64, &specs)
                .expect("rust images")
                .join(" "),
            "build --release --target riscv64gc-unknown-none-elf -p cvm-hello -p cvm-attacks \
             --bin hello --bin spin --bin steady"
        );
        assert_eq!(cargo_args(Arch::Aarch64, &specs[1..2]), None);
        let args = gcc_args(
            Path::new("/w"),
            Arch::Aarch64,
            &["cvms/hello-c/hello.c"],
            Path::new("/o/hello-c"),
        );
        let line: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = line.join(" ");
        for part in [
            "-ffreestanding -nostdlib -static-pie -fPIE -O2",
            "-mstrict-align",
            "-I/w/cvms/sdk/include",
            "-Wl,-T,/w/cvms/sdk/cvm.ld,--no-dynamic-linker,",
            "-o /o/hello-c /w/cvms/sdk/c/start.c /w/cvms/sdk/c/call.S /w/cvms/hello-c/hello.c -lgcc",
        ] {
            assert!(line.contains(part), "{part} in {line}");
        }
        let riscv = gcc_args(Path::new("/w"), Arch::Riscv64, &[], Path::new("/o/x"));
        assert!(riscv.iter().any(|a| a == "-mcmodel=medany"));
        assert!(!riscv.iter().any(|a| a == "-mstrict-align"));
    }
}
