//! Host side of cVM manifests: compile a manifest with `dtc`, check it with the monitor's own
//! parser, build the bundle a board image embeds, and audit the capabilities each cVM would
//! get on a given machine (`capmon-tool manifest check | bundle | audit`).
//!
//! Everything here calls the monitor's code (`capmon::cvm::{manifest, plan, audit}`), so the
//! host's verdict and the monitor's are the same by construction; the host adds only what the
//! monitor cannot do: running `dtc`, reading files, naming the manifest file in messages.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use capmon::addr::PhysRange;
use capmon::cap::{CheriRiscv, Morello};
use capmon::cvm::audit::{self, AuditRow};
use capmon::cvm::image::{self, Machine};
use capmon::cvm::manifest::{self, Manifest, DTC_FLAGS, ELF_MAGIC};
use capmon::cvm::plan::{self, CvmFormat};
use capmon::platform;

use serde::{Deserialize, Serialize};

use super::source_lines::{shown_file, SourceMap};
use crate::process;
use crate::workspace::temp_dir;

/// The `dtc` to run: `$DTC` if set, else `dtc` from `PATH`.
pub fn dtc_program() -> OsString {
    std::env::var_os("DTC")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("dtc"))
}

/// Compiles a device-tree source to a blob with the flags every manifest is built with
/// ([`DTC_FLAGS`]), searching `include_dirs` for `/include/` and `/incbin/` files. dtc's own
/// messages are passed through: its errors in the `Err`, its warnings to stderr.
pub fn compile_dts(path: &Path, include_dirs: &[&Path]) -> Result<Vec<u8>, String> {
    compile_with(&dtc_program(), path, include_dirs, process::limits::DTC)
}

fn compile_with(
    dtc: &OsStr,
    path: &Path,
    include_dirs: &[&Path],
    limit: Duration,
) -> Result<Vec<u8>, String> {
    let mut command = Command::new(dtc);
    command.args(DTC_FLAGS);
    for dir in include_dirs {
        command.arg("-i").arg(dir);
    }
    command.arg(path);
    let output = process::output(command, limit).map_err(|e| match e {
        process::RunError::NotFound { .. } => format!(
            "{} not found: capmon compiles manifests with dtc, the device-tree compiler \
             (Debian: apt-get install device-tree-compiler; .ci/bootstrap installs it; or set \
             DTC=/path/to/dtc)",
            dtc.to_string_lossy()
        ),
        e @ process::RunError::TimedOut { .. } => format!(
            "{}: {e} (dtc itself loops on some malformed sources)",
            path.display()
        ),
        e => e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{}\n{}: dtc could not compile it",
            stderr.trim_end(),
            path.display()
        ));
    }
    if !stderr.trim().is_empty() {
        eprint!("{stderr}");
    }
    if output.stdout.is_empty() {
        return Err(format!("{}: dtc produced no output", path.display()));
    }
    Ok(output.stdout)
}

/// The file an image name refers to in `dir`: `dir/<name>`, else `dir/<name>.elf`.
pub fn find_image(dir: &Path, name: &str) -> Option<PathBuf> {
    [name.to_string(), format!("{name}.elf")]
        .into_iter()
        .map(|file| dir.join(file))
        .find(|path| path.is_file())
}

/// Prefixes each monitor error with the manifest's file name and, where dtc can say, the line
/// of the field (or cVM node) it is about: `FILE:LINE: cvm "x": field "y": …`.
fn prefixed(path: &Path, errors: Vec<manifest::ManifestError>) -> Vec<String> {
    let map = annotated_source(path).map(|text| SourceMap::parse(&text));
    errors
        .into_iter()
        .map(|e| match map.as_ref().and_then(|m| m.locate(&e)) {
            Some(pos) => format!("{}:{}: {e}", shown_file(path, pos).display(), pos.line),
            None => format!("{}: {e}", path.display()),
        })
        .collect()
}

