//! Growth over time: the lines whose live bytes grow steadily through a run,
//! the way a leak in a long-running service does, told apart from those
//! that grow and then level off (a cache warming up) and from churn.
//!
//! One pass over the events ([`growth`]) records each line's live bytes at
//! up to 64 checkpoints spread evenly in time, from the start of tracking
//! (nothing live) to the end of the capture. The live bytes are kept per
//! line as the events stream past, so a checkpoint costs a copy of one
//! number per line, and memory stays proportional to the live blocks plus
//! the distinct lines times the checkpoints, never to the number of events.
//! Each line's series is then judged by [`judge`], whose rule and thresholds
//! are `docs/definitions.md`'s "Growth (memsleuth leaks)";
//! [`Growth::add_snapshot`] adds, from a heap snapshot, the types allocated
//! at the growing lines and the paths that keep them alive.

use std::collections::BTreeSet;

use memsleuth_format::{Domain, Record};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::heap::{NodeId, PathCount, Paths, Patterns, Snapshot};
use crate::replay::{is_event, LiveSet, Profile, SiteKey, StackStats};
use crate::sites::by_line;
use crate::symbols::{Frame, Symbols};

/// The thresholds of the growth rule; [`GrowthRule::default`] is the rule
/// `docs/definitions.md` documents.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GrowthRule {
    /// Checkpoints spread over the run, its start and end included.
    pub checkpoints: usize,
    /// Fewer checkpoints than this (a run of a few timeline samples) and no
    /// line is judged: there is not enough of a series to tell a trend.
    pub min_checkpoints: usize,
    /// A line must gain at least `share_of_peak` of the peak, but never less
    /// than `floor_bytes` nor more than `ceiling_bytes`.
    pub share_of_peak: f64,
    pub floor_bytes: u64,
    pub ceiling_bytes: u64,
    /// The run is cut into this many equal spans to count those it grew in.
    pub segments: usize,
    /// The slope over the last third of the run, over the slope over the
    /// whole run, must be at least this: below, the line levelled off.
    pub min_final_ratio: f64,
    /// R² times the share of spans that grew must be at least this.
    pub min_confidence: f64,
}

impl Default for GrowthRule {
    fn default() -> Self {
        GrowthRule {
            checkpoints: 64,
            min_checkpoints: 9,
            share_of_peak: 0.01,
            floor_bytes: 64 * 1024,
            ceiling_bytes: 1024 * 1024,
            segments: 8,
            min_final_ratio: 0.5,
            min_confidence: 0.5,
        }
    }
}

impl GrowthRule {
    /// The least growth worth a verdict, for a run that peaked at `peak`.
    pub fn min_growth(&self, peak: u64) -> u64 {
        let share = (peak as f64 * self.share_of_peak) as u64;
        share.clamp(self.floor_bytes, self.ceiling_bytes.max(self.floor_bytes))
    }
}

/// What became of a line that gained at least the minimum growth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Grows steadily and still grows at the end: flagged.
    Growing,
    /// Grew, then levelled off (or shrank): its last third grows at less
    /// than half its average rate.
    Plateau,
    /// Grew, but in bursts or with too much noise to call it a trend.
    Unsteady,
}

/// The trend of one series of live bytes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Least-squares slope of live bytes over time.
    #[serde(rename = "trend_bytes_per_min")]
    pub bytes_per_min: f64,
    /// R² of that straight line, 0 to 1.
    pub r_squared: f64,
    /// The share of the run's spans that grew, counted from the first span
    /// that did, 0 to 1.
    pub spread: f64,
    /// Slope over the last third of the run over the slope over all of it
    /// (0 when the line does not grow on the whole).
    pub final_ratio: f64,
    /// `r_squared × spread`, 0 to 1.
    pub confidence: f64,
}

