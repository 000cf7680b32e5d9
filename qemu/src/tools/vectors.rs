//! `capmon-tool cap-vectors DIR`: checks every capability test-vector file under
//! `DIR/morello/*.txt` and `DIR/riscv/*.txt` against the monitor's capability model.
//!
//! This file only walks directories and prints; parsing and comparing live in
//! `capmon::cap::vectors`, shared with the monitor's unit tests, so the command and
//! `cargo test` cannot disagree about what a vector means.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use capmon::cap::vectors::{check_vectors, VectorFormat, VectorKind};

/// Failing lines printed per file; the rest are only counted.
const SHOWN_FAILURES_PER_FILE: usize = 20;

/// What a run found, over all files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Vector files checked.
    pub files: usize,
    /// Vector lines that matched the model.
    pub passed: usize,
    /// Vector lines that did not (or could not be read).
    pub failed: usize,
    /// Problems that are not vector lines: a missing directory, an unreadable file, a file of
    /// unknown kind, a file without vectors.
    pub errors: usize,
}

impl Totals {
    /// Success means at least one vector was checked and nothing failed.
    pub fn success(&self) -> bool {
        self.failed == 0 && self.errors == 0 && self.passed > 0
    }
}

/// The `cap-vectors` subcommand. Prints per-file counts, the failing lines with expected and
/// got, and finally exactly `N passed, M failed`.
pub fn cap_vectors_command(dir: &Path) -> ExitCode {
    let stdout = io::stdout();
    let stderr = io::stderr();
    match check_dir(dir, &mut stdout.lock(), &mut stderr.lock()) {
        Ok(totals) if totals.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("cap-vectors: cannot write the report: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Checks every vector file under `dir`, writing the report to `out` and problems that are
/// not vector failures to `err`. The last line written to `out` is `N passed, M failed`.
pub fn check_dir(dir: &Path, out: &mut impl Write, err: &mut impl Write) -> io::Result<Totals> {
    let mut totals = Totals::default();
    if !dir.is_dir() {
        writeln!(err, "cap-vectors: {} is not a directory", dir.display())?;
        totals.errors += 1;
    } else {
        report_unrecognised_entries(dir, err)?;
        for format in VectorFormat::ALL {
            let format_dir = dir.join(format.dir_name());
            if !format_dir.is_dir() {
                writeln!(
                    err,
                    "cap-vectors: no {} vectors ({} is missing)",
                    format.dir_name(),
                    format_dir.display()
                )?;
                continue;
            }
            match vector_files(&format_dir) {
                Ok(files) => {
                    for path in files {
                        check_file(format, &path, &mut totals, out, err)?;
                    }
                }
                Err(error) => {
                    writeln!(
                        err,
                        "cap-vectors: cannot list {}: {error}",
                        format_dir.display()
                    )?;
                    totals.errors += 1;
                }
            }
        }
        if totals.files == 0 {
            writeln!(
                err,
                "cap-vectors: no vector files in {dir}/morello/*.txt or {dir}/riscv/*.txt",
                dir = dir.display()
            )?;
            totals.errors += 1;
        }
    }
    writeln!(out, "{} passed, {} failed", totals.passed, totals.failed)?;
    Ok(totals)
}

/// The `*.txt` files of one format directory, sorted so reports are stable.
fn vector_files(format_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(format_dir)? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|extension| extension == "txt") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Mentions what the walk will not look at, so a misplaced file is not silently ignored.
fn report_unrecognised_entries(dir: &Path, err: &mut impl Write) -> io::Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut skipped: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            let is_format_dir = path.is_dir() && VectorFormat::from_dir_name(name).is_some();
            let is_vector_like =
                path.is_dir() || path.extension().is_some_and(|extension| extension == "txt");
            is_vector_like && !is_format_dir
        })
        .collect();
    skipped.sort();
    for path in skipped {
        writeln!(
            err,
            "cap-vectors: skipping {} (not under morello/ or riscv/)",
            path.display()
        )?;
    }
    Ok(())
}

