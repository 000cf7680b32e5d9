//! capmon-run's command line, on `clap` (derive): `--help` on every subcommand, typos
//! suggested, shell completions; and the `boot`, `debug` and `build` commands. `test` and
//! `bench` live in `suite` and `bench`.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, CommandFactory, Parser, Subcommand};

use super::boards::{self, LookupEnv, RunArgs, BOARDS};
use super::cvm_build;
use super::qemu as runner;
use crate::workspace::{temp_dir, Workspace};

const ENVIRONMENT: &str = "\
Boards: qemu-morello, qemu-aarch64, qemu-riscv64cheri, qemu-riscv64, morello-sdp
Environment: CHERI_QEMU_DIR (where qemu-system-morello / qemu-system-riscv64cheri are),
  CAPMON_WORKSPACE (workspace to build from), CARGO_TARGET_DIR; CI=true (or no terminal)
  hides progress bars.";

/// capmon-run: build capmon board images and boot, debug, test and benchmark them under QEMU.
#[derive(Debug, Parser)]
#[command(name = "capmon-run", after_help = ENVIRONMENT, arg_required_else_help = true)]
pub struct Cli {
    /// Echo the console of tests and benchmarks as it arrives.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The options `boot`, `debug` and `demo` share.
#[derive(Debug, Args)]
pub struct BootOptions {
    /// Build the image with the cVMs of cvms/manifests/MANIFEST.dts (default: demo; `none`:
    /// no cVMs). A path (ending in .dts or containing /) is any manifest: its bundle is built
    /// from the prebuilt images in --images DIR and passed as an initrd to the image without
    /// cVMs, so nothing in capmon is rebuilt.
    #[arg(value_name = "MANIFEST")]
    pub manifest_word: Option<String>,
    /// Where the images of a manifest given as a path are (DIR/<image> or DIR/<image>.elf;
    /// default: the manifest's directory).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Pass a built-in manifest's bundle as an initrd to the image without cVMs instead of
    /// linking it into the image (always so for a manifest given as a path).
    #[arg(long)]
    pub initrd: bool,
    /// The same as the MANIFEST argument.
    #[arg(long = "manifest", value_name = "NAME")]
    pub manifest: Option<String>,
    /// Bootargs for capmon (QEMU -append).
    #[arg(long, value_name = "BOOTARGS")]
    pub append: Option<String>,
    /// Use the image built earlier instead of running cargo.
    #[arg(long)]
    pub no_build: bool,
    /// Forward UDP 127.0.0.1:PORT to the guest's UDP echo service (port 7); the `net`
    /// manifest gets 5555 without it.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub udp_port: Option<u16>,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true, value_name = "QEMU-ARGS")]
    pub qemu_args: Vec<String>,
}

fn board_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(BOARDS.iter().map(|b| b.name))
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Build the board, print the QEMU command and run it with this terminal as the console
    /// (Ctrl-A X quits QEMU; Ctrl-A H lists the other keys).
    Boot {
        #[arg(value_parser = board_parser())]
        board: String,
        #[command(flatten)]
        options: BootOptions,
    },
    /// Like boot, but QEMU waits halted for gdb (-s -S); prints the gdb command to attach.
    Debug {
        #[arg(value_parser = board_parser())]
        board: String,
        #[command(flatten)]
        options: BootOptions,
    },
    /// Boot on qemu-morello if CHERI QEMU is installed, else on stock qemu-aarch64.
    Demo {
        #[command(flatten)]
        options: BootOptions,
    },
    /// Build the boards (default: all; with no cVMs unless --manifest) and print each image's
    /// size.
    Build {
        /// Build with the cVMs of cvms/manifests/NAME.dts.
        #[arg(long, value_name = "NAME")]
        manifest: Option<String>,
        #[arg(value_parser = board_parser(), value_name = "BOARD")]
        boards: Vec<String>,
    },
    /// Run the QEMU boot tests whose name contains FILTER (default: all), like `cargo test`:
    /// --list, --exact, --skip, --format; ends with `N passed, N failed, N skipped`.
    Test {
        /// Use images built earlier instead of running cargo.
        #[arg(long)]
        no_build: bool,
        /// Also write a JUnit XML report of the run to FILE.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        #[command(flatten)]
        harness: libtest_mimic::Arguments,
    },
    /// Measure image size and guest instructions (reset to banner, hostcalls, switches, disk,
    /// network) per QEMU board.
    Bench {
        /// Use images built earlier instead of running cargo.
        #[arg(long)]
        no_build: bool,
        /// Also draw the figures as SVG under docs/figures/, with their numbers in
        /// docs/figures/bench.json.
        #[arg(long)]
        plot: bool,
        /// Boot nothing: print (and with --plot, redraw) the figures saved in FILE
        /// (e.g. docs/figures/bench.json).
        #[arg(long, value_name = "FILE", conflicts_with = "no_build")]
        from: Option<PathBuf>,
        /// Only the multi-core figures (speed-up, per-core shares, cross-core wake-up), printed
        /// and not saved: for measuring them again on a quiet host.
        #[arg(long, conflicts_with_all = ["from", "plot"])]
        smp: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// A parsed command line.
#[derive(Clone, Debug)]
pub enum Command {
    /// `boot` (debug = false) or `debug` (debug = true).
    Boot {
        board: String,
        debug: bool,
        manifest: Option<String>,
        /// Where the bundle comes from (the image, or an initrd).
        bundle: BundleSource,
        append: Option<String>,
        no_build: bool,
        qemu_args: Vec<String>,
        /// Host UDP port forwarded to the guest's UDP echo service.
        udp_port: Option<u16>,
    },
    /// `demo`: `boot` on qemu-morello, or on qemu-aarch64 without CHERI QEMU.
    Demo {
        manifest: Option<String>,
        bundle: BundleSource,
        append: Option<String>,
        no_build: bool,
        qemu_args: Vec<String>,
        /// Host UDP port forwarded to the guest's UDP echo service.
        udp_port: Option<u16>,
    },
    Build {
        boards: Vec<String>,
        manifest: Option<String>,
    },
    Test {
        no_build: bool,
        junit: Option<PathBuf>,
        harness: Box<libtest_mimic::Arguments>,
    },
    Bench {
        no_build: bool,
        plot: bool,
        from: Option<PathBuf>,
        smp: bool,
    },
    Completions(clap_complete::Shell),
}

/// Where a booted manifest's bundle comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BundleSource {
    /// Linked into a board image variant built for the manifest.
    #[default]
    Embedded,
    /// A built-in manifest's bundle, passed as an initrd to the image without cVMs.
    Initrd,
    /// The manifest word is a file: its bundle is built from the images in this directory and
    /// passed as an initrd.
    External { images: PathBuf },
}

/// The bundle source the options ask for; `manifest` is the resolved MANIFEST word.
fn bundle_source(
    manifest: Option<&str>,
    images: Option<PathBuf>,
    initrd: bool,
) -> Result<BundleSource, String> {
    match manifest.filter(|m| super::initrd::is_manifest_path(m)) {
        Some(path) => {
            let dir = images.unwrap_or_else(|| {
                std::path::Path::new(path)
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            });
            Ok(BundleSource::External { images: dir })
        }
        None if images.is_some() => {
            Err("--images only goes with a manifest given as a path (e.g. ./my.dts)".to_string())
        }
        None if initrd && manifest == Some(cvm_build::NO_MANIFEST) => {
            Err("--initrd with the `none` manifest: there is no bundle to pass".to_string())
        }
        None if initrd => Ok(BundleSource::Initrd),
        None => Ok(BundleSource::Embedded),
    }
}

/// Global options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Global {
    pub verbose: bool,
}

