//! `memsleuth live` and `run --live`: a terminal view of a capture while the
//! program is still writing it. It follows the file as it grows (like
//! `tail -f`), replays the records as they arrive with the same live set
//! the offline analysis uses, and once a second shows what is live now:
//! the tracked total, its peak, RSS, a sparkline of the tracked bytes, the
//! lines holding the most memory with how fast each grows, and the selected
//! line's stack.
//!
//! # Design constraints
//! - A reader only: it never writes, truncates or locks the capture, and
//!   never signals, waits for or otherwise touches the program; whoever
//!   started the program (the CLI) owns it and tells the view how it ended.
//! - Never leave the terminal broken: raw mode and the alternate screen are
//!   undone on every way out, errors and panics included. No mouse capture,
//!   so it behaves in tmux and over SSH.
//! - Numbers come from `memsleuth-analysis` ([`memsleuth_analysis::LiveAnalysis`])
//!   and units from `memsleuth-report`; this crate only follows and draws.
//! - Keeps up with a busy tracker: records are applied in batches, and the
//!   per-line totals are computed once a second, not per record.
//! - No unsafe code; no panic on any file contents.
#![forbid(unsafe_code)]

mod app;
mod follow;
mod keys;
mod render;
mod term;

use std::io::IsTerminal;
use std::path::Path;

pub use app::{Action, App, Program, SortBy};
pub use follow::{FollowState, Follower};
pub use render::draw;

/// Why the view could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the live view needs a terminal, and standard output is not one")]
    NotATerminal,
    #[error("the terminal cannot be used: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("cannot start the thread that follows the capture: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot read capture {path}: {reason}")]
    Capture { path: String, reason: String },
}

/// The program whose capture is shown, when this process started it.
pub trait ProgramWatch {
    fn pid(&self) -> u32;
    /// Where its stdout and stderr go, as shown on screen.
    fn output(&self) -> String;
    /// How it ended, once it has ("exit status 3"); must not block.
    fn poll_exit(&mut self) -> Option<String>;
}

/// How the view was left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The program ended while the view was open, as `poll_exit` said.
    pub program_ended: Option<String>,
    /// Where following stopped.
    pub state: FollowState,
}

/// Follows `capture` (waiting for it to appear) and shows the view until
/// the user quits.
pub fn show(capture: &Path, program: Option<&mut dyn ProgramWatch>) -> Result<Outcome, Error> {
    if !std::io::stdout().is_terminal() {
        return Err(Error::NotATerminal);
    }
    let shown = program.as_ref().map(|p| Program {
        pid: p.pid(),
        output: short_path(Path::new(&p.output())),
        ended: None,
    });
    let mut app = App::new(short_path(capture), shown);
    let mut follower = Follower::start(capture)?;
    let result = term::run(&mut app, &follower, program);
    follower.stop();
    result.map(|()| Outcome {
        program_ended: app.program.and_then(|p| p.ended),
        state: app.state,
    })
}

/// `path` relative to the working directory when it lies under it: the
/// screen has room for a name, rarely for a whole path.
fn short_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    relative
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
