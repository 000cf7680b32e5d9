//! capmon-tool's command line, on `clap` (derive): one subcommand per job, `--help` on each,
//! typos suggested, shell completions (`capmon-tool completions bash|zsh|fish`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use super::fip::{self, FipRequest, Tools};
use super::manifest::{self, parse_hex, AuditArch, AuditOptions};

/// capmon-tool: host-side helper commands for capmon.
#[derive(Debug, Parser)]
#[command(name = "capmon-tool", arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: ToolCommand,
}

#[derive(Debug, Subcommand)]
pub enum ToolCommand {
    /// Check the capability test vectors in DIR/morello/*.txt and DIR/riscv/*.txt against the
    /// monitor's capability model.
    CapVectors { dir: PathBuf },
    /// Package the morello-sdp board ELF (linked at 0xE0000000) as BL33 in a TF-A FIP.
    ///
    /// ELF=, FIP=, OUT= and ROT_KEY= are accepted for --elf, --fip, --out and --rot-key (what
    /// `just fip` passes). Needs fiptool and cert_create (package arm-trusted-firmware-tools).
    Fip {
        /// The board image: target/aarch64-unknown-none-softfloat/release/capmon-morello-sdp.
        #[arg(long)]
        elf: PathBuf,
        /// The board's fip.bin (Arm's Morello release, SOFTWARE/fip.bin on the MCC microSD):
        /// BL33 is replaced in a copy, every other entry is kept. Without it, the FIP holds
        /// only capmon (for inspection; it does not boot).
        #[arg(long = "fip", value_name = "INPUT", value_parser = maybe_path)]
        input: Option<PathBuf>,
        /// Output FIP; capmon.bin is written next to it.
        #[arg(long, default_value = fip::DEFAULT_OUT)]
        out: PathBuf,
        /// Root-of-trust private key to re-sign a FIP built with TRUSTED_BOARD_BOOT=1 (Arm's
        /// builds: TF-A's plat/arm/board/common/rotpk/arm_rotprivk_rsa.pem).
        #[arg(long, value_name = "KEY", value_parser = maybe_path)]
        rot_key: Option<PathBuf>,
        /// Write a FIP with certificates without re-signing (BL2 will reject its BL33).
        #[arg(long)]
        no_resign: bool,
    },
    /// cVM manifests.
    Manifest {
        #[command(subcommand)]
        command: ManifestCommand,
    },
    /// Build the bundle a board image embeds: the manifest plus its images.
    Bundle {
        manifest: PathBuf,
        #[arg(long)]
        images: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Print each cVM's default capabilities on a machine, as the monitor prints them at boot.
    Audit {
        manifest: PathBuf,
        /// The machine's device tree (QEMU: -machine dumpdtb=FILE).
        #[arg(long)]
        dtb: PathBuf,
        /// End of the monitor image (bundle included), hex.
        #[arg(long, value_parser = parse_hex)]
        image_end: u64,
        /// The cVM images: each code capability's bounds depend on its image's code size.
        #[arg(long)]
        images: PathBuf,
        #[arg(long, value_enum, default_value_t = ArchArg::Morello)]
        arch: ArchArg,
        /// Start of the monitor image (default: the QEMU board's link base, morello
        /// 0x40200000, cheri-riscv 0x80000000).
        #[arg(long, value_parser = parse_hex)]
        image_start: Option<u64>,
        /// Where the loader leaves the device tree (default: where QEMU virt puts it).
        #[arg(long, value_parser = parse_hex)]
        dtb_addr: Option<u64>,
        /// The monitor heap, hex (default 0x400000, as boot.rs).
        #[arg(long, value_parser = parse_hex, default_value = "0x400000")]
        // manifest::DEFAULT_HEAP_SIZE
        heap_size: u64,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Start a Rust cVM project NAME outside the repository: Cargo.toml against this
    /// checkout's SDK, src/main.rs, manifest.dts and a README saying how to build and boot it.
    New {
        name: String,
        /// Where to create it (default: ./NAME); must not exist.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Compile a cVM manifest with dtc and check it (and, with --images, its images).
    Check {
        manifest: PathBuf,
        #[arg(long)]
        images: Option<PathBuf>,
    },
}

/// The capability format an audit models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Morello,
    #[value(alias = "riscv")]
    CheriRiscv,
}

/// `just fip FIP=… ROT_KEY=…` hands its words over as KEY=VALUE: the same as the options.
fn from_just_words(args: Vec<OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| {
            let text = arg.to_string_lossy();
            for (key, option) in [
                ("ELF=", "--elf="),
                ("FIP=", "--fip="),
                ("OUT=", "--out="),
                ("ROT_KEY=", "--rot-key="),
            ] {
                if let Some(value) = text.strip_prefix(key) {
                    return OsString::from(format!("{option}{value}"));
                }
            }
            arg
        })
        .collect()
}

/// Parses a command line (program name first).
pub fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(from_just_words(args))
}