/// Slope and R² of the least-squares line through `(x, y)`.
fn fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.len() < 2 {
        return (0.0, 0.0);
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        sxx += (a - mx) * (a - mx);
        sxy += (a - mx) * (b - my);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 {
        return (0.0, 0.0);
    }
    let r2 = if syy > 0.0 {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (sxy / sxx, r2)
}

/// The share of `segments` equal spans of `y` that end higher than they
/// start, counted from the first span that does: a leak that started late
/// is steady from where it started, a single jump is one span of several.
fn spread(y: &[f64], segments: usize) -> f64 {
    let steps = y.len().saturating_sub(1);
    let segments = segments.min(steps);
    if segments == 0 {
        return 0.0;
    }
    let bound = |k: usize| (k * steps + segments / 2) / segments;
    let grew: Vec<bool> = (0..segments)
        .map(|k| y[bound(k + 1)] > y[bound(k)])
        .collect();
    match grew.iter().position(|&g| g) {
        None => 0.0,
        Some(first) => {
            let counted = &grew[first..];
            counted.iter().filter(|&&g| g).count() as f64 / counted.len() as f64
        }
    }
}

/// The trend of the series `bytes` taken at `times_s` (ascending, as many).
pub fn trend(times_s: &[f64], bytes: &[u64], rule: &GrowthRule) -> Trend {
    let y: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
    let (slope, r_squared) = fit(times_s, &y);
    let (first, last) = match (times_s.first(), times_s.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => (0.0, 0.0),
    };
    // The last third by time; at least three points, so it has a slope.
    let cut = last - (last - first) / 3.0;
    let from = times_s
        .iter()
        .position(|&t| t >= cut)
        .unwrap_or(0)
        .min(times_s.len().saturating_sub(3));
    let (final_slope, _) = fit(&times_s[from..], &y[from..]);
    let final_ratio = if slope > 0.0 {
        final_slope / slope
    } else {
        0.0
    };
    let spread = spread(&y, rule.segments);
    Trend {
        bytes_per_min: slope * 60.0,
        r_squared,
        spread,
        final_ratio,
        confidence: r_squared * spread,
    }
}

/// The verdict on a line whose growth reached the minimum.
pub fn judge(trend: &Trend, rule: &GrowthRule) -> Verdict {
    if trend.bytes_per_min <= 0.0 || trend.final_ratio < rule.min_final_ratio {
        Verdict::Plateau
    } else if trend.confidence < rule.min_confidence {
        Verdict::Unsteady
    } else {
        Verdict::Growing
    }
}

/// One stack that allocated at a growing line, and what of it is live at
/// the end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowthStack {
    /// Innermost first.
    pub frames: Vec<Frame>,
    pub bytes: u64,
    pub blocks: u64,
    /// Native ids of the threads that allocated there.
    pub threads: Vec<u64>,
}

/// The objects of one type allocated at a growing line, in a heap snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetainedType {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    /// Their shallow bytes.
    pub bytes: u64,
    /// The most common path patterns from the roots to them.
    pub paths: Vec<PathCount>,
}

/// A line that gained at least the minimum growth, and the verdict on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowingSite {
    pub file: String,
    pub line: u32,
    pub function: String,
    pub verdict: Verdict,
    #[serde(flatten)]
    pub trend: Trend,
    /// Live bytes at the end less live bytes when tracking started.
    pub growth_bytes: u64,
    /// Blocks live at the end.
    pub live_blocks: u64,
    /// Live bytes at each checkpoint ([`Growth::times_s`]).
    pub series: Vec<u64>,
    /// For growing lines: the stacks that allocated what is live at the
    /// end, most bytes first.
    pub stacks: Vec<GrowthStack>,
    /// For growing lines, with a heap snapshot: the types allocated there.
    pub types: Vec<RetainedType>,
}

/// The heap snapshot retainers were taken from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRef {
    pub id: u32,
    pub trigger: String,
    pub time_s: f64,
}

/// The lines of a run judged by their growth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    pub rule: GrowthRule,
    pub min_growth_bytes: u64,
    pub duration_s: f64,
    /// The checkpoints' times: 0 (tracking started), then timeline samples,
    /// then the end of the capture.
    pub times_s: Vec<f64>,
    /// Whether there were enough checkpoints to judge any line.
    pub judged: bool,
    /// Flagged lines, fastest growth first.
    pub growing: Vec<GrowingSite>,
    /// Lines that gained the minimum but levelled off or grew unsteadily,
    /// most growth first.
    pub dismissed: Vec<GrowingSite>,
    /// Set by [`Growth::add_snapshot`].
    pub snapshot: Option<SnapshotRef>,
}

