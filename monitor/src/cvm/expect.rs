//! What a manifest says a cVM is expected to do (`expect = "fault";`, `"exit"`, `"exit 3"`),
//! and whether it did: the monitor's verdict is `pass` when every cVM ended as expected, so a
//! demo whose attacks are all contained passes, and a script can rely on the exit status.

use alloc::format;
use alloc::string::String;
use core::fmt;

/// How a cVM is expected to end. The default is exiting with 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exits (the `exit` hostcall or returning from main) with this code.
    Exit(i64),
    /// Is stopped by a fault or its CPU budget (after any restarts the manifest allows).
    Fault,
}

impl Default for Expect {
    fn default() -> Self {
        Expect::Exit(0)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Exit(0) => f.write_str("exit"),
            Expect::Exit(code) => write!(f, "exit {code}"),
            Expect::Fault => f.write_str("fault"),
        }
    }
}

/// How a cVM did end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exit(i64),
    Fault,
}

/// Parses the `expect` field's string: `exit`, `exit N` (decimal, may be negative) or `fault`.
pub fn parse(text: &str) -> Result<Expect, String> {
    let mut words = text.split_whitespace();
    let parsed = match (words.next(), words.next(), words.next()) {
        (Some("fault"), None, _) => Some(Expect::Fault),
        (Some("exit"), None, _) => Some(Expect::Exit(0)),
        (Some("exit"), Some(code), None) => code.parse().ok().map(Expect::Exit),
        _ => None,
    };
    parsed.ok_or_else(|| {
        String::from("must be \"exit\", \"exit N\" (N a decimal exit code) or \"fault\"")
    })
}

impl Expect {
    /// Whether a cVM that ended like `ended` (None: it never ended) met this expectation; the
    /// error says how it ended instead, for the verdict report.
    pub fn check(self, ended: Option<Ended>) -> Result<(), String> {
        match (self, ended) {
            (Expect::Exit(want), Some(Ended::Exit(code))) if want == code => Ok(()),
            (Expect::Fault, Some(Ended::Fault)) => Ok(()),
            (_, Some(Ended::Exit(code))) => Err(format!("exited with {code}, expected {self}")),
            (_, Some(Ended::Fault)) => Err(format!("faulted, expected {self}")),
            (_, None) => Err(format!("did not end, expected {self}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(parse("fault"), Ok(Expect::Fault));
        assert_eq!(parse("exit"), Ok(Expect::Exit(0)));
        assert_eq!(parse("exit 3"), Ok(Expect::Exit(3)));
        assert_eq!(parse("exit -1"), Ok(Expect::Exit(-1)));
        for bad in ["", "faults", "exit x", "exit 1 2", "fault 1", "EXIT"] {
            assert!(parse(bad).unwrap_err().contains("\"exit N\""), "{bad}");
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(Expect::default().check(Some(Ended::Exit(0))), Ok(()));
        assert_eq!(
            Expect::default().check(Some(Ended::Exit(2))),
            Err("exited with 2, expected exit".into())
        );
        assert_eq!(Expect::Exit(2).check(Some(Ended::Exit(2))), Ok(()));
        assert_eq!(Expect::Fault.check(Some(Ended::Fault)), Ok(()));
        assert_eq!(
            Expect::Fault.check(Some(Ended::Exit(0))),
            Err("exited with 0, expected fault".into())
        );
        assert_eq!(
            Expect::Exit(0).check(Some(Ended::Fault)),
            Err("faulted, expected exit".into())
        );
        assert_eq!(
            Expect::Fault.check(None),
            Err("did not end, expected fault".into())
        );
    }
}
