//! Plain-text renderings for the terminal.

use std::fmt::Write;

use memsleuth_analysis::{Grouping, Measure, Profile, Site};

use crate::style::TextStyle;
use crate::units::grouped;

/// How a site's location reads in a table: `function (file:line)`, or less
/// when grouped by function or file. When that is wider than `width`, the
/// start of the file's path gives way first: the function, file name and
/// line are what identify a site.
fn location(site: &Site, width: usize) -> String {
    let (prefix, suffix) = match (&site.function, site.line) {
        (Some(f), Some(line)) => (format!("{f} ("), format!(":{line})")),
        (Some(f), None) => (format!("{f} ("), String::from(")")),
        _ => (String::new(), String::new()),
    };
    let fixed = prefix.chars().count() + suffix.chars().count();
    let path = shorten_left(&site.file, width.saturating_sub(fixed).max(12));
    format!("{prefix}{path}{suffix}")
}

/// Keeps the start of `s` within `width` characters, marking the cut with `…`.
fn shorten_right(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let head: String = s.chars().take(width - 1).collect();
    format!("{head}…")
}

/// Keeps the end of `s` within `width` characters, marking the cut with `…`.
fn shorten_left(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

const NUMBERS_WIDTH: usize = 10 + 2 + 6 + 2 + 10 + 2 + LAYER_WIDTH + 2;
const LAYER_WIDTH: usize = 18;

/// The layers a site's memory is in, largest first (`native-heap+object`).
fn layer_label(site: &Site) -> String {
    let mut layers: Vec<(&&str, &u64)> = site.layers.iter().filter(|(_, v)| **v > 0).collect();
    layers.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let label = layers
        .iter()
        .map(|(name, _)| name.trim_start_matches("python-"))
        .collect::<Vec<_>>()
        .join("+");
    // The largest layer comes first and must stay readable.
    shorten_right(&label, LAYER_WIDTH)
}

fn header(out: &mut String, last: &str) {
    let _ = writeln!(
        out,
        "  {:>10}  {:>6}  {:>10}  {:<LAYER_WIDTH$}  {last}",
        "bytes", "share", "count", "layer"
    );
}

fn site_rows(out: &mut String, sites: &[Site], style: &TextStyle) {
    let loc_width = style.width.saturating_sub(NUMBERS_WIDTH + 2).max(20);
    for s in sites {
        let _ = writeln!(
            out,
            "  {:>10}  {:>5.1}%  {:>10}  {:<LAYER_WIDTH$}  {}",
            style.bytes(s.bytes),
            s.share * 100.0,
            grouped(s.count),
            layer_label(s),
            location(s, loc_width)
        );
    }
}

/// Where the tracked memory was, layer by layer; arenas last, apart.
fn layer_rows(out: &mut String, profile: &Profile, style: &TextStyle) {
    if profile.layers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{}\n  {:<16}  {:>10}  {:>10}  {:>10}  {:>10}",
        style.strong("Memory by layer:"),
        "layer",
        "at peak",
        "max",
        "at exit",
        "allocated"
    );
    for l in &profile.layers {
        let note = if l.in_total {
            ""
        } else {
            "  (capacity holding small python-object and python-mem blocks; not in the totals)"
        };
        let _ = writeln!(
            out,
            "  {:<16}  {:>10}  {:>10}  {:>10}  {:>10}{note}",
            l.layer.layer_name(),
            style.bytes(l.at_peak_bytes),
            style.bytes(l.max_bytes),
            style.bytes(l.leaked_bytes),
            style.bytes(l.allocated_bytes),
        );
    }
    if !profile.metadata.native_memory {
        let _ = writeln!(out, "  (the C heap and mmap were not tracked in this run)");
    }
}

fn seconds(s: f64) -> String {
    format!("{s:.2} s")
}

/// The short report `memsleuth run` prints when the program ends, and
/// `memsleuth summary` prints on demand.
pub fn summary_text(
    profile: &Profile,
    capture: &str,
    limit: usize,
    style: impl Into<TextStyle>,
) -> String {
    let style = &style.into();
    let mut out = String::new();
    let program = profile.metadata.argv.join(" ");
    let _ = writeln!(
        out,
        "memsleuth: {program} ran for {}",
        seconds(profile.duration_s)
    );
    if !profile.completeness.ended_cleanly {
        let _ = writeln!(
            out,
            "  the capture is incomplete: tracking did not stop cleanly (the process was killed?); {} were lost after the last complete chunk",
            style.bytes(profile.completeness.lost_bytes)
        );
    }
    if let Some(stop) = &profile.limit_stop {
        let _ = writeln!(
            out,
            "  stopped by memsleuth at {}: its RSS reached {}, past --limit {}",
            seconds(stop.time_s),
            style.bytes(stop.rss_bytes),
            style.bytes(stop.limit_bytes)
        );
    }
    let _ = writeln!(
        out,
        "  peak tracked memory  {} at {}",
        style.strong(&style.bytes(profile.peak_bytes)),
        seconds(profile.peak_time_s)
    );
    let _ = writeln!(
        out,
        "  total allocated      {} in {} allocations",
        style.bytes(profile.total_allocated_bytes),
        grouped(profile.allocation_count)
    );
    let _ = writeln!(
        out,
        "  still live at exit   {} in {} blocks",
        style.bytes(profile.leaked_bytes),
        grouped(profile.leak_count)
    );
    layer_rows(&mut out, profile, style);
    for (title, measure) in [
        ("Top sites at the peak", Measure::Peak),
        ("Top sites still live at exit (leaks)", Measure::Leaks),
    ] {
        let sites: Vec<Site> = memsleuth_analysis::sites(profile, measure, Grouping::Stack)
            .into_iter()
            .take(limit)
            .collect();
        let _ = writeln!(out, "{}", style.strong(&format!("{title}:")));
        if sites.is_empty() {
            let _ = writeln!(out, "  (none)");
        } else {
            header(&mut out, "site");
            site_rows(&mut out, &sites, style);
        }
    }
    if profile.snapshots > 0 {
        let _ = writeln!(
            out,
            "Heap snapshots: {}  (memsleuth heap {capture}; memsleuth diff {capture})",
            profile.snapshots
        );
    }
    if let Some(line) = crate::memory::rss_line(profile, capture, style) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(
        out,
        "Capture: {capture}  (memsleuth summary | table | stacks {capture})"
    );
    out
}

/// A site table with a header line naming what is ranked.
pub fn table_text(
    sites: &[Site],
    measure: Measure,
    grouping: Grouping,
    style: impl Into<TextStyle>,
) -> String {
    let style = &style.into();
    let mut out = String::new();
    let what = match measure {
        Measure::Peak => "bytes live at the peak",
        Measure::Leaks => "bytes still live at exit",
        Measure::Allocated => "bytes allocated in total",
        Measure::Count => "number of allocations",
        Measure::Temporary => {
            "number of temporaries (blocks freed before their thread allocated again)"
        }
    };
    let heading = format!("Sites by {what}, grouped by {}:", grouping.name());
    let _ = writeln!(out, "{}", style.strong(&heading));
    header(&mut out, grouping.name());
    if sites.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    site_rows(&mut out, sites, style);
    out
}
