//! What the screen shows and what the keys change: the latest frame, its
//! rows in the chosen order, the selected row, pause.

use std::time::Duration;

use memsleuth_analysis::{LiveFrame, LiveLine};
use memsleuth_format::Metadata;

use crate::follow::FollowState;

/// The column the sites table is ordered by; the sort key cycles through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    LiveBytes,
    Growth,
    Blocks,
}

impl SortBy {
    pub fn next(self) -> SortBy {
        match self {
            SortBy::LiveBytes => SortBy::Growth,
            SortBy::Growth => SortBy::Blocks,
            SortBy::Blocks => SortBy::LiveBytes,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortBy::LiveBytes => "live bytes",
            SortBy::Growth => "growth",
            SortBy::Blocks => "blocks",
        }
    }

    /// Largest first; ties keep the frame's order (by live bytes).
    fn sort(self, rows: &mut [LiveLine]) {
        match self {
            SortBy::LiveBytes => rows.sort_by_key(|l| std::cmp::Reverse(l.bytes)),
            SortBy::Blocks => rows.sort_by_key(|l| std::cmp::Reverse(l.blocks)),
            SortBy::Growth => rows.sort_by(|a, b| {
                let g = |l: &LiveLine| l.growth_per_min.unwrap_or(f64::NEG_INFINITY);
                g(b).total_cmp(&g(a))
            }),
        }
    }
}

/// What a key press asks for, whatever the key was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    CycleSort,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    TogglePause,
}

/// The program this process started, when the view was opened by `run --live`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub pid: u32,
    /// Where its stdout and stderr go.
    pub output: String,
    /// How it ended, once it has ("exit status 3", "killed by SIGKILL").
    pub ended: Option<String>,
}

/// Everything rendering needs.
pub struct App {
    pub capture: String,
    pub program: Option<Program>,
    pub metadata: Option<Metadata>,
    pub state: FollowState,
    /// Since bytes last arrived in the capture.
    pub idle: Duration,
    pub frame: Option<LiveFrame>,
    /// Records read so far, shown until the first frame.
    pub records_read: u64,
    /// The frame's lines in `sort` order.
    pub rows: Vec<LiveLine>,
    pub sort: SortBy,
    pub selected: usize,
    pub paused: bool,
    pub quit: bool,
}

impl App {
    pub fn new(capture: String, program: Option<Program>) -> App {
        App {
            capture,
            program,
            metadata: None,
            state: FollowState::WaitingForFile,
            idle: Duration::ZERO,
            frame: None,
            records_read: 0,
            rows: Vec::new(),
            sort: SortBy::LiveBytes,
            selected: 0,
            paused: false,
            quit: false,
        }
    }

    /// Shows a new frame, unless paused; the selection stays on the same
    /// line when it is still there.
    pub fn show(&mut self, frame: LiveFrame) {
        if self.paused {
            return;
        }
        let selected = self.selected_line().map(|l| (l.file.clone(), l.line));
        self.rows = frame.lines.clone();
        self.frame = Some(frame);
        self.sort.sort(&mut self.rows);
        self.reselect(selected);
    }

    fn reselect(&mut self, line: Option<(String, u32)>) {
        if let Some((file, line)) = line {
            if let Some(i) = self
                .rows
                .iter()
                .position(|l| l.file == file && l.line == line)
            {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    pub fn selected_line(&self) -> Option<&LiveLine> {
        self.rows.get(self.selected)
    }

    pub fn act(&mut self, action: Action) {
        let last = self.rows.len().saturating_sub(1);
        match action {
            Action::Quit => self.quit = true,
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.sort.sort(&mut self.rows);
                // The new order's top row is what the user wants to see.
                self.selected = 0;
            }
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::PageUp => self.selected = self.selected.saturating_sub(10),
            Action::PageDown => self.selected = (self.selected + 10).min(last),
            Action::First => self.selected = 0,
            Action::Last => self.selected = last,
            Action::TogglePause => self.paused = !self.paused,
        }
    }
}
