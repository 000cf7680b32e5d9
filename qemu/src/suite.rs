//! `capmon-run test`: plans the selected tests (skipping boards whose CHERI QEMU is missing),
//! builds each needed board image once, runs the tests one after the other and prints the
//! results and the `N passed, M failed, K skipped` summary.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::boards::{self, Board, LookupEnv, QemuSpec, RunArgs};
use crate::runner::{self, RunReport, RunSettings, TempDir, Workspace};
use crate::tests::TestSpec;

/// How long dumping a machine's DTB may take (QEMU exits right after writing it).
const DUMP_LIMIT: Duration = Duration::from_secs(60);

/// Counts for the closing line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Identifies one image variant: board name and manifest.
type ImageKey<'a> = (&'a str, Option<&'a str>);

/// What will happen to one test, decided before anything is built.
#[derive(Debug)]
enum Plan {
    Run {
        board: &'static Board,
        spec: &'static QemuSpec,
        qemu: PathBuf,
    },
    Skip,
    Fail(String),
}

fn plan(test: &TestSpec, env: &LookupEnv) -> Plan {
    let board = match boards::board_or_err(test.board) {
        Ok(b) => b,
        Err(e) => return Plan::Fail(e),
    };
    let Some(spec) = board.qemu.as_ref() else {
        return Plan::Fail(format!("board {} has no QEMU to boot on", board.name));
    };
    match boards::find_qemu(spec, env) {
        Ok(qemu) => Plan::Run { board, spec, qemu },
        Err(missing) if missing.cheri => Plan::Skip,
        Err(missing) => Plan::Fail(missing.to_string()),
    }
}

/// The line printed for a test skipped because its CHERI QEMU is missing.
pub fn skipped_line(name: &str) -> String {
    format!("SKIPPED (no CHERI QEMU): {name}")
}

/// The lines printed for a failed test: the reason, how to rerun QEMU, the console's tail.
pub fn failure_lines(
    name: &str,
    reason: &str,
    command: Option<&str>,
    tail: &[String],
) -> Vec<String> {
    let mut lines = vec![format!("FAIL {name}: {reason}")];
    if let Some(command) = command {
        lines.push(format!("    $ {command}"));
    }
    lines.extend(tail.iter().map(|l| format!("    {l}")));
    lines
}

/// Options for a test run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    pub verbose: bool,
    /// Use images built earlier instead of running cargo.
    pub no_build: bool,
}

/// Runs `tests` and prints their results; returns the counts.
pub fn run_tests(ws: &Workspace, tests: &[TestSpec], opts: Options) -> Summary {
    let env = LookupEnv::from_process();
    let plans: Vec<Plan> = tests.iter().map(|t| plan(t, &env)).collect();

    // Build every (board, manifest) variant the runnable tests need, once, in table order.
    let mut images: Vec<(ImageKey<'_>, Result<PathBuf, String>)> = Vec::new();
    for (test, plan) in tests.iter().zip(&plans) {
        let Plan::Run { board, .. } = plan else {
            continue;
        };
        let key = (board.name, test.manifest.as_deref());
        if images.iter().any(|(k, _)| *k == key) {
            continue;
        }
        let image = image_for(ws, board, key.1, opts.no_build);
        if let Err(e) = &image {
            eprintln!("capmon-run: {e}");
        }
        images.push((key, image));
    }

    let mut summary = Summary::default();
    for (test, plan) in tests.iter().zip(plans) {
        match plan {
            Plan::Skip => {
                println!("{}", skipped_line(&test.name));
                summary.skipped += 1;
            }
            Plan::Fail(reason) => {
                println!(
                    "{}",
                    failure_lines(&test.name, &reason, None, &[]).join("\n")
                );
                summary.failed += 1;
            }
            Plan::Run { board, spec, qemu } => {
                let key = (board.name, test.manifest.as_deref());
                let image = images
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, r)| r.clone());
                let kernel = match image {
                    Some(Ok(kernel)) => kernel,
                    Some(Err(e)) => {
                        println!(
                            "{}",
                            failure_lines(&test.name, &format!("no image: {e}"), None, &[])
                                .join("\n")
                        );
                        summary.failed += 1;
                        continue;
                    }
                    None => {
                        println!("FAIL {}: internal error: image was not planned", test.name);
                        summary.failed += 1;
                        continue;
                    }
                };
                let (report, command) = run_test(test, spec, &qemu, &kernel, opts.verbose);
                match &report.result {
                    Ok(()) => {
                        println!("PASS {} ({:.1} s)", test.name, report.elapsed.as_secs_f64());
                        summary.passed += 1;
                    }
                    Err(reason) => {
                        let lines = failure_lines(
                            &test.name,
                            reason,
                            command.as_deref(),
                            report.tail(runner::TAIL_LINES),
                        );
                        println!("{}", lines.join("\n"));
                        summary.failed += 1;
                    }
                }
            }
        }
    }
    println!("{summary}");
    summary
}

/// Builds (or, with `no_build`, finds) a board image variant: the per-manifest copy
/// [`runner::build_image`] keeps, so variants built one after the other stay apart.
pub fn image_for(
    ws: &Workspace,
    board: &Board,
    manifest: Option<&str>,
    no_build: bool,
) -> Result<PathBuf, String> {
    match (no_build, manifest) {
        (true, None) => runner::existing_image(ws, board),
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
        (false, _) => runner::build_image(ws, board, manifest),
    }
}

