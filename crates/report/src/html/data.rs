//! Everything the page shows, as one serializable value: the summary, the
//! findings in words, the timeline and its markers, checkpoints, flamegraph
//! stacks, site tables and the heap section, each capped by [`Caps`].

use memsleuth_analysis::memory::{Collection, MemorySummary};
use memsleuth_analysis::{sites, Checkpoint, Grouping, Measure, Profile, Site};
use serde::Serialize;

use super::flame::{flame, FlameJson, FrameJson, FrameTable};
use super::heap::HeapSection;
use super::timeline::{timeline, TimelineJson};
use crate::json::{summary_json, SummaryJson};
use crate::units::human_bytes;

/// How much of each kind of data the page embeds. The defaults keep the
/// page a few megabytes at most whatever the size of the capture.
#[derive(Serialize, Debug, Clone, Copy)]
pub struct Caps {
    pub timeline_points: usize,
    pub checkpoints: usize,
    pub checkpoint_sites: usize,
    pub flame_stacks: usize,
    pub table_rows: usize,
    pub heap_rows: usize,
    pub heap_types_detailed: usize,
    /// Children embedded per node of the dominator tree, largest first.
    pub tree_children: usize,
    /// Levels of the dominator tree embedded below its super-root.
    pub tree_depth: usize,
    /// Nodes of the dominator tree embedded in all.
    pub tree_nodes: usize,
    /// Garbage collections marked on the timeline.
    pub gc_markers: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            timeline_points: 2000,
            checkpoints: 24,
            checkpoint_sites: 15,
            flame_stacks: 2000,
            table_rows: 500,
            heap_rows: 50,
            heap_types_detailed: 10,
            tree_children: 20,
            tree_depth: 8,
            tree_nodes: 2000,
            gc_markers: 2000,
        }
    }
}

/// One site table: its rows (at most the cap) and how many there were.
#[derive(Serialize)]
pub struct TableData {
    pub rows: Vec<Site>,
    pub total_rows: usize,
}

/// The tables of one measure, by line, function and file.
#[derive(Serialize)]
pub struct Tables {
    pub line: TableData,
    pub function: TableData,
    pub file: TableData,
}

#[derive(Serialize)]
pub struct Flames {
    pub peak: FlameJson,
    pub leaks: FlameJson,
    pub allocated: FlameJson,
    /// Bytes of temporaries (`docs/definitions.md`), by stack.
    pub temporary: FlameJson,
}

#[derive(Serialize)]
pub struct Markers {
    pub peak_time_s: f64,
    /// When each complete heap snapshot was taken.
    pub snapshots: Vec<SnapshotMarker>,
    /// Garbage collections, at most `caps.gc_markers` (the longest kept).
    pub gc: Vec<GcMarker>,
}

#[derive(Serialize)]
pub struct GcMarker {
    pub time_s: f64,
    pub generation: u8,
    pub duration_s: f64,
    pub collected: u64,
    /// Bytes of Python blocks the collection freed.
    pub freed_bytes: u64,
}

/// The collections to mark: all of them, or the longest `cap` in time order.
fn gc_markers(collections: &[Collection], cap: usize) -> Vec<GcMarker> {
    let mut kept: Vec<&Collection> = collections.iter().collect();
    if kept.len() > cap {
        kept.sort_by(|a, b| b.duration_s.total_cmp(&a.duration_s));
        kept.truncate(cap);
        kept.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    }
    kept.into_iter()
        .map(|c| GcMarker {
            time_s: c.time_s,
            generation: c.generation,
            duration_s: c.duration_s,
            collected: c.collected,
            freed_bytes: c.freed_bytes,
        })
        .collect()
}

#[derive(Serialize)]
pub struct SnapshotMarker {
    pub id: u32,
    pub time_s: f64,
    pub trigger: String,
}

#[derive(Serialize)]
pub struct ReportData {
    /// Version of this document's shape (`docs/report.md`).
    pub version: u32,
    pub title: String,
    pub memsleuth_version: String,
    pub summary: SummaryJson,
    /// The headline findings as sentences.
    pub findings: Vec<String>,
    pub timeline: TimelineJson,
    pub markers: Markers,
    pub checkpoints: Vec<Checkpoint>,
    pub frames: Vec<FrameJson>,
    pub flames: Flames,
    pub tables: TablesByMeasure,
    pub heap: Option<HeapSection>,
    /// The memory managers, the collector and the recommendations.
    pub memory: MemorySummary,
    pub caps: Caps,
}

#[derive(Serialize)]
pub struct TablesByMeasure {
    pub peak: Tables,
    pub leaks: Tables,
    pub allocated: Tables,
    pub count: Tables,
    pub temporary: Tables,
}

