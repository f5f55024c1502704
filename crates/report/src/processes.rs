//! The processes of one run (`memsleuth run --follow-children`): a tree of
//! who started whom, with each process's peak and what it still held at its
//! end, for the terminal, JSON and an HTML index of the per-process reports.

use std::fmt::Write;

use serde::Serialize;

use crate::json::SummaryJson;
use crate::units::human_bytes;

/// One process's line in the tree.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub parent_pid: Option<u32>,
    /// `fork`, `exec`, or empty for the process `memsleuth run` started.
    pub started_by: String,
    /// How deep in the tree: 0 for a process whose parent has no capture here.
    pub depth: usize,
    pub argv: Vec<String>,
    pub capture: String,
    pub peak_bytes: u64,
    /// Tracked bytes still live when its capture ended.
    pub at_end_bytes: u64,
    pub duration_s: f64,
    /// The capture has its end record (the process finished its capture).
    pub complete: bool,
}

impl ProcessRow {
    fn origin(&self) -> String {
        match (self.parent_pid, self.started_by.as_str()) {
            (Some(parent), "fork") => format!("forked from {parent}"),
            (Some(parent), _) => format!("started by {parent}"),
            (None, _) => String::from("the program"),
        }
    }

    fn command(&self) -> String {
        self.argv.join(" ")
    }
}

/// The tree as a text table, one process per line, children indented
/// under their parent.
pub fn processes_text(rows: &[ProcessRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<20} {:>10} {:>10} {:>9}  command",
        "pid", "origin", "peak", "at end", "duration"
    );
    for row in rows {
        let pid = format!("{}{}", "  ".repeat(row.depth), row.pid);
        let duration = format!("{:.2} s", row.duration_s);
        let unfinished = if row.complete {
            ""
        } else {
            " (capture unfinished)"
        };
        let _ = writeln!(
            out,
            "{pid:<14} {:<20} {:>10} {:>10} {duration:>9}  {}{unfinished}",
            row.origin(),
            human_bytes(row.peak_bytes),
            human_bytes(row.at_end_bytes),
            row.command()
        );
    }
    out
}

/// `memsleuth summary DIR --json`: every process with its own summary.
#[derive(Serialize)]
pub struct ProcessesJson {
    pub directory: String,
    pub processes: Vec<ProcessJson>,
}

#[derive(Serialize)]
pub struct ProcessJson {
    #[serde(flatten)]
    pub row: ProcessRow,
    pub summary: SummaryJson,
}

/// An HTML page listing the processes, each linking to its own report
/// (`report` is the link, relative to the page).
pub fn processes_html(title: &str, rows: &[(ProcessRow, String)]) -> String {
    let mut body = String::new();
    for (row, report) in rows {
        let indent = row.depth * 20;
        let _ = writeln!(
            body,
            "<tr><td style=\"padding-left:{indent}px\"><a href=\"{}\">{}</a></td><td>{}</td>\
             <td class=n>{}</td><td class=n>{}</td><td class=n>{:.2} s</td><td><code>{}</code>{}</td></tr>",
            escape(report),
            row.pid,
            escape(&row.origin()),
            human_bytes(row.peak_bytes),
            human_bytes(row.at_end_bytes),
            row.duration_s,
            escape(&row.command()),
            if row.complete { "" } else { " (capture unfinished)" }
        );
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=utf-8><title>memsleuth: {title}</title>\n\
         <style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}}.n{{text-align:right}}</style>\n\
         </head><body><h1>{title}</h1>\n<p>One capture per process; each pid opens that process's report.</p>\n\
         <table><thead><tr><th>pid</th><th>origin</th><th class=n>peak</th><th class=n>at end</th>\
         <th class=n>duration</th><th>command</th></tr></thead>\n<tbody>\n{body}</tbody></table>\n</body></html>\n",
        title = escape(title),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, parent: Option<u32>, depth: usize) -> ProcessRow {
        ProcessRow {
            pid,
            parent_pid: parent,
            started_by: if parent.is_some() {
                "fork".into()
            } else {
                String::new()
            },
            depth,
            argv: vec!["app.py".into(), "<x>".into()],
            capture: format!("app-{pid}.msl"),
            peak_bytes: 2048,
            at_end_bytes: 1024,
            duration_s: 1.5,
            complete: pid != 3,
        }
    }

    #[test]
    fn children_are_indented_under_their_parent() {
        let text = processes_text(&[row(1, None, 0), row(3, Some(1), 1)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("1 "), "{text}");
        assert!(lines[1].contains("the program"), "{text}");
        assert!(lines[2].starts_with("  3 "), "{text}");
        assert!(lines[2].contains("forked from 1"), "{text}");
        assert!(lines[2].contains("2.0 KiB"), "{text}");
        assert!(lines[2].ends_with("(capture unfinished)"), "{text}");
    }

    #[test]
    fn the_index_links_each_process_and_escapes_commands() {
        let html = processes_html("run", &[(row(1, None, 0), "app-1.html".into())]);
        assert!(html.contains("<a href=\"app-1.html\">1</a>"), "{html}");
        assert!(html.contains("app.py &lt;x&gt;"), "{html}");
    }
}
