//! `capmon-run bench`: image size and guest instructions from reset to the banner, per QEMU
//! board, against capmon's targets.
//!
//! Boot time is measured in guest instructions, not wall time, so it does not depend on how
//! loaded the host is: with `-icount shift=0` every instruction advances virtual time by 1 ns,
//! and the monitor reports `boot: banner after <N> ns` from its own timer counter.

use std::path::Path;
use std::time::Duration;

use crate::boards::{self, LookupEnv, RunArgs, BOARDS};
use crate::elf::{self, ImageSize};
use crate::expect::{End, Script, Step};
use crate::runner::{self, RunSettings, TempDir, Workspace};
use crate::suite::{failure_lines, skipped_line};

/// Target: the monitor image (text + data + bss) fits in 256 KiB.
pub const IMAGE_LIMIT: u64 = 256 * 1024;
/// Target: the banner is printed within 2,000,000 guest instructions of reset.
pub const BANNER_LIMIT: u64 = 2_000_000;
/// One instruction = 1 ns of virtual time, and no real-time throttling or sleeping.
pub const ICOUNT_ARGS: [&str; 2] = ["-icount", "shift=0,align=off,sleep=off"];
/// The monitor's own measurement line.
pub const BANNER_PATTERN: &str = r"^boot: banner after (\d+) ns$";
/// icount slows TCG down; leave more time than a normal test.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One board's figures (None where it could not be measured).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub board: String,
    pub image: Option<ImageSize>,
    pub banner_insns: Option<u64>,
}

/// Reads the instruction count from the monitor's banner-time line.
pub fn banner_insns(console: &[String]) -> Option<u64> {
    let re = regex::Regex::new(BANNER_PATTERN).ok()?;
    console
        .iter()
        .find_map(|l| re.captures(l)?.get(1)?.as_str().parse().ok())
}

fn verdict(value: Option<u64>, limit: u64) -> &'static str {
    match value {
        Some(v) if v <= limit => "ok",
        Some(_) => "over",
        None => "-",
    }
}

/// Formats the results table.
pub fn format_table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<20} {:>12} {:>9} {:<6} {:>14} {:<6}\n",
        "board", "image bytes", "KiB", "≤256K", "banner insns", "≤2M"
    );
    for r in rows {
        let bytes = r.image.map_or("-".to_string(), |s| s.total().to_string());
        let kib = r.image.map_or("-".to_string(), |s| {
            format!("{:.1}", s.total() as f64 / 1024.0)
        });
        let insns = r.banner_insns.map_or("-".to_string(), |n| n.to_string());
        out.push_str(&format!(
            "{:<20} {:>12} {:>9} {:<6} {:>14} {:<6}\n",
            r.board,
            bytes,
            kib,
            verdict(r.image.map(|s| s.total()), IMAGE_LIMIT),
            insns,
            verdict(r.banner_insns, BANNER_LIMIT),
        ));
    }
    out.push_str(&format!(
        "targets: image ≤ {IMAGE_LIMIT} bytes ({} KiB); banner within {BANNER_LIMIT} guest \
         instructions of reset (-icount shift=0: 1 ns = 1 instruction)\n",
        IMAGE_LIMIT / 1024
    ));
    out
}

