//! `memsleuth leaks`: the lines whose live bytes grow steadily, as a JSON
//! document (schema in `docs/json.md`) and as terminal text rendered from
//! that document, so the two always say the same.

use std::fmt::Write;

use memsleuth_analysis::{Frame, GrowingSite, Growth, GrowthRule, SnapshotRef, Verdict};
use serde::Serialize;

use crate::heap::join_path;
use crate::style::TextStyle;
use crate::units::grouped;

/// The rule the lines were judged by, with the minimum growth it set for
/// this capture.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthRuleJson {
    #[serde(flatten)]
    pub rule: GrowthRule,
    pub min_growth_bytes: u64,
}

/// `memsleuth leaks CAPTURE --json`.
#[derive(Debug, Clone, Serialize)]
pub struct GrowthJson {
    pub capture: String,
    pub duration_s: f64,
    /// The checkpoints' times; every `series` has one value per entry.
    pub times_s: Vec<f64>,
    pub rule: GrowthRuleJson,
    /// False when the run had too few timeline samples to judge any line.
    pub judged: bool,
    /// The heap snapshot `types` come from; null without one.
    pub snapshot: Option<SnapshotRef>,
    /// Whether the capture holds any complete heap snapshot.
    pub has_snapshots: bool,
    /// Growing lines, fastest first.
    pub sites: Vec<GrowingSite>,
    /// Lines that grew as much but levelled off or grew unsteadily.
    pub dismissed: Vec<GrowingSite>,
}

/// The document of `growth`, each list cut to `limit` entries (all for 0).
pub fn growth_json(capture: &str, growth: Growth, has_snapshots: bool, limit: usize) -> GrowthJson {
    let cut = |mut v: Vec<GrowingSite>| {
        if limit > 0 {
            v.truncate(limit);
        }
        v
    };
    GrowthJson {
        capture: capture.to_string(),
        duration_s: growth.duration_s,
        rule: GrowthRuleJson {
            rule: growth.rule,
            min_growth_bytes: growth.min_growth_bytes,
        },
        times_s: growth.times_s,
        judged: growth.judged,
        snapshot: growth.snapshot,
        has_snapshots,
        sites: cut(growth.growing),
        dismissed: cut(growth.dismissed),
    }
}

/// How many frames of a stack the text shows.
const FRAMES_SHOWN: usize = 8;

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn rate(bytes_per_min: f64, style: &TextStyle) -> String {
    let sign = if bytes_per_min < 0.0 { "-" } else { "+" };
    let magnitude = bytes_per_min.abs().round() as u64;
    format!("{sign}{}/min", style.bytes(magnitude))
}

/// Keeps the end of `s` within `width` characters: the end of a location
/// is the file name and line.
fn keep_end(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 2 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

fn place(site: &GrowingSite) -> String {
    format!("{} ({}:{})", site.function, site.file, site.line)
}

/// `function (file:line)` within `width`: the start of the file's path
/// gives way first, since the function, file name and line identify a line.
fn location(site: &GrowingSite, width: usize) -> String {
    let (prefix, suffix) = (format!("{} (", site.function), format!(":{})", site.line));
    let fixed = prefix.chars().count() + suffix.chars().count();
    let file = keep_end(&site.file, width.saturating_sub(fixed).max(12));
    format!("{prefix}{file}{suffix}")
}

fn rule_lines(out: &mut String, g: &GrowthJson, style: &TextStyle) {
    let r = &g.rule;
    let _ = writeln!(
        out,
        "Growth in {} over {:.2} s, at {} checkpoints.",
        g.capture,
        g.duration_s,
        g.times_s.len()
    );
    let _ = writeln!(
        out,
        "A line is flagged when it gained at least {}, still grows in the last third of the run\n\
         (at {} of its average rate or more), and grew steadily: a confidence of at least {},\n\
         R² of a straight line times the share of the run's {} spans it grew in.",
        style.bytes(r.min_growth_bytes),
        percent(r.rule.min_final_ratio),
        percent(r.rule.min_confidence),
        r.rule.segments
    );
}

fn growing_table(out: &mut String, sites: &[GrowingSite], style: &TextStyle) {
    let rows: Vec<[String; 4]> = sites
        .iter()
        .map(|s| {
            [
                rate(s.trend.bytes_per_min, style),
                percent(s.trend.confidence),
                style.bytes(s.growth_bytes),
                grouped(s.live_blocks),
            ]
        })
        .collect();
    // Exact bytes (`--bytes`) make wider numbers than human units.
    let w = |i: usize, least: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
            .max(least)
    };
    let (tw, cw, gw, bw) = (w(0, 12), w(1, 10), w(2, 10), w(3, 10));
    let _ = writeln!(
        out,
        "  {:>tw$}  {:>cw$}  {:>gw$}  {:>bw$}  line",
        "trend", "confidence", "growth", "blocks"
    );
    let width = style
        .width
        .saturating_sub(2 + tw + 2 + cw + 2 + gw + 2 + bw + 2)
        .max(20);
    for (s, [trend, confidence, growth, blocks]) in sites.iter().zip(&rows) {
        let _ = writeln!(
            out,
            "  {trend:>tw$}  {confidence:>cw$}  {growth:>gw$}  {blocks:>bw$}  {}",
            location(s, width)
        );
    }
}