/// How many stacks a growing line lists.
const STACKS_PER_SITE: usize = 3;
/// How many types a growing line lists from a snapshot, and paths per type.
const TYPES_PER_SITE: usize = 3;
const PATHS_PER_TYPE: usize = 2;

/// The timeline samples to take checkpoints at: for each of the `count - 2`
/// times evenly spread strictly between 0 and `end`, the first sample at or
/// after it, each sample once. Samples within half a step of `end` are left
/// to the end checkpoint, which would otherwise have a twin.
fn chosen_samples(times_s: &[f64], end: f64, count: usize) -> Vec<usize> {
    let mut out = Vec::new();
    if count < 3 {
        return out;
    }
    let step = end / (count - 1) as f64;
    let mut j = 0;
    for i in 1..count - 1 {
        let target = step * i as f64;
        while j < times_s.len() && times_s[j] < target {
            j += 1;
        }
        if j >= times_s.len() || times_s[j] >= end - step / 2.0 {
            break;
        }
        out.push(j);
        j += 1;
    }
    out
}

/// A line's identity: file, line, function of its site frame, as
/// `table --group line` groups.
type LineId = (String, u32, String);

fn line_id(key: SiteKey, symbols: &Symbols) -> LineId {
    by_line(std::iter::once((key, 0, 0)), symbols)
        .into_iter()
        .next()
        .map_or_else(
            || {
                (
                    String::from("<native>"),
                    0,
                    String::from("[no Python frame]"),
                )
            },
            |s| (s.file, s.line, s.function),
        )
}

/// Lines by index, each stack resolved once.
struct Lines<'s> {
    symbols: &'s Symbols,
    of_key: FxHashMap<SiteKey, usize>,
    index: FxHashMap<LineId, usize>,
    ids: Vec<LineId>,
}

impl<'s> Lines<'s> {
    fn new(symbols: &'s Symbols) -> Self {
        Lines {
            symbols,
            of_key: FxHashMap::default(),
            index: FxHashMap::default(),
            ids: Vec::new(),
        }
    }

    fn of(&mut self, key: SiteKey) -> usize {
        if let Some(&i) = self.of_key.get(&key) {
            return i;
        }
        let id = line_id(key, self.symbols);
        let next = self.ids.len();
        let i = *self.index.entry(id.clone()).or_insert(next);
        if i == next {
            self.ids.push(id);
        }
        self.of_key.insert(key, i);
        i
    }
}

/// Live bytes by line while the events stream past: the live set says which
/// bytes start and stop being live (the summary's rules, lost frees and cut
/// mappings included), and each change goes to its line's total.
struct Replay<'s> {
    live: LiveSet,
    lines: Lines<'s>,
    /// By line: its live bytes now.
    line_bytes: Vec<u64>,
    /// By line: its bytes at each checkpoint so far; empty while it has had
    /// none at any, so lines of temporaries cost nothing.
    series: Vec<Vec<u64>>,
    taken: usize,
}

impl<'s> Replay<'s> {
    fn new(symbols: &'s Symbols) -> Self {
        Replay {
            live: LiveSet::default(),
            lines: Lines::new(symbols),
            line_bytes: Vec::new(),
            series: Vec::new(),
            taken: 0,
        }
    }

    /// Applies one event as the summary's replay does, pymalloc's arenas
    /// left out: they are capacity, not in the totals.
    fn apply(&mut self, record: &Record) {
        if matches!(
            *record,
            Record::Alloc {
                domain: Domain::Arena,
                ..
            } | Record::Realloc {
                domain: Domain::Arena,
                ..
            } | Record::Free {
                domain: Domain::Arena,
                ..
            }
        ) {
            return;
        }
        let Replay {
            live,
            lines,
            line_bytes,
            series,
            ..
        } = self;
        live.apply_noting(record, |key, bytes, starts| {
            let i = lines.of(key);
            if i >= line_bytes.len() {
                line_bytes.resize(i + 1, 0);
                series.resize(i + 1, Vec::new());
            }
            let now = &mut line_bytes[i];
            *now = if starts {
                *now + bytes
            } else {
                now.saturating_sub(bytes)
            };
        });
    }

