//! The multi-core figures of `capmon-run bench`:
//!
//! - **speed-up**: `cvms/manifests/smp-crunch.dts` (four equal CPU-bound cVMs) on 1 and on 2
//!   cores, without `-icount` so QEMU's multi-threaded TCG runs each core on a host thread (the
//!   host has two): the monitor's `cores: the cVMs ran for <us> us` (its counter follows the
//!   host clock without icount), best of 5 each; the speed-up is the ratio (target ≥ 1.8);
//! - **share**: the same manifest on 4 cores, once: each core's `cores: core <i> busy <us> us`
//!   as a share of all the busy time (target: no core below 20% while runnable cVMs wait, which
//!   they do for most of this run: four cVMs, four cores, equal work);
//! - **cross-core wake-up**: `cvms/manifests/smp-wake.dts` (net-ping pinned to core 0, udp-echo
//!   to core 1) under `-icount`: the monitor's `cores: <n> cross-core wake-ups, median <ns> ns`,
//!   from the kick on one core to the woken cVM's turn starting on the other; under icount a ns
//!   is a guest instruction (of either core: they run interleaved).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::boards::{self, QemuSpec, RunArgs};
use super::expect::{End, Script, Step, Verdict};
use super::qemu::{self as runner, RunSettings};
use crate::workspace::temp_dir;

pub const CRUNCH_MANIFEST: &str = "smp-crunch";
pub const WAKE_MANIFEST: &str = "smp-wake";
/// Target: two cores finish the CPU-bound manifest at least this much faster than one.
pub const SPEEDUP_TARGET: f64 = 1.8;
/// Target: with four cores, none does less than this share (%) of the work.
pub const SHARE_FLOOR: f64 = 20.0;
/// Runs per core count for the speed-up; the fastest counts.
const RUNS: usize = 5;
const TIME_LIMIT: Duration = Duration::from_secs(300);

/// The figures of one board.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SmpFigures {
    /// Fastest run of the CPU-bound manifest on 1 and on 2 cores, in ms.
    pub one_core_ms: Option<f64>,
    pub two_cores_ms: Option<f64>,
    /// Each core's share (%) of the busy time on 4 cores.
    pub shares: Vec<f64>,
    /// Median cross-core wake-up, ns of virtual time (= instructions under icount).
    pub wake: Option<f64>,
    /// How many wake-ups the median is of.
    pub wakes: Option<u64>,
}

impl SmpFigures {
    pub fn speedup(&self) -> Option<f64> {
        Some(self.one_core_ms? / self.two_cores_ms?)
    }

    pub fn lowest_share(&self) -> Option<f64> {
        self.shares.iter().copied().reduce(f64::min)
    }
}

/// `cores: the cVMs ran for <us> us` and every `cores: core <i> busy <us> us`.
pub fn parse_run(console: &[String]) -> (Option<u64>, Vec<u64>) {
    let ran = regex::Regex::new(r"^cores: the cVMs ran for (\d+) us$").expect("regex");
    let busy = regex::Regex::new(r"^cores: core (\d+) busy (\d+) us$").expect("regex");
    let total = console
        .iter()
        .find_map(|l| ran.captures(l).and_then(|c| c[1].parse().ok()));
    let mut cores: Vec<(usize, u64)> = console
        .iter()
        .filter_map(|l| {
            let c = busy.captures(l)?;
            Some((c[1].parse().ok()?, c[2].parse().ok()?))
        })
        .collect();
    cores.sort_unstable();
    (total, cores.into_iter().map(|(_, us)| us).collect())
}

/// `cores: <n> cross-core wake-ups, median <ns> ns`.
pub fn parse_wake(console: &[String]) -> Option<(u64, f64)> {
    let re = regex::Regex::new(r"^cores: (\d+) cross-core wake-ups, median (\d+) ns$").ok()?;
    console.iter().find_map(|l| {
        let c = re.captures(l)?;
        Some((c[1].parse().ok()?, c[2].parse().ok()?))
    })
}

/// Each core's busy time as a percentage of all of it.
pub fn shares(busy: &[u64]) -> Vec<f64> {
    let total: u64 = busy.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    busy.iter()
        .map(|&b| 100.0 * b as f64 / total as f64)
        .collect()
}

fn script(cores: u32) -> Script {
    Script {
        steps: vec![
            Step::Expect {
                pattern: format!(r"^cores: {cores} runs? cVMs "),
                at_least: None,
            },
            Step::Expect {
                pattern: r"^cores: the cVMs ran for \d+ us$".into(),
                at_least: None,
            },
        ],
        forbid: vec![
            crate::run::tests::DEFAULT_FORBID.into(),
            r"^cvm \S+ fault: ".into(),
        ],
        end: End::PowerOff(Verdict::Pass),
    }
}

/// One boot with `cores` cores (and `icount` or not); the console, or why it failed.
fn boot(
    board: &boards::Board,
    spec: &QemuSpec,
    qemu: &Path,
    kernel: &Path,
    cores: u32,
    icount: bool,
    verbose: bool,
) -> Result<Vec<String>, String> {
    let tmp = temp_dir(&format!("bench-smp-{}", board.name))?;
    let disk = runner::scratch_disk(tmp.path())?;
    let mut extra = vec!["-smp".to_string(), cores.to_string()];
    if icount {
        extra.extend(super::bench::ICOUNT_ARGS.iter().map(|s| s.to_string()));
    }
    let run = RunArgs {
        kernel: kernel.to_path_buf(),
        disk,
        append: None,
        extra,
        udp_forwards: Vec::new(),
    };
    let args = boards::qemu_args(spec, &run);
    let command = boards::shell_line(&qemu.to_string_lossy(), &args);
    if verbose {
        println!("{}: $ {command}", board.name);
    }
    let report = runner::run_script(&RunSettings {
        qemu,
        args: &args,
        script: &script(cores),
        status_is_verdict: spec.exit_status_is_verdict,
        time_limit: TIME_LIMIT,
        verbose,
        udp_port: None,
    });
    match report.result {
        Ok(()) => Ok(report.console),
        Err(e) => Err(format!("{command}: {e}")),
    }
}