/// The manifest decompiled by dtc with every node and property annotated with its source
/// position (`-O dts -T`); `None` if dtc cannot do it (the errors then name only the file).
fn annotated_source(path: &Path) -> Option<String> {
    let mut command = Command::new(dtc_program());
    command.args(["-I", "dts", "-O", "dts", "-T"]);
    // The checks that dtc itself would warn about are the manifest compile's business.
    command.args([
        "-W",
        "no-unit_address_vs_reg",
        "-E",
        "no-name_properties",
        "-q",
    ]);
    command.arg("-i").arg(dir_of(path)).arg(path);
    let out = process::output(command, process::limits::DTC).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The directory a path's relative `/include/`s resolve from.
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Compiles and checks a manifest; with `images`, also that each cVM's image file exists
/// there and is an ELF file. Every error is returned, each starting with the file name.
pub fn check_manifest(path: &Path, images: Option<&Path>) -> Result<Manifest, Vec<String>> {
    let blob = compile_dts(path, &[dir_of(path)]).map_err(|e| vec![e])?;
    let manifest = manifest::parse_manifest(&blob).map_err(|errors| prefixed(path, errors))?;
    let Some(dir) = images else {
        return Ok(manifest);
    };
    let mut errors = Vec::new();
    for cvm in &manifest.cvms {
        let problem = match find_image(dir, &cvm.image) {
            None => format!(
                "no file {} or {}.elf in {}",
                cvm.image,
                cvm.image,
                dir.display()
            ),
            Some(file) => match fs::read(&file) {
                Err(e) => format!("cannot read {}: {e}", file.display()),
                Ok(bytes) if !bytes.starts_with(&ELF_MAGIC) => {
                    format!("{} is not an ELF file", file.display())
                }
                Ok(_) => continue,
            },
        };
        errors.push(format!(
            "{}: cvm \"{}\": field \"image\": {problem}",
            path.display(),
            cvm.name
        ));
    }
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}

/// A device-tree string literal: dtc understands `\"` and `\\`.
fn dts_string(path: &Path) -> Result<String, String> {
    let text = path
        .to_str()
        .filter(|s| !s.contains(['\n', '\r', '\0']))
        .ok_or_else(|| format!("{}: path cannot be written in a .dts", path.display()))?;
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What [`build_bundle`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleSummary {
    pub cvms: usize,
    pub images: usize,
    pub bytes: usize,
}

/// The source of a bundle: the manifest included as is, plus `/images` with each image the
/// manifest names, embedded by `/incbin/` (absolute paths, so dtc's search order does not
/// matter).
fn bundle_source(manifest_path: &Path, images: &[(String, PathBuf)]) -> Result<String, String> {
    let mut dts =
        String::from("/* Generated by capmon-tool bundle: the manifest plus its images. */\n");
    let _ = writeln!(dts, "/include/ {}", dts_string(manifest_path)?);
    dts.push_str("\n/ {\n\timages {\n");
    for (name, file) in images {
        let _ = writeln!(dts, "\t\t{name} = /incbin/({});", dts_string(file)?);
    }
    dts.push_str("\t};\n};\n");
    Ok(dts)
}

/// Checks `manifest_path` against the images in `images_dir` and writes the bundle blob to
/// `out`: one FDT holding the manifest and, under `/images`, every image it names (once each).
/// The result is parsed back with the monitor's bundle parser before it is written.
pub fn build_bundle(
    manifest_path: &Path,
    images_dir: &Path,
    out: &Path,
) -> Result<BundleSummary, Vec<String>> {
    let manifest = check_manifest(manifest_path, Some(images_dir))?;
    let one = |e: String| vec![e];
    let mut images: Vec<(String, PathBuf)> = Vec::new();
    for cvm in &manifest.cvms {
        if images.iter().any(|(name, _)| *name == cvm.image) {
            continue;
        }
        // check_manifest found every image, so this only fails if one vanished since.
        let file = find_image(images_dir, &cvm.image)
            .ok_or_else(|| one(format!("image {} disappeared", cvm.image)))?;
        images.push((cvm.image.clone(), absolute(&file).map_err(one)?));
    }
    let source = bundle_source(&absolute(manifest_path).map_err(one)?, &images).map_err(one)?;
    let temp = temp_dir("bundle").map_err(one)?;
    let wrapper = temp.path().join("bundle.dts");
    fs::write(&wrapper, source)
        .map_err(|e| one(format!("cannot write {}: {e}", wrapper.display())))?;
    let blob = compile_dts(&wrapper, &[dir_of(manifest_path)]).map_err(one)?;
    let bundle = manifest::parse_bundle(&blob).map_err(|errors| prefixed(out, errors))?;
    let summary = BundleSummary {
        cvms: bundle.manifest.cvms.len(),
        images: bundle.images.len(),
        bytes: blob.len(),
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .map_err(|e| one(format!("cannot create {}: {e}", dir.display())))?;
    }
    fs::write(out, &blob).map_err(|e| one(format!("cannot write {}: {e}", out.display())))?;
    Ok(summary)
}

/// The capability format an audit models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditArch {
    Morello,
    CheriRiscv,
}

impl AuditArch {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "morello" => Some(AuditArch::Morello),
            "cheri-riscv" | "riscv" => Some(AuditArch::CheriRiscv),
            _ => None,
        }
    }
    /// The link base of the QEMU boards of this architecture (`boards/qemu-*/Cargo.toml`).
    pub fn default_image_start(self) -> u64 {
        match self {
            AuditArch::Morello => 0x4020_0000,
            AuditArch::CheriRiscv => 0x8000_0000,
        }
    }
    fn machine(self) -> Machine {
        match self {
            AuditArch::Morello => Machine::Aarch64,
            AuditArch::CheriRiscv => Machine::Riscv64,
        }
    }
}