    /// Records every line's live bytes as the next checkpoint.
    fn checkpoint(&mut self) {
        let k = self.taken;
        for (series, &now) in self.series.iter_mut().zip(&self.line_bytes) {
            if now > 0 || !series.is_empty() {
                series.resize(k, 0);
                series.push(now);
            }
        }
        self.taken += 1;
    }

    /// What is live at the end, by stack.
    fn live_by_stack(&self) -> FxHashMap<SiteKey, StackStats> {
        self.live.by_stack()
    }
}

/// Judges every line of a capture by its growth. `records` must be a fresh
/// pass over the capture whose analysis is `profile` (its timeline chooses
/// the checkpoints, its symbols name the lines, its peak sets the minimum
/// growth).
pub fn growth<I, E>(records: I, profile: &Profile, rule: GrowthRule) -> Result<Growth, E>
where
    I: Iterator<Item = Result<Record, E>>,
{
    let end = profile.duration_s;
    let sample_times: Vec<f64> = profile.timeline.iter().map(|p| p.time_s).collect();
    let chosen = chosen_samples(&sample_times, end, rule.checkpoints);
    let mut times_s = vec![0.0];
    times_s.extend(chosen.iter().map(|&j| sample_times[j]));
    times_s.push(end);

    let mut replay = Replay::new(&profile.symbols);
    replay.checkpoint();
    let mut next = chosen.iter().copied().peekable();
    let mut sample = 0usize;
    for record in records {
        let record = record?;
        if is_event(&record) {
            replay.apply(&record);
        } else if let Record::Sample { .. } = record {
            if next.peek() == Some(&sample) {
                next.next();
                replay.checkpoint();
            }
            sample += 1;
        }
    }
    // The end of the capture; before it, should the records hold fewer
    // samples than the analysis counted (they cannot), the chosen ones they
    // lacked, so that every series stays aligned with `times_s`.
    while replay.taken < times_s.len() {
        replay.checkpoint();
    }
    Ok(judge_lines(replay, times_s, profile, rule))
}

/// The verdicts, from the series a replay recorded.
fn judge_lines(replay: Replay, times_s: Vec<f64>, profile: &Profile, rule: GrowthRule) -> Growth {
    let min_growth = rule.min_growth(profile.peak_bytes);
    let judged = times_s.len() >= rule.min_checkpoints;
    let live = replay.live_by_stack();
    let mut lines = replay.lines;
    let blocks = blocks_by_line(&live, &mut lines);
    let mut growing = Vec::new();
    let mut dismissed = Vec::new();
    for (i, mut series) in replay.series.into_iter().enumerate() {
        series.resize(times_s.len(), 0);
        let growth = series.last().unwrap_or(&0).saturating_sub(series[0]);
        if !judged || growth < min_growth {
            continue;
        }
        let trend = trend(&times_s, &series, &rule);
        let (file, line, function) = lines.ids[i].clone();
        let site = GrowingSite {
            file,
            line,
            function,
            verdict: judge(&trend, &rule),
            trend,
            growth_bytes: growth,
            live_blocks: blocks.get(i).copied().unwrap_or(0),
            series,
            stacks: Vec::new(),
            types: Vec::new(),
        };
        if site.verdict == Verdict::Growing {
            growing.push((i, site));
        } else {
            dismissed.push(site);
        }
    }
    growing.sort_by(|(_, a), (_, b)| {
        b.trend
            .bytes_per_min
            .total_cmp(&a.trend.bytes_per_min)
            .then(b.growth_bytes.cmp(&a.growth_bytes))
            .then_with(|| by_place(a, b))
    });
    dismissed.sort_by(|a, b| {
        b.growth_bytes
            .cmp(&a.growth_bytes)
            .then_with(|| by_place(a, b))
    });
    let growing = growing
        .into_iter()
        .map(|(i, mut site)| {
            site.stacks = stacks_of(i, &live, &mut lines, profile);
            site
        })
        .collect();
    Growth {
        rule,
        min_growth_bytes: min_growth,
        duration_s: profile.duration_s,
        times_s,
        judged,
        growing,
        dismissed,
        snapshot: None,
    }
}

