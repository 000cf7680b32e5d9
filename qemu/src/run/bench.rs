//! `capmon-run bench`: capmon's figures per QEMU board, against its targets: image size,
//! guest instructions from reset to the banner and to the first cVM output, a null hostcall
//! round trip, a `clock_ns` hostcall, and a switch between two cVMs.
//!
//! Everything is measured in guest instructions, not wall time, so it does not depend on how
//! loaded the host is: with `-icount shift=0,align=off,sleep=off` every instruction advances
//! virtual time by 1 ns (and idling in `wfi` advances it too, so nothing measured may sleep).
//! Each board boots twice:
//!
//! - the image without cVMs: its size, and `boot: banner after <N> ns`, which the monitor
//!   prints from its own timer counter;
//! - the image with `cvms/manifests/bench.dts`: the monitor's
//!   `cvms: first cVM output after <N> ns`, and the lines of the `bench` cVM
//!   (`cvms/bench`), e.g. `bench: null-hostcall median 263.0 min 263.0 (N=1000, …)`: per
//!   operation, median and fastest of 50 batches timed with the `clock_ns` hostcall, minus the
//!   same loop without the trap.
//!
//! Two more boots per board measure I/O:
//!
//! - `cvms/manifests/disk-bench.dts` with the bootarg `disk-timeout-ms=0` (an armed time-out
//!   would let QEMU jump the idle clock to it): `bench: disk-write|disk-read <bytes> bytes in
//!   <ns> ns` for 1 MiB in 64 KiB requests (the median of five passes), reported as bytes per
//!   guest instruction, beside round 1's ([`ROUND1_DISK`]);
//! - `cvms/manifests/net.dts`: `net-ping` exchanges UDP datagrams with `udp-echo` through the
//!   monitor's switch and prints `bench: udp-echo-round-trip median … min …`, guest
//!   instructions per round trip (both cVMs' smoltcp stacks, four hostcalls and two switches).
//!
//! On the CHERI boards a fifth boot, `cvms/manifests/ipc-bench.dts`, gives the sharing
//! figures (`bench_share`): a 1 MiB copy into and out of a CP_File object against the same
//! cVM's memcpy, and one revocation of an object four cVMs imported; a sixth,
//! `cvms/manifests/stream-bench.dts`, 1 MiB through a CP_Stream against the receiver's memcpy
//! (`cp_stream_vs_memcpy`).
//!
//! The timer's resolution (`timer: <Hz> Hz`, printed at boot) bounds how exact those are:
//! 62.5 MHz (16 ns) on Morello QEMU, 1 GHz on QEMU 10 `-cpu max`, 10 MHz (100 ns) for RISC-V
//! `mtime`; a batch is hundreds of thousands of instructions, so a tick is a fraction of an
//! instruction per operation, and the table says how much.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::boards::{self, LookupEnv, QemuSpec, RunArgs, BOARDS};
use super::build::image_for;
use super::expect::{End, Script, Step, Verdict};
use super::qemu::{self as runner, RunReport, RunSettings};
use super::suite::{failure_lines, skipped_line};
use crate::elf_file::{self as elf, ImageSize};
use crate::workspace::{temp_dir, Workspace};

/// Target: the monitor image (text + data + bss) fits in 256 KiB.
pub const IMAGE_LIMIT: u64 = 256 * 1024;
/// Target: the banner is printed within 2,000,000 guest instructions of reset.
pub const BANNER_LIMIT: u64 = 2_000_000;
/// Target: the first cVM output within 5,000,000 guest instructions of reset.
pub const FIRST_OUTPUT_LIMIT: u64 = 5_000_000;
/// Target: a null hostcall round trip (trap, dispatch, every register saved and restored,
/// return) in at most 150 guest instructions. For scale: Linux 6.1's getpid costs 497 on
/// the same QEMU.
pub const NULL_LIMIT: f64 = 150.0;
/// Target: a switch from one cVM to another (`yield`) in at most 400 guest instructions.
pub const SWITCH_LIMIT: f64 = 400.0;
/// One instruction = 1 ns of virtual time, and no real-time throttling or sleeping.
pub const ICOUNT_ARGS: [&str; 2] = ["-icount", "shift=0,align=off,sleep=off"];
/// The monitor's own measurement line.
pub const BANNER_PATTERN: &str = r"^boot: banner after (\d+) ns$";
/// The manifest of the benchmark cVMs.
pub const BENCH_MANIFEST: &str = "bench";
/// The monitor's line at the first console write of any cVM (`monitor/src/cvm/run.rs`).
pub const FIRST_OUTPUT_PATTERN: &str = r"^cvms: first cVM output after (\d+) ns$";
/// The monitor's timer line at boot (`timer: 62500000 Hz, irq 26`, `timer: 10000000 Hz (clint …)`).
pub const TIMER_PATTERN: &str = r"^timer: (\d+) Hz";
/// A figure line of the `bench` cVM, behind the console label the monitor adds.
pub const FIGURE_PATTERN: &str =
    r"^(?:\[[^\]]*\] )?bench: ([a-z][a-z-]*) median (\d+(?:\.\d+)?) min (\d+(?:\.\d+)?) \((.*)\)$";
/// The partner's last line: it took part in every switch batch.
pub const PARTNER_PATTERN: &str = r"^(?:\[[^\]]*\] )?bench: partner done after (\d+) yields$";
/// The measuring cVM's last line.
pub const DONE_PATTERN: &str = r"^(?:\[[^\]]*\] )?bench: done$";
/// A cVM fault would mean the figures came from a broken run.
const FAULT_PATTERN: &str = r"^cvm \S+ fault:";
/// The figure names the `bench` cVM prints.
pub const NULL_FIGURE: &str = "null-hostcall";
pub const CLOCK_FIGURE: &str = "clock-hostcall";
pub const SWITCH_FIGURE: &str = "switch";
/// Target: sequential disk reads and writes move at least 3 bytes per guest instruction
/// (issue 17; round 1's target was 2).
pub const DISK_BPI_TARGET: f64 = 3.0;
/// Round 1's disk figures, shown beside each run's: (board, write, read) bytes per guest
/// instruction, as `docs/figures/bench.json` recorded them in 99b68ff, the last full
/// `just bench --plot` before issue 17 (its qemu-riscv64cheri read, 0.01, is what that run
/// measured: a clock jump under -icount that run, not the driver).
pub const ROUND1_DISK: [(&str, f64, f64); 4] = [
    ("qemu-morello", 2.33, 2.03),
    ("qemu-aarch64", 2.37, 2.06),
    ("qemu-riscv64cheri", 3.07, 0.01),
    ("qemu-riscv64", 3.09, 3.09),
];

/// Round 1's (write, read) disk figures for `board`, if it had any.
pub fn round1_disk(board: &str) -> Option<(f64, f64)> {
    ROUND1_DISK
        .iter()
        .find(|(b, _, _)| *b == board)
        .map(|&(_, w, r)| (w, r))
}
/// The disk benchmark's manifest, the bootarg it needs under icount, and its lines.
pub const DISK_MANIFEST: &str = "disk-bench";
pub const DISK_BOOTARGS: &str = "disk-timeout-ms=0";
pub const DISK_PATTERN: &str =
    r"^(?:\[[^\]]*\] )?bench: disk-(write|read) (\d+) bytes in (\d+) ns$";
