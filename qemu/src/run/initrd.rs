//! Booting a bundle that is not linked into the monitor: the bundle of any manifest with
//! prebuilt images (`capmon-run boot BOARD path/to/x.dts --images DIR`), or of a built-in
//! manifest with `--initrd`, handed to the one image without a bundle as an initrd.
//!
//! How the initrd reaches the monitor is what a boot loader would do, per architecture:
//! * RISC-V virt: QEMU's own `-initrd`, which loads the file into RAM and writes
//!   `/chosen` `linux,initrd-start`/`-end`.
//! * Arm virt: QEMU ignores `-initrd` for an ELF kernel (it only loads one for a Linux
//!   `Image`), so the runner does the loader's part itself: the file goes to the top of RAM
//!   with `-device loader,…,force-raw=on`, and the machine's own DTB, dumped and given the
//!   two `/chosen` properties, is passed with `-dtb`. That is also how TF-A or U-Boot hand an
//!   initrd to a payload on real hardware.
//!
//! Either way the monitor reads the same two properties (`monitor/src/platform/initrd.rs`).

use std::path::{Path, PathBuf};

use super::boards::{self, Arch, Board, QemuSpec};
use super::dtb::DtsEdit;
use super::expect::{End, Verdict};
use super::tests::{InitrdBundle, TestSpec};
use crate::workspace::Workspace;

/// Arm virt's RAM base (`memory@40000000` in every QEMU arm virt tree).
const ARM_VIRT_RAM_BASE: u64 = 0x4000_0000;
/// Where in RAM the runner puts an initrd on Arm: this aligned, as high as it fits.
const ARM_INITRD_ALIGN: u64 = 64 << 10;

/// Whether a MANIFEST word names a file rather than a manifest under `cvms/manifests/`.
pub fn is_manifest_path(word: &str) -> bool {
    word.ends_with(".dts") || word.contains('/')
}

/// The ELF `e_machine` a board's cVM images must have.
fn elf_machine(arch: Arch) -> (u16, &'static str) {
    match arch {
        Arch::Aarch64 => (183, "AArch64"),
        Arch::Riscv64 => (243, "RISC-V"),
    }
}

