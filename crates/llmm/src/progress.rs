//! Batch progress on stderr: an indicatif bar on a terminal, plain lines otherwise.
//!
//! Plain lines appear at every tenth of the batch and at least every five seconds, so logs of
//! long unattended runs stay short but alive.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Nothing.
    Quiet,
    /// A progress bar (stderr is a terminal).
    Bar(ProgressBar),
    /// Periodic plain lines.
    Plain {
        total: usize,
        started: Instant,
        last: Instant,
        last_step: usize,
    },
}

const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

impl Progress {
    /// Chooses the form from `quiet` and whether stderr is a terminal.
    #[allow(
        clippy::disallowed_methods,
        reason = "progress reports wall-clock rate and ETA"
    )]
    pub(crate) fn new(total: usize, quiet: bool) -> Self {
        if quiet || total == 0 {
            return Self::Quiet;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(total).unwrap_or(u64::MAX)),
                ProgressDrawTarget::stderr(),
            );
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {rate} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.1} req/s", state.per_sec());
                },
            );
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
            return Self::Bar(bar);
        }
        let now = Instant::now();
        Self::Plain {
            total,
            started: now,
            last: now,
            last_step: 0,
        }
    }

    /// Reports that `done` requests have finished, `failed` of them unsuccessfully.
    #[allow(
        clippy::disallowed_methods,
        reason = "progress reports wall-clock rate and ETA"
    )]
    pub(crate) fn update(&mut self, done: usize, failed: usize) {
        match self {
            Self::Quiet => {}
            Self::Bar(bar) => {
                bar.set_position(u64::try_from(done).unwrap_or(u64::MAX));
                bar.set_message(format!("failed {failed}"));
            }
            Self::Plain {
                total,
                started,
                last,
                last_step,
            } => {
                let step = done * 10 / (*total).max(1);
                let now = Instant::now();
                if step > *last_step || now.duration_since(*last) >= PLAIN_INTERVAL {
                    *last_step = step;
                    *last = now;
                    eprintln!(
                        "{}",
                        plain_line(done, *total, failed, now.duration_since(*started))
                    );
                }
            }
        }
    }

    /// Clears the bar.
    pub(crate) fn finish(self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// One plain progress line.
fn plain_line(done: usize, total: usize, failed: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 {
        format!("{:.0}s", total.saturating_sub(done) as f64 / rate)
    } else {
        "?".to_owned()
    };
    let percent = done * 100 / total.max(1);
    format!("progress: {done}/{total} ({percent}%), {failed} failed, {rate:.1} req/s, ETA {eta}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_line_shows_rate_and_eta() {
        assert_eq!(
            plain_line(50, 200, 2, Duration::from_secs(5)),
            "progress: 50/200 (25%), 2 failed, 10.0 req/s, ETA 15s"
        );
        assert_eq!(
            plain_line(0, 10, 0, Duration::ZERO),
            "progress: 0/10 (0%), 0 failed, 0.0 req/s, ETA ?"
        );
    }
}
