//! Progress for long work (building images, boot tests, benchmarks), on `indicatif`: shown on
//! a terminal, hidden when stderr is not one or under `CI=true`, so logs stay plain.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether progress is drawn: stderr is a terminal and `CI` is not set to a true value.
pub fn enabled() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    !ci && std::io::stderr().is_terminal()
}

/// A bar over `len` steps of `what` (e.g. "building"), showing the current step's message and
/// the time spent; hidden when [`enabled`] says so.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target());
    let template = format!("{{spinner}} {what} [{{pos}}/{{len}}] {{msg}} ({{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn target() -> ProgressDrawTarget {
    if enabled() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_bar_still_counts() {
        // Under `cargo test` stderr is captured or CI is set: nothing is drawn either way.
        let bar = bar(3, "testing");
        bar.inc(2);
        assert_eq!(bar.position(), 2);
        bar.finish_and_clear();
    }
}