/// The manifest given as a word or with `--manifest`, not both.
fn one_manifest(word: Option<String>, option: Option<String>) -> Result<Option<String>, String> {
    match (word, option) {
        (Some(w), Some(o)) => Err(format!(
            "two manifests given (`{w}` and --manifest {o}); name one"
        )),
        (w, o) => Ok(w.or(o)),
    }
}

impl CliCommand {
    /// The command to run, after the checks clap cannot express.
    fn resolve(self) -> Result<Command, String> {
        Ok(match self {
            CliCommand::Boot { board, options } | CliCommand::Debug { board, options } => {
                let manifest = one_manifest(options.manifest_word, options.manifest)?;
                Command::Boot {
                    board,
                    debug: false,
                    bundle: bundle_source(manifest.as_deref(), options.images, options.initrd)?,
                    manifest,
                    append: options.append,
                    no_build: options.no_build,
                    qemu_args: options.qemu_args,
                    udp_port: options.udp_port,
                }
            }
            CliCommand::Demo { options } => {
                if let Some(board) = options
                    .manifest_word
                    .as_deref()
                    .filter(|w| boards::board(w).is_some())
                {
                    return Err(format!(
                        "`demo` takes no board (it picks qemu-morello or qemu-aarch64); use \
                         `boot {board}`"
                    ));
                }
                let manifest = one_manifest(options.manifest_word, options.manifest)?;
                Command::Demo {
                    bundle: bundle_source(manifest.as_deref(), options.images, options.initrd)?,
                    manifest,
                    append: options.append,
                    no_build: options.no_build,
                    qemu_args: options.qemu_args,
                    udp_port: options.udp_port,
                }
            }
            CliCommand::Build { manifest, boards } => Command::Build { boards, manifest },
            CliCommand::Test {
                no_build,
                junit,
                harness,
            } => Command::Test {
                no_build,
                junit,
                harness: Box::new(harness),
            },
            CliCommand::Bench {
                no_build,
                plot,
                from,
                smp,
            } => Command::Bench {
                no_build,
                plot,
                from,
                smp,
            },
            CliCommand::Completions { shell } => Command::Completions(shell),
        })
    }
}