/// Measures one board: returns (row, error if something failed to run).
fn measure(
    ws: &Workspace,
    board: &'static boards::Board,
    qemu: &Path,
    no_build: bool,
    verbose: bool,
) -> (Row, Option<String>) {
    let mut row = Row {
        board: board.name.to_string(),
        ..Row::default()
    };
    let Some(spec) = board.qemu.as_ref() else {
        return (row, Some("no QEMU".into()));
    };
    let kernel = match if no_build {
        runner::existing_image(ws, board)
    } else {
        runner::build_image(ws, board, None)
    } {
        Ok(k) => k,
        Err(e) => return (row, Some(e)),
    };
    match elf::image_size_of(&kernel) {
        Ok(size) => {
            println!("{}: {}: {size}", board.name, kernel.display());
            row.image = Some(size);
        }
        Err(e) => return (row, Some(e)),
    }
    let tmp = match TempDir::new(&format!("bench-{}", board.name)) {
        Ok(t) => t,
        Err(e) => return (row, Some(e)),
    };
    let disk = match runner::scratch_disk(tmp.path()) {
        Ok(d) => d,
        Err(e) => return (row, Some(e)),
    };
    let run = RunArgs {
        kernel,
        disk,
        append: None,
        extra: ICOUNT_ARGS.iter().map(|s| s.to_string()).collect(),
    };
    let args = boards::qemu_args(spec, &run);
    let command = boards::shell_line(&qemu.to_string_lossy(), &args);
    println!("{}: $ {command}", board.name);
    let script = Script {
        steps: vec![Step::Expect {
            pattern: BANNER_PATTERN.into(),
            at_least: None,
        }],
        forbid: vec![crate::tests::DEFAULT_FORBID.into()],
        end: End::KillWhenDone,
    };
    let report = runner::run_script(&RunSettings {
        qemu,
        args: &args,
        script: &script,
        status_is_verdict: spec.exit_status_is_verdict,
        time_limit: TIME_LIMIT,
        verbose,
    });
    row.banner_insns = banner_insns(&report.console);
    match &report.result {
        Ok(()) => (row, None),
        Err(reason) => {
            let lines = failure_lines(
                &format!("bench-{}", board.name),
                reason,
                None,
                report.tail(runner::TAIL_LINES),
            );
            (row, Some(lines.join("\n")))
        }
    }
}

/// Runs the benchmark over every QEMU board; returns the process exit code (0 unless something
/// failed to build or run; being over a target is reported, not an error).
pub fn run(ws: &Workspace, no_build: bool, verbose: bool) -> i32 {
    let env = LookupEnv::from_process();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for board in BOARDS {
        let Some(spec) = board.qemu.as_ref() else {
            continue;
        };
        let qemu = match boards::find_qemu(spec, &env) {
            Ok(q) => q,
            Err(missing) if missing.cheri => {
                println!("{}", skipped_line(&format!("bench-{}", board.name)));
                continue;
            }
            Err(missing) => {
                errors.push(format!("{}: {missing}", board.name));
                rows.push(Row {
                    board: board.name.to_string(),
                    ..Row::default()
                });
                continue;
            }
        };
        let (row, error) = measure(ws, board, &qemu, no_build, verbose);
        if let Some(e) = error {
            errors.push(format!("{}: {e}", board.name));
        }
        rows.push(row);
    }
    println!();
    print!("{}", format_table(&rows));
    for e in &errors {
        eprintln!("capmon-run bench: {e}");
    }
    i32::from(!errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_banner_line() {
        let console: Vec<String> = [
            "x",
            "boot: banner after 295797 ns",
            "boot: banner after 1 ns",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(banner_insns(&console), Some(295797));
        assert_eq!(banner_insns(&[]), None);
    }

    #[test]
    fn table_marks_targets() {
        let rows = vec![
            Row {
                board: "qemu-aarch64".into(),
                image: Some(ImageSize {
                    text: 100 * 1024,
                    data: 1024,
                    bss: 0,
                }),
                banner_insns: Some(295_797),
            },
            Row {
                board: "qemu-riscv64".into(),
                image: Some(ImageSize {
                    text: 300 * 1024,
                    data: 0,
                    bss: 0,
                }),
                banner_insns: Some(2_000_001),
            },
            Row {
                board: "qemu-morello".into(),
                image: None,
                banner_insns: None,
            },
        ];
        let table = format_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("qemu-aarch64"));
        assert!(
            lines[1].contains("103424") && lines[1].contains("101.0"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].matches(" ok").count(), 2, "{}", lines[1]);
        assert_eq!(lines[2].matches("over").count(), 2, "{}", lines[2]);
        assert!(lines[3].contains(" - "), "{}", lines[3]);
        assert!(lines[4].starts_with("targets:"));
    }

    #[test]
    fn icount_makes_ns_instructions() {
        assert_eq!(ICOUNT_ARGS.join(" "), "-icount shift=0,align=off,sleep=off");
    }
}