fn failed_report(reason: String) -> RunReport {
    RunReport {
        result: Err(reason),
        console: Vec::new(),
        transcript: Vec::new(),
        elapsed: Duration::ZERO,
    }
}

/// Runs one test: prepares its scratch disk (and edited DTB), boots QEMU and matches the
/// console. Returns the report and the QEMU command line (None if it never got that far).
pub fn run_test(
    test: &TestSpec,
    spec: &QemuSpec,
    qemu: &Path,
    kernel: &Path,
    verbose: bool,
) -> (RunReport, Option<String>) {
    let prepared = prepare(test, spec, qemu, kernel);
    let (tmp, disk, args, udp_port) = match prepared {
        Ok(p) => p,
        Err(e) => return (failed_report(e), None),
    };
    let command = boards::shell_line(&qemu.to_string_lossy(), &args);
    if verbose {
        println!("=== {}: {command}", test.name);
    }
    let mut report = runner::run_script(&RunSettings {
        qemu,
        args: &args,
        script: &test.script,
        status_is_verdict: spec.exit_status_is_verdict,
        time_limit: test.time_limit,
        verbose,
        udp_port,
    });
    // The disk is checked only after a run that passed: a failed run's console says more.
    if let (Ok(()), Some(expected)) = (&report.result, &test.disk_expected) {
        report.result = runner::check_disk_image(&disk, expected);
    }
    drop(tmp);
    (report, Some(command))
}

/// Creates the test's scratch directory, disk (the test's initial image, or a blank one) and
/// (if asked for) edited DTB; returns the directory (kept alive for the run), the disk image
/// and QEMU's arguments.
fn prepare(
    test: &TestSpec,
    spec: &QemuSpec,
    qemu: &Path,
    kernel: &Path,
) -> Result<(TempDir, PathBuf, Vec<String>, Option<u16>), String> {
    let tmp = TempDir::new(&test.name)?;
    let disk = match &test.disk_image {
        Some(contents) => runner::disk_image(tmp.path(), contents)?,
        None => runner::scratch_disk(tmp.path())?,
    };
    let mut run = RunArgs {
        kernel: kernel.to_path_buf(),
        disk: disk.clone(),
        append: test.append.clone(),
        extra: test.qemu_args.clone(),
        udp_forwards: Vec::new(),
    };
    if let Some(guest) = test.udp_forward {
        run.udp_forwards.push((runner::free_udp_port()?, guest));
    }
    if !test.dtb_edits.is_empty() {
        // Dump the DTB QEMU would pass with exactly these arguments, so the edited tree differs
        // from the real one only by the edits.
        let dumped = tmp.path().join("machine.dtb");
        let mut dump_args = boards::qemu_args(spec, &run);
        dump_args.push("-machine".into());
        dump_args.push(format!(
            "dumpdtb={}",
            boards::qemu_escape(&dumped.to_string_lossy())
        ));
        runner::run_quiet(qemu, &dump_args, DUMP_LIMIT)
            .map_err(|e| format!("dumping the machine's DTB failed: {e}"))?;
        if !dumped.is_file() {
            return Err(format!(
                "QEMU did not write {} (-machine dumpdtb)",
                dumped.display()
            ));
        }
        let edited = tmp.path().join("test.dtb");
        crate::dtb::edit_dtb(&dumped, &test.dtb_edits, &edited)?;
        run.extra.push("-dtb".into());
        run.extra.push(edited.to_string_lossy().into_owned());
    }
    let args = boards::qemu_args(spec, &run);
    let udp_port = run.udp_forwards.first().map(|(host, _)| *host);
    Ok((tmp, disk, args, udp_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_formats() {
        let s = Summary {
            passed: 3,
            failed: 1,
            skipped: 4,
        };
        assert_eq!(s.to_string(), "3 passed, 1 failed, 4 skipped");
        assert_eq!(
            skipped_line("qemu-morello-boot"),
            "SKIPPED (no CHERI QEMU): qemu-morello-boot"
        );
        let tail = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            failure_lines("t", "timed out", Some("qemu -x"), &tail),
            vec!["FAIL t: timed out", "    $ qemu -x", "    a", "    b"]
        );
    }

    #[test]
    fn plans_skip_missing_cheri_qemu_and_fail_missing_stock_qemu() {
        let empty = LookupEnv {
            cheri_qemu_dir: None,
            path: Some("/nonexistent".into()),
            home: None,
        };
        let cheri = TestSpec::new("m", "qemu-morello");
        assert!(matches!(plan(&cheri, &empty), Plan::Skip));
        let stock = TestSpec::new("a", "qemu-aarch64");
        assert!(matches!(plan(&stock, &empty), Plan::Fail(e) if e.contains("qemu-system-aarch64")));
        let hw = TestSpec::new("h", "morello-sdp");
        assert!(matches!(plan(&hw, &empty), Plan::Fail(e) if e.contains("no QEMU")));
        let bogus = TestSpec::new("b", "vax");
        assert!(matches!(plan(&bogus, &empty), Plan::Fail(e) if e.contains("unknown board")));
    }
}