fn table(profile: &Profile, measure: Measure, grouping: Grouping, cap: usize) -> TableData {
    let mut rows = sites(profile, measure, grouping);
    let total_rows = rows.len();
    rows.truncate(cap);
    TableData { rows, total_rows }
}

fn tables(profile: &Profile, measure: Measure, cap: usize) -> Tables {
    Tables {
        line: table(profile, measure, Grouping::Line, cap),
        function: table(profile, measure, Grouping::Function, cap),
        file: table(profile, measure, Grouping::File, cap),
    }
}

fn place(site: &Site) -> String {
    let function = site.function.as_deref().unwrap_or("?");
    match site.line {
        Some(line) => format!("{function} ({}:{line})", site.file),
        None => format!("{function} ({})", site.file),
    }
}

/// The headline findings, in plain words, from the tables already built.
fn findings(profile: &Profile, t: &TablesByMeasure) -> Vec<String> {
    let mut out = Vec::new();
    if !profile.completeness.ended_cleanly {
        out.push(format!(
            "The capture is incomplete: the process stopped before tracking ended ({} lost after the last complete chunk); everything before is shown.",
            human_bytes(profile.completeness.lost_bytes)
        ));
    }
    if let Some(top) = t.peak.line.rows.first() {
        out.push(format!(
            "Memory peaked at {} after {:.2} s; the largest part, {} ({:.0}%), was allocated at {}.",
            human_bytes(profile.peak_bytes),
            profile.peak_time_s,
            human_bytes(top.bytes),
            top.share * 100.0,
            place(top)
        ));
    }
    match t.leaks.line.rows.first() {
        Some(top) => out.push(format!(
            "{} in {} blocks was still live when tracking stopped; the most, {}, was allocated at {}.",
            human_bytes(profile.leaked_bytes),
            profile.leak_count,
            human_bytes(top.bytes),
            place(top)
        )),
        None => out.push(String::from(
            "Nothing the program allocated was still live when tracking stopped.",
        )),
    }
    if let Some(top) = t.count.line.rows.first() {
        out.push(format!(
            "{} allocations made {} in total; the most allocations, {}, were made at {}.",
            profile.allocation_count,
            human_bytes(profile.total_allocated_bytes),
            top.count,
            place(top)
        ));
    }
    out
}

/// The page's data. `checkpoints` come from
/// [`memsleuth_analysis::checkpoints`], `snapshots` are (id, time, trigger)
/// of the complete heap snapshots, `heap` from [`super::heap_section`].
pub fn report_data(
    profile: &Profile,
    name: &str,
    checkpoints: Vec<Checkpoint>,
    snapshots: Vec<(u32, f64, String)>,
    heap: Option<HeapSection>,
    memory: MemorySummary,
    caps: Caps,
) -> ReportData {
    let tables = TablesByMeasure {
        peak: tables(profile, Measure::Peak, caps.table_rows),
        leaks: tables(profile, Measure::Leaks, caps.table_rows),
        allocated: tables(profile, Measure::Allocated, caps.table_rows),
        count: tables(profile, Measure::Count, caps.table_rows),
        temporary: tables(profile, Measure::Temporary, caps.table_rows),
    };
    let mut frames = FrameTable::default();
    let flames = Flames {
        peak: flame(
            profile,
            &profile.peak_by_stack,
            &mut frames,
            caps.flame_stacks,
        ),
        leaks: flame(
            profile,
            &profile.leaks_by_stack,
            &mut frames,
            caps.flame_stacks,
        ),
        allocated: flame(
            profile,
            &profile.allocated_by_stack,
            &mut frames,
            caps.flame_stacks,
        ),
        temporary: flame(
            profile,
            &profile.temporary_by_stack,
            &mut frames,
            caps.flame_stacks,
        ),
    };
    let program = profile.metadata.argv.join(" ");
    ReportData {
        version: 1,
        title: format!("memsleuth: {program}"),
        memsleuth_version: profile.metadata.memsleuth_version.clone(),
        summary: summary_json(profile, name, 0),
        findings: findings(profile, &tables),
        timeline: timeline(&profile.timeline, caps.timeline_points),
        markers: Markers {
            peak_time_s: profile.peak_time_s,
            snapshots: snapshots
                .into_iter()
                .map(|(id, time_s, trigger)| SnapshotMarker {
                    id,
                    time_s,
                    trigger,
                })
                .collect(),
            gc: gc_markers(&profile.memory.gc.collections, caps.gc_markers),
        },
        checkpoints,
        frames: frames.frames,
        flames,
        tables,
        heap,
        memory,
        caps,
    }
}