/// Ties broken by place, so that the order is stable.
fn by_place(a: &GrowingSite, b: &GrowingSite) -> std::cmp::Ordering {
    (&a.file, a.line, &a.function).cmp(&(&b.file, b.line, &b.function))
}

/// The blocks live at the end, by line.
fn blocks_by_line(live: &FxHashMap<SiteKey, StackStats>, lines: &mut Lines) -> Vec<u64> {
    let mut blocks = vec![0u64; lines.ids.len()];
    for (key, stats) in live {
        let i = lines.of(*key);
        if i >= blocks.len() {
            blocks.resize(i + 1, 0);
        }
        blocks[i] += stats.count;
    }
    blocks
}

/// The stacks whose blocks at line `line` are live at the end, merged
/// across threads, most bytes first.
fn stacks_of(
    line: usize,
    live: &FxHashMap<SiteKey, StackStats>,
    lines: &mut Lines,
    profile: &Profile,
) -> Vec<GrowthStack> {
    let mut merged: FxHashMap<Vec<Frame>, (StackStats, BTreeSet<u64>)> = FxHashMap::default();
    for (key, stats) in live {
        if lines.of(*key) != line {
            continue;
        }
        let (frames, thread) = profile.symbols.resolve(*key);
        let e = merged.entry(frames).or_default();
        e.0.bytes += stats.bytes;
        e.0.count += stats.count;
        e.1.extend(thread);
    }
    let mut stacks: Vec<GrowthStack> = merged
        .into_iter()
        .map(|(frames, (stats, threads))| GrowthStack {
            frames,
            bytes: stats.bytes,
            blocks: stats.count,
            threads: threads.into_iter().collect(),
        })
        .collect();
    stacks.sort_by(|a, b| {
        (b.bytes, b.blocks)
            .cmp(&(a.bytes, a.blocks))
            .then_with(|| a.frames.cmp(&b.frames))
    });
    stacks.truncate(STACKS_PER_SITE);
    stacks
}

impl Growth {
    /// Adds to the first `top` growing lines the types of the objects a
    /// heap snapshot holds that were allocated there, each with the paths
    /// that keep them alive. `symbols` must be those the snapshot was loaded
    /// with (stack ids are the capture's, whichever pass learnt them).
    pub fn add_snapshot(&mut self, snapshot: &Snapshot, symbols: &Symbols, top: usize) {
        self.snapshot = Some(SnapshotRef {
            id: snapshot.id,
            trigger: snapshot.trigger.clone(),
            time_s: snapshot.time_ns as f64 / 1e9,
        });
        let lines: Vec<LineId> = self
            .growing
            .iter()
            .take(top)
            .map(|s| (s.file.clone(), s.line, s.function.clone()))
            .collect();
        let found = retained_types(snapshot, symbols, &lines);
        for (site, types) in self.growing.iter_mut().zip(found) {
            site.types = types;
        }
    }
}

