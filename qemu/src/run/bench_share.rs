//! The sharing figures of `capmon-run bench` (CHERI boards only: `cvms/manifests/ipc-bench.dts`,
//! `cvms/ipc/src/bin/cp-bench.rs`): a 1 MiB copy through a CP_File shared object against the
//! same cVM's memcpy, and the guest instructions of one revocation of an object four cVMs
//! imported.

use crate::run::expect::{End, Script, Step, Verdict};

/// The manifest of the sharing benchmark.
pub const MANIFEST: &str = "ipc-bench";
/// `bench: cp-file-copy <bytes> bytes: memcpy <ns> ns, write <ns> ns, read <ns> ns, …`
pub const COPY_PATTERN: &str =
    r"bench: cp-file-copy (\d+) bytes: memcpy (\d+) ns, write (\d+) ns, read (\d+) ns";
/// `bench: revoke-<n>-importers <ns> ns (<k> capabilities cleared)`
pub const REVOKE_PATTERN: &str =
    r"bench: revoke-(\d+)-importers (\d+) ns \((\d+) capabilities cleared\)";
/// `bench: cp-call-null <ns> ns per call (<n> calls)`
pub const CALL_PATTERN: &str = r"bench: cp-call-null (\d+) ns per call \((\d+) calls\)";
/// Target from the issue: a null CP_Call round trip in at most 40 guest instructions.
pub const CALL_TARGET: u64 = 40;
/// Target from the issue: a shared-object copy at least 0.98 of memcpy's speed.
pub const COPY_TARGET: f64 = 0.98;

/// What the sharing boot printed.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShareFigures {
    /// Guest instructions: memcpy of 1 MiB, the copy into the object, out of it.
    pub memcpy: Option<u64>,
    pub write: Option<u64>,
    pub read: Option<u64>,
    /// (importers, guest instructions, capabilities cleared).
    pub revoke: Option<(u64, u64, u64)>,
    /// Guest instructions per null CP_Call round trip (loop included).
    #[serde(default)]
    pub call: Option<u64>,
    pub command: Option<String>,
}

impl ShareFigures {
    /// memcpy time / shared-object read time: ≥ 1 means the copy out of the object is as fast.
    pub fn read_vs_memcpy(&self) -> Option<f64> {
        Some(self.memcpy? as f64 / self.read.filter(|&r| r > 0)? as f64)
    }
}

/// Reads the sharing boot's console.
pub fn parse(console: &[String]) -> ShareFigures {
    let mut out = ShareFigures::default();
    let copy = regex::Regex::new(COPY_PATTERN).ok();
    let revoke = regex::Regex::new(REVOKE_PATTERN).ok();
    let call = regex::Regex::new(CALL_PATTERN).ok();
    for line in console {
        if let Some(c) = call.as_ref().and_then(|re| re.captures(line)) {
            out.call = c[1].parse().ok();
        }
        if let Some(c) = copy.as_ref().and_then(|re| re.captures(line)) {
            out.memcpy = c[2].parse().ok();
            out.write = c[3].parse().ok();
            out.read = c[4].parse().ok();
        }
        if let Some(c) = revoke.as_ref().and_then(|re| re.captures(line)) {
            if let (Ok(n), Ok(ns), Ok(k)) = (c[1].parse(), c[2].parse(), c[3].parse()) {
                out.revoke = Some((n, ns, k));
            }
        }
    }
    out
}

/// Both figures, then every cVM exits 0.
pub fn script(fault_pattern: &str) -> Script {
    Script {
        steps: vec![Step::ExpectAnyOrder {
            patterns: vec![
                COPY_PATTERN.into(),
                REVOKE_PATTERN.into(),
                CALL_PATTERN.into(),
            ],
        }],
        forbid: vec![
            crate::run::tests::DEFAULT_FORBID.into(),
            fault_pattern.into(),
        ],
        end: End::PowerOff(Verdict::Pass),
    }
}

/// The sharing table, one line per board that has figures.
pub fn format_table(rows: &[(String, ShareFigures)]) -> String {
    let mut out = format!(
        "{:<18} {:>9} {:>9} {:>9} {:>10} {:<5} {:>22} {:>8} {:<5}\n",
        "board",
        "memcpy",
        "cp write",
        "cp read",
        "read/mcpy",
        "≥0.98",
        "revoke (importers)",
        "cp call",
        "≤40"
    );
    for (board, f) in rows {
        let ratio = f.read_vs_memcpy();
        out.push_str(&format!(
            "{:<18} {:>9} {:>9} {:>9} {:>10} {:<5} {:>22} {:>8} {:<5}\n",
            board,
            f.memcpy.map_or("-".into(), |v| v.to_string()),
            f.write.map_or("-".into(), |v| v.to_string()),
            f.read.map_or("-".into(), |v| v.to_string()),
            ratio.map_or("-".into(), |r| format!("{r:.2}")),
            ratio.map_or("-", |r| if r >= COPY_TARGET { "ok" } else { "OVER" }),
            f.revoke
                .map_or("-".into(), |(n, ns, k)| format!("{ns} ({n}; {k} caps)")),
            f.call.map_or("-".into(), |v| v.to_string()),
            f.call
                .map_or("-", |v| if v <= CALL_TARGET { "ok" } else { "OVER" }),
        ));
    }
    out.push_str(
        "sharing: 1 MiB copied with memcpy inside one cVM, into and out of a CP_File object through \
         its capability; revocation of one object imported by 4 cVMs; a null CP_Call round trip, \
         its loop included (guest instructions)\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cp_bench_lines() {
        let console: Vec<String> = [
            "[cp-bench] bench: cp-file-copy 1048576 bytes: memcpy 524448 ns, write 327840 ns, read 327840 ns, read vs memcpy 1.59",
            "[cp-bench] bench: revoke-4-importers 7520 ns (4 capabilities cleared)",
            "[cp-bench] bench: cp-call-null 96 ns per call (1000 calls)",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = parse(&console);
        assert_eq!(
            (f.memcpy, f.write, f.read),
            (Some(524448), Some(327840), Some(327840))
        );
        assert_eq!(f.revoke, Some((4, 7520, 4)));
        assert_eq!(f.call, Some(96));
        assert!((f.read_vs_memcpy().expect("ratio") - 1.5997).abs() < 0.001);
        let table = format_table(&[("qemu-morello".into(), f)]);
        assert!(
            table.contains("qemu-morello")
                && table.contains(" ok ")
                && table.contains("7520 (4; 4 caps)")
                && table.contains("96 OVER"),
            "{table}"
        );
        assert_eq!(parse(&[]).read_vs_memcpy(), None);
    }
}
