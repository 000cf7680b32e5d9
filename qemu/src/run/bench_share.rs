//! The sharing figures of `capmon-run bench` (CHERI boards only: `cvms/manifests/ipc-bench.dts`,
//! `cvms/ipc/src/bin/cp-bench.rs`; `stream-bench.dts`, `stream-bench.rs`): a 1 MiB copy through a CP_File shared object against the
//! same cVM's memcpy, the guest instructions of one revocation of an object four cVMs
//! imported, and 1 MiB through a CP_Stream (`cvms/ipc/src/bin/stream.rs`) against the
//! receiver's memcpy.

use crate::run::expect::{End, Script, Step, Verdict};

/// The manifest of the sharing benchmark.
pub const MANIFEST: &str = "ipc-bench";
/// The manifest of the stream benchmark (its own boot: its cVMs would add to the cVMs the
/// revocation figure sweeps).
pub const STREAM_MANIFEST: &str = "stream-bench";
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
/// `bench: cp-stream <bytes> bytes: memcpy <ns> ns, in place <ns> ns, copied out <ns> ns, …`
pub const STREAM_PATTERN: &str =
    r"bench: cp-stream (\d+) bytes: memcpy (\d+) ns, in place (\d+) ns, copied out (\d+) ns";
/// Target from the issue: a shared-object copy at least 0.98 of memcpy's speed.
pub const COPY_TARGET: f64 = 0.98;
/// Target from the issue: 1 MiB through a stream at least 0.9 of memcpy's speed.
pub const STREAM_TARGET: f64 = 0.9;

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
    /// Guest instructions for 1 MiB: the receiver's memcpy, through a stream received in
    /// place (the sender's write into the receiver's ring, the receiver's consume), and
    /// received with a copy out of the ring.
    #[serde(default)]
    pub stream: Option<(u64, u64, u64)>,
    pub command: Option<String>,
}

impl ShareFigures {
    /// memcpy time / shared-object read time: ≥ 1 means the copy out of the object is as fast.
    pub fn read_vs_memcpy(&self) -> Option<f64> {
        Some(self.memcpy? as f64 / self.read.filter(|&r| r > 0)? as f64)
    }

    /// memcpy time / stream time, received in place (the `cp_stream_vs_memcpy` figure).
    pub fn stream_vs_memcpy(&self) -> Option<f64> {
        let (memcpy, in_place, _) = self.stream?;
        (in_place > 0).then(|| memcpy as f64 / in_place as f64)
    }

    /// memcpy time / stream time, received with a copy out of the ring.
    pub fn stream_copy_vs_memcpy(&self) -> Option<f64> {
        let (memcpy, _, copied) = self.stream?;
        (copied > 0).then(|| memcpy as f64 / copied as f64)
    }
}

/// Reads the sharing boot's console.
pub fn parse(console: &[String]) -> ShareFigures {
    let mut out = ShareFigures::default();
    let copy = regex::Regex::new(COPY_PATTERN).ok();
    let revoke = regex::Regex::new(REVOKE_PATTERN).ok();
    let stream = regex::Regex::new(STREAM_PATTERN).ok();
    let call = regex::Regex::new(CALL_PATTERN).ok();
    for line in console {
        if let Some(c) = call.as_ref().and_then(|re| re.captures(line)) {
            out.call = c[1].parse().ok();
        }
        if let Some(c) = stream.as_ref().and_then(|re| re.captures(line)) {
            if let (Ok(m), Ok(p), Ok(k)) = (c[2].parse(), c[3].parse(), c[4].parse()) {
                out.stream = Some((m, p, k));
            }
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

/// The stream figure's line, then both cVMs exit 0.
pub fn stream_script(fault_pattern: &str) -> Script {
    Script {
        steps: vec![Step::ExpectAnyOrder {
            patterns: vec![STREAM_PATTERN.into()],
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
    out.push_str(&format!(
        "\n{:<18} {:>9} {:>9} {:>10} {:>9} {:>11} {:<5}\n",
        "board", "memcpy", "in place", "copied", "stream/mcpy", "copied/mcpy", "≥0.9"
    ));
    for (board, f) in rows {
        let Some((memcpy, in_place, copied)) = f.stream else {
            continue;
        };
        let ratio = f.stream_vs_memcpy();
        out.push_str(&format!(
            "{:<18} {:>9} {:>9} {:>10} {:>9} {:>11} {:<5}\n",
            board,
            memcpy,
            in_place,
            copied,
            ratio.map_or("-".into(), |r| format!("{r:.2}")),
            f.stream_copy_vs_memcpy()
                .map_or("-".into(), |r| format!("{r:.2}")),
            ratio.map_or("-", |r| if r >= STREAM_TARGET { "ok" } else { "UNDER" }),
        ));
    }
    out.push_str(
        "streams: 1 MiB from one cVM to another through a CP_Stream (sender's write through the \
         ring capability, wake-ups and the receiver's consume; 'copied' adds the receiver's copy \
         out of its ring) against the receiver's memcpy (guest instructions)\n",
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
            "[stream-recv] bench: cp-stream 1048576 bytes: memcpy 524448 ns, in place 400000 ns, copied out 900000 ns, in place vs memcpy 1.31",
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
        assert_eq!(f.stream, Some((524448, 400000, 900000)));
        assert!((f.stream_vs_memcpy().expect("ratio") - 1.3111).abs() < 0.001);
        assert!((f.stream_copy_vs_memcpy().expect("ratio") - 0.5827).abs() < 0.001);
        assert!((f.read_vs_memcpy().expect("ratio") - 1.5997).abs() < 0.001);
        let table = format_table(&[("qemu-morello".into(), f)]);
        assert!(
            table.contains("qemu-morello")
                && table.contains(" ok ")
                && table.contains("7520 (4; 4 caps)")
                && table.contains("96 OVER"),
            "{table}"
        );
        assert!(table.contains("1.31") && table.contains("0.58"), "{table}");
        assert_eq!(parse(&[]).read_vs_memcpy(), None);
        assert_eq!(parse(&[]).stream_vs_memcpy(), None);
    }
}
