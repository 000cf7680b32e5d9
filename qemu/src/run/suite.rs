//! `capmon-run test`: the boot-test harness. Plans the selected tests (skipping boards whose
//! CHERI QEMU is missing), builds each needed board image once, runs the tests through
//! `libtest-mimic` (listing, filtering and reporting like `cargo test`), optionally writes a
//! JUnit XML report, and ends with the `N passed, M failed, K skipped` line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, FormatSetting, Trial};
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::boards::{self, Board, LookupEnv, QemuSpec, RunArgs};
use super::qemu::{self as runner, RunReport, RunSettings};
use super::tests::TestSpec;
use crate::progress;
use crate::workspace::{temp_dir, Workspace};

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
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub verbose: bool,
    /// Use images built earlier instead of running cargo.
    pub no_build: bool,
    /// Write a JUnit XML report of the run here.
    pub junit: Option<PathBuf>,
    /// The standard harness options (filter, `--list`, `--exact`, `--skip`, `--format`, …).
    pub harness: Arguments,
}

/// What one test came to, for the JUnit report.
#[derive(Clone, Debug)]
struct Outcome {
    name: String,
    board: &'static str,
    elapsed: Duration,
    /// None: passed; Some(lines): failed, with the lines printed for it.
    failure: Option<Vec<String>>,
    skipped: bool,
}

/// `test --list`: the tests the harness options select, as `cargo test -- --list` prints them.
pub fn list(tests: &[TestSpec], args: &Arguments) {
    let trials = tests
        .iter()
        .map(|t| Trial::test(t.name.clone(), || Ok(())))
        .collect();
    let _ = libtest_mimic::run(args, trials);
}

