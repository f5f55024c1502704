//! Drawing one screen from the [`App`]: header, numbers and sparkline, the
//! sites table, the selected site's stack, the keys. Fits 80x24.

use std::time::Duration;

use memsleuth_analysis::LiveLine;
use memsleuth_report::human_bytes;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use crate::app::{App, SortBy};
use crate::follow::FollowState;

/// Data stopping for this long while the program should be running is
/// worth saying: the program may be blocked, or not writing at all.
const IDLE_WORTH_SAYING: Duration = Duration::from_secs(3);
/// Stack frames shown under the table.
const STACK_ROWS: u16 = 6;

pub fn draw(f: &mut Frame, app: &App) {
    let [header, where_, numbers, spark, table, stack, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(4),
        Constraint::Length(STACK_ROWS + 1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(Paragraph::new(header_line(app)), header);
    f.render_widget(Paragraph::new(where_line(app)), where_);
    f.render_widget(Paragraph::new(numbers_line(app)), numbers);
    draw_sparkline(f, app, spark);
    draw_table(f, app, table);
    draw_stack(f, app, stack);
    f.render_widget(Paragraph::new(footer_line(app)), footer);
}

fn header_line(app: &App) -> Line<'static> {
    let program = match &app.metadata {
        Some(m) if !m.argv.is_empty() => m.argv.join(" "),
        _ => String::from("(program not known yet)"),
    };
    let pid = app
        .program
        .as_ref()
        .map(|p| p.pid)
        .or(app.metadata.as_ref().map(|m| m.pid));
    let elapsed = app.frame.as_ref().map_or(0.0, |f| f.time_s);
    // The state first and the argv last: a long argv is what gets cut.
    let mut spans = vec![
        Span::styled(
            "memsleuth live  ",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::styled(state_text(app), Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {}", clock(elapsed))),
    ];
    if let Some(pid) = pid {
        spans.push(Span::raw(format!("  pid {pid}")));
    }
    spans.push(Span::raw(format!("  {program}")));
    Line::from(spans)
}

/// `m:ss`, or `h:mm:ss` from an hour on.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

pub(crate) fn state_text(app: &App) -> String {
    let ended = app.program.as_ref().and_then(|p| p.ended.as_deref());
    match (&app.state, ended) {
        (FollowState::WaitingForFile, _) => format!("waiting for {}", app.capture),
        (FollowState::Failed(reason), _) => format!("cannot read the capture: {reason}"),
        (FollowState::NeverCreated, Some(how)) => {
            format!("the program ended ({how}) without creating the capture")
        }
        (FollowState::NeverCreated, None) => {
            String::from("the program ended without creating the capture")
        }
        (FollowState::Ended, Some(how)) => format!("finished: {how}"),
        (FollowState::Ended, None) => String::from("finished: the program stopped tracking"),
        (FollowState::Cut { .. }, Some(how)) => {
            format!("ended without finishing the capture: {how}")
        }
        (FollowState::Cut { .. }, None) => String::from("the capture ends without its End record"),
        (FollowState::Reading, Some(how)) => format!("program ended: {how}"),
        (FollowState::Reading, None) if app.idle >= IDLE_WORTH_SAYING => {
            format!("no new data for {} s", app.idle.as_secs())
        }
        (FollowState::Reading, None) => String::from("running"),
    }
}

fn where_line(app: &App) -> Line<'static> {
    let dim = Style::new().add_modifier(Modifier::DIM);
    // The program's output first: the capture's name can be told from it.
    let mut spans = Vec::new();
    if let Some(program) = &app.program {
        spans.push(Span::styled(format!("output {}   ", program.output), dim));
    }
    spans.push(Span::styled(format!("capture {}", app.capture), dim));
    Line::from(spans)
}

fn numbers_line(app: &App) -> Line<'static> {
    let Some(frame) = &app.frame else {
        return Line::from(format!(
            "reading the capture so far: {} records",
            app.records_read
        ));
    };
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let rss = if frame.rss_bytes == 0 {
        String::from("-")
    } else {
        human_bytes(frame.rss_bytes)
    };
    Line::from(vec![
        Span::raw("tracked "),
        Span::styled(human_bytes(frame.tracked_bytes), bold),
        Span::raw("   peak "),
        Span::styled(human_bytes(frame.peak_bytes), bold),
        Span::raw("   RSS "),
        Span::styled(rss, bold),
        Span::raw(format!("   {} records", frame.records)),
    ])
}

fn draw_sparkline(f: &mut Frame, app: &App, area: Rect) {
    let Some(frame) = &app.frame else {
        return;
    };
    // The newest seconds, one per column.
    let skip = frame.history.len().saturating_sub(usize::from(area.width));
    let sparkline = Sparkline::default()
        .data(&frame.history[skip..])
        .style(Style::new().fg(Color::Cyan));
    f.render_widget(sparkline, area);
}

const LIVE_W: u16 = 10;
const BLOCKS_W: u16 = 9;
const GROWTH_W: u16 = 13;

fn draw_table(f: &mut Frame, app: &App, area: Rect) {
    let title = format!(" sites by line, sorted by {} ", app.sort.label());
    let block = Block::new().borders(Borders::TOP).title(title);
    let site_w = area.width.saturating_sub(LIVE_W + BLOCKS_W + GROWTH_W + 3);
    let head = |label: &str, by: SortBy| {
        if app.sort == by {
            format!("{label}▼")
        } else {
            label.to_string()
        }
    };
    let header = Row::new(vec![
        Cell::from(head("LIVE", SortBy::LiveBytes)),
        Cell::from(head("BLOCKS", SortBy::Blocks)),
        Cell::from(head("GROWTH/MIN", SortBy::Growth)),
        Cell::from("SITE"),
    ])
    .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = app.rows.iter().map(|l| {
        Row::new(vec![
            Cell::from(human_bytes(l.bytes)),
            Cell::from(l.blocks.to_string()),
            Cell::from(growth(l.growth_per_min)),
            Cell::from(site(l, usize::from(site_w))),
        ])
    });
    let widths = [
        Constraint::Length(LIVE_W),
        Constraint::Length(BLOCKS_W),
        Constraint::Length(GROWTH_W),
        Constraint::Fill(1),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state =
        TableState::default().with_selected((!app.rows.is_empty()).then_some(app.selected));
    f.render_stateful_widget(table, area, &mut state);
}

/// Signed bytes per minute; `-` until there are two frames to compare.
fn growth(per_min: Option<f64>) -> String {
    match per_min {
        None => String::from("-"),
        Some(g) if g.abs() < 0.5 => String::from("0 B"),
        Some(g) => {
            let sign = if g < 0.0 { "-" } else { "+" };
            format!("{sign}{}", human_bytes(g.abs().round() as u64))
        }
    }
}

/// `file:line  function`, the file cut from the left to fit `width`.
fn site(line: &LiveLine, width: usize) -> String {
    let place = format!(":{}", line.line);
    let rest = 2 + line.function.chars().count();
    let room = width.saturating_sub(place.len() + rest).max(16);
    format!("{}{place}  {}", fit_path(&line.file, room), line.function)
}

/// `path` shortened to `width` characters by dropping leading directories
/// (shown as `…/`); the file name itself is cut only if it alone is too long.
fn fit_path(path: &str, width: usize) -> String {
    if path.chars().count() <= width {
        return path.to_string();
    }
    let mut parts = path.split('/').collect::<Vec<_>>();
    while parts.len() > 1 {
        parts.remove(0);
        let candidate = format!("…/{}", parts.join("/"));
        if candidate.chars().count() <= width {
            return candidate;
        }
    }
    let name = parts.first().copied().unwrap_or(path);
    let keep = width.saturating_sub(1);
    let tail: String = name
        .chars()
        .rev()
        .take(keep)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

fn draw_stack(f: &mut Frame, app: &App, area: Rect) {
    let Some(line) = app.selected_line() else {
        let block = Block::new().borders(Borders::TOP).title(" stack ");
        f.render_widget(Paragraph::new("no site selected").block(block), area);
        return;
    };
    let title = format!(
        " stack of {}:{} (its largest) ",
        short_name(&line.file),
        line.line
    );
    let block = Block::new().borders(Borders::TOP).title(title);
    let frames: Vec<Line> = line
        .stack
        .iter()
        .map(|frame| Line::from(format!("  {}", frame.label())))
        .collect();
    f.render_widget(Paragraph::new(frames).block(block), area);
}

fn short_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn footer_line(app: &App) -> Line<'static> {
    let key = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
    let mut spans = vec![
        Span::styled("q", key),
        Span::raw(" quit  "),
        Span::styled("s", key),
        Span::raw(format!(" sort: {}  ", app.sort.label())),
        Span::styled("↑↓", key),
        Span::raw(" select  "),
        Span::styled("p", key),
        Span::raw(" pause"),
    ];
    if app.paused {
        spans.push(Span::styled(
            "  PAUSED",
            Style::new().add_modifier(Modifier::BOLD),
        ));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use memsleuth_analysis::{Frame as StackFrame, LiveFrame, LiveLine};
    use memsleuth_format::Metadata;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use crate::app::{Action, App, Program};
    use crate::follow::FollowState;

    const MIB: u64 = 1 << 20;

    fn line(file: &str, line: u32, bytes: u64, blocks: u64, growth: Option<f64>) -> LiveLine {
        LiveLine {
            file: file.into(),
            line,
            function: String::from("work"),
            bytes,
            blocks,
            growth_per_min: growth,
            stack: vec![
                StackFrame::python(file.into(), line, String::from("work")),
                StackFrame::python(String::from("/app/main.py"), 3, String::from("<module>")),
            ],
        }
    }

    fn app() -> App {
        let mut app = App::new(
            String::from("memsleuth-svc-42.msl"),
            Some(Program {
                pid: 42,
                output: String::from("memsleuth-svc-42.out"),
                ended: None,
            }),
        );
        app.metadata = Some(Metadata {
            argv: vec![String::from("svc.py"), String::from("--port=1")],
            pid: 42,
            ..Metadata::default()
        });
        app.state = FollowState::Reading;
        app.show(LiveFrame {
            time_s: 75.4,
            tracked_bytes: 24 * MIB,
            peak_bytes: 30 * MIB,
            rss_bytes: 64 * MIB,
            ended: false,
            records: 1234,
            history: vec![1, 5, 9, 24],
            lines: vec![
                line("/app/keep.py", 12, 20 * MIB, 1, Some(0.0)),
                line("/app/grow.py", 7, 3 * MIB, 300, Some(6.0 * MIB as f64)),
                line("/app/tiny.py", 5, MIB, 5000, None),
            ],
        });
        app
    }

    fn screen(app: &App) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal.draw(|f| super::draw(f, app)).unwrap();
        let buffer = terminal.backend().buffer();
        buffer
            .content
            .chunks(usize::from(buffer.area.width))
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect()
    }

    fn row(bytes: &str, blocks: &str, growth: &str, site: &str) -> String {
        format!("{bytes:<10} {blocks:<9} {growth:<13} {site}")
    }

    #[test]
    fn the_top_row_is_the_line_holding_most_and_the_header_says_what_runs() {
        let lines = screen(&app());
        assert_eq!(
            lines[0].trim_end(),
            "memsleuth live  running  1:15  pid 42  svc.py --port=1"
        );
        assert_eq!(
            lines[1].trim_end(),
            "output memsleuth-svc-42.out   capture memsleuth-svc-42.msl"
        );
        assert_eq!(
            lines[2].trim_end(),
            "tracked 24.0 MiB   peak 30.0 MiB   RSS 64.0 MiB   1234 records"
        );
        assert_eq!(
            lines[6].trim_end(),
            row("LIVE▼", "BLOCKS", "GROWTH/MIN", "SITE")
        );
        assert_eq!(
            lines[7].trim_end(),
            row("20.0 MiB", "1", "0 B", "/app/keep.py:12  work")
        );
        assert_eq!(
            lines[8].trim_end(),
            row("3.0 MiB", "300", "+6.0 MiB", "/app/grow.py:7  work")
        );
        assert_eq!(lines[17].trim_end(), "  work (/app/keep.py:12)");
        assert_eq!(lines[18].trim_end(), "  <module> (/app/main.py:3)");
        assert!(lines[23].starts_with("q quit  s sort: live bytes  ↑↓ select  p pause"));
    }

    #[test]
    fn the_sort_key_puts_the_fastest_growing_line_on_top_and_says_so() {
        let mut app = app();
        app.act(Action::CycleSort);
        let lines = screen(&app);
        assert_eq!(
            lines[7].trim_end(),
            row("3.0 MiB", "300", "+6.0 MiB", "/app/grow.py:7  work")
        );
        assert!(lines[5].contains(" sites by line, sorted by growth "));
        assert!(lines[23].starts_with("q quit  s sort: growth  "));
        app.act(Action::CycleSort);
        let lines = screen(&app);
        assert_eq!(
            lines[7].trim_end(),
            row("1.0 MiB", "5000", "-", "/app/tiny.py:5  work")
        );
        assert!(lines[23].starts_with("q quit  s sort: blocks  "));
    }

    #[test]
    fn the_selection_follows_its_line_when_a_new_frame_reorders_rows() {
        let mut app = app();
        app.act(Action::Down);
        let mut next = app.frame.clone().unwrap();
        next.lines.swap(0, 1);
        next.lines[0].bytes = 40 * MIB;
        app.show(next);
        assert_eq!(app.selected_line().map(|l| l.line), Some(7));
        let lines = screen(&app);
        assert!(lines[16].contains(" stack of grow.py:7 "));
    }

    #[test]
    fn long_paths_lose_their_leading_directories_first() {
        assert_eq!(
            super::fit_path("/very/long/path/to/the/scenarios/live_service.py", 30),
            "…/scenarios/live_service.py"
        );
        assert_eq!(super::fit_path("/a/b.py", 30), "/a/b.py");
        assert_eq!(super::fit_path("/x/abcdefghij.py", 6), "…ij.py");
    }

    #[test]
    fn the_header_says_how_the_program_ended() {
        let mut app = app();
        app.state = FollowState::Ended;
        if let Some(p) = app.program.as_mut() {
            p.ended = Some(String::from("exit status 3"));
        }
        assert!(screen(&app)[0].contains("finished: exit status 3"));
        app.program = None;
        app.state = FollowState::WaitingForFile;
        assert!(screen(&app)[0].contains("waiting for memsleuth-svc-42.msl"));
    }
}
