//! capmon-run's command line: argument parsing (pure, tested) and the `boot`, `debug` and
//! `build` commands; `test` and `bench` live in `suite` and `bench`.

use crate::boards::{self, LookupEnv, RunArgs, BOARDS};
use crate::cvm_build;
use crate::runner::{self, TempDir, Workspace};

pub const USAGE: &str = "\
capmon-run: build capmon board images and boot them under QEMU

usage:
  capmon-run boot <board> [MANIFEST] [--append BOOTARGS] [--no-build] [-- QEMU-ARGS...]
      build the board with the cVMs of cvms/manifests/MANIFEST.dts (default: demo; `none`:
      no cVMs), print the QEMU command and run it with this terminal as the console
      (Ctrl-A X quits QEMU; Ctrl-A H lists the other keys)
  capmon-run debug <board> [MANIFEST] [--append BOOTARGS] [--no-build] [-- QEMU-ARGS...]
      like boot, but QEMU waits halted for gdb (-s -S); prints the gdb command to attach
  capmon-run demo [MANIFEST] [--append BOOTARGS] [--no-build] [-- QEMU-ARGS...]
      boot on qemu-morello if CHERI QEMU is installed, else on stock qemu-aarch64
  --udp-port PORT (boot, debug, demo)
      forward UDP 127.0.0.1:PORT to the guest's UDP echo service (port 7); the `net`
      manifest gets 5555 without it
  capmon-run build [--manifest NAME] [BOARD...]
      build the boards (default: all; with no cVMs unless --manifest) and print each
      image's size
  capmon-run test [--list] [--no-build] [FILTER]
      run the boot tests whose name contains FILTER (default: all)
  capmon-run bench [--no-build]
      image size and guest instructions from reset to the banner, per QEMU board
options (any command):
  --manifest NAME the same as the MANIFEST argument
  -v, --verbose   echo the console of tests and benchmarks as it arrives
  -h, --help      this text

boards: qemu-morello, qemu-aarch64, qemu-riscv64cheri, qemu-riscv64, morello-sdp
environment: CHERI_QEMU_DIR (where qemu-system-morello / qemu-system-riscv64cheri are),
  CAPMON_WORKSPACE (workspace to build from), CARGO_TARGET_DIR
";

/// The options `boot`, `debug` and `demo` take.
const BOOT_OPTIONS: &[&str] = &["--manifest", "--append", "--udp-port", "--no-build", "-- QEMU-ARGS"];

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `boot` (debug = false) or `debug` (debug = true).
    Boot {
        board: String,
        debug: bool,
        manifest: Option<String>,
        append: Option<String>,
        no_build: bool,
        qemu_args: Vec<String>,
        /// Host UDP port forwarded to the guest's UDP echo service.
        udp_port: Option<u16>,
    },
    /// `demo`: `boot` on qemu-morello, or on qemu-aarch64 without CHERI QEMU.
    Demo {
        manifest: Option<String>,
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
        filter: Option<String>,
        list: bool,
        no_build: bool,
    },
    Bench {
        no_build: bool,
    },
    Help,
}

/// Global options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Global {
    pub verbose: bool,
}

