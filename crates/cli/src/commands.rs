//! The commands that read a capture: summary, table, stacks.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Result;
use memsleuth_analysis::{Grouping, Measure, Profile};
use memsleuth_report::TextStyle;

use crate::args::{StacksArgs, SummaryArgs, TableArgs};
use crate::load;

/// How text goes to stdout: as wide as the terminal, in colour only on a
/// terminal and without `NO_COLOR`, bytes exact with `--bytes`.
pub(crate) fn stdout_style(exact_bytes: bool) -> TextStyle {
    TextStyle {
        width: width(),
        colour: colour_allowed(std::io::stdout().is_terminal()),
        exact_bytes,
    }
}

/// How the summary `run` prints on stderr is drawn.
pub(crate) fn stderr_style() -> TextStyle {
    TextStyle {
        width: width(),
        colour: colour_allowed(std::io::stderr().is_terminal()),
        exact_bytes: false,
    }
}

/// Colour on a terminal, unless `NO_COLOR` is set to anything but ""
/// (https://no-color.org).
pub(crate) fn colour_allowed(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Columns available to a table: the terminal's width, else 100.
pub(crate) fn width() -> usize {
    terminal_size::terminal_size()
        .map_or(100, |(w, _)| usize::from(w.0))
        .max(60)
}

pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Writes text to stdout; a closed pipe (`| head`) is an error the caller
/// passes up, where it ends the command quietly, not a panic as in `print!`.
pub(crate) fn print_text(text: &str) -> Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Warns on stderr when part of the capture was lost, so JSON on stdout stays clean.
fn warn_if_incomplete(profile: &Profile, capture: &str) {
    if profile.completeness.lost_bytes > 0 {
        eprintln!(
            "memsleuth: warning: capture {capture} ends inside a chunk; the last {} bytes were lost (the program was probably killed while it was written)",
            profile.completeness.lost_bytes
        );
    }
}

/// Analyses a capture for a reading command, warning if part of it was lost.
pub(crate) fn read(capture: &Path) -> Result<Profile> {
    let profile = load::analyze(capture)?;
    warn_if_incomplete(&profile, &capture.display().to_string());
    Ok(profile)
}

pub fn summary(args: &SummaryArgs) -> Result<i32> {
    if args.capture.is_dir() {
        return crate::processes::summary(args);
    }
    let profile = read(&args.capture)?;
    let name = args.capture.display().to_string();
    if args.json {
        print_json(&memsleuth_report::summary_json(&profile, &name, args.limit))?;
    } else {
        let text =
            memsleuth_report::summary_text(&profile, &name, args.limit, stdout_style(args.bytes));
        print_text(&text)?;
    }
    Ok(0)
}

pub fn table(args: &TableArgs) -> Result<i32> {
    let profile = read(&args.capture)?;
    let (measure, grouping): (Measure, Grouping) = (args.by.into(), args.group.into());
    let mut rows = memsleuth_analysis::sites(&profile, measure, grouping);
    if args.output.limit > 0 {
        rows.truncate(args.output.limit);
    }
    if args.output.json {
        print_json(&memsleuth_report::table_json(rows, measure, grouping))?;
    } else {
        let style = stdout_style(args.output.bytes);
        print_text(&memsleuth_report::table_text(
            &rows, measure, grouping, style,
        ))?;
    }
    Ok(0)
}

pub fn stacks(args: &StacksArgs) -> Result<i32> {
    let profile = read(&args.capture)?;
    let mut out = std::io::stdout().lock();
    for (stack, bytes) in memsleuth_analysis::collapsed_stacks(&profile, args.at.into()) {
        writeln!(out, "{stack} {bytes}")?;
    }
    Ok(0)
}