/// Parses a command line (program name first).
pub fn parse<I, T>(args: I) -> Result<(Global, Command), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let debug = matches!(cli.command, CliCommand::Debug { .. });
    let global = Global {
        verbose: cli.verbose,
    };
    let mut command = cli
        .command
        .resolve()
        .map_err(|e| Cli::command().error(clap::error::ErrorKind::ArgumentConflict, e))?;
    if let Command::Boot { debug: d, .. } = &mut command {
        *d = debug;
    }
    Ok((global, command))
}

/// Entry point: runs the command line, returns the process exit code.
pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    let (global, command) = match parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    if let Command::Completions(shell) = command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "capmon-run",
            &mut std::io::stdout(),
        );
        return 0;
    }
    if let Command::Test { harness, .. } = &command {
        if harness.list {
            super::suite::list(&super::tests::all_tests(), harness);
            return 0;
        }
    }
    let ws = match Workspace::locate() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("capmon-run: {e}");
            return 2;
        }
    };
    let result = match command {
        Command::Boot {
            board,
            debug,
            manifest,
            bundle,
            append,
            no_build,
            qemu_args,
            udp_port,
        } => boot(
            &ws,
            &board,
            debug,
            manifest.as_deref(),
            &bundle,
            append,
            no_build,
            qemu_args,
            udp_port,
        ),
        Command::Demo {
            manifest,
            bundle,
            append,
            no_build,
            qemu_args,
            udp_port,
        } => {
            let board = demo_board(&LookupEnv::from_process());
            boot(
                &ws,
                board,
                false,
                manifest.as_deref(),
                &bundle,
                append,
                no_build,
                qemu_args,
                udp_port,
            )
        }
        Command::Build { boards, manifest } => build(&ws, &boards, manifest.as_deref()),
        Command::Test {
            no_build,
            junit,
            harness,
        } => {
            let filter = harness.filter.clone().unwrap_or_default();
            let opts = super::suite::Options {
                verbose: global.verbose,
                no_build,
                junit,
                harness: *harness,
            };
            let summary = super::suite::run_tests(&ws, &super::tests::all_tests(), opts);
            if summary.passed + summary.failed + summary.skipped == 0 {
                Err(format!("no test name contains `{filter}`"))
            } else {
                Ok(i32::from(summary.failed > 0))
            }
        }
        Command::Bench {
            no_build,
            plot,
            from,
            smp,
        } => Ok(match from {
            Some(file) => super::bench::from_saved(&ws, &file, plot),
            None if smp => super::bench::run_smp(&ws, no_build, global.verbose),
            None => super::bench::run(&ws, no_build, global.verbose, plot),
        }),
        Command::Completions(_) => Ok(0),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capmon-run: {e}");
            1
        }
    }
}