fn stack_lines(out: &mut String, frames: &[Frame], indent: &str, style: &TextStyle) {
    let width = style.width.saturating_sub(indent.len()).max(20);
    for f in frames.iter().take(FRAMES_SHOWN) {
        let _ = writeln!(out, "{indent}{}", keep_end(&f.label(), width));
    }
    if frames.len() > FRAMES_SHOWN {
        let _ = writeln!(
            out,
            "{indent}… {} outer frames",
            frames.len() - FRAMES_SHOWN
        );
    }
}

fn retainer_lines(out: &mut String, g: &GrowthJson, site: &GrowingSite, style: &TextStyle) {
    let Some(snapshot) = &g.snapshot else {
        return;
    };
    let _ = writeln!(
        out,
        "   in heap snapshot {} ({}, at {:.2} s):",
        snapshot.id, snapshot.trigger, snapshot.time_s
    );
    if site.types.is_empty() {
        let _ = writeln!(
            out,
            "     no Python object of the snapshot was allocated at this line (a buffer of C code, or objects freed since)"
        );
    }
    let width = style.width.saturating_sub(20).max(30);
    for t in &site.types {
        let _ = writeln!(
            out,
            "     {} {} ({}), kept alive through:",
            grouped(t.count),
            t.type_name,
            style.bytes(t.bytes)
        );
        for p in &t.paths {
            let _ = writeln!(
                out,
                "       {:>10}  {}",
                grouped(p.count),
                keep_end(&join_path(&p.path), width)
            );
        }
    }
}

fn site_detail(out: &mut String, n: usize, g: &GrowthJson, site: &GrowingSite, style: &TextStyle) {
    let t = &site.trend;
    let _ = writeln!(out, "{}", style.strong(&format!("{n}. {}", place(site))));
    let _ = writeln!(
        out,
        "   {}, confidence {}: R² {:.2}, grew in {} of the spans since it started,\n   \
         its last third at {} of its average rate",
        rate(t.bytes_per_min, style),
        percent(t.confidence),
        t.r_squared,
        percent(t.spread),
        percent(t.final_ratio)
    );
    let _ = writeln!(out, "   allocated by:");
    for s in &site.stacks {
        let _ = writeln!(
            out,
            "     {} in {} blocks:",
            style.bytes(s.bytes),
            grouped(s.blocks)
        );
        stack_lines(out, &s.frames, "       ", style);
    }
    retainer_lines(out, g, site, style);
}

fn why(site: &GrowingSite) -> String {
    match site.verdict {
        Verdict::Plateau => format!(
            "levelled off: last third at {} of its average rate",
            percent(site.trend.final_ratio.max(0.0))
        ),
        Verdict::Unsteady => format!(
            "unsteady: confidence {} (R² {:.2}, grew in {} of the spans)",
            percent(site.trend.confidence),
            site.trend.r_squared,
            percent(site.trend.spread)
        ),
        Verdict::Growing => String::from("growing"),
    }
}

fn dismissed_lines(out: &mut String, sites: &[GrowingSite], style: &TextStyle) {
    let _ = writeln!(out, "{}", style.strong("Grew as much, but not flagged:"));
    let rows: Vec<(String, String, &GrowingSite)> = sites
        .iter()
        .map(|s| (style.bytes(s.growth_bytes), why(s), s))
        .collect();
    let why_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let width = style.width.saturating_sub(16 + why_width).max(20);
    for (growth, reason, s) in rows {
        let _ = writeln!(
            out,
            "  {growth:>10}  {reason:<why_width$}  {}",
            location(s, width)
        );
    }
}

