//! The fuzz targets on stable Rust: every committed corpus file (`fuzz/corpus/TARGET/`) and
//! every past crash (`fuzz/regressions/TARGET/`) runs through the same target function
//! libFuzzer runs, so `cargo test` fails if an old crash comes back.

use std::format;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use super::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; none if it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Runs every file under `fuzz/KIND/TARGET/` through its target; returns the failures and
/// how many files ran per target.
fn replay(kind: &str) -> (Vec<String>, Vec<(&'static str, usize)>) {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for (name, target) in TARGETS {
        let inputs = files(&fuzz_dir().join(kind).join(name));
        for path in &inputs {
            let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failures.push(format!(
                    "{name}: {} (replay: just fuzz-replay {name} {})",
                    path.display(),
                    path.display()
                ));
            }
        }
        counts.push((*name, inputs.len()));
    }
    (failures, counts)
}

#[test]
fn every_past_crash_stays_fixed() {
    let (failures, _) = replay("regressions");
    assert!(
        failures.is_empty(),
        "past crashes are back:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_corpus_input_runs_clean() {
    let (failures, counts) = replay("corpus");
    assert!(
        failures.is_empty(),
        "corpus inputs fail:\n{}",
        failures.join("\n")
    );
    for (name, n) in counts {
        assert!(
            n > 0,
            "fuzz/corpus/{name} is empty or missing: the target is not exercised"
        );
    }
}