/// What `capmon-tool audit` needs besides the manifest.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// The machine's device tree (e.g. QEMU's `-machine dumpdtb=`).
    pub dtb: PathBuf,
    /// Where the loader puts the device tree; `None`: where QEMU's virt machine does.
    pub dtb_addr: Option<u64>,
    /// The monitor's image `[start, end)`, bundle included; `start` defaults to the QEMU
    /// board's link base.
    pub image_start: Option<u64>,
    pub image_end: u64,
    /// The monitor's heap, taken from the first usable range as the monitor does (4 MiB).
    pub heap_size: u64,
    pub arch: AuditArch,
    /// Where the cVM images are: the code capability's bounds depend on each image's code size.
    pub images: PathBuf,
}

/// The heap size `boot.rs` uses (`HEAP_SIZE`).
pub const DEFAULT_HEAP_SIZE: u64 = 4 << 20;

/// Where QEMU's virt machine leaves the device tree: at the RAM base on aarch64 (capmon links
/// above it); on riscv64 at the end of the first memory bank minus the tree, aligned down to
/// 2 MiB (`riscv_compute_fdt_addr`).
fn qemu_dtb_addr(arch: AuditArch, dtb: &[u8]) -> Result<u64, String> {
    match arch {
        AuditArch::Morello => Ok(0x4000_0000),
        AuditArch::CheriRiscv => {
            let probe = platform::discover_at(dtb, 0, PhysRange::default())
                .map_err(|e| format!("machine device tree: {e}"))?;
            let end = probe
                .memory_banks
                .first()
                .map(|bank| bank.end.0)
                .ok_or("machine device tree has no memory")?;
            let size = dtb
                .get(4..8)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or("machine device tree has no header")?;
            Ok(end.saturating_sub(size.into()) & !((2 << 20) - 1))
        }
    }
}

/// Plans and derives every cVM's default capabilities on the machine `options` describe, as
/// the monitor would at boot, and returns the audit rows.
pub fn audit_rows(
    manifest_path: &Path,
    options: &AuditOptions,
) -> Result<Vec<AuditRow>, Vec<String>> {
    match options.arch {
        AuditArch::Morello => audit_rows_for::<Morello>(manifest_path, options),
        AuditArch::CheriRiscv => audit_rows_for::<CheriRiscv>(manifest_path, options),
    }
}