/// What `memsleuth leaks` prints.
pub fn growth_text(g: &GrowthJson, style: impl Into<TextStyle>) -> String {
    let style = &style.into();
    let mut out = String::new();
    rule_lines(&mut out, g, style);
    if !g.judged {
        let _ = writeln!(
            out,
            "The run is too short to judge: {} checkpoints, and a trend needs {}. Record a longer run, or samples closer together (`memsleuth run --sample-interval 2`).",
            g.times_s.len(),
            g.rule.rule.min_checkpoints
        );
        return out;
    }
    if g.sites.is_empty() {
        let _ = writeln!(out, "{}", style.strong("No line grows steadily."));
    } else {
        let _ = writeln!(out, "{}", style.strong("Growing lines, fastest first:"));
        growing_table(&mut out, &g.sites, style);
        for (i, site) in g.sites.iter().enumerate() {
            let _ = writeln!(out);
            site_detail(&mut out, i + 1, g, site, style);
        }
    }
    if !g.dismissed.is_empty() {
        let _ = writeln!(out);
        dismissed_lines(&mut out, &g.dismissed, style);
    }
    if !g.sites.is_empty() && !g.has_snapshots {
        let _ = writeln!(
            out,
            "\nTo see what keeps them alive, record heap snapshots too: `memsleuth run --snapshot-every 30s ...` or `--snapshot-at exit`."
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use memsleuth_analysis::{GrowthStack, Trend};

    fn site(line: u32, verdict: Verdict, final_ratio: f64) -> GrowingSite {
        GrowingSite {
            file: String::from("/srv/a/very/long/path/to/the/application/package/handlers.py"),
            line,
            function: String::from("handle"),
            verdict,
            trend: Trend {
                bytes_per_min: 3.0 * 1024.0 * 1024.0,
                r_squared: 0.99,
                spread: 1.0,
                final_ratio,
                confidence: 0.99,
            },
            growth_bytes: 2 * 1024 * 1024,
            live_blocks: 2048,
            series: vec![0, 1024 * 1024, 2 * 1024 * 1024],
            stacks: vec![GrowthStack {
                frames: vec![Frame::python(
                    String::from("app.py"),
                    line,
                    String::from("handle"),
                )],
                bytes: 2 * 1024 * 1024,
                blocks: 2048,
                threads: vec![1],
            }],
            types: Vec::new(),
        }
    }

    fn doc(judged: bool) -> GrowthJson {
        let growth = Growth {
            rule: GrowthRule::default(),
            min_growth_bytes: 64 * 1024,
            duration_s: 60.0,
            times_s: vec![0.0, 30.0, 60.0],
            judged,
            growing: vec![site(12, Verdict::Growing, 1.0)],
            dismissed: vec![site(30, Verdict::Plateau, 0.0)],
            snapshot: None,
        };
        growth_json("app.msl", growth, false, 20)
    }

    #[test]
    fn narrow_tables_keep_the_function_file_name_and_line() {
        let text = growth_text(&doc(true), 70);
        let row = text
            .lines()
            .find(|l| l.contains("+3.0 MiB/min"))
            .unwrap_or_default();
        assert!(row.contains("handle (…"), "{text}");
        assert!(row.ends_with("handlers.py:12)"), "{text}");
        assert!(text.contains("1. handle (/srv/a/very/long/path"), "{text}");
    }

    #[test]
    fn dismissed_lines_say_why_and_missing_snapshots_are_suggested() {
        let text = growth_text(&doc(true), 100);
        let dismissed = text
            .split("Grew as much, but not flagged:")
            .nth(1)
            .unwrap_or_default();
        assert!(
            dismissed.contains("levelled off: last third at 0% of its average rate"),
            "{text}"
        );
        assert!(dismissed.contains("handlers.py:30)"), "{text}");
        assert!(text.contains("--snapshot-every 30s"), "{text}");
    }

    #[test]
    fn exact_bytes_widen_the_columns_they_fill() {
        let style = TextStyle {
            width: 100,
            colour: false,
            exact_bytes: true,
        };
        let text = growth_text(&doc(true), style);
        let mut table = text.lines().skip_while(|l| !l.contains("trend"));
        let (header, row) = (table.next().unwrap_or(""), table.next().unwrap_or(""));
        assert!(row.contains("+3145728 B/min"), "{text}");
        assert_eq!(header.find(" line"), row.find(" handle ("), "{text}");
        assert_eq!(
            header.find("trend").map(|i| i + 5),
            row.find("/min").map(|i| i + 4)
        );
    }

    #[test]
    fn a_run_too_short_is_explained_instead_of_judged() {
        let text = growth_text(&doc(false), 100);
        assert!(text.contains("too short to judge: 3 checkpoints, and a trend needs 9"));
        assert!(!text.contains("Growing lines"), "{text}");
    }
}