/// For each of `lines` (file, line, function), the types of the objects a
/// heap snapshot holds that were allocated there, most bytes first, each
/// with the paths that keep them alive. `symbols` must be those the
/// snapshot was loaded with.
pub fn retained_types(
    snapshot: &Snapshot,
    symbols: &Symbols,
    lines: &[(String, u32, String)],
) -> Vec<Vec<RetainedType>> {
    let wanted: FxHashMap<LineId, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| (line.clone(), i))
        .collect();
    let mut by_site: Vec<Vec<RetainedType>> = vec![Vec::new(); lines.len()];
    let groups = objects_by_site_and_type(snapshot, symbols, &wanted);
    if groups.is_empty() {
        return by_site;
    }
    let paths = Paths::new(snapshot);
    let mut patterns = Patterns::new(snapshot);
    for ((site, type_id), nodes) in groups {
        let bytes = nodes.iter().map(|&n| snapshot.nodes.size[n as usize]).sum();
        let count = nodes.len() as u64;
        let objects = nodes
            .into_iter()
            .map(|n| (n, snapshot.nodes.size[n as usize]));
        by_site[site].push(RetainedType {
            type_name: snapshot.type_name(type_id).to_string(),
            count,
            bytes,
            paths: patterns.top(snapshot, &paths, objects, PATHS_PER_TYPE),
        });
    }
    for types in &mut by_site {
        types.sort_by(|a, b| {
            (b.bytes, b.count)
                .cmp(&(a.bytes, a.count))
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        types.truncate(TYPES_PER_SITE);
    }
    by_site
}

/// The snapshot's objects allocated at the `wanted` lines, by (line's
/// position in `wanted`, type id).
fn objects_by_site_and_type(
    snapshot: &Snapshot,
    symbols: &Symbols,
    wanted: &FxHashMap<LineId, usize>,
) -> FxHashMap<(usize, u32), Vec<NodeId>> {
    let mut site_of: FxHashMap<SiteKey, Option<usize>> = FxHashMap::default();
    let mut groups: FxHashMap<(usize, u32), Vec<NodeId>> = FxHashMap::default();
    for n in snapshot.first_object()..snapshot.node_count() as NodeId {
        let Some(origin) = snapshot.nodes.origin[n as usize] else {
            continue;
        };
        let site = *site_of
            .entry(origin.site)
            .or_insert_with(|| wanted.get(&line_id(origin.site, symbols)).copied());
        if let Some(site) = site {
            let type_id = snapshot.nodes.type_id[n as usize];
            groups.entry((site, type_id)).or_default().push(n);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// 64 checkpoints over 60 s, `f` giving the live bytes at each time.
    fn series(f: impl Fn(f64) -> f64) -> (Vec<f64>, Vec<u64>) {
        let times: Vec<f64> = (0..64).map(|i| 60.0 * i as f64 / 63.0).collect();
        let bytes = times.iter().map(|&t| f(t).max(0.0) as u64).collect();
        (times, bytes)
    }

    fn verdict_of(f: impl Fn(f64) -> f64) -> (Verdict, Trend) {
        let rule = GrowthRule::default();
        let (t, y) = series(f);
        let trend = trend(&t, &y, &rule);
        (judge(&trend, &rule), trend)
    }

    #[test]
    fn a_steady_leak_is_flagged_with_its_rate() {
        // 1 MiB a second.
        let (verdict, trend) = verdict_of(|t| t * MIB as f64);
        assert_eq!(verdict, Verdict::Growing);
        assert!(
            (trend.bytes_per_min - 60.0 * MIB as f64).abs() < 1.0,
            "{trend:?}"
        );
        assert!(trend.r_squared > 0.999 && trend.spread == 1.0, "{trend:?}");
        assert!((trend.final_ratio - 1.0).abs() < 1e-6, "{trend:?}");
    }

    #[test]
    fn a_warm_up_cache_that_levels_off_is_a_plateau() {
        // Fills in the first 10% of the run, then never grows again.
        let (verdict, trend) = verdict_of(|t| (t / 6.0).min(1.0) * 8.0 * MIB as f64);
        assert_eq!(verdict, Verdict::Plateau, "{trend:?}");
        assert_eq!(trend.final_ratio, 0.0);
        // Filled by 60% of the run: still a plateau, though R² is high.
        let (verdict, trend) = verdict_of(|t| (t / 36.0).min(1.0) * 8.0 * MIB as f64);
        assert_eq!(verdict, Verdict::Plateau, "{trend:?}");
        assert!(trend.r_squared > 0.7, "{trend:?}");
    }

    #[test]
    fn growth_that_slows_but_goes_on_is_still_growth() {
        // Square-root growth never levels off.
        let (verdict, trend) = verdict_of(|t| t.sqrt() * MIB as f64);
        assert_eq!(verdict, Verdict::Growing, "{trend:?}");
        assert!(
            trend.final_ratio > 0.5 && trend.final_ratio < 1.0,
            "{trend:?}"
        );
    }

    #[test]
    fn one_late_jump_is_not_steady_growth() {
        // One big allocation at 70% of the run, kept: the last third grows,
        // but in one step.
        let (verdict, trend) = verdict_of(|t| if t > 42.0 { 50.0 * MIB as f64 } else { 0.0 });
        assert_eq!(verdict, Verdict::Unsteady, "{trend:?}");
        assert!(trend.confidence < 0.5, "{trend:?}");
    }

    #[test]
    fn a_leak_that_starts_midway_is_flagged() {
        let (verdict, trend) = verdict_of(|t| (t - 30.0).max(0.0) * MIB as f64);
        assert_eq!(verdict, Verdict::Growing, "{trend:?}");
        assert_eq!(trend.spread, 1.0);
    }

    #[test]
    fn a_sawtooth_is_not_growth() {
        // A buffer filled and flushed every 10 s.
        let (verdict, trend) = verdict_of(|t| (t % 10.0) * MIB as f64);
        assert_ne!(verdict, Verdict::Growing, "{trend:?}");
    }

    #[test]
    fn a_staircase_of_rare_leaks_is_steady() {
        // A 4 MiB buffer leaked every 5 s: 12 steps over 64 checkpoints.
        let (verdict, trend) = verdict_of(|t| (t / 5.0).floor() * 4.0 * MIB as f64);
        assert_eq!(verdict, Verdict::Growing, "{trend:?}");
        assert_eq!(trend.spread, 1.0);
    }

    #[test]
    fn a_leak_under_noise_is_still_found() {
        // 64 KiB of churn on top of 4 MiB of steady growth.
        let (verdict, trend) = verdict_of(|t| {
            let noise = if ((t * 7.0) as u64).is_multiple_of(2) {
                64.0 * 1024.0
            } else {
                0.0
            };
            t / 60.0 * 4.0 * MIB as f64 + noise
        });
        assert_eq!(verdict, Verdict::Growing, "{trend:?}");
        assert!(trend.confidence > 0.9, "{trend:?}");
    }

    #[test]
    fn flat_and_shrinking_series_do_not_grow() {
        let (verdict, trend) = verdict_of(|_| 3.0 * MIB as f64);
        assert_eq!(verdict, Verdict::Plateau);
        assert_eq!((trend.r_squared, trend.spread), (0.0, 0.0));
        let (verdict, _) = verdict_of(|t| (60.0 - t) * MIB as f64);
        assert_eq!(verdict, Verdict::Plateau);
    }

    #[test]
    fn the_minimum_growth_is_a_share_of_the_peak_within_bounds() {
        let rule = GrowthRule::default();
        assert_eq!(rule.min_growth(0), 64 * 1024);
        assert_eq!(rule.min_growth(20 * MIB), 20 * MIB / 100);
        assert_eq!(rule.min_growth(10_000 * MIB), MIB);
    }

    #[test]
    fn spread_counts_from_the_first_span_that_grew() {
        let y: Vec<f64> = [0, 0, 0, 0, 1, 2, 3, 4, 5].map(f64::from).to_vec();
        assert_eq!(spread(&y, 8), 1.0);
        let jump: Vec<f64> = [0, 0, 5, 5, 5, 5, 5, 5, 5].map(f64::from).to_vec();
        assert_eq!(spread(&jump, 8), 1.0 / 7.0);
        assert_eq!(spread(&[1.0], 8), 0.0);
    }

    #[test]
    fn checkpoints_are_spread_in_time_each_sample_once() {
        let times: Vec<f64> = (1..=100).map(|i| i as f64 / 100.0).collect();
        let chosen = chosen_samples(&times, 1.0, 5);
        // Targets 0.25, 0.5, 0.75: the first samples at or after them.
        assert_eq!(chosen, vec![24, 49, 74]);
        // Fewer samples than checkpoints: each sample once, the last
        // sample (at the end) left to the end checkpoint.
        assert_eq!(chosen_samples(&[0.5, 1.0], 1.0, 64), vec![0]);
        assert_eq!(chosen_samples(&[0.5, 0.999], 1.0, 11), vec![0]);
        assert!(chosen_samples(&[], 1.0, 64).is_empty());
        // A gap in the samples (a long snapshot) skips the targets in it.
        let gappy = [0.1, 0.2, 0.9, 1.0];
        assert_eq!(chosen_samples(&gappy, 1.0, 11), vec![0, 1, 2]);
    }
}
