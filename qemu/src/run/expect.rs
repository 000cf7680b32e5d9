//! The expectation engine: matches a test's script against console lines as they arrive.
//!
//! Pure state machine, no processes or clocks: the runner feeds it one console line at a time
//! and acts on what it returns (type bytes into QEMU, or fail the test), then asks it to judge
//! how QEMU ended. That keeps every rule here unit-testable over a fake console.

use regex::Regex;

/// What the monitor said when it powered off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// How a run is expected to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The monitor prints `capmon: powering off (<verdict>)` after every expectation, and QEMU
    /// then exits by itself. Where QEMU's exit status carries the verdict (RISC-V), it must
    /// agree: 0 for pass, non-zero for fail.
    PowerOff(Verdict),
    /// QEMU is killed as soon as every expectation has matched (benchmarks, long-running
    /// demos). A verdict line before that is a failure.
    KillWhenDone,
}

/// One ordered step of a test script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A line matching `pattern` (a regex, searched within the line) must appear after the
    /// lines matched by earlier steps. With `at_least`, capture group 1 must parse as a number
    /// no smaller than that.
    Expect {
        pattern: String,
        at_least: Option<u64>,
    },
    /// Lines matching each of `patterns`, in any order (each pattern takes a line of its
    /// own; lines matching none are skipped), after the lines matched by earlier steps. For
    /// output whose interleaving is not fixed, such as several cVMs printing at once. The
    /// step is complete when every pattern has matched.
    ExpectAnyOrder { patterns: Vec<String> },
    /// Bytes to type into the console (QEMU's stdin) once the steps before it have matched.
    Type(String),
    /// Once the steps before it have matched, the runner sends this many UDP datagrams to the
    /// guest's forwarded UDP port and checks that each comes back unchanged.
    UdpEcho { datagrams: u32 },
}

/// A test script: ordered steps, lines that must never appear, and the expected end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub steps: Vec<Step>,
    /// Regexes no console line may match, anywhere in the run.
    pub forbid: Vec<String>,
    pub end: End,
}

/// What the runner must do after feeding a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to QEMU's stdin.
    Type(Vec<u8>),
    /// Exchange this many datagrams with the guest's UDP echo service.
    UdpEcho(u32),
    /// The test has failed for this reason; stop QEMU.
    Fail(String),
}

/// The verdict line every capmon run ends with.
pub const VERDICT_PATTERN: &str = r"^capmon: powering off \((pass|fail)\)$";

enum Compiled {
    Expect {
        regex: Regex,
        pattern: String,
        at_least: Option<u64>,
    },
    AnyOrder {
        /// Each pattern, its regex, and whether a line has matched it yet.
        patterns: Vec<(String, Regex, bool)>,
    },
    Type(Vec<u8>),
    UdpEcho(u32),
}

/// Matching state for one run of a script.
pub struct Matcher {
    steps: Vec<Compiled>,
    forbid: Vec<(String, Regex)>,
    end: End,
    next: usize,
    verdict_re: Regex,
    verdict: Option<Verdict>,
    failed: bool,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("next", &self.next)
            .field("verdict", &self.verdict)
            .finish()
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("bad regex /{pattern}/: {e}"))
}

fn describe(pattern: &str, at_least: Option<u64>) -> String {
    match at_least {
        Some(min) => format!("/{pattern}/ with a number ≥ {min}"),
        None => format!("/{pattern}/"),
    }
}