/// Measures one board's multi-core figures from the two images; returns them and the errors.
pub fn measure(
    board: &boards::Board,
    spec: &QemuSpec,
    qemu: &Path,
    crunch: &Path,
    wake: &Path,
    verbose: bool,
) -> (SmpFigures, Vec<String>) {
    let mut figures = SmpFigures::default();
    let mut errors = Vec::new();
    let mut best = |cores: u32| -> Option<f64> {
        let mut fastest: Option<u64> = None;
        for _ in 0..RUNS {
            match boot(board, spec, qemu, crunch, cores, false, verbose) {
                Ok(console) => {
                    if let (Some(us), _) = parse_run(&console) {
                        fastest = Some(fastest.map_or(us, |f| f.min(us)));
                    }
                }
                Err(e) => {
                    errors.push(e);
                    return None;
                }
            }
        }
        fastest.map(|us| us as f64 / 1000.0)
    };
    figures.one_core_ms = best(1);
    figures.two_cores_ms = best(2);
    match boot(board, spec, qemu, crunch, 4, false, verbose) {
        Ok(console) => figures.shares = shares(&parse_run(&console).1),
        Err(e) => errors.push(e),
    }
    match boot(board, spec, qemu, wake, 2, true, verbose) {
        Ok(console) => {
            if let Some((n, median)) = parse_wake(&console) {
                figures.wakes = Some(n);
                figures.wake = Some(median);
            } else {
                errors.push(format!("{}: no cross-core wake-up line", board.name));
            }
        }
        Err(e) => errors.push(e),
    }
    (figures, errors)
}

/// The table: one row per board.
pub fn format_table(rows: &[(String, SmpFigures)]) -> String {
    let mut out = format!(
        "Several cores (CPU-bound cVMs in wall clock without icount, best of {RUNS}; wake-up \
         under icount: 1 ns = 1 instruction)\n{:<20} {:>10} {:>10} {:>9} {:>22} {:>14}\n",
        "board", "1 core ms", "2 cores ms", "speed-up", "4-core shares %", "wake-up insns"
    );
    for (board, f) in rows {
        let speedup = f.speedup().map_or("-".into(), |s| {
            format!("{s:.2}{}", if s >= SPEEDUP_TARGET { "" } else { " (!)" })
        });
        let shares = if f.shares.is_empty() {
            "-".to_string()
        } else {
            let list: Vec<String> = f.shares.iter().map(|s| format!("{s:.0}")).collect();
            let low = f.lowest_share().is_some_and(|l| l < SHARE_FLOOR);
            format!("{}{}", list.join("/"), if low { " (!)" } else { "" })
        };
        out += &format!(
            "{:<20} {:>10} {:>10} {:>9} {:>22} {:>14}\n",
            board,
            f.one_core_ms.map_or("-".into(), |v| format!("{v:.0}")),
            f.two_cores_ms.map_or("-".into(), |v| format!("{v:.0}")),
            speedup,
            shares,
            f.wake.map_or("-".into(), |v| format!("{v:.0}")),
        );
    }
    out += &format!(
        "targets: speed-up >= {SPEEDUP_TARGET}, every core >= {SHARE_FLOOR}% of the work on 4 cores; (!) marks a miss\n"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_the_monitor_lines() {
        let console = lines(&[
            "cvms: all 4 ended",
            "cores: the cVMs ran for 2400000 us",
            "cores: core 1 busy 1190000 us",
            "cores: core 0 busy 1210000 us",
            "cores: 40 cross-core wake-ups, median 5120 ns",
        ]);
        assert_eq!(
            parse_run(&console),
            (Some(2_400_000), vec![1_210_000, 1_190_000])
        );
        assert_eq!(parse_wake(&console), Some((40, 5120.0)));
        let s = shares(&[300, 100]);
        assert_eq!(s, vec![75.0, 25.0]);
        assert!(shares(&[]).is_empty() && shares(&[0, 0]).is_empty());
    }

    #[test]
    fn the_table_marks_misses() {
        let good = SmpFigures {
            one_core_ms: Some(4000.0),
            two_cores_ms: Some(2100.0),
            shares: vec![26.0, 25.0, 25.0, 24.0],
            wake: Some(3000.0),
            wakes: Some(40),
        };
        let bad = SmpFigures {
            two_cores_ms: Some(3000.0),
            shares: vec![40.0, 40.0, 15.0, 5.0],
            ..good.clone()
        };
        assert!((good.speedup().unwrap() - 1.905).abs() < 0.01);
        let table = format_table(&[("a".into(), good), ("b".into(), bad)]);
        let rows: Vec<&str> = table.lines().collect();
        assert!(!rows[2].contains("(!)"), "{table}");
        assert_eq!(rows[3].matches("(!)").count(), 2, "{table}");
    }
}
