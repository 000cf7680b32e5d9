//! `/chosen/bootargs`: the few run-time knobs a person can set from the QEMU command line.

use log::LevelFilter;

/// What the boot arguments asked for. Unknown words are kept so the monitor can warn about
/// them instead of silently ignoring a typo.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BootArgs<'a> {
    /// `log=<error|warn|info|debug|trace|off>` overrides the build-time log level.
    pub log: Option<LevelFilter>,
    /// `ticks=<n>`: timer interrupts to wait for in the boot self-test.
    pub ticks: Option<u32>,
    /// `echo`: read one line from the console and echo it (exercises interrupt-driven input).
    pub echo: bool,
    /// `disk-timeout-ms=<n>`: how long a disk request may take before its device counts as
    /// stuck; 0: no time-out (for measuring under QEMU `-icount sleep=off`, where an armed
    /// deadline is reached as soon as the CPU idles).
    pub disk_timeout_ms: Option<u64>,
    /// The first word that was not understood, if any.
    pub unknown: Option<&'a str>,
}

/// Parses `args`, which is untrusted (it comes from the device tree). Never fails: a bad
/// value is reported through `unknown`.
pub fn parse(args: &str) -> BootArgs<'_> {
    let mut parsed = BootArgs::default();
    for word in args.split_ascii_whitespace() {
        let understood = match word.split_once('=') {
            Some(("log", level)) => level
                .parse::<LevelFilter>()
                .map(|l| parsed.log = Some(l))
                .is_ok(),
            Some(("ticks", n)) => n.parse::<u32>().map(|n| parsed.ticks = Some(n)).is_ok(),
            Some(("disk-timeout-ms", n)) => n
                .parse::<u64>()
                .map(|n| parsed.disk_timeout_ms = Some(n))
                .is_ok(),
            None if word == "echo" => {
                parsed.echo = true;
                true
            }
            _ => false,
        };
        if !understood && parsed.unknown.is_none() {
            parsed.unknown = Some(word);
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_are_parsed() {
        let a = parse("  log=debug ticks=20 echo disk-timeout-ms=0 ");
        assert_eq!(a.disk_timeout_ms, Some(0));
        assert_eq!(a.log, Some(LevelFilter::Debug));
        assert_eq!(a.ticks, Some(20));
        assert!(a.echo);
        assert_eq!(a.unknown, None);
    }

    #[test]
    fn bad_values_are_reported_not_applied() {
        let a = parse("log=loud ticks=-1 ticks=5 console=ttyAMA0");
        assert_eq!(a.log, None);
        assert_eq!(a.ticks, Some(5));
        assert_eq!(a.unknown, Some("log=loud"));
        assert_eq!(parse(""), BootArgs::default());
    }
}