fn check_file(
    format: VectorFormat,
    path: &Path,
    totals: &mut Totals,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let shown_name = format!("{}/{file_name}", format.dir_name());
    let contents = match fs::read_to_string(path) {
        Ok(contents) => contents,
        Err(error) => {
            writeln!(err, "cap-vectors: cannot read {}: {error}", path.display())?;
            totals.errors += 1;
            return Ok(());
        }
    };
    let Some(kind) = VectorKind::detect(file_name, &contents) else {
        let kinds: Vec<&str> = VectorKind::ALL.iter().map(|kind| kind.name()).collect();
        writeln!(
            err,
            "cap-vectors: {}: unknown kind of vector file (name it {}, or start it with the \
             column header of the shared files)",
            path.display(),
            kinds.join("/")
        )?;
        totals.errors += 1;
        return Ok(());
    };
    totals.files += 1;
    let summary = check_vectors(format, kind, &contents, SHOWN_FAILURES_PER_FILE);
    writeln!(
        out,
        "{shown_name}: {} passed, {} failed ({})",
        summary.passed,
        summary.failed,
        kind.name()
    )?;
    for failure in &summary.failures {
        writeln!(out, "  {shown_name} {failure}")?;
    }
    let unshown = summary.failed - summary.failures.len();
    if unshown > 0 {
        writeln!(out, "  … and {unshown} more failing lines in {shown_name}")?;
    }
    if summary.passed + summary.failed == 0 {
        writeln!(err, "cap-vectors: {} has no vector lines", path.display())?;
        totals.errors += 1;
    }
    totals.passed += summary.passed;
    totals.failed += summary.failed;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("capmon-vectors-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("create scratch dir");
            Scratch(path)
        }
        fn write(&self, relative: &str, contents: &str) {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().expect("has parent")).expect("create dirs");
            fs::write(path, contents).expect("write vector file");
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn run(dir: &Path) -> (Totals, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let totals = check_dir(dir, &mut out, &mut err).expect("writing to memory");
        (
            totals,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    const REPRESENTABLE: &str = "# length representable_length alignment_mask\n\
                                 4001 4008 fffffffffffffff8\n\
                                 100001 100200 fffffffffffffe00\n";

    #[test]
    fn good_vectors_pass_and_end_with_the_totals_line() {
        let scratch = Scratch::new("good");
        scratch.write("morello/representable.txt", REPRESENTABLE);
        let (totals, out, _) = run(&scratch.0);
        assert!(totals.success());
        assert_eq!(out.lines().last(), Some("2 passed, 0 failed"));
    }

    #[test]
    fn an_altered_value_fails_and_is_listed() {
        let scratch = Scratch::new("altered");
        scratch.write(
            "morello/representable.txt",
            &REPRESENTABLE.replace("100200", "100400"),
        );
        let (totals, out, _) = run(&scratch.0);
        assert!(!totals.success());
        assert!(out.contains(
            "line 3: 100001 100400 fffffffffffffe00: rrlen: expected 0x100400, got 0x100200"
        ));
        assert_eq!(out.lines().last(), Some("1 passed, 1 failed"));
    }

    #[test]
    fn empty_or_missing_directories_fail() {
        let scratch = Scratch::new("empty");
        let (totals, out, err) = run(&scratch.0);
        assert!(!totals.success() && err.contains("no vector files"));
        assert_eq!(out.trim(), "0 passed, 0 failed");
        let (totals, _, err) = run(&scratch.0.join("absent"));
        assert!(!totals.success() && err.contains("not a directory"));
    }

    #[test]
    fn a_file_of_unknown_kind_is_an_error_not_a_panic() {
        let scratch = Scratch::new("unknown");
        scratch.write(
            "riscv/representable.txt",
            "4001 4020 ffffffffffffffe0\n100001 100800 fffffffffffff800\n",
        );
        scratch.write("riscv/mystery.txt", "1 2 3 4 5\n");
        let (totals, out, err) = run(&scratch.0);
        assert!(!totals.success());
        assert_eq!(totals.errors, 1);
        assert!(err.contains("mystery.txt: unknown kind of vector file"));
        assert_eq!(out.lines().last(), Some("2 passed, 0 failed"));
    }
}