/// Builds the bundle of `manifest` (any path) with the images in `images` (each `DIR/<image>`
/// or `DIR/<image>.elf`) for `board`, under `target/capmon-run/<board>/external/<stem>/`, and
/// returns its path. Nothing in the repository is touched; the manifest is checked exactly as
/// `capmon-tool manifest check` does, and each image must be an ELF file for the board's
/// architecture (the monitor checks the rest when it loads it).
pub fn external_bundle(
    ws: &Workspace,
    board: &Board,
    manifest: &Path,
    images: &Path,
) -> Result<PathBuf, String> {
    if !manifest.is_file() {
        return Err(format!("no manifest file {}", manifest.display()));
    }
    if !images.is_dir() {
        return Err(format!(
            "no images directory {} (--images DIR: where each cVM's image file is)",
            images.display()
        ));
    }
    let parsed =
        crate::tools::manifest::check_manifest(manifest, Some(images)).map_err(|e| e.join("\n"))?;
    let stem = manifest
        .file_stem()
        .map_or_else(|| "manifest".into(), |s| s.to_string_lossy().into_owned());
    let dir = ws
        .target_dir
        .join("capmon-run")
        .join(board.name)
        .join("external")
        .join(&stem);
    let out_images = dir.join("images");
    if out_images.exists() {
        std::fs::remove_dir_all(&out_images)
            .map_err(|e| format!("cannot clear {}: {e}", out_images.display()))?;
    }
    std::fs::create_dir_all(&out_images)
        .map_err(|e| format!("cannot create {}: {e}", out_images.display()))?;
    let (machine, arch_name) = elf_machine(board.arch);
    for cvm in &parsed.cvms {
        let dest = out_images.join(&cvm.image);
        if dest.exists() {
            continue;
        }
        // check_manifest found every image, so this only fails if one vanished since.
        let file = crate::tools::manifest::find_image(images, &cvm.image)
            .ok_or_else(|| format!("image {} disappeared from {}", cvm.image, images.display()))?;
        let elf = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let parsed_elf =
            crate::elf_file::parse(&elf).map_err(|e| format!("{}: {e}", file.display()))?;
        if parsed_elf.ehdr.e_machine != machine {
            return Err(format!(
                "{}: image of cvm \"{}\" is not an {arch_name} ELF file (e_machine {}), \
                 but {} is {arch_name}",
                file.display(),
                cvm.name,
                parsed_elf.ehdr.e_machine,
                board.name
            ));
        }
        let trimmed = crate::elf_file::loadable_part(&elf).unwrap_or(elf);
        std::fs::write(&dest, trimmed).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    let bundle = dir.join("bundle.dtb");
    let summary = crate::tools::manifest::build_bundle(manifest, &out_images, &bundle)
        .map_err(|e| e.join("\n"))?;
    eprintln!(
        "bundle for {} ({}): {} cVMs, {} images, {} bytes: {}",
        board.name,
        manifest.display(),
        summary.cvms,
        summary.images,
        summary.bytes,
        bundle.display()
    );
    Ok(bundle)
}

/// The `-m` size (MiB) among a QEMU machine line's arguments.
fn ram_mib(machine_args: &[&str]) -> Option<u64> {
    let at = machine_args.iter().position(|a| *a == "-m")?;
    machine_args.get(at + 1)?.parse().ok()
}

/// Where the runner loads an initrd of `len` bytes on Arm virt with `machine_args`: the top
/// of RAM, aligned down.
pub fn arm_initrd_address(machine_args: &[&str], len: u64) -> Result<u64, String> {
    let mib = ram_mib(machine_args).ok_or("the machine line has no -m SIZE")?;
    let top = ARM_VIRT_RAM_BASE + (mib << 20);
    let start = top
        .checked_sub(len)
        .filter(|s| *s >= ARM_VIRT_RAM_BASE + (mib << 19))
        .ok_or_else(|| format!("a {len}-byte bundle does not fit in the top half of RAM"))?;
    Ok(start & !(ARM_INITRD_ALIGN - 1))
}

/// The `/chosen` properties a loader writes for an initrd at `[start, start + len)`.
pub fn chosen_edits(start: u64, len: u64) -> Vec<DtsEdit> {
    let cells = |v: u64| format!("<{:#x} {:#x}>", v >> 32, v & 0xffff_ffff);
    ["linux,initrd-start", "linux,initrd-end"]
        .iter()
        .zip([start, start + len])
        .map(|(property, value)| DtsEdit::SetProperty {
            node: "/chosen".into(),
            property: property.to_string(),
            value: cells(value),
        })
        .collect()
}

/// How the bundle at `bundle` reaches a board's monitor: the QEMU arguments to add, plus the
/// DTB edits the caller must apply to the dumped machine DTB (passed with `-dtb`), if any.
pub fn handover(
    board: &Board,
    spec: &QemuSpec,
    bundle: &Path,
) -> Result<(Vec<String>, Vec<DtsEdit>), String> {
    let len = std::fs::metadata(bundle)
        .map_err(|e| format!("{}: {e}", bundle.display()))?
        .len();
    match board.arch {
        Arch::Riscv64 => Ok((
            vec!["-initrd".into(), bundle.to_string_lossy().into_owned()],
            Vec::new(),
        )),
        Arch::Aarch64 => {
            let start = arm_initrd_address(spec.machine_args, len)?;
            Ok((
                vec![
                    "-device".into(),
                    format!(
                        "loader,file={},addr={start:#x},force-raw=on",
                        boards::qemu_escape(&bundle.to_string_lossy())
                    ),
                ],
                chosen_edits(start, len),
            ))
        }
    }
}

/// Builds (or, with `no_build`, finds) the bundle an initrd boot test passes.
pub fn test_bundle(
    ws: &Workspace,
    board: &Board,
    initrd: &InitrdBundle,
    no_build: bool,
) -> Result<PathBuf, String> {
    match initrd {
        InitrdBundle::Builtin(name) if no_build => {
            let bundle = super::cvm_build::variant_dir(ws, board, name).join("bundle.dtb");
            if bundle.is_file() {
                Ok(bundle)
            } else {
                Err(format!(
                    "{} does not exist; build it first (drop --no-build)",
                    bundle.display()
                ))
            }
        }
        InitrdBundle::Builtin(name) => super::cvm_build::prepare_bundle(ws, board, name),
        InitrdBundle::External(write) => {
            // Outside the repository, as a user's own project would be.
            let dir = crate::workspace::temp_dir("external-cvm")?;
            let manifest = write(&ws.root, board.arch, dir.path())?;
            let images = manifest.parent().unwrap_or(dir.path()).to_path_buf();
            external_bundle(ws, board, &manifest, &images)
        }
        InitrdBundle::Raw(write) => {
            let dir = ws
                .target_dir
                .join("capmon-run")
                .join(board.name)
                .join("raw-initrd");
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            write(&dir)
        }
    }
}

/// A C cVM built the way a user outside the repository builds one: the cross gcc, the C SDK
/// (`capmon.h`, `start.c`, `cvm.ld`) and the demo's `hello.c`, into `dir` with a manifest of
/// its own that gives it arguments (so its output shows the outside manifest was used).
pub fn write_outside_c_cvm(root: &Path, arch: Arch, dir: &Path) -> Result<PathBuf, String> {
    let image = dir.join("my-hello");
    let source = root.join("cvms").join("hello-c").join("hello.c");
    let source = source.to_string_lossy();
    let args = super::cvm_build::gcc_args(root, arch, &[source.as_ref()], &image);
    let (cc, _) = super::cvm_build::c_compiler(arch);
    let mut cmd = std::process::Command::new(cc);
    cmd.args(&args).current_dir(dir);
    let status = crate::process::status(cmd, crate::process::limits::GCC)
        .map_err(|e| format!("{cc}: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed ({status})"));
    }
    let manifest = dir.join("my-app.dts");
    std::fs::write(
        &manifest,
        "/dts-v1/;\n/ {\n    compatible = \"capmon,manifest-v1\";\n    cvm@0 {\n        \
         name = \"outside\";\n        image = \"my-hello\";\n        \
         memory-size = <0x100000>;\n        args = \"built\", \"elsewhere\";\n    };\n};\n",
    )
    .map_err(|e| format!("{}: {e}", manifest.display()))?;
    Ok(manifest)
}