/// Runs `tests` through the standard harness (`libtest-mimic`: it lists, filters, skips and
/// reports like `cargo test`), after building each image variant the selected tests need
/// once; prints the closing `N passed, N failed, N skipped` line and returns the counts.
/// Tests are run one at a time (QEMU is heavy) unless `--test-threads` says otherwise.
pub fn run_tests(ws: &Workspace, tests: &[TestSpec], opts: Options) -> Summary {
    let mut args = opts.harness.clone();
    args.test_threads.get_or_insert(1);
    let pretty = !args.quiet && matches!(args.format, None | Some(FormatSetting::Pretty));
    let env = LookupEnv::from_process();
    // What the harness would run, decided by a trial that does nothing.
    let selected: Vec<&TestSpec> = tests
        .iter()
        .filter(|t| !args.is_filtered_out(&Trial::test(t.name.clone(), || Ok(()))))
        .collect();
    let plans: Vec<Plan> = selected.iter().map(|t| plan(t, &env)).collect();

    // Build every (board, manifest) variant the runnable tests need, once, in table order.
    let mut keys: Vec<ImageKey<'_>> = Vec::new();
    for (test, plan) in selected.iter().zip(&plans) {
        if let Plan::Run { board, .. } = plan {
            let key = (board.name, test.manifest.as_deref());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let bar = progress::bar(keys.len() as u64, "building images");
    let mut images: Vec<(ImageKey<'_>, Result<PathBuf, String>)> = Vec::new();
    for key in keys {
        bar.set_message(format!("{} ({})", key.0, key.1.unwrap_or("no cVMs")));
        let image = match boards::board_or_err(key.0) {
            Ok(board) => bar.suspend(|| super::build::image_for(ws, board, key.1, opts.no_build)),
            Err(e) => Err(e),
        };
        if let Err(e) = &image {
            bar.suspend(|| eprintln!("capmon-run: {e}"));
        }
        images.push((key, image));
        bar.inc(1);
    }
    bar.finish_and_clear();
    // The initrd tests' bundles, by test name (each one's own: external ones differ per test).
    let mut bundles: Vec<(String, Result<PathBuf, String>)> = Vec::new();
    for (test, plan) in selected.iter().zip(&plans) {
        if let (Plan::Run { board, .. }, Some(initrd)) = (plan, &test.initrd) {
            let bundle = super::initrd::test_bundle(ws, board, initrd, opts.no_build);
            if let Err(e) = &bundle {
                eprintln!("capmon-run: {}: {e}", test.name);
            }
            bundles.push((test.name.clone(), bundle));
        }
    }

    for (test, plan) in selected.iter().zip(&plans) {
        if matches!(plan, Plan::Skip) {
            println!("{}", skipped_line(&test.name));
        }
    }
    let name_width = selected
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0);
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut trials = Vec::new();
    for (test, plan) in selected.into_iter().zip(plans) {
        let mut test = test.clone();
        let outcomes = Arc::clone(&outcomes);
        let mut kernel = match &plan {
            Plan::Run { board, .. } => images
                .iter()
                .find(|(k, _)| *k == (board.name, test.manifest.as_deref()))
                .map(|(_, r)| r.clone()),
            _ => None,
        };
        match bundles.iter().find(|(name, _)| *name == test.name) {
            Some((_, Ok(file))) => test.initrd_file = Some(file.clone()),
            Some((_, Err(e))) => kernel = Some(Err(format!("no initrd bundle: {e}"))),
            None => {}
        }
        let verbose = opts.verbose;
        trials.push(Trial::ignorable_test(test.name.clone(), move || {
            let started = Instant::now();
            let ticker = (pretty && progress::enabled())
                .then(|| Ticker::start(&test.name, name_width, started));
            let (result, skipped) = run_planned(&test, plan, kernel, verbose);
            drop(ticker);
            let elapsed = started.elapsed();
            if pretty {
                print!("({:.1} s) ", elapsed.as_secs_f64());
            }
            let mut all = outcomes.lock().unwrap_or_else(|e| e.into_inner());
            all.push(Outcome {
                name: test.name.clone(),
                board: test.board,
                elapsed,
                failure: result.clone().err(),
                skipped,
            });
            match result {
                Ok(()) if skipped => Ok(Completion::ignored_with("no CHERI QEMU")),
                Ok(()) => Ok(Completion::Completed),
                Err(lines) => Err(lines.join("\n").into()),
            }
        }));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    let summary = Summary {
        passed: usize::try_from(conclusion.num_passed).unwrap_or(usize::MAX),
        failed: usize::try_from(conclusion.num_failed).unwrap_or(usize::MAX),
        skipped: usize::try_from(conclusion.num_ignored).unwrap_or(usize::MAX),
    };
    if let Some(path) = &opts.junit {
        let outcomes = outcomes.lock().unwrap_or_else(|e| e.into_inner());
        match write_junit(path, &outcomes) {
            Ok(()) => eprintln!("capmon-run: JUnit report written to {}", path.display()),
            Err(e) => eprintln!("capmon-run: {e}"),
        }
    }
    println!("{summary}");
    summary
}

/// Runs one planned test: `(Ok, skipped)` or the lines its failure prints.
fn run_planned(
    test: &TestSpec,
    plan: Plan,
    kernel: Option<Result<PathBuf, String>>,
    verbose: bool,
) -> (Result<(), Vec<String>>, bool) {
    let fail = |reason: &str| Err(failure_lines(&test.name, reason, None, &[]));
    match plan {
        Plan::Skip => (Ok(()), true),
        Plan::Fail(reason) => (fail(&reason), false),
        Plan::Run { spec, qemu, .. } => match kernel {
            Some(Ok(kernel)) => {
                let (report, command) = run_test(test, spec, &qemu, &kernel, verbose);
                let result = report.result.as_ref().map_err(|reason| {
                    failure_lines(
                        &test.name,
                        reason,
                        command.as_deref(),
                        report.tail(runner::TAIL_LINES),
                    )
                });
                (result.copied(), false)
            }
            Some(Err(e)) => (fail(&format!("no image: {e}")), false),
            None => (fail("internal error: image was not planned"), false),
        },
    }
}

/// On a terminal, keeps the harness's `test NAME ... ` line showing the seconds spent so far.
struct Ticker {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(name: &str, width: usize, started: Instant) -> Ticker {
        use std::io::Write as _;
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let line = format!("test {name:<width$} ... ");
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\r{line}{} s ", started.elapsed().as_secs());
                let _ = out.flush();
            }
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K{line}");
            let _ = out.flush();
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The JUnit XML report CI systems read: one test case per boot test, classed by board.
fn junit_xml(outcomes: &[Outcome]) -> Result<String, String> {
    let mut suite = TestSuite::new("capmon boot tests");
    for o in outcomes {
        let status = if o.skipped {
            let mut s = TestCaseStatus::skipped();
            s.set_message("no CHERI QEMU");
            s
        } else if let Some(lines) = &o.failure {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(lines.first().cloned().unwrap_or_default());
            s.set_description(lines.join("\n"));
            s
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.board);
        case.set_time(o.elapsed);
        suite.add_test_case(case);
    }
    let mut report = Report::new("capmon-run test");
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}

fn write_junit(path: &Path, outcomes: &[Outcome]) -> Result<(), String> {
    let xml = junit_xml(outcomes)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, xml).map_err(|e| format!("cannot write {}: {e}", path.display()))
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
) -> Result<(tempfile::TempDir, PathBuf, Vec<String>, Option<u16>), String> {
    let tmp = temp_dir(&test.name)?;
    let disk = match (&test.disk_image, &test.initrd_file) {
        (_, Some(bundle)) if test.bundle_on_disk => {
            let mut bytes =
                std::fs::read(bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
            // Whole sectors, and a disk of a round size.
            bytes.resize(bytes.len().div_ceil(1 << 20).max(1) << 20, 0);
            runner::disk_image(tmp.path(), &bytes)?
        }
        (Some(contents), _) => runner::disk_image(tmp.path(), contents)?,
        (None, _) => runner::scratch_disk(tmp.path())?,
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
    // The loader's /chosen edits come first, so a test's own edits can break them.
    let mut dtb_edits = Vec::new();
    if let Some(bundle) = test.initrd_file.as_ref().filter(|_| !test.bundle_on_disk) {
        let board = boards::board_or_err(test.board)?;
        let (args, edits) = super::initrd::handover(board, spec, bundle)?;
        run.extra.extend(args);
        dtb_edits = edits;
    }
    dtb_edits.extend(test.dtb_edits.iter().cloned());
    if !dtb_edits.is_empty() {
        let edited = super::dtb::edited_machine_dtb(qemu, spec, &run, &dtb_edits, tmp.path())?;
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

    #[test]
    fn junit_report_has_each_outcome() {
        let outcomes = vec![
            Outcome {
                name: "a-boot".into(),
                board: "qemu-aarch64",
                elapsed: Duration::from_millis(1500),
                failure: None,
                skipped: false,
            },
            Outcome {
                name: "m-boot".into(),
                board: "qemu-morello",
                elapsed: Duration::ZERO,
                failure: None,
                skipped: true,
            },
            Outcome {
                name: "r-boot".into(),
                board: "qemu-riscv64",
                elapsed: Duration::from_secs(2),
                failure: Some(vec!["FAIL r-boot: timed out <&>".into(), "    tail".into()]),
                skipped: false,
            },
        ];
        let xml = junit_xml(&outcomes).expect("serialises");
        assert!(
            xml.contains(r#"tests="3""#) && xml.contains(r#"failures="1""#),
            "{xml}"
        );
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert!(
            xml.contains(r#"name="a-boot" classname="qemu-aarch64" time="1.500""#),
            "{xml}"
        );
        assert!(xml.contains("timed out &lt;&amp;&gt;"), "{xml}");
    }
}
