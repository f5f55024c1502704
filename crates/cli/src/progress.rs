//! A progress bar on stderr while a capture is read, for analyses that take
//! more than a second: shown only on a terminal, only once a second has
//! passed (a quick command never flickers one), and cleared when done.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const SHOW_AFTER: Duration = Duration::from_secs(1);

/// One bar over every pass a command makes over a capture.
#[derive(Clone)]
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    /// A hidden bar over `total` bytes, `what` naming the work.
    pub(crate) fn new(total: u64, what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {percent:>3}% ({binary_bytes}/{binary_total_bytes}, {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// `input`, counting what is read from it on the bar.
    pub(crate) fn reading<R: Read>(&self, input: R) -> ProgressRead<R> {
        ProgressRead {
            inner: input,
            progress: self.clone(),
        }
    }

    fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
        if self.bar.is_hidden() && self.started.elapsed() >= SHOW_AFTER {
            // `stderr()` draws nothing when stderr is not a terminal.
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

pub(crate) struct ProgressRead<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for ProgressRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n);
        Ok(n)
    }
}