/// The pure-capability benchmark's manifest (CHERI boards only) and its line: the fastest
/// batch's null hostcalls from a pure cVM (`cvms/pure/src/bin/bench-pure.rs`).
pub const PURE_BENCH_MANIFEST: &str = "bench-pure";
pub const PURE_NULL_PATTERN: &str =
    r"^(?:\[[^\]]*\] )?bench: pure-null-hostcall min (\d+) \((.*)\)$";
/// The nested benchmark's manifest: `bench` (args "served") is a child whose parent answers its
/// null hostcall itself; its figure line comes through the parent's console writes.
pub const NESTED_BENCH_MANIFEST: &str = "bench-nested";
pub const SERVED_NULL_FIGURE: &str = "served-null-hostcall";
/// Where `just bench` writes every figure it printed, per board, for tracking run to run.
pub const FIGURES_JSON: &str = "target/bench/figures.json";
/// The network benchmark's manifest and figure.
pub const NET_MANIFEST: &str = "net";
pub const UDP_FIGURE: &str = "udp-echo-round-trip";
/// The disk the disk benchmark needs: its grant is 2048 sectors from sector 1.
const DISK_BENCH_BYTES: usize = 2 << 20;
/// icount slows TCG down; leave more time than a normal test.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One per-operation figure of the `bench` cVM, in guest instructions under icount.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    /// What the cVM said in parentheses: batch size, batch count, overhead subtracted.
    pub detail: String,
}

impl Figure {
    /// Operations per batch: `<n> switches per batch` if given, else `N=<n>`.
    pub fn ops_per_batch(&self) -> Option<u64> {
        let number_after = |key: &str| -> Option<u64> {
            let re = regex::Regex::new(key).ok()?;
            re.captures(&self.detail)?.get(1)?.as_str().parse().ok()
        };
        number_after(r"(\d+) switches per batch").or_else(|| number_after(r"\bN=(\d+)"))
    }
}

/// Reads one figure line: its name and the figure.
pub fn parse_figure_line(line: &str) -> Option<(String, Figure)> {
    let re = regex::Regex::new(FIGURE_PATTERN).ok()?;
    let c = re.captures(line)?;
    Some((
        c[1].to_string(),
        Figure {
            median: c[2].parse().ok()?,
            min: c[3].parse().ok()?,
            detail: c[4].to_string(),
        },
    ))
}

/// Everything the bench boot printed that the table uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchFigures {
    /// The monitor's counter frequency.
    pub timer_hz: Option<u64>,
    /// Guest instructions from reset to the first cVM output.
    pub first_output: Option<u64>,
    pub null: Option<Figure>,
    pub clock: Option<Figure>,
    pub switch: Option<Figure>,
    /// Whether the partner cVM finished its yields (else the switch figure is not one).
    pub partner_done: bool,
}

fn first_number(console: &[String], pattern: &str) -> Option<u64> {
    let re = regex::Regex::new(pattern).ok()?;
    console
        .iter()
        .find_map(|l| re.captures(l)?.get(1)?.as_str().parse().ok())
}

/// Reads the bench boot's console. The first line of each kind counts.
pub fn parse_bench_console(console: &[String]) -> BenchFigures {
    let mut out = BenchFigures {
        timer_hz: first_number(console, TIMER_PATTERN),
        first_output: first_number(console, FIRST_OUTPUT_PATTERN),
        partner_done: first_number(console, PARTNER_PATTERN).is_some(),
        ..BenchFigures::default()
    };
    for (name, figure) in console.iter().filter_map(|l| parse_figure_line(l)) {
        let slot = match name.as_str() {
            NULL_FIGURE => &mut out.null,
            CLOCK_FIGURE => &mut out.clock,
            SWITCH_FIGURE => &mut out.switch,
            _ => continue,
        };
        slot.get_or_insert(figure);
    }
    out
}

/// Nanoseconds per timer tick.
pub fn tick_ns(hz: u64) -> f64 {
    1e9 / hz as f64
}

/// How far a per-operation figure can be off because of the clock's resolution: each batch
/// time and the subtracted loop time can each be off by one tick.
pub fn resolution_per_op(hz: u64, ops_per_batch: u64) -> f64 {
    2.0 * tick_ns(hz) / ops_per_batch.max(1) as f64
}

/// Reads the instruction count from the monitor's banner-time line.
pub fn banner_insns(console: &[String]) -> Option<u64> {
    first_number(console, BANNER_PATTERN)
}

/// One board's figures (None where it could not be measured).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub board: String,
    /// The image without cVMs.
    pub image: Option<ImageSize>,
    pub banner_insns: Option<u64>,
    /// The image with the bench cVMs (informational: the cVM loader and the bundle).
    pub bench_image: Option<ImageSize>,
    pub bench: BenchFigures,
    /// The exact QEMU command lines of the two boots.
    pub banner_command: Option<String>,
    pub bench_command: Option<String>,
    pub io: IoFigures,
    /// CHERI boards: a pure cVM's null hostcall (instructions, fastest batch) and what the cVM
    /// said about how, and the QEMU command line of that boot.
    pub pure_null: Option<(u64, String)>,
    pub pure_command: Option<String>,
    /// CP_File copy and revocation (CHERI boards).
    pub share: super::bench_share::ShareFigures,
    /// A nested cVM's null hostcall answered by its parent, and that boot's command line.
    #[serde(default)]
    pub served_null: Option<Figure>,
    #[serde(default)]
    pub served_command: Option<String>,
    /// Several cores: speed-up, each core's share, the cross-core wake-up (`bench_smp`).
    #[serde(default)]
    pub smp: super::bench_smp::SmpFigures,
}

/// The served figure: the child's `bench:` line as its parent printed it, behind the parent's
/// prefix (`[server] server serves bench: bench: served-null-hostcall median …`).
pub fn parse_served_console(console: &[String]) -> Option<Figure> {
    let key = format!("bench: {SERVED_NULL_FIGURE} ");
    console
        .iter()
        .find_map(|l| parse_figure_line(&l[l.find(&key)?..]).map(|(_, f)| f))
}

/// Reads `bench-pure`'s line: the figure and its explanation.
pub fn parse_pure_console(console: &[String]) -> Option<(u64, String)> {
    let re = regex::Regex::new(PURE_NULL_PATTERN).ok()?;
    console.iter().find_map(|l| {
        let c = re.captures(l)?;
        Some((c[1].parse().ok()?, c[2].to_string()))
    })
}

/// The disk and network figures of one board.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IoFigures {
    /// Bytes per guest instruction, writing and reading 1 MiB.
    pub disk_write_bpi: Option<f64>,
    pub disk_read_bpi: Option<f64>,
    /// Guest instructions per UDP echo round trip between two cVMs.
    pub udp_round_trip: Option<Figure>,
    pub disk_command: Option<String>,
    pub net_command: Option<String>,
}

