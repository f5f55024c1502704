//! Sites: stacks, or the lines, functions or files they end in, ranked by a
//! measure. Stacks from different threads with the same frames are one site;
//! the site lists every thread it was seen in.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::replay::{Profile, SiteKey, StackStats};
use crate::symbols::{Frame, Symbols};

/// Which blocks a table is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Live at the peak, ranked by bytes.
    Peak,
    /// Still live when tracking stopped, ranked by bytes.
    Leaks,
    /// Every allocation made, ranked by bytes.
    Allocated,
    /// Every allocation made, ranked by number of allocations.
    Count,
    /// Temporaries: blocks freed before their thread allocated anything
    /// else, ranked by their number.
    Temporary,
}

impl Measure {
    pub fn name(self) -> &'static str {
        match self {
            Measure::Peak => "peak",
            Measure::Leaks => "leaks",
            Measure::Allocated => "allocated",
            Measure::Count => "count",
            Measure::Temporary => "temporary",
        }
    }

    /// What this measure ranks by: the number of blocks for `Count` and
    /// `Temporary` (churn is in the number of round trips), bytes for every
    /// other measure.
    pub fn ranked_value(self, bytes: u64, count: u64) -> u64 {
        match self {
            Measure::Count | Measure::Temporary => count,
            _ => bytes,
        }
    }
}

/// What makes two allocations the same site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// The whole stack.
    Stack,
    /// The innermost frame's file and line.
    Line,
    /// The innermost frame's file and function.
    Function,
    /// The innermost frame's file.
    File,
}

impl Grouping {
    pub fn name(self) -> &'static str {
        match self {
            Grouping::Stack => "stack",
            Grouping::Line => "line",
            Grouping::Function => "function",
            Grouping::File => "file",
        }
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub file: String,
    /// None when grouped by function or file.
    pub line: Option<u32>,
    /// None when grouped by file.
    pub function: Option<String>,
    pub bytes: u64,
    pub count: u64,
    /// This site's part of the table's total (bytes, or count for `Count`), 0 to 1.
    pub share: f64,
    /// Native ids of the threads that allocated here.
    pub threads: Vec<u64>,
    /// The ranked value (bytes, or count for `Count`) by layer.
    pub layers: BTreeMap<&'static str, u64>,
    /// The full stack, innermost first; only when grouped by stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<Frame>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Stack(Vec<Frame>),
    Line(String, u32),
    Function(String, String),
    File(String),
}

/// The frame a line, function or file grouping names: the innermost Python
/// frame, since that is the program's line (or the `[no Python frame]`
/// pseudo-frame), so these tables read the same with or without `--native`.
pub(crate) fn site_frame(frames: &[Frame]) -> &Frame {
    frames.iter().find(|f| !f.is_native()).unwrap_or(&frames[0])
}

/// Bytes and blocks of the stacks that end at one line, its site frame (as
/// `table --group line` groups them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineSite {
    pub file: String,
    pub line: u32,
    pub function: String,
    pub bytes: u64,
    pub count: u64,
}

/// Sums `(site, bytes, blocks)` by line; most bytes first (then most
/// blocks, then by place, so that the order is stable).
pub fn by_line(
    per_site: impl IntoIterator<Item = (SiteKey, u64, u64)>,
    symbols: &Symbols,
) -> Vec<LineSite> {
    let mut lines: FxHashMap<(String, u32, String), (u64, u64)> = FxHashMap::default();
    for (key, bytes, count) in per_site {
        let (frames, _) = symbols.resolve(key);
        if frames.is_empty() {
            continue;
        }
        let frame = site_frame(&frames);
        let e = lines
            .entry((frame.file.clone(), frame.line, frame.function.clone()))
            .or_default();
        e.0 += bytes;
        e.1 += count;
    }
    let mut sites: Vec<LineSite> = lines
        .into_iter()
        .map(|((file, line, function), (bytes, count))| LineSite {
            file,
            line,
            function,
            bytes,
            count,
        })
        .collect();
    sites.sort_by(|a, b| {
        (b.bytes, b.count)
            .cmp(&(a.bytes, a.count))
            .then_with(|| (&a.file, a.line, &a.function).cmp(&(&b.file, b.line, &b.function)))
    });
    sites
}

