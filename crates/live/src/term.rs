//! The terminal loop: alternate screen and raw mode for as long as the view
//! is open (restored on every way out, a panic included), a refresh once a
//! second, keys as they come (`keys.rs`), a resize at the next draw.

use std::io::{self, Stdout};
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use crate::app::App;
use crate::follow::{FollowState, Follower};
use crate::keys::Keys;
use crate::{render, Error, ProgramWatch};

/// How often the numbers are recomputed and redrawn.
const REFRESH: Duration = Duration::from_secs(1);
const FIRST_LOOK: Duration = Duration::from_millis(200);

/// The terminal, in the view's modes until dropped.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Restores the terminal when dropped, whatever state entering reached.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = execute!(io::stdout(), Show, LeaveAlternateScreen);
        let _ = disable_raw_mode();
    }
}

impl Screen {
    fn enter() -> Result<(Screen, Restore), Error> {
        enable_raw_mode().map_err(Error::Terminal)?;
        let restore = Restore;
        // No mouse capture: selecting text with the mouse must keep working,
        // in tmux and over SSH too.
        execute!(io::stdout(), EnterAlternateScreen, Hide).map_err(Error::Terminal)?;
        let terminal =
            Terminal::new(CrosstermBackend::new(io::stdout())).map_err(Error::Terminal)?;
        Ok((Screen { terminal }, restore))
    }

    fn draw(&mut self, app: &App) -> Result<(), Error> {
        self.terminal
            .draw(|f| render::draw(f, app))
            .map(|_| ())
            .map_err(Error::Terminal)
    }
}

/// Shows the view until the user quits. Fails only when the terminal does
/// or the file turns out not to be a readable capture.
pub(crate) fn run(
    app: &mut App,
    follower: &Follower,
    mut program: Option<&mut dyn ProgramWatch>,
) -> Result<(), Error> {
    let mut keys = Keys::open().map_err(Error::Terminal)?;
    let (mut screen, _restore) = Screen::enter()?;
    let mut seen_records = None;
    let mut next_refresh = Instant::now();
    loop {
        if Instant::now() >= next_refresh {
            refresh(app, follower, program.as_deref_mut(), &mut seen_records);
            // Until there is something to show, look again sooner.
            let every = if app.frame.is_some() {
                REFRESH
            } else {
                FIRST_LOOK
            };
            next_refresh = Instant::now() + every;
        }
        if let FollowState::Failed(reason) = &app.state {
            return Err(Error::Capture {
                path: app.capture.clone(),
                reason: reason.clone(),
            });
        }
        screen.draw(app)?;
        let wait = next_refresh.saturating_duration_since(Instant::now());
        let Some(actions) = keys.wait(wait) else {
            // Hung up (an SSH connection dropped, a tmux server killed):
            // nobody is watching, so the view closes as if quit.
            return Ok(());
        };
        for action in actions {
            app.act(action);
        }
        if app.quit {
            return Ok(());
        }
    }
}

/// Brings the app up to date with the follower and the program.
fn refresh(
    app: &mut App,
    follower: &Follower,
    program: Option<&mut (dyn ProgramWatch + '_)>,
    seen_records: &mut Option<u64>,
) {
    if let (Some(program), Some(shown)) = (program, app.program.as_mut()) {
        if shown.ended.is_none() {
            shown.ended = program.poll_exit();
            if shown.ended.is_some() {
                follower.writer_gone();
            }
        }
    }
    app.state = follower.state();
    app.idle = follower.idle();
    if app.metadata.is_none() {
        app.metadata = follower.metadata();
    }
    let records = follower.records();
    app.records_read = records;
    // Frames start once the capture so far is read: growth is measured from
    // the first frame, which must not predate what the capture already held.
    // A frame costs a pass over the live blocks: only when something changed.
    if *seen_records != Some(records) && app.metadata.is_some() && follower.caught_up() {
        *seen_records = Some(records);
        app.show(follower.frame());
    }
}