/// Reads the disk benchmark's lines: (write, read) bytes per guest instruction.
pub fn parse_disk_console(console: &[String]) -> (Option<f64>, Option<f64>) {
    let Ok(re) = regex::Regex::new(DISK_PATTERN) else {
        return (None, None);
    };
    let mut out = (None, None);
    for c in console.iter().filter_map(|l| re.captures(l)) {
        let (Ok(bytes), Ok(ns)) = (c[2].parse::<f64>(), c[3].parse::<f64>()) else {
            continue;
        };
        if ns <= 0.0 {
            continue;
        }
        let slot = if &c[1] == "write" {
            &mut out.0
        } else {
            &mut out.1
        };
        slot.get_or_insert(bytes / ns);
    }
    out
}

/// The I/O summary: one line per board, round 1's disk figures in parentheses.
pub fn format_io_table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:>12} {:>9} {:>12} {:>9} {:<5} {:>14} {:>10}\n",
        "board", "disk write", "(round 1)", "disk read", "(round 1)", "≥3", "UDP echo RTT", "min"
    );
    for r in rows {
        let io = &r.io;
        let both = match (io.disk_write_bpi, io.disk_read_bpi) {
            (Some(w), Some(rd)) if w >= DISK_BPI_TARGET && rd >= DISK_BPI_TARGET => "ok",
            (Some(_), Some(_)) => "under",
            _ => "-",
        };
        let bpi = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2} B/i"));
        let before = |v: Option<f64>| v.map_or(String::new(), |v| format!("({v:.2})"));
        let round1 = round1_disk(&r.board);
        out.push_str(&format!(
            "{:<18} {:>12} {:>9} {:>12} {:>9} {:<5} {:>14} {:>10}\n",
            r.board,
            bpi(io.disk_write_bpi),
            before(round1.map(|(w, _)| w)),
            bpi(io.disk_read_bpi),
            before(round1.map(|(_, rd)| rd)),
            both,
            opt1(io.udp_round_trip.as_ref().map(|f| f.median)),
            opt1(io.udp_round_trip.as_ref().map(|f| f.min)),
        ));
    }
    out.push_str(&format!(
        "disk: 1 MiB in 64 KiB requests from one cVM, bytes per guest instruction (target ≥ {DISK_BPI_TARGET}; \
         in parentheses round 1's, docs/figures/bench.json in 99b68ff); \
         UDP echo: guest instructions per round trip between two cVMs on one virtio-net device\n"
    ));
    for r in rows {
        for (what, cmd) in [("disk", &r.io.disk_command), ("net", &r.io.net_command)] {
            if let Some(cmd) = cmd {
                out.push_str(&format!("  {} {what} run: $ {cmd}\n", r.board));
            }
        }
    }
    out
}

fn verdict(value: Option<u64>, limit: u64) -> &'static str {
    match value {
        Some(v) if v <= limit => "ok",
        Some(_) => "over",
        None => "-",
    }
}

fn verdict_f(value: Option<f64>, limit: f64) -> &'static str {
    match value {
        Some(v) if v <= limit => "ok",
        Some(_) => "over",
        None => "-",
    }
}