fn key(frames: &[Frame], grouping: Grouping) -> Key {
    let leaf = site_frame(frames);
    match grouping {
        Grouping::Stack => Key::Stack(frames.to_vec()),
        Grouping::Line => Key::Line(leaf.file.clone(), leaf.line),
        Grouping::Function => Key::Function(leaf.file.clone(), leaf.function.clone()),
        Grouping::File => Key::File(leaf.file.clone()),
    }
}

fn table(profile: &Profile, measure: Measure) -> &FxHashMap<SiteKey, StackStats> {
    match measure {
        Measure::Peak => &profile.peak_by_stack,
        Measure::Leaks => &profile.leaks_by_stack,
        Measure::Allocated | Measure::Count => &profile.allocated_by_stack,
        Measure::Temporary => &profile.temporary_by_stack,
    }
}

struct Acc {
    /// Innermost frame first: `stack[0]` is the site's own frame.
    stack: Vec<Frame>,
    stats: StackStats,
    threads: BTreeSet<u64>,
    layers: BTreeMap<&'static str, u64>,
}

/// The sites of a table: every layer but pymalloc's arenas, which hold the
/// objects the Python layers already count.
fn counted(profile: &Profile, measure: Measure) -> impl Iterator<Item = (&SiteKey, &StackStats)> {
    table(profile, measure)
        .iter()
        .filter(|(k, _)| k.layer.counts_in_total())
}

/// Every site of `measure`, grouped, largest first; ties broken by location
/// so output is stable.
pub fn sites(profile: &Profile, measure: Measure, grouping: Grouping) -> Vec<Site> {
    let mut groups: FxHashMap<Key, Acc> = FxHashMap::default();
    for (&site, stats) in counted(profile, measure) {
        let (frames, thread) = profile.symbols.resolve(site);
        let acc = groups.entry(key(&frames, grouping)).or_insert_with(|| Acc {
            stack: frames.clone(),
            stats: StackStats::default(),
            threads: BTreeSet::new(),
            layers: BTreeMap::new(),
        });
        acc.stats.bytes += stats.bytes;
        acc.stats.count += stats.count;
        acc.threads.extend(thread);
        *acc.layers.entry(site.layer.layer_name()).or_default() +=
            measure.ranked_value(stats.bytes, stats.count);
    }
    let value = |s: &StackStats| measure.ranked_value(s.bytes, s.count);
    let total: u64 = groups.values().map(|a| value(&a.stats)).sum();
    let mut out: Vec<Site> = groups
        .into_values()
        .map(|a| {
            let leaf = site_frame(&a.stack);
            Site {
                file: leaf.file.clone(),
                line: matches!(grouping, Grouping::Stack | Grouping::Line).then_some(leaf.line),
                function: (grouping != Grouping::File).then(|| leaf.function.clone()),
                bytes: a.stats.bytes,
                count: a.stats.count,
                share: if total == 0 {
                    0.0
                } else {
                    value(&a.stats) as f64 / total as f64
                },
                threads: a.threads.into_iter().collect(),
                layers: a.layers,
                stack: (grouping == Grouping::Stack).then_some(a.stack),
            }
        })
        .collect();
    let ranked = |site: &Site| measure.ranked_value(site.bytes, site.count);
    out.sort_by(|a, b| {
        ranked(b)
            .cmp(&ranked(a))
            .then_with(|| (&a.file, a.line, &a.function).cmp(&(&b.file, b.line, &b.function)))
    });
    out
}

/// Collapsed stacks (`outer;...;inner;[layer] BYTES`) for flamegraph tools:
/// bytes live at the peak, leaked, or allocated in total
/// (`Allocated`/`Count`). The last frame names the layer, so a flamegraph
/// shows which memory each leaf is.
pub fn collapsed_stacks(profile: &Profile, measure: Measure) -> Vec<(String, u64)> {
    let mut merged: FxHashMap<String, u64> = FxHashMap::default();
    for (&site, stats) in counted(profile, measure) {
        let (frames, _) = profile.symbols.resolve(site);
        let line = frames
            .iter()
            .rev()
            .map(|f| f.label().replace(';', ":"))
            .chain(std::iter::once(format!("[{}]", site.layer.layer_name())))
            .collect::<Vec<_>>()
            .join(";");
        *merged.entry(line).or_default() += measure.ranked_value(stats.bytes, stats.count);
    }
    let mut out: Vec<(String, u64)> = merged.into_iter().filter(|(_, v)| *v > 0).collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