/// `boot` and `debug`: build, then run QEMU with the terminal as its console.
// The arguments are the fields of `Command::Boot`, passed as the command line gave them.
#[allow(clippy::too_many_arguments)]
fn boot(
    ws: &Workspace,
    board: &str,
    debug: bool,
    manifest: Option<&str>,
    bundle: &BundleSource,
    append: Option<String>,
    no_build: bool,
    qemu_args: Vec<String>,
    udp_port: Option<u16>,
) -> Result<i32, String> {
    let board = boards::board_or_err(board)?;
    let spec = board.qemu.as_ref().ok_or_else(|| {
        format!(
            "{} is real hardware: there is no QEMU for it (use `capmon-run build {}`)",
            board.name, board.name
        )
    })?;
    // Look for QEMU before building, so a missing CHERI QEMU is reported at once.
    let qemu = boards::find_qemu(spec, &LookupEnv::from_process()).map_err(|e| e.to_string())?;
    let manifest = cvm_build::resolve_manifest(manifest, Some(cvm_build::DEFAULT_BOOT_MANIFEST));
    // An initrd bundle goes with the image without one: one monitor image for every workload.
    let initrd =
        match (bundle, manifest) {
            (BundleSource::Embedded, _) | (_, None) => None,
            (BundleSource::Initrd, Some(name)) => Some(cvm_build::prepare_bundle(ws, board, name)?),
            (BundleSource::External { images }, Some(path)) => Some(
                super::initrd::external_bundle(ws, board, std::path::Path::new(path), images)?,
            ),
        };
    let image_manifest = if initrd.is_some() { None } else { manifest };
    let kernel = super::build::image_for(ws, board, image_manifest, no_build)?;
    let tmp = temp_dir(board.name)?;
    let mut extra = Vec::new();
    if debug {
        extra.extend(["-s".to_string(), "-S".to_string()]);
    }
    extra.extend(qemu_args);
    // The `net` manifest's UDP echo service is reachable from the host.
    let udp_forwards = match (udp_port, manifest) {
        (Some(port), _) => vec![(port, cvm_build::NET_ECHO_PORT)],
        (None, Some("net")) => vec![(cvm_build::DEFAULT_UDP_PORT, cvm_build::NET_ECHO_PORT)],
        _ => Vec::new(),
    };
    for (host, guest) in &udp_forwards {
        println!("UDP 127.0.0.1:{host} is forwarded to the guest's port {guest} (try: echo hi | nc -u -w1 127.0.0.1 {host})");
    }
    let mut run = RunArgs {
        kernel: kernel.clone(),
        disk: runner::scratch_disk(tmp.path())?,
        append,
        extra,
        udp_forwards,
    };
    if let Some(bundle) = &initrd {
        let (args, edits) = super::initrd::handover(board, spec, bundle)?;
        if !edits.is_empty() {
            let dtb = super::dtb::edited_machine_dtb(&qemu, spec, &run, &edits, tmp.path())?;
            run.extra
                .extend(["-dtb".to_string(), dtb.to_string_lossy().into_owned()]);
        }
        run.extra.extend(args);
        println!("bundle {} is passed as an initrd", bundle.display());
    }
    let args = boards::qemu_args(spec, &run);
    if debug {
        println!("QEMU is halted at reset and waits for gdb on :1234. Attach with:");
        println!("  {}", boards::gdb_command(board, &kernel));
    }
    println!("{}", boards::shell_line(&qemu.to_string_lossy(), &args));
    println!("(Ctrl-A X quits QEMU)");
    let code = runner::run_interactive(&qemu, &args)?;
    drop(tmp);
    Ok(code)
}

/// The board `demo` boots: qemu-morello where its CHERI QEMU is installed, else qemu-aarch64
/// (saying so, since cVMs are not isolated there).
fn demo_board(env: &LookupEnv) -> &'static str {
    let morello = boards::board("qemu-morello").and_then(|b| b.qemu.as_ref());
    match morello.map(|spec| boards::find_qemu(spec, env)) {
        Some(Ok(_)) => "qemu-morello",
        Some(Err(missing)) => {
            println!(
                "capmon-run demo: {} not found (see the README section \"CHERI QEMU\"); \
                 booting on stock qemu-aarch64 instead, where cVMs are NOT isolated",
                missing.binary
            );
            "qemu-aarch64"
        }
        None => "qemu-aarch64",
    }
}