/// A bundle cut short: a device-tree header that claims 4 KiB, in a 64-byte file.
pub fn write_truncated_bundle(dir: &Path) -> Result<PathBuf, String> {
    let mut blob = vec![0u8; 64];
    blob[0..4].copy_from_slice(&0xd00d_feed_u32.to_be_bytes());
    blob[4..8].copy_from_slice(&4096u32.to_be_bytes());
    let path = dir.join("truncated.dtb");
    std::fs::write(&path, blob).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

const INITRD_LINE: &str = r"^bundle: from the initrd at \[0x[0-9a-f]+\.\.0x[0-9a-f]+\), \d+ bytes$";

/// What the outside C cVM ([`write_outside_c_cvm`]) prints, ending well.
fn runs_outside_cvm(t: TestSpec) -> TestSpec {
    t.expect(r"^\[outside\] hello from C: argc=3, 6 \* 7 = 42$")
        .expect(r"^cvm outside: exit 0$")
        .forbid(r"^cvm \S+ fault: ")
}

/// A truncated bundle ([`write_truncated_bundle`]) is refused like a bad embedded one.
fn refuses_truncated(t: TestSpec) -> TestSpec {
    t.expect(r"^cvms: the bundled manifest is invalid; starting nothing:$")
        .expect(r"^  manifest: ")
        .ends(End::PowerOff(Verdict::Fail))
}

/// The initrd boot tests for every QEMU board: a built-in manifest's bundle as an initrd, and
/// a C image built outside the tree with a manifest of its own (also from the disk); a
/// truncated bundle is refused like a bad embedded one (initrd and disk); on Arm (where the runner writes `/chosen` itself) an initrd range
/// that runs out of RAM is refused before anything reads it.
pub fn boot_tests() -> Vec<TestSpec> {
    let mut tests = Vec::new();
    for board in [
        "qemu-aarch64",
        "qemu-morello",
        "qemu-riscv64",
        "qemu-riscv64cheri",
    ] {
        tests.push(
            TestSpec::new(format!("{board}-initrd"), board)
                .initrd(InitrdBundle::Builtin("demo".into()))
                .expect(INITRD_LINE)
                .expect(r"^cvms: starting 3$")
                .expect_any_order(&[
                    r"^\[hello\] hello from hello: argc=3 args=from the manifest$",
                    r"^\[clock\] clock: slept 5 x 20 ms, elapsed \d+ ms: ok$",
                    r"^\[hello-c\] hello from C: argc=1, 6 \* 7 = 42$",
                ])
                .expect(r"^cvms: all 3 ended$")
                .forbid(r"^cvm \S+ fault: "),
        );
        tests.push(runs_outside_cvm(
            TestSpec::new(format!("{board}-outside-image"), board)
                .initrd(InitrdBundle::External(write_outside_c_cvm))
                .expect(INITRD_LINE),
        ));
        tests.push(refuses_truncated(
            TestSpec::new(format!("{board}-initrd-truncated"), board)
                .initrd(InitrdBundle::Raw(write_truncated_bundle))
                .expect(INITRD_LINE),
        ));
    }
    for board in [
        "qemu-aarch64",
        "qemu-morello",
        "qemu-riscv64",
        "qemu-riscv64cheri",
    ] {
        tests.push(runs_outside_cvm(
            TestSpec::new(format!("{board}-disk-bundle"), board)
                .disk_bundle(InitrdBundle::External(write_outside_c_cvm))
                .expect(r"^bundle: from virtio-blk disk 0, \d+ bytes$"),
        ));
        tests.push(refuses_truncated(
            TestSpec::new(format!("{board}-disk-bundle-truncated"), board)
                .disk_bundle(InitrdBundle::Raw(write_truncated_bundle))
                .expect(r"^bundle: from virtio-blk disk 0, 4096 bytes$"),
        ));
    }
    for board in ["qemu-aarch64", "qemu-morello"] {
        tests.push(
            TestSpec::new(format!("{board}-initrd-outside-ram"), board)
                .initrd(InitrdBundle::Builtin("demo".into()))
                .edit_dtb(DtsEdit::SetProperty {
                    node: "/chosen".into(),
                    property: "linux,initrd-end".into(),
                    value: "<0x00 0xc0001000>".into(),
                })
                .expect(
                    r"^bundle: the initrd is unusable: the initrd \[0x[0-9a-f]+\.\.0xc0001000\) is not inside one memory bank; starting nothing$",
                )
                .forbid(r"^cvms: starting")
                .ends(End::PowerOff(Verdict::Fail)),
        );
    }
    tests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_words() {
        assert!(is_manifest_path("my.dts"));
        assert!(is_manifest_path("./x/manifest"));
        assert!(!is_manifest_path("demo"));
        assert!(!is_manifest_path("ipc-attacks"));
    }

    #[test]
    fn arm_placement_is_at_the_top_of_ram() {
        let arm = boards::board("qemu-aarch64").expect("board");
        let args = arm.qemu.as_ref().expect("qemu").machine_args;
        assert_eq!(ram_mib(args), Some(2048));
        // 2 GiB from 0x4000_0000: RAM ends at 0xc000_0000.
        assert_eq!(arm_initrd_address(args, 1), Ok(0xbfff_0000));
        assert_eq!(arm_initrd_address(args, 0x1_0000), Ok(0xbfff_0000));
        assert_eq!(arm_initrd_address(args, 0x1_0001), Ok(0xbffe_0000));
        assert!(arm_initrd_address(args, 2 << 30).is_err());
        assert!(arm_initrd_address(&["-M", "virt"], 8).is_err());
    }

    #[test]
    fn chosen_gets_both_ends_in_two_cells() {
        let edits = chosen_edits(0x1_bfff_0000, 0x123);
        assert_eq!(
            edits,
            [
                DtsEdit::SetProperty {
                    node: "/chosen".into(),
                    property: "linux,initrd-start".into(),
                    value: "<0x1 0xbfff0000>".into(),
                },
                DtsEdit::SetProperty {
                    node: "/chosen".into(),
                    property: "linux,initrd-end".into(),
                    value: "<0x1 0xbfff0123>".into(),
                },
            ]
        );
    }

    #[test]
    fn handover_per_architecture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bundle = dir.path().join("b,1.dtb");
        std::fs::write(&bundle, [0u8; 100]).expect("write");
        let riscv = boards::board("qemu-riscv64").expect("board");
        let (args, edits) =
            handover(riscv, riscv.qemu.as_ref().expect("qemu"), &bundle).expect("riscv");
        assert_eq!(args[0], "-initrd");
        assert!(edits.is_empty());
        let arm = boards::board("qemu-aarch64").expect("board");
        let (args, edits) = handover(arm, arm.qemu.as_ref().expect("qemu"), &bundle).expect("arm");
        assert_eq!(args[0], "-device");
        assert!(
            args[1].starts_with("loader,file=")
                && args[1].ends_with("b,,1.dtb,addr=0xbfff0000,force-raw=on"),
            "{}",
            args[1]
        );
        assert_eq!(edits.len(), 2);
        assert!(handover(
            arm,
            arm.qemu.as_ref().expect("qemu"),
            &dir.path().join("none")
        )
        .is_err());
    }
}