/// Takes the value of `--name VALUE` or `--name=VALUE`, if `arg` is that option.
fn option_value(
    arg: &str,
    name: &str,
    rest: &mut impl Iterator<Item = String>,
) -> Option<Result<String, String>> {
    if arg == name {
        Some(rest.next().ok_or_else(|| format!("{name} needs a value")))
    } else {
        arg.strip_prefix(name)
            .and_then(|v| v.strip_prefix('='))
            .map(|v| Ok(v.to_string()))
    }
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

/// Parses the arguments after the program name.
pub fn parse(args: Vec<String>) -> Result<(Global, Command), String> {
    let mut global = Global::default();
    let mut words = Vec::new();
    let mut manifest = None;
    let mut append = None;
    let mut udp_port = None;
    let mut no_build = false;
    let mut list = false;
    let mut qemu_args = Vec::new();
    let mut help = false;
    let mut rest = args.into_iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            qemu_args.extend(rest.by_ref());
            break;
        }
        if let Some(v) = option_value(&arg, "--manifest", &mut rest) {
            manifest = Some(v?);
        } else if let Some(v) = option_value(&arg, "--append", &mut rest) {
            append = Some(v?);
        } else if let Some(v) = option_value(&arg, "--udp-port", &mut rest) {
            let v = v?;
            udp_port =
                Some(v.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| {
                    format!("--udp-port wants a port number 1 to 65535, not `{v}`")
                })?);
        } else {
            match arg.as_str() {
                "-v" | "--verbose" => global.verbose = true,
                "-h" | "--help" => help = true,
                "--no-build" => no_build = true,
                "--list" => list = true,
                _ if arg.starts_with('-') && arg.len() > 1 => {
                    return Err(format!("unknown option `{arg}` (see capmon-run --help)"))
                }
                _ => words.push(arg),
            }
        }
    }
    let mut words = words.into_iter();
    let command = match words.next().as_deref() {
        _ if help => return Ok((global, Command::Help)),
        None | Some("help") => return Ok((global, Command::Help)),
        Some(c) => c.to_string(),
    };
    let words: Vec<String> = words.collect();
    let only = |allowed: &[&str]| -> Result<(), String> {
        let used = [
            ("--manifest", manifest.is_some()),
            ("--append", append.is_some()),
            ("--udp-port", udp_port.is_some()),
            ("--no-build", no_build),
            ("--list", list),
            ("-- QEMU-ARGS", !qemu_args.is_empty()),
        ];
        match used
            .iter()
            .find(|(name, on)| *on && !allowed.contains(name))
        {
            Some((name, _)) => Err(format!("`{command}` does not take {name}")),
            None => Ok(()),
        }
    };
    let cmd = match command.as_str() {
        "boot" | "debug" => {
            only(BOOT_OPTIONS)?;
            let mut words = words.into_iter();
            let (Some(board), positional, None) = (words.next(), words.next(), words.next()) else {
                return Err(format!(
                    "`{command}` takes one board and optionally a manifest: {}",
                    boards::board_names()
                ));
            };
            let manifest = one_manifest(positional, manifest)?;
            Command::Boot {
                board,
                debug: command == "debug",
                manifest,
                append,
                no_build,
                qemu_args,
                udp_port,
            }
        }
        "demo" => {
            only(BOOT_OPTIONS)?;
            if words.len() > 1 {
                return Err(
                    "`demo` takes no board (it picks qemu-morello or qemu-aarch64), only a manifest"
                        .into(),
                );
            }
            let word = words.into_iter().next();
            if let Some(board) = word.as_deref().filter(|w| boards::board(w).is_some()) {
                return Err(format!(
                    "`demo` takes no board (it picks qemu-morello or qemu-aarch64);                      use `boot {board}`"
                ));
            }
            let manifest = one_manifest(word, manifest)?;
            Command::Demo {
                manifest,
                append,
                no_build,
                qemu_args,
                udp_port,
            }
        }
        "build" => {
            only(&["--manifest"])?;
            Command::Build {
                boards: words,
                manifest,
            }
        }
        "test" => {
            only(&["--list", "--no-build"])?;
            if words.len() > 1 {
                return Err("`test` takes at most one name filter".into());
            }
            Command::Test {
                filter: words.into_iter().next(),
                list,
                no_build,
            }
        }
        "bench" => {
            only(&["--no-build"])?;
            if !words.is_empty() {
                return Err("`bench` takes no arguments".into());
            }
            Command::Bench { no_build }
        }
        other => return Err(format!("unknown command `{other}` (see capmon-run --help)")),
    };
    Ok((global, cmd))
}