impl Matcher {
    /// Compiles a script; fails on a bad regex.
    pub fn new(script: &Script) -> Result<Matcher, String> {
        let mut steps = Vec::new();
        for step in &script.steps {
            steps.push(match step {
                Step::Expect { pattern, at_least } => {
                    let regex = compile(pattern)?;
                    if at_least.is_some() && regex.captures_len() < 2 {
                        return Err(format!(
                            "/{pattern}/ has a numeric minimum but no capture group for the number"
                        ));
                    }
                    Compiled::Expect {
                        regex,
                        pattern: pattern.clone(),
                        at_least: *at_least,
                    }
                }
                Step::ExpectAnyOrder { patterns } => {
                    if patterns.is_empty() {
                        return Err("an any-order expectation needs at least one pattern".into());
                    }
                    Compiled::AnyOrder {
                        patterns: patterns
                            .iter()
                            .map(|p| Ok((p.clone(), compile(p)?, false)))
                            .collect::<Result<_, String>>()?,
                    }
                }
                Step::Type(text) => Compiled::Type(text.as_bytes().to_vec()),
                Step::UdpEcho { datagrams } => Compiled::UdpEcho(*datagrams),
            });
        }
        let forbid = script
            .forbid
            .iter()
            .map(|p| Ok((p.clone(), compile(p)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Matcher {
            steps,
            forbid,
            end: script.end,
            next: 0,
            verdict_re: compile(VERDICT_PATTERN)?,
            verdict: None,
            failed: false,
        })
    }

    /// Steps to take before any output: input typed right at the start, if the script opens
    /// with it.
    pub fn start(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        self.take_types(&mut actions);
        actions
    }

    fn take_types(&mut self, actions: &mut Vec<Action>) {
        loop {
            match self.steps.get(self.next) {
                Some(Compiled::Type(bytes)) => actions.push(Action::Type(bytes.clone())),
                Some(Compiled::UdpEcho(n)) => actions.push(Action::UdpEcho(*n)),
                _ => break,
            }
            self.next += 1;
        }
    }

    fn fail(&mut self, actions: &mut Vec<Action>, reason: String) {
        self.failed = true;
        actions.push(Action::Fail(reason));
    }

    /// Feeds one console line (without its line ending).
    pub fn feed(&mut self, line: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.failed {
            return actions;
        }
        if let Some((pattern, _)) = self.forbid.iter().find(|(_, re)| re.is_match(line)) {
            let reason = format!("forbidden /{pattern}/ appeared: {line}");
            self.fail(&mut actions, reason);
            return actions;
        }
        if let Some(caps) = self.verdict_re.captures(line) {
            let said = if &caps[1] == "pass" {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            self.verdict = Some(said);
            let reason = match self.end {
                End::PowerOff(want) if want != said => Some(format!(
                    "monitor reported `{}` (expected `{}`){}",
                    said.word(),
                    want.word(),
                    self.pending_suffix()
                )),
                End::KillWhenDone if !self.all_steps_matched() => Some(format!(
                    "monitor powered off ({}) before {} appeared",
                    said.word(),
                    self.waiting_for()
                )),
                End::PowerOff(_) if !self.all_steps_matched() => Some(format!(
                    "monitor powered off before {} appeared",
                    self.waiting_for()
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                self.fail(&mut actions, reason);
            }
            return actions;
        }
        if let Some(Compiled::Expect {
            regex,
            pattern,
            at_least,
        }) = self.steps.get(self.next)
        {
            if let Some(caps) = regex.captures(line) {
                if let Some(min) = *at_least {
                    let text = caps.get(1).map_or("", |m| m.as_str());
                    let reason = match text.parse::<u64>() {
                        Ok(n) if n >= min => None,
                        Ok(n) => Some(format!(
                            "/{pattern}/ matched with {n}, want ≥ {min}: {line}"
                        )),
                        Err(_) => Some(format!(
                            "/{pattern}/ captured `{text}`, not a number: {line}"
                        )),
                    };
                    if let Some(reason) = reason {
                        self.fail(&mut actions, reason);
                        return actions;
                    }
                }
                self.next += 1;
                self.take_types(&mut actions);
            }
        } else if let Some(Compiled::AnyOrder { patterns }) = self.steps.get_mut(self.next) {
            if let Some(entry) = patterns
                .iter_mut()
                .find(|(_, regex, seen)| !*seen && regex.is_match(line))
            {
                entry.2 = true;
            }
            if patterns.iter().all(|(_, _, seen)| *seen) {
                self.next += 1;
                self.take_types(&mut actions);
            }
        }
        actions
    }

    fn all_steps_matched(&self) -> bool {
        self.next >= self.steps.len()
    }

    fn pending_suffix(&self) -> String {
        if self.all_steps_matched() {
            String::new()
        } else {
            format!(" while waiting for {}", self.waiting_for())
        }
    }

    /// True once everything the script waits for has been seen (for [`End::PowerOff`] that
    /// includes the verdict line).
    pub fn done(&self) -> bool {
        !self.failed
            && self.all_steps_matched()
            && match self.end {
                End::PowerOff(want) => self.verdict == Some(want),
                End::KillWhenDone => true,
            }
    }

    /// How the end of the script is expected.
    pub fn end(&self) -> End {
        self.end
    }

    /// What the script is waiting for, for time-out and early-exit messages.
    pub fn waiting_for(&self) -> String {
        match self.steps.get(self.next) {
            Some(Compiled::Expect {
                pattern, at_least, ..
            }) => {
                format!(
                    "{} (step {} of {})",
                    describe(pattern, *at_least),
                    self.next + 1,
                    self.steps.len()
                )
            }
            Some(Compiled::AnyOrder { patterns }) => {
                let missing: Vec<String> = patterns
                    .iter()
                    .filter(|(_, _, seen)| !seen)
                    .map(|(p, _, _)| describe(p, None))
                    .collect();
                format!(
                    "{} more line(s) in any order: {} (step {} of {})",
                    missing.len(),
                    missing.join(", "),
                    self.next + 1,
                    self.steps.len()
                )
            }
            Some(Compiled::Type(_)) => "input to be typed".to_string(),
            Some(Compiled::UdpEcho(_)) => "a UDP echo exchange".to_string(),
            None => match self.end {
                End::PowerOff(v) => format!("`capmon: powering off ({})`", v.word()),
                End::KillWhenDone => "nothing".to_string(),
            },
        }
    }

    /// Judges a run whose QEMU exited by itself with `status` (None if killed by a signal),
    /// given whether the board's exit status carries the verdict.
    pub fn judge_exit(&self, status: Option<i32>, status_is_verdict: bool) -> Result<(), String> {
        let shown = match status {
            Some(code) => format!("status {code}"),
            None => "a signal".to_string(),
        };
        if !self.done() {
            return Err(format!(
                "QEMU exited ({shown}) before {} appeared",
                self.waiting_for()
            ));
        }
        match self.end {
            End::PowerOff(want) if status_is_verdict => {
                let agrees = match want {
                    Verdict::Pass => status == Some(0),
                    Verdict::Fail => matches!(status, Some(code) if code != 0),
                };
                if agrees {
                    Ok(())
                } else {
                    Err(format!(
                        "monitor printed `powering off ({})` but QEMU exited with {shown}",
                        want.word()
                    ))
                }
            }
            _ => Ok(()),
        }
    }
}

/// Convenience constructor for an ordered expectation.
pub fn expect(pattern: &str) -> Step {
    Step::Expect {
        pattern: pattern.to_string(),
        at_least: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(steps: Vec<Step>, forbid: &[&str], end: End) -> Matcher {
        let script = Script {
            steps,
            forbid: forbid.iter().map(|s| s.to_string()).collect(),
            end,
        };
        Matcher::new(&script).expect("compiles")
    }

    fn feed_all(m: &mut Matcher, lines: &[&str]) -> Vec<Action> {
        lines.iter().flat_map(|l| m.feed(l)).collect()
    }

    #[test]
    fn matches_in_order_one_line_per_step() {
        let mut m = script(
            vec![expect("^a$"), expect("^b$"), expect("^a$")],
            &[],
            End::PowerOff(Verdict::Pass),
        );
        assert!(feed_all(&mut m, &["b", "a", "x", "b"]).is_empty());
        assert!(!m.done());
        assert!(m.waiting_for().contains("/^a$/ (step 3 of 3)"));
        feed_all(&mut m, &["a"]);
        assert!(!m.done(), "verdict still missing");
        assert_eq!(m.waiting_for(), "`capmon: powering off (pass)`");
        assert!(feed_all(&mut m, &["capmon: powering off (pass)"]).is_empty());
        assert!(m.done());
        assert_eq!(m.judge_exit(Some(0), true), Ok(()));
    }

    #[test]
    fn forbidden_line_fails_at_once() {
        let mut m = script(
            vec![expect("x")],
            &["(?i)panic"],
            End::PowerOff(Verdict::Pass),
        );
        let actions = feed_all(&mut m, &["ok", "capmon: PANIC at foo.rs:3", "x"]);
        assert_eq!(actions.len(), 1);
        assert!(matches!(&actions[0], Action::Fail(r) if r.contains("PANIC at foo.rs")));
        assert!(!m.done());
        assert!(m.feed("more").is_empty(), "nothing after a failure");
    }

    #[test]
    fn numeric_minimum() {
        let step = || Step::Expect {
            pattern: r"^ticks: (\d+) timer".into(),
            at_least: Some(10),
        };
        let mut m = script(vec![step()], &[], End::KillWhenDone);
        assert!(m.feed("ticks: 12 timer interrupts at 100 Hz").is_empty());
        assert!(m.done());
        let mut m = script(vec![step()], &[], End::KillWhenDone);
        let actions = m.feed("ticks: 9 timer interrupts at 100 Hz");
        assert!(matches!(&actions[..], [Action::Fail(r)] if r.contains("with 9, want ≥ 10")));
        let bad = Script {
            steps: vec![Step::Expect {
                pattern: "ticks".into(),
                at_least: Some(1),
            }],
            forbid: vec![],
            end: End::KillWhenDone,
        };
        assert!(Matcher::new(&bad).unwrap_err().contains("capture group"));
    }

    #[test]
    fn types_after_prompt() {
        let mut m = script(
            vec![
                Step::Type("early".into()),
                expect("^console: type a line"),
                Step::Type("hello capmon\r".into()),
                expect(r#"^console: read line "hello capmon"$"#),
            ],
            &[],
            End::PowerOff(Verdict::Pass),
        );
        assert_eq!(m.start(), vec![Action::Type(b"early".to_vec())]);
        assert!(m.feed("boot").is_empty());
        assert_eq!(
            m.feed("console: type a line and press Enter"),
            vec![Action::Type(b"hello capmon\r".to_vec())]
        );
        assert!(m.feed(r#"console: read line "hello capmon""#).is_empty());
        m.feed("capmon: powering off (pass)");
        assert!(m.done());
    }

    #[test]
    fn wrong_or_early_verdict() {
        let mut m = script(vec![expect("x")], &[], End::PowerOff(Verdict::Pass));
        let a = m.feed("capmon: powering off (fail)");
        assert!(
            matches!(&a[..], [Action::Fail(r)] if r.contains("reported `fail` (expected `pass`) while waiting for /x/"))
        );

        let mut m = script(vec![expect("x")], &[], End::PowerOff(Verdict::Pass));
        let a = m.feed("capmon: powering off (pass)");
        assert!(matches!(&a[..], [Action::Fail(r)] if r.contains("powered off before /x/")));

        let mut m = script(vec![expect("banner")], &[], End::KillWhenDone);
        let a = m.feed("capmon: powering off (pass)");
        assert!(
            matches!(&a[..], [Action::Fail(r)] if r.contains("powered off (pass) before /banner/"))
        );
    }

    #[test]
    fn exit_status_must_agree_where_it_carries_the_verdict() {
        let mut pass = script(vec![], &[], End::PowerOff(Verdict::Pass));
        pass.feed("capmon: powering off (pass)");
        assert_eq!(pass.judge_exit(Some(0), true), Ok(()));
        assert!(pass
            .judge_exit(Some(1), true)
            .unwrap_err()
            .contains("exited with status 1"));
        assert_eq!(
            pass.judge_exit(Some(1), false),
            Ok(()),
            "Arm: verdict line only"
        );

        let mut fail = script(vec![expect("unusable")], &[], End::PowerOff(Verdict::Fail));
        fail.feed("capmon: device tree unusable: no /cpus");
        fail.feed("capmon: powering off (fail)");
        assert!(fail.done());
        assert_eq!(fail.judge_exit(Some(1), true), Ok(()));
        assert!(fail.judge_exit(Some(0), true).is_err());
        assert!(fail
            .judge_exit(None, true)
            .unwrap_err()
            .contains("a signal"));
        assert_eq!(fail.judge_exit(Some(0), false), Ok(()));
    }

    #[test]
    fn early_exit_names_what_was_missing() {
        let mut m = script(
            vec![expect("^one$"), expect("^two$")],
            &[],
            End::PowerOff(Verdict::Pass),
        );
        m.feed("one");
        let err = m.judge_exit(Some(0), false).unwrap_err();
        assert_eq!(
            err,
            "QEMU exited (status 0) before /^two$/ (step 2 of 2) appeared"
        );
    }

    #[test]
    fn any_order_group() {
        let group = Step::ExpectAnyOrder {
            patterns: vec!["^a".into(), "^b".into(), "^a".into()],
        };
        let steps = vec![expect("^start$"), group, expect("^end$")];
        // Before `start` nothing counts; then each pattern takes its own line, in any order.
        let mut m = script(steps.clone(), &[], End::KillWhenDone);
        feed_all(&mut m, &["a1", "start", "b", "x", "a2"]);
        assert!(!m.done());
        assert!(m
            .waiting_for()
            .contains("1 more line(s) in any order: /^a/ (step 2 of 3)"));
        feed_all(&mut m, &["end", "a3", "end"]);
        assert!(m.done());
        // A group still open when the verdict comes is reported by what it misses.
        let mut m = script(steps, &[], End::PowerOff(Verdict::Pass));
        let actions = feed_all(&mut m, &["start", "b", "capmon: powering off (pass)"]);
        assert!(matches!(&actions[..], [Action::Fail(r)] if r.contains("2 more line(s)")));
        let empty = Script {
            steps: vec![Step::ExpectAnyOrder { patterns: vec![] }],
            forbid: vec![],
            end: End::KillWhenDone,
        };
        assert!(Matcher::new(&empty).is_err());
    }

    #[test]
    fn bad_regex_is_reported() {
        let s = Script {
            steps: vec![expect("(")],
            forbid: vec![],
            end: End::KillWhenDone,
        };
        assert!(Matcher::new(&s).unwrap_err().starts_with("bad regex /(/"));
    }
}