/// `build`: builds each board (all by default) and prints its image size.
fn build(ws: &Workspace, names: &[String], manifest: Option<&str>) -> Result<i32, String> {
    let selected: Vec<&boards::Board> = if names.is_empty() {
        BOARDS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| boards::board_or_err(n))
            .collect::<Result<_, _>>()?
    };
    let mut results = Vec::new();
    let bar = crate::progress::bar(selected.len() as u64, "building");
    for board in selected {
        bar.set_message(board.name);
        let outcome = bar.suspend(|| {
            super::build::build_image(ws, board, cvm_build::resolve_manifest(manifest, None))
                .and_then(|elf| crate::elf_file::image_size_of(&elf).map(|size| (elf, size)))
        });
        results.push((board.name, outcome));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut failed = 0;
    println!();
    for (name, outcome) in &results {
        match outcome {
            Ok((elf, size)) => println!("{name}: {} {size}", elf.display()),
            Err(e) => {
                println!("{name}: FAILED: {e}");
                failed += 1;
            }
        }
    }
    Ok(i32::from(failed > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<(Global, Command), String> {
        parse(std::iter::once("capmon-run").chain(args.iter().copied())).map_err(|e| e.to_string())
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn boot_with_append_and_qemu_args() {
        let (g, c) = p(&[
            "-v",
            "boot",
            "qemu-aarch64",
            "--append",
            "log=debug ticks=20",
            "--",
            "-d",
            "int",
            "-v",
        ])
        .expect("parses");
        assert!(g.verbose);
        assert!(
            matches!(c, Command::Boot { board, debug: false, manifest: None, bundle: BundleSource::Embedded, append: Some(a), no_build: false, qemu_args, udp_port: None }
            if board == "qemu-aarch64" && a == "log=debug ticks=20" && qemu_args == ["-d", "int", "-v"])
        );
        let (_, c) = p(&["boot", "qemu-riscv64", "net", "--udp-port", "6000"]).expect("parses");
        assert!(
            matches!(c, Command::Boot { udp_port: Some(6000), manifest: Some(m), .. } if m == "net")
        );
        assert!(p(&["boot", "qemu-riscv64", "net", "--udp-port=0"])
            .unwrap_err()
            .contains("--udp-port"));
        assert!(p(&["test", "--udp-port", "5"])
            .unwrap_err()
            .contains("unexpected argument '--udp-port'"));
        let (_, c) = p(&["debug", "--manifest=attack", "qemu-riscv64"]).expect("parses");
        assert!(matches!(c, Command::Boot { debug: true, manifest: Some(m), .. } if m == "attack"));
    }

    #[test]
    fn bundle_sources() {
        let (_, c) = p(&["boot", "qemu-riscv64", "demo", "--initrd"]).expect("parses");
        assert!(
            matches!(c, Command::Boot { bundle: BundleSource::Initrd, manifest: Some(m), .. } if m == "demo")
        );
        let (_, c) = p(&[
            "boot",
            "qemu-aarch64",
            "/tmp/x/my.dts",
            "--images",
            "/tmp/imgs",
        ])
        .expect("parses");
        assert!(
            matches!(c, Command::Boot { bundle: BundleSource::External { images }, .. }
            if images == std::path::Path::new("/tmp/imgs"))
        );
        // Without --images, the images are next to the manifest.
        let (_, c) = p(&["boot", "qemu-aarch64", "work/my.dts"]).expect("parses");
        assert!(
            matches!(c, Command::Boot { bundle: BundleSource::External { images }, .. }
            if images == std::path::Path::new("work"))
        );
        let (_, c) = p(&["demo", "my.dts"]).expect("parses");
        assert!(
            matches!(c, Command::Demo { bundle: BundleSource::External { images }, .. }
            if images == std::path::Path::new("."))
        );
        assert!(p(&["boot", "qemu-aarch64", "demo", "--images", "d"])
            .unwrap_err()
            .contains("--images only goes with a manifest given as a path"));
        assert!(p(&["boot", "qemu-aarch64", "none", "--initrd"])
            .unwrap_err()
            .contains("no bundle to pass"));
    }

    #[test]
    fn other_commands() {
        assert!(matches!(
            p(&["build"]).map(|x| x.1),
            Ok(Command::Build { boards, manifest: None }) if boards.is_empty()
        ));
        assert!(matches!(
            p(&["build", "qemu-aarch64", "morello-sdp"]).map(|x| x.1),
            Ok(Command::Build { boards, manifest: None }) if boards == ["qemu-aarch64", "morello-sdp"]
        ));
        let (g, c) = p(&["test", "bad-dtb", "--verbose", "--junit", "out.xml"]).expect("parses");
        assert!(g.verbose);
        assert!(
            matches!(c, Command::Test { no_build: false, junit: Some(j), harness }
            if harness.filter.as_deref() == Some("bad-dtb") && !harness.list && j == std::path::Path::new("out.xml"))
        );
        let (_, c) = p(&["test", "--list", "--exact", "qemu-aarch64-boot"]).expect("parses");
        assert!(matches!(c, Command::Test { harness, .. } if harness.list && harness.exact));
        assert!(matches!(
            p(&["bench", "--no-build"]).map(|x| x.1),
            Ok(Command::Bench {
                no_build: true,
                plot: false,
                from: None,
                smp: false,
            })
        ));
        assert!(matches!(
            p(&["bench", "--plot"]).map(|x| x.1),
            Ok(Command::Bench {
                no_build: false,
                plot: true,
                from: None,
                smp: false,
            })
        ));
        assert!(matches!(
            p(&["bench", "--plot", "--from", "docs/figures/bench.json"]).map(|x| x.1),
            Ok(Command::Bench {
                plot: true,
                from: Some(_),
                ..
            })
        ));
        assert!(matches!(
            p(&["bench", "--smp"]).map(|x| x.1),
            Ok(Command::Bench { smp: true, .. })
        ));
        assert!(p(&["bench", "--smp", "--plot"]).is_err());
        assert!(p(&["bench", "--from", "x.json", "--no-build"])
            .unwrap_err()
            .contains("cannot be used with"));
        assert!(matches!(
            p(&["demo", "--manifest", "hello"]).map(|x| x.1),
            Ok(Command::Demo { manifest: Some(m), .. }) if m == "hello"
        ));
        assert!(p(&["demo", "qemu-aarch64"])
            .unwrap_err()
            .contains("use `boot qemu-aarch64`"));
        // The manifest as a plain word (what `just qemu-morello NAME` passes).
        assert!(matches!(
            p(&["demo", "attacks"]).map(|x| x.1),
            Ok(Command::Demo { manifest: Some(m), .. }) if m == "attacks"
        ));
        let (_, c) = p(&["boot", "qemu-morello", "attacks", "--no-build"]).expect("parses");
        assert!(
            matches!(c, Command::Boot { board, manifest: Some(m), no_build: true, .. }
            if board == "qemu-morello" && m == "attacks")
        );
        let (_, c) = p(&["boot", "qemu-morello"]).expect("parses");
        assert!(matches!(c, Command::Boot { manifest: None, .. }));
        assert!(matches!(
            p(&["completions", "bash"]).map(|x| x.1),
            Ok(Command::Completions(clap_complete::Shell::Bash))
        ));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(p(&[]).unwrap_err().contains("Usage: capmon-run"));
        assert!(p(&["boot"]).unwrap_err().contains("<BOARD>"));
        assert!(p(&["boot", "a", "b", "c"])
            .unwrap_err()
            .contains("invalid value 'a' for '<BOARD>'"));
        // Typos are suggested.
        assert!(p(&["boot", "qemu-aarch46"])
            .unwrap_err()
            .contains("qemu-aarch64"));
        assert!(p(&["tset"])
            .unwrap_err()
            .contains("similar subcommand exists: 'test'"));
        assert!(
            p(&["boot", "qemu-aarch64", "demo", "--manifest", "attacks"])
                .unwrap_err()
                .contains("two manifests")
        );
        assert!(p(&["demo", "a", "b"])
            .unwrap_err()
            .contains("unexpected argument 'b'"));
        assert!(p(&["boot", "qemu-aarch64", "--append"])
            .unwrap_err()
            .contains("a value is required for '--append"));
        assert!(p(&["test", "--frob"])
            .unwrap_err()
            .contains("unexpected argument '--frob'"));
        assert!(p(&["bench", "x"])
            .unwrap_err()
            .contains("unexpected argument 'x'"));
        assert!(p(&["test", "a", "b"])
            .unwrap_err()
            .contains("unexpected argument 'b'"));
    }
}