/// `ok`, or `over by <d> (<p>%)`, or `-` when not measured.
fn verdict_long(value: Option<f64>, limit: f64) -> String {
    match value {
        Some(v) if v <= limit => "ok".into(),
        Some(v) => format!(
            "over by {:.1} ({:+.0}%)",
            v - limit,
            (v - limit) / limit * 100.0
        ),
        None => "-".into(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn opt1(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1}"))
}

/// One board's table: every figure, its target and mark, the QEMU commands, and what the
/// per-operation figures mean (subtraction, batches, clock resolution).
pub fn format_board(row: &Row) -> String {
    let b = &row.bench;
    let mut out = String::new();
    let timer = match b.timer_hz {
        Some(hz) => format!("timer {hz} Hz = {} ns per tick", trim(tick_ns(hz))),
        None => "timer frequency not seen".into(),
    };
    out.push_str(&format!("== {} ({timer})\n", row.board));
    out.push_str(&format!(
        "  banner run: $ {}\n",
        row.banner_command.as_deref().unwrap_or("(did not run)")
    ));
    out.push_str(&format!(
        "  bench run:  $ {}\n",
        row.bench_command.as_deref().unwrap_or("(did not run)")
    ));
    let line = |name: &str, median: String, min: String, target: String, mark: String| {
        format!("  {name:<38} {median:>10} {min:>10}  {target:<11} {mark}\n")
    };
    out.push_str(&line(
        "figure (guest instructions)",
        "median".into(),
        "min".into(),
        "target".into(),
        "".into(),
    ));
    let int_row = |name: &str, v: Option<u64>, limit: Option<u64>| {
        line(
            name,
            opt(v),
            "".into(),
            limit.map_or("-".into(), |l| format!("≤ {l}")),
            limit.map_or(String::new(), |l| {
                verdict_long(v.map(|v| v as f64), l as f64)
            }),
        )
    };
    out.push_str(&int_row(
        "image without cVMs (bytes)",
        row.image.map(|s| s.total()),
        Some(IMAGE_LIMIT),
    ));
    out.push_str(&int_row(
        "image with the bench cVMs (bytes)",
        row.bench_image.map(|s| s.total()),
        None,
    ));
    out.push_str(&int_row(
        "reset → banner",
        row.banner_insns,
        Some(BANNER_LIMIT),
    ));
    out.push_str(&int_row(
        "reset → first cVM output",
        b.first_output,
        Some(FIRST_OUTPUT_LIMIT),
    ));
    let figure_rows = [
        ("null hostcall round trip", &b.null, Some(NULL_LIMIT)),
        ("clock_ns hostcall round trip", &b.clock, None),
        (
            "switch between two cVMs (yield)",
            &b.switch,
            Some(SWITCH_LIMIT),
        ),
    ];
    for (name, figure, limit) in figure_rows {
        let median = figure.as_ref().map(|f| f.median);
        out.push_str(&line(
            name,
            opt1(median),
            opt1(figure.as_ref().map(|f| f.min)),
            limit.map_or("-".into(), |l| format!("≤ {l}")),
            limit.map_or(String::new(), |l| verdict_long(median, l)),
        ));
        if let Some(f) = figure {
            let resolution = match (b.timer_hz, f.ops_per_batch()) {
                (Some(hz), Some(ops)) => format!(
                    "; clock resolution ±{} per op",
                    trim(resolution_per_op(hz, ops))
                ),
                _ => String::new(),
            };
            out.push_str(&format!("      ({}{resolution})\n", f.detail));
        }
    }
    if let Some(command) = &row.served_command {
        // Issue 12's target: at most twice a direct null hostcall.
        let limit = b.null.as_ref().map(|f| 2.0 * f.median);
        let median = row.served_null.as_ref().map(|f| f.median);
        out.push_str(&line(
            "null hostcall served by the parent",
            opt1(median),
            opt1(row.served_null.as_ref().map(|f| f.min)),
            limit.map_or("-".into(), |l| format!("≤ {}", trim(l))),
            limit.map_or(String::new(), |l| verdict_long(median, l)),
        ));
        out.push_str(&format!("      nested run: $ {command}\n"));
    }
    if let Some(command) = &row.pure_command {
        let figure = row.pure_null.as_ref().map(|(n, _)| *n);
        out.push_str(&line(
            "null hostcall from a pure cVM",
            "-".into(),
            opt(figure),
            format!("≤ {NULL_LIMIT}"),
            verdict_long(figure.map(|n| n as f64), NULL_LIMIT),
        ));
        if let Some((_, how)) = &row.pure_null {
            out.push_str(&format!("      ({how})\n"));
        }
        out.push_str(&format!("      pure run: $ {command}\n"));
    }
    if b.switch.is_some() && !b.partner_done {
        out.push_str(
            "  WARNING: the partner cVM did not report; the switch figure may not be one\n",
        );
    }
    out.push_str(
        "  per operation: median and fastest of the batches, each timed with clock_ns, minus \
         the median of the same loop without the trap\n",
    );
    out
}

/// A number with at most three decimals and no trailing zeros.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The summary over all boards.
pub fn format_table(rows: &[Row]) -> String {
    let header = format!(
        "{:<18} {:>11} {:>7} {:<5} {:>9} {:<5} {:>9} {:<5} {:>7} {:<5} {:>7} {:>7} {:<5}\n",
        "board",
        "image bytes",
        "KiB",
        "≤256K",
        "banner",
        "≤2M",
        "1st out",
        "≤5M",
        "null",
        "≤150",
        "clock",
        "switch",
        "≤400"
    );
    let mut out = header;
    for r in rows {
        let b = &r.bench;
        let null = b.null.as_ref().map(|f| f.median);
        let clock = b.clock.as_ref().map(|f| f.median);
        let switch = b.switch.as_ref().map(|f| f.median);
        out.push_str(&format!(
            "{:<18} {:>11} {:>7} {:<5} {:>9} {:<5} {:>9} {:<5} {:>7} {:<5} {:>7} {:>7} {:<5}\n",
            r.board,
            opt(r.image.map(|s| s.total())),
            r.image.map_or("-".to_string(), |s| format!(
                "{:.1}",
                s.total() as f64 / 1024.0
            )),
            verdict(r.image.map(|s| s.total()), IMAGE_LIMIT),
            opt(r.banner_insns),
            verdict(r.banner_insns, BANNER_LIMIT),
            opt(b.first_output),
            verdict(b.first_output, FIRST_OUTPUT_LIMIT),
            opt1(null),
            verdict_f(null, NULL_LIMIT),
            opt1(clock),
            opt1(switch),
            verdict_f(switch, SWITCH_LIMIT),
        ));
    }
    out.push_str(&format!(
        "targets: image ≤ {IMAGE_LIMIT} bytes ({} KiB); banner within {BANNER_LIMIT} and first \
         cVM output within {FIRST_OUTPUT_LIMIT} guest instructions of reset; null hostcall ≤ \
         {NULL_LIMIT} and switch ≤ {SWITCH_LIMIT} guest instructions (median per operation) \
         (-icount shift=0: 1 ns = 1 instruction)\n",
        IMAGE_LIMIT / 1024
    ));
    out
}

/// The script of the bench boot: every figure, then a clean power-off (both cVMs exit 0).
fn bench_script() -> Script {
    let figure = |name: &str| format!(r"bench: {name} median ");
    Script {
        steps: vec![
            Step::Expect {
                pattern: FIRST_OUTPUT_PATTERN.into(),
                at_least: None,
            },
            Step::ExpectAnyOrder {
                patterns: vec![
                    PARTNER_PATTERN.into(),
                    figure(SWITCH_FIGURE),
                    figure(NULL_FIGURE),
                    figure(CLOCK_FIGURE),
                    DONE_PATTERN.into(),
                ],
            },
        ],
        forbid: vec![super::tests::DEFAULT_FORBID.into(), FAULT_PATTERN.into()],
        end: End::PowerOff(Verdict::Pass),
    }
}

/// How a benchmark boot differs from the plain one.
#[derive(Default)]
struct BootExtras {
    append: Option<&'static str>,
    /// A disk of this many zero bytes instead of the scratch disk.
    disk_bytes: Option<usize>,
}

/// Boots `kernel` under icount with `script`; returns the report and the command line.
fn boot(
    board: &boards::Board,
    spec: &QemuSpec,
    qemu: &Path,
    kernel: &Path,
    script: &Script,
    verbose: bool,
    extras: BootExtras,
) -> Result<(RunReport, String), String> {
    let tmp = temp_dir(&format!("bench-{}", board.name))?;
    let disk = match extras.disk_bytes {
        Some(n) => runner::disk_image(tmp.path(), &vec![0u8; n])?,
        None => runner::scratch_disk(tmp.path())?,
    };
    let run = RunArgs {
        kernel: kernel.to_path_buf(),
        disk,
        append: extras.append.map(str::to_string),
        extra: ICOUNT_ARGS.iter().map(|s| s.to_string()).collect(),
        udp_forwards: Vec::new(),
    };
    let args = boards::qemu_args(spec, &run);
    let command = boards::shell_line(&qemu.to_string_lossy(), &args);
    println!("{}: $ {command}", board.name);
    let report = runner::run_script(&RunSettings {
        qemu,
        args: &args,
        script,
        status_is_verdict: spec.exit_status_is_verdict,
        time_limit: TIME_LIMIT,
        verbose,
        udp_port: None,
    });
    drop(tmp);
    Ok((report, command))
}

fn failure(name: &str, report: &RunReport, command: &str) -> Option<String> {
    let reason = report.result.as_ref().err()?;
    Some(failure_lines(name, reason, Some(command), report.tail(runner::TAIL_LINES)).join("\n"))
}

/// Measures one board: returns the row and the errors (things that failed to build or run).
fn measure(
    ws: &Workspace,
    board: &'static boards::Board,
    qemu: &Path,
    no_build: bool,
    verbose: bool,
) -> (Row, Vec<String>) {
    let mut row = Row {
        board: board.name.to_string(),
        ..Row::default()
    };
    let mut errors = Vec::new();
    let Some(spec) = board.qemu.as_ref() else {
        return (row, vec!["no QEMU".into()]);
    };

    // 1. The image without cVMs: size and banner.
    match image_for(ws, board, None, no_build).and_then(|kernel| {
        let size = elf::image_size_of(&kernel)?;
        println!("{}: {}: {size}", board.name, kernel.display());
        row.image = Some(size);
        let script = Script {
            steps: vec![Step::Expect {
                pattern: BANNER_PATTERN.into(),
                at_least: None,
            }],
            forbid: vec![super::tests::DEFAULT_FORBID.into()],
            end: End::KillWhenDone,
        };
        boot(
            board,
            spec,
            qemu,
            &kernel,
            &script,
            verbose,
            BootExtras::default(),
        )
    }) {
        Ok((report, command)) => {
            row.banner_insns = banner_insns(&report.console);
            errors.extend(failure(&format!("bench-{}", board.name), &report, &command));
            row.banner_command = Some(command);
        }
        Err(e) => errors.push(e),
    }

    // 2. The image with the bench cVMs: first output, hostcalls, switches.
    match image_for(ws, board, Some(BENCH_MANIFEST), no_build).and_then(|kernel| {
        let size = elf::image_size_of(&kernel)?;
        println!("{}: {}: {size}", board.name, kernel.display());
        row.bench_image = Some(size);
        boot(
            board,
            spec,
            qemu,
            &kernel,
            &bench_script(),
            verbose,
            BootExtras::default(),
        )
    }) {
        Ok((report, command)) => {
            row.bench = parse_bench_console(&report.console);
            errors.extend(failure(
                &format!("bench-{}-cvms", board.name),
                &report,
                &command,
            ));
            row.bench_command = Some(command);
        }
        Err(e) => errors.push(e),
    }

    // 3. Disk: 1 MiB each way, no request time-out armed.
    let disk_script = Script {
        steps: vec![Step::ExpectAnyOrder {
            patterns: vec![
                r"bench: disk-write \d+ bytes".into(),
                r"bench: disk-read \d+ bytes".into(),
                r"disk-bench: verified$".into(),
            ],
        }],
        forbid: vec![super::tests::DEFAULT_FORBID.into(), FAULT_PATTERN.into()],
        end: End::PowerOff(Verdict::Pass),
    };
    let extras = BootExtras {
        append: Some(DISK_BOOTARGS),
        disk_bytes: Some(DISK_BENCH_BYTES),
    };
    match image_for(ws, board, Some(DISK_MANIFEST), no_build)
        .and_then(|kernel| boot(board, spec, qemu, &kernel, &disk_script, verbose, extras))
    {
        Ok((report, command)) => {
            (row.io.disk_write_bpi, row.io.disk_read_bpi) = parse_disk_console(&report.console);
            errors.extend(failure(
                &format!("bench-{}-disk", board.name),
                &report,
                &command,
            ));
            row.io.disk_command = Some(command);
        }
        Err(e) => errors.push(e),
    }

    // 4. Network: UDP echo round trips between two cVMs (the echo cVM serves on: stop QEMU
    // once the pinger is done).
    let net_script = Script {
        steps: vec![Step::ExpectAnyOrder {
            patterns: vec![
                format!(r"bench: {UDP_FIGURE} median "),
                r"net-ping: ok$".into(),
            ],
        }],
        forbid: vec![super::tests::DEFAULT_FORBID.into(), FAULT_PATTERN.into()],
        end: End::KillWhenDone,
    };
    match image_for(ws, board, Some(NET_MANIFEST), no_build).and_then(|kernel| {
        boot(
            board,
            spec,
            qemu,
            &kernel,
            &net_script,
            verbose,
            BootExtras::default(),
        )
    }) {
        Ok((report, command)) => {
            row.io.udp_round_trip = report
                .console
                .iter()
                .filter_map(|l| parse_figure_line(l))
                .find(|(n, _)| n == UDP_FIGURE)
                .map(|(_, f)| f);
            errors.extend(failure(
                &format!("bench-{}-net", board.name),
                &report,
                &command,
            ));
            row.io.net_command = Some(command);
        }
        Err(e) => errors.push(e),
    }
    // The figure boots after the first ones: each a manifest of its own, under icount.
    let mut boot_figure =
        |manifest: &str, script: &Script, what: &str| -> Option<(Vec<String>, String)> {
            match image_for(ws, board, Some(manifest), no_build).and_then(|kernel| {
                boot(
                    board,
                    spec,
                    qemu,
                    &kernel,
                    script,
                    verbose,
                    BootExtras::default(),
                )
            }) {
                Ok((report, command)) => {
                    errors.extend(failure(
                        &format!("bench-{}-{what}", board.name),
                        &report,
                        &command,
                    ));
                    Some((report.console, command))
                }
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
    // One expected line, no fault, a `(pass)` power-off.
    let expect_line = |pattern: String| Script {
        steps: vec![Step::Expect {
            pattern,
            at_least: None,
        }],
        forbid: vec![
            crate::run::tests::DEFAULT_FORBID.into(),
            FAULT_PATTERN.into(),
        ],
        end: End::PowerOff(Verdict::Pass),
    };

    // 5. Every board: a nested cVM's null hostcall, served by its parent.
    let served = expect_line(format!("bench: {SERVED_NULL_FIGURE} median "));
    if let Some((console, command)) = boot_figure(NESTED_BENCH_MANIFEST, &served, "served") {
        row.served_null = parse_served_console(&console);
        row.served_command = Some(command);
    }
    // 6. CHERI boards: a pure-capability cVM's null hostcall.
    if spec.cheri {
        let pure = expect_line(PURE_NULL_PATTERN.into());
        if let Some((console, command)) = boot_figure(PURE_BENCH_MANIFEST, &pure, "pure") {
            row.pure_null = parse_pure_console(&console);
            row.pure_command = Some(command);
        }
    }
    // 7. Sharing (CHERI boards): a CP_File copy against memcpy, a revocation.
    if spec.cheri {
        let script = super::bench_share::script(FAULT_PATTERN);
        if let Some((console, command)) =
            boot_figure(super::bench_share::MANIFEST, &script, "share")
        {
            row.share = super::bench_share::parse(&console);
            row.share.command = Some(command);
        }
        // 8. CP_Stream: 1 MiB through a stream against the receiver's memcpy.
        let script = super::bench_share::stream_script(FAULT_PATTERN);
        if let Some((console, _)) =
            boot_figure(super::bench_share::STREAM_MANIFEST, &script, "stream")
        {
            row.share.stream = super::bench_share::parse(&console).stream;
        }
    }
    // 9. Several cores: the speed-up and shares (wall clock), the cross-core wake-up (icount).
    match image_for(ws, board, Some(super::bench_smp::CRUNCH_MANIFEST), no_build).and_then(
        |crunch| {
            let wake = image_for(ws, board, Some(super::bench_smp::WAKE_MANIFEST), no_build)?;
            Ok((crunch, wake))
        },
    ) {
        Ok((crunch, wake)) => {
            let (smp, smp_errors) =
                super::bench_smp::measure(board, spec, qemu, &crunch, &wake, verbose);
            row.smp = smp;
            errors.extend(smp_errors);
        }
        Err(e) => errors.push(e),
    }
    (row, errors)
}

/// Every figure of `rows` that was measured, as `{"<board>": {"<figure>": <number>, …}, …}`
/// (guest instructions unless the name says otherwise), for tracking figures from run to run.
pub fn figures_map(
    rows: &[Row],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<&'static str, f64>> {
    let mut all = std::collections::BTreeMap::new();
    for row in rows {
        let b = &row.bench;
        let mut m = std::collections::BTreeMap::new();
        let mut put = |name: &'static str, value: Option<f64>| {
            if let Some(v) = value {
                m.insert(name, v);
            }
        };
        put("image_bytes", row.image.map(|s| s.total() as f64));
        put(
            "bench_image_bytes",
            row.bench_image.map(|s| s.total() as f64),
        );
        put("reset_to_banner", row.banner_insns.map(|n| n as f64));
        put("reset_to_first_output", b.first_output.map(|n| n as f64));
        put("null_hostcall", b.null.as_ref().map(|f| f.median));
        put("clock_hostcall", b.clock.as_ref().map(|f| f.median));
        put("switch", b.switch.as_ref().map(|f| f.median));
        put(
            "served_null_hostcall",
            row.served_null.as_ref().map(|f| f.median),
        );
        put(
            "pure_null_hostcall",
            row.pure_null.as_ref().map(|(n, _)| *n as f64),
        );
        put("disk_write_bytes_per_instruction", row.io.disk_write_bpi);
        put("disk_read_bytes_per_instruction", row.io.disk_read_bpi);
        // Round 1's, beside them (not measured by this run: `ROUND1_DISK`).
        let round1 = round1_disk(&row.board);
        put(
            "disk_write_bytes_per_instruction_round1",
            round1.map(|(w, _)| w),
        );
        put(
            "disk_read_bytes_per_instruction_round1",
            round1.map(|(_, r)| r),
        );
        put(
            "udp_echo_round_trip",
            row.io.udp_round_trip.as_ref().map(|f| f.median),
        );
        put("cp_file_vs_memcpy", row.share.read_vs_memcpy());
        put("cp_stream_vs_memcpy", row.share.stream_vs_memcpy());
        put(
            "cp_stream_copy_vs_memcpy",
            row.share.stream_copy_vs_memcpy(),
        );
        put("memcpy_1mib", row.share.memcpy.map(|n| n as f64));
        put("cp_file_write_1mib", row.share.write.map(|n| n as f64));
        put("cp_file_read_1mib", row.share.read.map(|n| n as f64));
        put("cp_call", row.share.call.map(|n| n as f64));
        put(
            "revoke_4_importers",
            row.share.revoke.map(|(_, insns, _)| insns as f64),
        );
        put("smp_one_core_ms", row.smp.one_core_ms);
        put("smp_two_cores_ms", row.smp.two_cores_ms);
        put("smp_speedup", row.smp.speedup());
        put("smp_lowest_core_share_percent", row.smp.lowest_share());
        put("cross_core_wake", row.smp.wake);
        all.insert(row.board.clone(), m);
    }
    all
}

/// Writes [`figures_map`] to `path` (its directory is made).
fn write_figures_json(path: &Path, rows: &[Row]) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(&figures_map(rows)).map_err(|e| format!("figures: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// `bench --from FILE`: prints the tables of figures saved earlier (`bench.json`) and, with
/// `plot`, redraws the figures from them without booting anything.
pub fn from_saved(ws: &Workspace, file: &Path, plot: bool) -> i32 {
    let rows: Vec<Row> = match std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
    {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("capmon-run bench: {}: {e}", file.display());
            return 1;
        }
    };
    print!("{}", format_table(&rows));
    println!();
    print!("{}", format_io_table(&rows));
    if plot {
        match super::plot::draw(&rows, &ws.root.join("docs").join("figures")) {
            Ok(files) => files.iter().for_each(|f| println!("wrote {}", f.display())),
            Err(e) => {
                eprintln!("capmon-run bench: {e}");
                return 1;
            }
        }
    }
    0
}

/// `bench --smp`: only the multi-core figures, every board with a QEMU, printed.
pub fn run_smp(ws: &Workspace, no_build: bool, verbose: bool) -> i32 {
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
                println!("{}", skipped_line(&format!("bench-smp-{}", board.name)));
                continue;
            }
            Err(missing) => {
                errors.push(format!("{}: {missing}", board.name));
                continue;
            }
        };
        println!("{}: measuring the multi-core figures", board.name);
        let images = image_for(ws, board, Some(super::bench_smp::CRUNCH_MANIFEST), no_build)
            .and_then(|crunch| {
                let wake = image_for(ws, board, Some(super::bench_smp::WAKE_MANIFEST), no_build)?;
                Ok((crunch, wake))
            });
        match images {
            Ok((crunch, wake)) => {
                let (smp, e) =
                    super::bench_smp::measure(board, spec, &qemu, &crunch, &wake, verbose);
                errors.extend(e.into_iter().map(|e| format!("{}: {e}", board.name)));
                rows.push((board.name.to_string(), smp));
            }
            Err(e) => errors.push(format!("{}: {e}", board.name)),
        }
    }
    print!("{}", super::bench_smp::format_table(&rows));
    for e in &errors {
        eprintln!("capmon-run bench: {e}");
    }
    i32::from(!errors.is_empty())
}

/// Runs the benchmark over every QEMU board; returns the process exit code (0 unless something
/// failed to build or run; being over a target is reported, not an error).
pub fn run(ws: &Workspace, no_build: bool, verbose: bool, plot: bool) -> i32 {
    let env = LookupEnv::from_process();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let bar = crate::progress::bar(
        BOARDS.iter().filter(|b| b.qemu.is_some()).count() as u64,
        "benchmarking",
    );
    for board in BOARDS {
        let Some(spec) = board.qemu.as_ref() else {
            continue;
        };
        let qemu = match boards::find_qemu(spec, &env) {
            Ok(q) => q,
            Err(missing) if missing.cheri => {
                bar.println(skipped_line(&format!("bench-{}", board.name)));
                bar.inc(1);
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
        bar.set_message(board.name);
        // The bar stays up while the board's four boots run (only cargo, when it builds, prints).
        let (row, board_errors) = measure(ws, board, &qemu, no_build, verbose);
        bar.inc(1);
        errors.extend(
            board_errors
                .into_iter()
                .map(|e| format!("{}: {e}", board.name)),
        );
        rows.push(row);
    }
    bar.finish_and_clear();
    println!();
    for row in &rows {
        println!("{}", format_board(row));
    }
    print!("{}", format_table(&rows));
    println!();
    print!("{}", format_io_table(&rows));
    let share_rows: Vec<(String, super::bench_share::ShareFigures)> = rows
        .iter()
        .filter(|r| {
            r.share.memcpy.is_some() || r.share.revoke.is_some() || r.share.stream.is_some()
        })
        .map(|r| (r.board.clone(), r.share.clone()))
        .collect();
    if !share_rows.is_empty() {
        println!();
        print!("{}", super::bench_share::format_table(&share_rows));
    }
    let smp_rows: Vec<(String, super::bench_smp::SmpFigures)> = rows
        .iter()
        .filter(|r| r.smp != super::bench_smp::SmpFigures::default())
        .map(|r| (r.board.clone(), r.smp.clone()))
        .collect();
    if !smp_rows.is_empty() {
        println!();
        print!("{}", super::bench_smp::format_table(&smp_rows));
    }
    match write_figures_json(&ws.root.join(FIGURES_JSON), &rows) {
        Ok(()) => println!("figures: {FIGURES_JSON}"),
        Err(e) => errors.push(e),
    }
    if plot {
        let dir = ws.root.join("docs").join("figures");
        match super::plot::draw(&rows, &dir) {
            Ok(files) => {
                for f in files {
                    println!("wrote {}", f.display());
                }
            }
            Err(e) => errors.push(e),
        }
    }
    for e in &errors {
        eprintln!("capmon-run bench: {e}");
    }
    i32::from(!errors.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_figure_is_read_behind_the_parents_prefix_and_every_figure_reaches_the_json() {
        let console = lines(&[
            "[server] server serves bench: bench: served-null-hostcall median 1489.0 min 1480.5 (N=1000, 50 batches, loop overhead 6.0 subtracted)",
            "[server] server serves bench: bench: done",
        ]);
        let served = parse_served_console(&console).expect("the served figure");
        assert_eq!((served.median, served.min), (1489.0, 1480.5));
        assert_eq!(
            parse_served_console(&lines(&["bench: null-hostcall median 1.0 min 1.0 (x)"])),
            None
        );
        let mut row = Row {
            board: "qemu-morello".into(),
            served_null: Some(served),
            ..Row::default()
        };
        row.bench.null = parse_figure_line("bench: null-hostcall median 108.0 min 107.0 (N=1000)")
            .map(|(_, f)| f);
        row.pure_null = Some((122, "x".into()));
        let map = figures_map(&[row]);
        let board = &map["qemu-morello"];
        assert_eq!(board["null_hostcall"], 108.0);
        assert_eq!(board["served_null_hostcall"], 1489.0);
        assert_eq!(board["pure_null_hostcall"], 122.0);
        assert!(
            !board.contains_key("switch"),
            "figures that were not measured are left out"
        );
        let dir = std::env::temp_dir().join(format!("capmon-figures-{}", std::process::id()));
        let path = dir.join("bench").join("figures.json");
        write_figures_json(
            &path,
            &[Row {
                board: "b".into(),
                ..Row::default()
            }],
        )
        .unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(back["b"].is_object());
        std::fs::remove_dir_all(dir).ok();
    }

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    /// A bench boot's console as the monitor and the `bench` cVM print it.
    fn bench_console() -> Vec<String> {
        lines(&[
            "timer: 62500000 Hz, irq 26",
            "boot: banner after 861792 ns",
            "cvms: first cVM output after 1163664 ns",
            "[bench] bench: start: figures are per operation in ns of the monitor's clock",
            "[bench-partner] bench: partner done after 10200 yields",
            "cvm bench-partner: exit 0",
            "[bench] bench: switch median 333.0 min 332.9 (N=200 yields per cVM, 400 switches \
             per batch, 50 batches, loop overhead 4.8 subtracted)",
            "[bench] bench: null-hostcall median 263.0 min 263.0 (N=1000, hostcall 65535 → \
             -NoSys, 50 batches, loop overhead 4.3 subtracted)",
            "[bench] bench: clock-hostcall median 306.0 min 305.9 (N=1000, 50 batches, loop \
             overhead 4.3 subtracted)",
            "[bench] bench: null-hostcall median 1.0 min 1.0 (N=1, 1 batches, loop overhead \
             0.0 subtracted)",
            "[bench] bench: done",
        ])
    }

    #[test]
    fn reads_the_pure_figure() {
        let console = lines(&[
            "cvms: first cVM output after 40000000 ns",
            "[bench-pure] bench: pure-null-hostcall min 112 (N=1000, hostcall 65535 -> -NoSys \
             from a pure cVM, 50 batches, fastest batch minus the fastest trap-less loop)",
        ]);
        let (n, how) = parse_pure_console(&console).expect("the line");
        assert_eq!(n, 112);
        assert!(how.starts_with("N=1000, hostcall 65535"), "{how}");
        assert_eq!(
            parse_pure_console(&lines(&["bench: pure-null-hostcall min x (y)"])),
            None
        );
        let row = Row {
            board: "qemu-morello".into(),
            pure_null: Some((112, how)),
            pure_command: Some("qemu-system-morello …".into()),
            ..Row::default()
        };
        let text = format_board(&row);
        let pure = text
            .lines()
            .find(|l| l.contains("pure cVM"))
            .expect("a pure row");
        assert!(
            pure.contains("112") && pure.contains("≤ 150") && pure.ends_with("ok"),
            "{pure}"
        );
        let slow = Row {
            pure_null: Some((151, String::new())),
            ..row
        };
        let text = format_board(&slow);
        let pure = text
            .lines()
            .find(|l| l.contains("pure cVM"))
            .expect("a pure row");
        assert!(!pure.ends_with("ok"), "{pure}");
    }

    #[test]
    fn reads_banner_line() {
        let console = lines(&[
            "x",
            "boot: banner after 295797 ns",
            "boot: banner after 1 ns",
        ]);
        assert_eq!(banner_insns(&console), Some(295797));
        assert_eq!(banner_insns(&[]), None);
    }

    #[test]
    fn parses_figure_lines() {
        let (name, f) = parse_figure_line(
            "[bench] bench: null-hostcall median 263.0 min 262.5 (N=1000, hostcall 65535 → \
             -NoSys, 50 batches, loop overhead 4.3 subtracted)",
        )
        .expect("a figure line");
        assert_eq!(name, "null-hostcall");
        assert_eq!((f.median, f.min), (263.0, 262.5));
        assert!(
            f.detail.starts_with("N=1000, hostcall 65535"),
            "{}",
            f.detail
        );
        assert!(f.detail.ends_with("loop overhead 4.3 subtracted"));
        assert_eq!(f.ops_per_batch(), Some(1000));
        // Without the console label, and with integers.
        let (name, f) = parse_figure_line(
            "bench: switch median 333 min 330 (N=200 yields per cVM, 400 switches per batch, \
             50 batches, loop overhead 4.8 subtracted)",
        )
        .expect("unlabelled");
        assert_eq!((name.as_str(), f.median, f.min), ("switch", 333.0, 330.0));
        assert_eq!(f.ops_per_batch(), Some(400), "switches, not yields");
        for not_a_figure in [
            "[bench] bench: start: figures are per operation",
            "[bench] bench: done",
            "bench: null-hostcall median x min 1 (N=1)",
            "bench: null-hostcall median 1 min 1",
            "xbench: null-hostcall median 1 min 1 (N=1)",
            "[bench] bench: null-hostcall median 1. min 1 (N=1)",
            "",
        ] {
            assert_eq!(parse_figure_line(not_a_figure), None, "{not_a_figure}");
        }
        let no_count = Figure {
            median: 1.0,
            min: 1.0,
            detail: "50 batches".into(),
        };
        assert_eq!(no_count.ops_per_batch(), None);
    }

    #[test]
    fn parses_a_bench_console() {
        let b = parse_bench_console(&bench_console());
        assert_eq!(b.timer_hz, Some(62_500_000));
        assert_eq!(b.first_output, Some(1_163_664));
        assert!(b.partner_done);
        assert_eq!(
            b.null.as_ref().map(|f| f.median),
            Some(263.0),
            "the first one counts"
        );
        assert_eq!(b.clock.as_ref().map(|f| f.min), Some(305.9));
        assert_eq!(b.switch.as_ref().map(|f| f.median), Some(333.0));
        let riscv = parse_bench_console(&lines(&["timer: 10000000 Hz (clint 0x2000000)"]));
        assert_eq!(riscv.timer_hz, Some(10_000_000));
        assert_eq!(riscv.null, None);
        assert!(!riscv.partner_done);
        assert_eq!(parse_bench_console(&[]), BenchFigures::default());
    }

    #[test]
    fn the_script_matches_the_console() {
        let mut m = crate::run::expect::Matcher::new(&bench_script()).expect("script compiles");
        assert!(m.start().is_empty());
        for line in bench_console() {
            assert!(m.feed(&line).is_empty(), "{line}");
        }
        assert!(!m.done(), "waits for the power-off");
        assert!(m.feed("capmon: powering off (pass)").is_empty());
        assert!(m.done());
        let mut m = crate::run::expect::Matcher::new(&bench_script()).expect("script compiles");
        let faulted = m.feed("cvm bench: fault: capability bounds at pc 0x0");
        assert!(!faulted.is_empty(), "a fault fails the run");
    }

    #[test]
    fn resolution() {
        assert_eq!(tick_ns(62_500_000), 16.0);
        assert_eq!(tick_ns(10_000_000), 100.0);
        assert_eq!(tick_ns(1_000_000_000), 1.0);
        assert_eq!(resolution_per_op(10_000_000, 1000), 0.2);
        assert_eq!(resolution_per_op(62_500_000, 400), 0.08);
        assert_eq!(trim(0.08), "0.08");
        assert_eq!(trim(16.0), "16");
    }

    fn rows() -> Vec<Row> {
        let figure = |median: f64| Figure {
            median,
            min: median - 0.5,
            detail: "N=1000, 50 batches, loop overhead 4.3 subtracted".into(),
        };
        vec![
            Row {
                board: "qemu-aarch64".into(),
                image: Some(ImageSize {
                    text: 100 * 1024,
                    data: 1024,
                    bss: 0,
                }),
                banner_insns: Some(295_797),
                bench: BenchFigures {
                    timer_hz: Some(1_000_000_000),
                    first_output: Some(1_000_000),
                    null: Some(figure(150.0)),
                    clock: Some(figure(200.0)),
                    switch: Some(figure(400.0)),
                    partner_done: true,
                },
                banner_command: Some("qemu-system-aarch64 -kernel a".into()),
                bench_command: Some("qemu-system-aarch64 -kernel b".into()),
                ..Row::default()
            },
            Row {
                board: "qemu-riscv64".into(),
                image: Some(ImageSize {
                    text: 300 * 1024,
                    data: 0,
                    bss: 0,
                }),
                banner_insns: Some(2_000_001),
                bench: BenchFigures {
                    timer_hz: Some(10_000_000),
                    first_output: Some(5_000_001),
                    null: Some(figure(374.0)),
                    clock: Some(figure(558.0)),
                    switch: Some(figure(489.0)),
                    partner_done: false,
                },
                ..Row::default()
            },
            Row {
                board: "qemu-morello".into(),
                ..Row::default()
            },
        ]
    }

    #[test]
    fn table_marks_targets() {
        let table = format_table(&rows());
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("board"));
        assert!(lines[1].starts_with("qemu-aarch64"));
        assert!(
            lines[1].contains("103424") && lines[1].contains("101.0"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[1].matches(" ok").count(),
            5,
            "limits are inclusive: {}",
            lines[1]
        );
        assert!(!lines[1].contains("over"), "{}", lines[1]);
        assert_eq!(lines[2].matches("over").count(), 5, "{}", lines[2]);
        assert!(lines[2].contains("374.0") && lines[2].contains("558.0"));
        assert!(
            !lines[3].contains("ok") && !lines[3].contains("over"),
            "{}",
            lines[3]
        );
        assert!(lines[3].contains(" - "), "{}", lines[3]);
        assert!(lines[4].starts_with("targets:"));
    }

    #[test]
    fn board_table_shows_targets_commands_and_resolution() {
        let rows = rows();
        let aarch64 = format_board(&rows[0]);
        assert!(aarch64.starts_with("== qemu-aarch64 (timer 1000000000 Hz = 1 ns per tick)"));
        assert!(aarch64.contains("banner run: $ qemu-system-aarch64 -kernel a"));
        assert!(aarch64.contains("bench run:  $ qemu-system-aarch64 -kernel b"));
        let null = aarch64
            .lines()
            .find(|l| l.contains("null hostcall"))
            .expect("null row");
        assert!(
            null.contains("150.0") && null.contains("≤ 150") && null.ends_with("ok"),
            "{null}"
        );
        assert!(
            aarch64.contains("clock resolution ±0.002 per op"),
            "{aarch64}"
        );
        assert!(!aarch64.contains("WARNING"));

        let riscv = format_board(&rows[1]);
        let null = riscv
            .lines()
            .find(|l| l.contains("null hostcall"))
            .expect("null row");
        assert!(null.ends_with("over by 224.0 (+149%)"), "{null}");
        let first = riscv
            .lines()
            .find(|l| l.contains("first cVM output"))
            .expect("first-output row");
        assert!(
            first.contains("5000001") && first.contains("over by 1.0"),
            "{first}"
        );
        assert!(riscv.contains("clock resolution ±0.2 per op"), "{riscv}");
        assert!(riscv.contains("WARNING: the partner cVM did not report"));

        let missing = format_board(&rows[2]);
        assert!(missing.contains("timer frequency not seen"));
        assert!(missing.contains("(did not run)"));
        assert!(
            !missing.contains("ok") && !missing.contains("over"),
            "{missing}"
        );
    }

    #[test]
    fn icount_makes_ns_instructions() {
        assert_eq!(ICOUNT_ARGS.join(" "), "-icount shift=0,align=off,sleep=off");
    }

    #[test]
    fn disk_lines_become_bytes_per_instruction() {
        let console: Vec<String> = [
            "[disk-bench] bench: disk-write 1048576 bytes in 524288 ns",
            "noise",
            "[disk-bench] bench: disk-read 1048576 bytes in 350000 ns",
            "[disk-bench] bench: disk-read 1048576 bytes in 1 ns",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (w, r) = parse_disk_console(&console);
        assert_eq!(w, Some(2.0));
        assert!(
            (r.unwrap() - 2.995931).abs() < 1e-5,
            "the first read line counts: {r:?}"
        );
        assert_eq!(
            parse_disk_console(&["bench: disk-write 5 bytes in 0 ns".to_string()]),
            (None, None)
        );
    }

    #[test]
    fn io_table_marks_the_disk_target() {
        let mut fast = Row {
            board: "qemu-a".into(),
            ..Row::default()
        };
        fast.io.disk_write_bpi = Some(3.5);
        fast.io.disk_read_bpi = Some(3.0);
        fast.io.udp_round_trip = parse_figure_line(
            "[net-ping] bench: udp-echo-round-trip median 41000.0 min 39000.0 (N=20)",
        )
        .map(|(_, f)| f);
        let mut slow = Row {
            board: "qemu-b".into(),
            ..Row::default()
        };
        slow.io.disk_write_bpi = Some(2.9);
        slow.io.disk_read_bpi = Some(3.0);
        let mut morello = Row {
            board: "qemu-morello".into(),
            ..Row::default()
        };
        morello.io.disk_write_bpi = Some(40.0);
        morello.io.disk_read_bpi = Some(41.25);
        let table = format_io_table(&[fast, slow, morello.clone()]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("qemu-a")
                && lines[1].contains("3.50 B/i")
                && lines[1].contains(" ok ")
                && lines[1].contains("41000.0")
                && !lines[1].contains('('),
            "the limit is inclusive, and a board without round 1 figures shows none: {table}"
        );
        assert!(lines[2].contains("under"), "{table}");
        assert!(
            lines[3].contains("40.00 B/i    (2.33)") && lines[3].contains("41.25 B/i    (2.03)"),
            "round 1's figures beside the new ones: {table}"
        );
        let map = figures_map(&[morello]);
        let board = &map["qemu-morello"];
        assert_eq!(board["disk_read_bytes_per_instruction"], 41.25);
        assert_eq!(board["disk_write_bytes_per_instruction_round1"], 2.33);
        assert_eq!(board["disk_read_bytes_per_instruction_round1"], 2.03);
        assert!(figures_map(&[Row::default()])[""].is_empty());
    }
}