/// A path that may be empty (`FIP=`, what `just fip` passes when the variable is unset).
fn maybe_path(value: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(value))
}

/// An empty path (`FIP=`) means none.
fn non_empty(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

/// Entry point.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match cli.command {
        ToolCommand::CapVectors { dir } => super::vectors::cap_vectors_command(&dir),
        ToolCommand::New { name, dir } => super::new_project::new_command(&name, dir.as_deref()),
        ToolCommand::Fip {
            elf,
            input,
            out,
            rot_key,
            no_resign,
        } => fip::fip_command(&FipRequest {
            elf,
            input: non_empty(input),
            out,
            rot_key: non_empty(rot_key),
            no_resign,
            tools: Tools::default(),
        }),
        ToolCommand::Manifest {
            command: ManifestCommand::Check { manifest, images },
        } => manifest::check_command(&manifest, images.as_deref()),
        ToolCommand::Bundle {
            manifest,
            images,
            out,
        } => manifest::bundle_command(&manifest, &images, &out),
        ToolCommand::Audit {
            manifest,
            dtb,
            image_end,
            images,
            arch,
            image_start,
            dtb_addr,
            heap_size,
            json,
        } => {
            let options = AuditOptions {
                dtb,
                dtb_addr,
                image_start,
                image_end,
                heap_size,
                arch: match arch {
                    ArchArg::Morello => AuditArch::Morello,
                    ArchArg::CheriRiscv => AuditArch::CheriRiscv,
                },
                images,
            };
            manifest::audit_command(&manifest, &options, json)
        }
        ToolCommand::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "capmon-tool",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn p(args: &[&str]) -> Result<Cli, String> {
        parse(
            std::iter::once("capmon-tool")
                .chain(args.iter().copied())
                .map(OsString::from)
                .collect(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn fip_command_line() {
        let cli = p(&["fip", "--elf", "a.elf", "--fip=", "--rot-key", "k.pem"]).expect("ok");
        let ToolCommand::Fip {
            elf,
            input,
            out,
            rot_key,
            no_resign,
        } = cli.command
        else {
            panic!("not fip");
        };
        assert_eq!(elf, PathBuf::from("a.elf"));
        assert_eq!(non_empty(input), None);
        assert_eq!(out, PathBuf::from(fip::DEFAULT_OUT));
        assert_eq!(rot_key, Some(PathBuf::from("k.pem")));
        assert!(!no_resign);
        assert!(p(&["fip", "--fip", "x"]).unwrap_err().contains("--elf"));
        assert!(p(&["fip", "--elf"]).is_err());
        assert!(p(&["fip", "--bogus"]).is_err());
        let cli = p(&[
            "fip",
            "ROT_KEY=/k.pem",
            "--elf",
            "e",
            "FIP=/sd/fip.bin",
            "OUT=o.fip",
        ])
        .expect("ok");
        assert!(
            matches!(cli.command, ToolCommand::Fip { input: Some(i), rot_key: Some(k), out, .. }
            if i == Path::new("/sd/fip.bin") && k == Path::new("/k.pem") && out == Path::new("o.fip"))
        );
        assert!(p(&["fip", "--elf", "e", "BOGUS=1"]).is_err());
    }

    #[test]
    fn other_commands() {
        let cli = p(&[
            "audit",
            "m.dts",
            "--dtb",
            "d",
            "--image-end",
            "0x4040_0000",
            "--images",
            "i",
            "--arch",
            "riscv",
        ])
        .expect("ok");
        assert!(matches!(
            cli.command,
            ToolCommand::Audit {
                image_end: 0x4040_0000,
                arch: ArchArg::CheriRiscv,
                heap_size: 0x40_0000,
                json: false,
                ..
            }
        ));
        assert!(p(&[
            "audit",
            "m.dts",
            "--dtb",
            "d",
            "--image-end",
            "zz",
            "--images",
            "i"
        ])
        .unwrap_err()
        .contains("not a hex number"));
        assert!(p(&["audit", "m.dts", "--dtb", "d", "--image-end", "1"])
            .unwrap_err()
            .contains("--images"));
        assert!(matches!(
            p(&["manifest", "check", "x.dts"]).expect("ok").command,
            ToolCommand::Manifest {
                command: ManifestCommand::Check { images: None, .. }
            }
        ));
        assert!(p(&["manifest", "chek", "x.dts"])
            .unwrap_err()
            .contains("check"));
        assert!(p(&["cap-vector", "d"]).unwrap_err().contains("cap-vectors"));
        assert!(matches!(
            p(&["completions", "zsh"]).expect("ok").command,
            ToolCommand::Completions {
                shell: clap_complete::Shell::Zsh
            }
        ));
    }
}