fn audit_rows_for<F: CvmFormat>(
    manifest_path: &Path,
    options: &AuditOptions,
) -> Result<Vec<AuditRow>, Vec<String>> {
    let manifest = check_manifest(manifest_path, Some(&options.images))?;
    let one = |e: String| vec![e];
    let dtb = fs::read(&options.dtb)
        .map_err(|e| one(format!("cannot read {}: {e}", options.dtb.display())))?;
    let start = options
        .image_start
        .unwrap_or(options.arch.default_image_start());
    let image = PhysRange::from_start_size(start, options.image_end.saturating_sub(start))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            one(format!(
                "--image-end {:#x} must lie above the image start {start:#x}",
                options.image_end
            ))
        })?;
    let dtb_addr = match options.dtb_addr {
        Some(addr) => addr,
        None => qemu_dtb_addr(options.arch, &dtb).map_err(one)?,
    };
    let machine = platform::discover_at(&dtb, dtb_addr, image)
        .map_err(|e| one(format!("{}: {e}", options.dtb.display())))?;
    let heap = capmon::heap::choose(&machine.usable, options.heap_size).ok_or_else(|| {
        one(format!(
            "no usable memory range holds the monitor's {:#x}-byte heap",
            options.heap_size
        ))
    })?;
    let usable = plan::without(&machine.usable, &[heap]);
    let regions = plan::plan_regions::<F>(&manifest, &usable)
        .map_err(|e| one(format!("{}: {e}", manifest_path.display())))?;

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut planned: Vec<Option<plan::DefaultCaps<F>>> = Vec::new();
    for (at, (cvm, region)) in manifest.cvms.iter().zip(&regions).enumerate() {
        planned.push(None);
        let own = plan::own_range(&manifest, &regions, at).unwrap_or(*region);
        let fail =
            |what: String| format!("{}: cvm \"{}\": {what}", manifest_path.display(), cvm.name);
        // check_manifest found every image.
        let Some(file) = find_image(&options.images, &cvm.image) else {
            continue;
        };
        let layout = fs::read(&file).map_err(|e| e.to_string()).and_then(|elf| {
            image::inspect(&elf, options.arch.machine(), own.size(), cvm.stack_size)
                .map_err(|e| e.to_string())
        });
        let layout = match layout {
            Ok(layout) => layout,
            Err(e) => {
                errors.push(fail(format!("image {}: {e}", file.display())));
                continue;
            }
        };
        let parent = cvm
            .parent
            .and_then(|p| planned.get(p))
            .and_then(Option::as_ref);
        match plan::cvm_caps::<F>(&manifest, &regions, at, layout.code_window(), parent) {
            Ok(caps) => {
                if let Err(why) = plan::data_in_reach(&caps, region.start.0, &layout.data) {
                    errors.push(fail(why));
                }
                rows.extend(audit::rows(&manifest.path(at), &caps));
                planned[at] = Some(caps);
            }
            Err(e) => errors.push(format!("{}: {e}", manifest_path.display())),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

/// One audit row as `capmon-tool audit --json` writes it (serde). Addresses and lengths are
/// hex strings (lengths reach 2^64, beyond what JSON numbers carry exactly in most readers);
/// `perms` is an array of names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditJsonRow {
    pub cvm: String,
    pub role: String,
    pub base: String,
    pub length: String,
    pub perms: Vec<String>,
    pub otype: String,
    /// `hybrid` or `purecap`.
    pub abi: String,
}

impl From<&AuditRow> for AuditJsonRow {
    fn from(row: &AuditRow) -> Self {
        AuditJsonRow {
            cvm: row.cvm.clone(),
            role: row.role.to_string(),
            base: format!("{:#x}", row.base),
            length: format!("{:#x}", row.length),
            perms: row
                .perms
                .split(',')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            otype: row.otype.clone(),
            abi: row.abi.to_string(),
        }
    }
}

/// The rows as a JSON array of objects.
pub fn audit_json(rows: &[AuditRow]) -> String {
    let rows: Vec<AuditJsonRow> = rows.iter().map(AuditJsonRow::from).collect();
    // Serialising plain strings cannot fail.
    let mut text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------------
// Commands (their command lines are in tools::cli)

/// Parses a hex number (`0x` optional, `_` separators allowed), for clap.
pub fn parse_hex(value: &str) -> Result<u64, String> {
    let digits = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
        .unwrap_or(value)
        .replace('_', "");
    u64::from_str_radix(&digits, 16).map_err(|_| format!("{value}: not a hex number"))
}

fn report(errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    ExitCode::FAILURE
}

/// `capmon-tool manifest check <file.dts> [--images <dir>]`.
pub fn check_command(path: &Path, images: Option<&Path>) -> ExitCode {
    match check_manifest(path, images) {
        Ok(manifest) => {
            println!("manifest OK: {} cVMs", manifest.cvms.len());
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

/// `capmon-tool bundle <file.dts> --images <dir> --out <bundle.dtb>`.
pub fn bundle_command(path: &Path, images: &Path, out: &Path) -> ExitCode {
    match build_bundle(path, images, out) {
        Ok(summary) => {
            println!(
                "bundle {}: {} bytes, {} cVMs, {} images",
                out.display(),
                summary.bytes,
                summary.cvms,
                summary.images
            );
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

/// `capmon-tool audit <file.dts> --dtb <machine.dtb> --image-end <hex> --images <dir> …`.
pub fn audit_command(path: &Path, options: &AuditOptions, json: bool) -> ExitCode {
    match audit_rows(path, options) {
        Ok(rows) if json => {
            print!("{}", audit_json(&rows));
            ExitCode::SUCCESS
        }
        Ok(rows) => {
            print!("{}", audit::format_table(&rows));
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn demo() -> PathBuf {
        workspace().join("cvms/manifests/demo.dts")
    }

    /// A directory with the loader's test image for `arch` under each name in `names`.
    fn images(names: &[&str], arch: AuditArch) -> tempfile::TempDir {
        let dir = temp_dir("manifest-images").unwrap();
        let elf = match arch {
            AuditArch::Morello => "aarch64.elf",
            AuditArch::CheriRiscv => "riscv64.elf",
        };
        let elf = workspace()
            .join("monitor/src/cvm/testdata/images")
            .join(elf);
        for name in names {
            fs::copy(&elf, dir.path().join(name)).unwrap();
        }
        dir
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn shipped_manifests_check() {
        for name in ["demo.dts", "attacks.dts"] {
            let path = workspace().join("cvms/manifests").join(name);
            check_manifest(&path, None).unwrap_or_else(|e| panic!("{}", e.join("\n")));
        }
    }

    #[test]
    fn dtc_syntax_errors_pass_through_with_file_and_line() {
        let dir = temp_dir("manifest-syntax").unwrap();
        let path = write(
            dir.path(),
            "syntax.dts",
            "/dts-v1/;\n/ {\n    cvm@0 { name = \"a\" image = \"b\"; };\n};\n",
        );
        let err = compile_dts(&path, &[]).unwrap_err();
        assert!(
            err.contains("syntax.dts:3.") && err.contains("syntax error"),
            "{err}"
        );
        assert!(
            err.ends_with("syntax.dts: dtc could not compile it"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_dtc_is_named() {
        let err = compile_with(
            OsStr::new("/nonexistent/dtc"),
            &demo(),
            &[],
            process::limits::DTC,
        )
        .unwrap_err();
        assert!(
            err.starts_with("/nonexistent/dtc not found: capmon compiles manifests with dtc"),
            "{err}"
        );
    }

    #[test]
    fn every_error_is_prefixed_with_the_manifest_file_and_line() {
        let dir = temp_dir("manifest-broken").unwrap();
        let path = write(
            dir.path(),
            "broken.dts",
            r#"/dts-v1/;
/ {
    compatible = "capmon,manifest-v1";
    cvm@0 { name = "hello"; image = "hello"; memory-size = <0x100800>; };
    cvm@1 { name = "hello"; image = "hello"; memory-size = <0x100000>; streams = "s0"; };
};
"#,
        );
        let shown = path.display();
        assert_eq!(
            check_manifest(&path, None).unwrap_err(),
            [
                format!(
                    "{shown}:4: cvm \"hello\": field \"memory-size\": must be a multiple of 4 KiB \
                     (0x1000), is 0x100800"
                ),
                format!(
                    "{shown}:5: cvm@1: field \"streams\": streams are declared in the root's \
                     streams {{ … }} node, which names their sender and receiver (see \
                     cvms/manifests/README.md)"
                ),
                format!(
                    "{shown}:5: cvm@1: field \"name\": \"hello\" is already the name of cvm@0: \
                     names must be unique"
                ),
            ]
        );
    }

    #[test]
    fn images_are_looked_up_and_must_be_elf() {
        let dir = images(&["hello"], AuditArch::Morello);
        fs::write(dir.path().join("clock.elf"), b"#!/bin/sh\n").unwrap();
        let errors = check_manifest(&demo(), Some(dir.path())).unwrap_err();
        let shown = demo().display().to_string();
        let images = dir.path().display();
        assert_eq!(
            errors,
            [
                format!(
                    "{shown}: cvm \"clock\": field \"image\": {images}/clock.elf is not an ELF file"
                ),
                format!(
                    "{shown}: cvm \"hello-c\": field \"image\": no file hello-c or hello-c.elf in \
                     {images}"
                ),
            ]
        );
    }

    #[test]
    fn a_bundle_holds_the_manifest_and_each_image_once() {
        let dir = images(&["hello", "clock", "hello-c"], AuditArch::Morello);
        let out = dir.path().join("out/demo.dtb");
        let summary = build_bundle(&demo(), dir.path(), &out).unwrap();
        let blob = fs::read(&out).unwrap();
        assert_eq!(
            summary,
            BundleSummary {
                cvms: 3,
                images: 3,
                bytes: blob.len()
            }
        );
        let bundle = manifest::parse_bundle(&blob).unwrap();
        let elf = fs::read(dir.path().join("hello")).unwrap();
        for name in ["hello", "clock", "hello-c"] {
            assert_eq!(bundle.image(name), Some(elf.as_slice()), "{name}");
        }
        assert_eq!(bundle.manifest, check_manifest(&demo(), None).unwrap());

        // One image shared by two cVMs is embedded once.
        let shared = write(
            dir.path(),
            "shared.dts",
            r#"/dts-v1/;
/ {
    compatible = "capmon,manifest-v1";
    cvm@0 { name = "one"; image = "hello"; memory-size = <0x100000>; };
    cvm@1 { name = "two"; image = "hello"; memory-size = <0x100000>; };
};
"#,
        );
        let summary = build_bundle(&shared, dir.path(), &dir.path().join("shared.dtb")).unwrap();
        assert_eq!((summary.cvms, summary.images), (2, 1));
    }

    #[test]
    fn bundle_paths_are_escaped_for_dts() {
        let source = bundle_source(
            Path::new("/m/demo.dts"),
            &[("hello".into(), PathBuf::from("/odd \"dir\\/hello"))],
        )
        .unwrap();
        assert!(source.contains("/include/ \"/m/demo.dts\"\n"), "{source}");
        assert!(
            source.contains("hello = /incbin/(\"/odd \\\"dir\\\\/hello\");"),
            "{source}"
        );
        assert!(dts_string(Path::new("/a\nb")).is_err());
    }

    fn audit_options(arch: AuditArch, dtb: &str, dir: &tempfile::TempDir) -> AuditOptions {
        AuditOptions {
            dtb: workspace().join("../shared/testdata/dt").join(dtb),
            dtb_addr: None,
            image_start: None,
            image_end: arch.default_image_start() + 0x20_0000,
            heap_size: DEFAULT_HEAP_SIZE,
            arch,
            images: dir.path().to_path_buf(),
        }
    }

    #[test]
    fn morello_audit_places_cvms_at_the_top_of_ram() {
        let dir = images(&["hello", "clock", "hello-c"], AuditArch::Morello);
        let options = audit_options(AuditArch::Morello, "qemu-morello-virt.dtb", &dir);
        let rows = audit_rows(&demo(), &options).unwrap();
        assert_eq!(rows.len(), 12);
        // 2 GiB at 0x4000_0000: the first cVM takes the top MiB.
        let code = &rows[0];
        assert_eq!((code.cvm.as_str(), code.role), ("hello", audit::ROLE_CODE));
        assert_eq!(code.base, 0xbff0_0000);
        assert_eq!(code.perms, "Load,Execute,Global");
        assert_eq!(rows[2].base, 0xc000_0000 - 0x1_0000);
        assert_eq!((rows[3].base, rows[3].otype.as_str()), (0x10, "0x10"));
        assert_eq!(rows[11].otype, "0x12");
        let table = audit::format_table(&rows);
        assert!(
            table.starts_with("cvm      role          base        length"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 13);
    }

    #[test]
    fn riscv_audit_avoids_the_device_tree_at_the_top_of_ram() {
        let dir = images(&["hello", "clock", "hello-c"], AuditArch::CheriRiscv);
        let dtb = "qemu-riscv64cheri-virt.dtb";
        let options = audit_options(AuditArch::CheriRiscv, dtb, &dir);
        let rows = audit_rows(&demo(), &options).unwrap();
        // 1 GiB at 0x8000_0000; QEMU leaves the tree at 0xbfe0_0000 (the end of RAM minus
        // the tree, aligned down to 2 MiB), so the second cVM skips the MiB holding it.
        assert_eq!(rows[0].base, 0xbff0_0000);
        assert_eq!(rows[4].base, 0xbfd0_0000);
        assert_eq!(rows[8].base, 0xbfc0_0000);
        let json = audit_json(&rows);
        assert!(
            json.starts_with(
                "[\n  {\n    \"cvm\": \"hello\",\n    \"role\": \"code (PCC)\",\n    \"base\": \"0xbff00000\""
            ),
            "{json}"
        );
    }

    #[test]
    fn audit_errors_are_clear() {
        let dir = images(&["hello", "clock", "hello-c"], AuditArch::Morello);
        // aarch64 images on a RISC-V audit: the loader's own check says what is wrong.
        let options = audit_options(AuditArch::CheriRiscv, "qemu-riscv64cheri-virt.dtb", &dir);
        let errors = audit_rows(&demo(), &options).unwrap_err();
        assert_eq!(errors.len(), 3);
        assert!(errors[0].contains("cvm \"hello\": image "), "{errors:?}");
        // A monitor image that ends before it starts.
        let mut options = audit_options(AuditArch::Morello, "qemu-morello-virt.dtb", &dir);
        options.image_end = 0x4000_0000;
        let errors = audit_rows(&demo(), &options).unwrap_err();
        assert_eq!(
            errors,
            ["--image-end 0x40000000 must lie above the image start 0x40200000"]
        );
        // Out of memory names the cVM.
        let big = write(
            dir.path(),
            "big.dts",
            r#"/dts-v1/;
/ {
    compatible = "capmon,manifest-v1";
    cvm@0 { name = "hello"; image = "hello"; memory-size = <0x40000000>; };
    cvm@1 { name = "clock"; image = "clock"; memory-size = <0x40000000>; };
};
"#,
        );
        let options = audit_options(AuditArch::Morello, "qemu-morello-virt.dtb", &dir);
        let errors = audit_rows(&big, &options).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].ends_with(
                "big.dts: cvm \"clock\": out of memory: the region needs 0x40000000 (1 GiB) \
                 aligned to 0x80000, but the largest free range left is 0x3f800000 (1016 MiB) \
                 (0x3f9fe000 (1017.9 MiB) free in total)"
            ),
            "{errors:?}"
        );
    }

    /// dtc (1.6 and others) loops for ever on a phandle reference whose provider claims
    /// 0xffffffff argument cells (dtc's own tests/phandle-args-overflow.dts is such a file):
    /// the compile is killed at its limit and dtc named, instead of hanging the tool.
    #[test]
    fn a_dtc_that_spins_is_stopped_and_named() {
        let dir = temp_dir("dtc-spin").expect("tempdir");
        let path = write(
            dir.path(),
            "spin.dts",
            "/dts-v1/;\n/ {\n\tclocks = <&osc &osc>;\n\tosc: oscillator {\n\t\tphandle = <7>;\n\
             \t\t#clock-cells = <0xffffffff>;\n\t};\n};\n",
        );
        let started = std::time::Instant::now();
        let err = compile_with(&dtc_program(), &path, &[], Duration::from_secs(2)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(20));
        // A dtc without the bug rejects the file instead; either way it ends with a message.
        assert!(
            err.contains("dtc did not finish within 2 s and was killed")
                || err.contains("dtc could not compile it"),
            "{err}"
        );
    }

    #[test]
    fn hex_arguments() {
        assert_eq!(parse_hex("0x4040_0000"), Ok(0x4040_0000));
        assert_eq!(parse_hex("ff"), Ok(0xff));
        assert!(parse_hex("0xzz").is_err());
    }

    #[test]
    fn audit_json_escapes_and_keeps_full_lengths() {
        let row = AuditRow {
            cvm: "a\"b".into(),
            role: audit::ROLE_CODE,
            base: 0,
            length: 1 << 64,
            perms: "Load,Execute".into(),
            otype: "x\ny".into(),
            abi: "hybrid",
        };
        let json = audit_json(std::slice::from_ref(&row));
        let back: Vec<AuditJsonRow> = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(back, [AuditJsonRow::from(&row)]);
        assert_eq!(back[0].cvm, "a\"b");
        assert_eq!(back[0].length, "0x10000000000000000");
        assert_eq!(back[0].perms, ["Load", "Execute"]);
        assert_eq!(audit_json(&[]), "[]\n");
    }

    /// The host's JSON and the monitor's own table (what it prints at boot) agree row for row.
    #[test]
    fn audit_json_agrees_with_the_monitor_table() {
        for (arch, dtb) in [
            (AuditArch::Morello, "qemu-morello-virt.dtb"),
            (AuditArch::CheriRiscv, "qemu-riscv64cheri-virt.dtb"),
        ] {
            let dir = images(&["hello", "clock", "hello-c"], arch);
            let rows = audit_rows(&demo(), &audit_options(arch, dtb, &dir)).unwrap();
            let table = audit::format_table(&rows);
            let json: Vec<AuditJsonRow> =
                serde_json::from_str(&audit_json(&rows)).expect("valid JSON");
            let lines: Vec<&str> = table.lines().skip(1).collect();
            assert_eq!(lines.len(), json.len());
            for (line, row) in lines.iter().zip(&json) {
                // Table cells are separated by two or more spaces; a role has single spaces.
                let cells: Vec<&str> = line
                    .split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect();
                let perms = row.perms.join(",");
                // The table shows a nested cVM by its name, indented; the JSON by its path.
                let name = row.cvm.rsplit('/').next().unwrap_or(&row.cvm);
                let expected = [
                    name,
                    row.role.as_str(),
                    row.base.as_str(),
                    row.length.as_str(),
                    perms.as_str(),
                    row.otype.as_str(),
                    row.abi.as_str(),
                ];
                assert_eq!(cells, expected, "{table}");
            }
        }
    }
}