/// Entry point: runs the command line, returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let (global, command) = match parse(args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("capmon-run: {e}");
            return 2;
        }
    };
    if command == Command::Help {
        print!("{USAGE}");
        return 0;
    }
    if let Command::Test {
        filter, list: true, ..
    } = &command
    {
        for t in crate::tests::select(crate::tests::all_tests(), filter.as_deref()) {
            println!("{:<34} {}", t.name, t.board);
        }
        return 0;
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
            append,
            no_build,
            qemu_args,
            udp_port,
        } => boot(
            &ws,
            &board,
            debug,
            manifest.as_deref(),
            append,
            no_build,
            qemu_args,
            udp_port,
        ),
        Command::Demo {
            manifest,
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
                append,
                no_build,
                qemu_args,
                udp_port,
            )
        }
        Command::Build { boards, manifest } => build(&ws, &boards, manifest.as_deref()),
        Command::Test {
            filter, no_build, ..
        } => {
            let tests = crate::tests::select(crate::tests::all_tests(), filter.as_deref());
            if tests.is_empty() {
                Err(format!(
                    "no test name contains `{}`",
                    filter.unwrap_or_default()
                ))
            } else {
                let opts = crate::suite::Options {
                    verbose: global.verbose,
                    no_build,
                };
                let summary = crate::suite::run_tests(&ws, &tests, opts);
                Ok(i32::from(summary.failed > 0))
            }
        }
        Command::Bench { no_build } => Ok(crate::bench::run(&ws, no_build, global.verbose)),
        Command::Help => Ok(0),
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
fn boot(
    ws: &Workspace,
    board: &str,
    debug: bool,
    manifest: Option<&str>,
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
    let kernel = crate::suite::image_for(ws, board, manifest, no_build)?;
    let tmp = TempDir::new(board.name)?;
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
    let run = RunArgs {
        kernel: kernel.clone(),
        disk: runner::scratch_disk(tmp.path())?,
        append,
        extra,
        udp_forwards,
    };
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
    for board in selected {
        let outcome = runner::build_image(ws, board, cvm_build::resolve_manifest(manifest, None))
            .and_then(|elf| crate::elf::image_size_of(&elf).map(|size| (elf, size)));
        results.push((board.name, outcome));
    }
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
        parse(args.iter().map(|s| s.to_string()).collect())
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
        assert_eq!(
            c,
            Command::Boot {
                board: "qemu-aarch64".into(),
                debug: false,
                manifest: None,
                append: Some("log=debug ticks=20".into()),
                no_build: false,
                qemu_args: vec!["-d".into(), "int".into(), "-v".into()],
                udp_port: None,
            }
        );
        let (_, c) = p(&["boot", "qemu-riscv64", "net", "--udp-port", "6000"]).expect("parses");
        assert!(matches!(
            c,
            Command::Boot {
                udp_port: Some(6000),
                ..
            }
        ));
        assert!(p(&["boot", "qemu-riscv64", "net", "--udp-port=0"])
            .unwrap_err()
            .contains("1 to 65535"));
        assert!(p(&["test", "--udp-port", "5"])
            .unwrap_err()
            .contains("does not take --udp-port"));
        let (_, c) = p(&["debug", "--manifest=attack", "qemu-riscv64"]).expect("parses");
        assert!(matches!(c, Command::Boot { debug: true, manifest: Some(m), .. } if m == "attack"));
    }

    #[test]
    fn other_commands() {
        assert_eq!(p(&[]).map(|x| x.1), Ok(Command::Help));
        assert_eq!(p(&["test", "-h"]).map(|x| x.1), Ok(Command::Help));
        assert_eq!(
            p(&["build"]).map(|x| x.1),
            Ok(Command::Build {
                boards: vec![],
                manifest: None
            })
        );
        assert_eq!(
            p(&["build", "qemu-aarch64", "morello-sdp"]).map(|x| x.1),
            Ok(Command::Build {
                boards: vec!["qemu-aarch64".into(), "morello-sdp".into()],
                manifest: None
            })
        );
        assert_eq!(
            p(&["test", "bad-dtb", "--verbose"]).map(|x| (x.0.verbose, x.1)),
            Ok((
                true,
                Command::Test {
                    filter: Some("bad-dtb".into()),
                    list: false,
                    no_build: false
                }
            ))
        );
        assert_eq!(
            p(&["bench", "--no-build"]).map(|x| x.1),
            Ok(Command::Bench { no_build: true })
        );
        assert_eq!(
            p(&["demo", "--manifest", "hello"]).map(|x| x.1),
            Ok(Command::Demo {
                manifest: Some("hello".into()),
                append: None,
                no_build: false,
                qemu_args: vec![],
                udp_port: None,
            })
        );
        assert!(p(&["demo", "qemu-aarch64"])
            .unwrap_err()
            .contains("use `boot qemu-aarch64`"));
        // The manifest as a plain word (what `just qemu-morello NAME` passes).
        assert_eq!(
            p(&["demo", "attacks"]).map(|x| x.1),
            Ok(Command::Demo {
                manifest: Some("attacks".into()),
                append: None,
                no_build: false,
                qemu_args: vec![],
                udp_port: None,
            })
        );
        let (_, c) = p(&["boot", "qemu-morello", "attacks", "--no-build"]).expect("parses");
        assert!(
            matches!(c, Command::Boot { board, manifest: Some(m), no_build: true, .. }
            if board == "qemu-morello" && m == "attacks")
        );
        let (_, c) = p(&["boot", "qemu-morello"]).expect("parses");
        assert!(matches!(c, Command::Boot { manifest: None, .. }));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(p(&["boot"])
            .unwrap_err()
            .contains("one board and optionally a manifest"));
        assert!(p(&["boot", "a", "b", "c"])
            .unwrap_err()
            .contains("one board and optionally a manifest"));
        assert!(
            p(&["boot", "qemu-aarch64", "demo", "--manifest", "attacks"])
                .unwrap_err()
                .contains("two manifests")
        );
        assert!(p(&["demo", "a", "b"])
            .unwrap_err()
            .contains("only a manifest"));
        assert!(p(&["boot", "qemu-aarch64", "--append"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(p(&["frob"]).unwrap_err().contains("unknown command"));
        assert!(p(&["test", "--frob"])
            .unwrap_err()
            .contains("unknown option"));
        assert!(p(&["test", "--append", "x"])
            .unwrap_err()
            .contains("does not take --append"));
        assert!(p(&["bench", "x"]).unwrap_err().contains("no arguments"));
        assert!(p(&["test", "a", "b"]).unwrap_err().contains("at most one"));
    }
}
