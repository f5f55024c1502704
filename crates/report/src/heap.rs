//! `memsleuth heap` and `memsleuth diff`: their JSON documents (schemas in
//! `docs/json.md`) and their terminal form, rendered from those documents so
//! the two always say the same.

use std::fmt::Write;

use memsleuth_analysis::heap::{
    HeapAnalysis, HeapCapture, HeapDiff, HeapSite, HeapTotals, ObjectRow, Snapshot, SnapshotInfo,
    Suspect, SuspectKind, SuspectParams, TypeDetail, TypeRow,
};
use serde::Serialize;

use crate::style::TextStyle;
use crate::units::grouped;

/// Which snapshot a document is about.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotJson {
    pub id: u32,
    /// What asked for it: `exit`, `signal SIGUSR2`, `every 30s`, `api`.
    pub trigger: String,
    /// Seconds since tracking started.
    pub time_s: f64,
    pub objects: u64,
    /// False for a snapshot cut short (the process died while taking it).
    pub complete: bool,
}

impl SnapshotJson {
    pub fn of(snapshot: &Snapshot) -> SnapshotJson {
        SnapshotJson {
            id: snapshot.id,
            trigger: snapshot.trigger.clone(),
            time_s: snapshot.time_ns as f64 / 1e9,
            objects: (snapshot.node_count() - snapshot.first_object() as usize) as u64,
            complete: true,
        }
    }

    pub fn listed(info: &SnapshotInfo) -> SnapshotJson {
        SnapshotJson {
            id: info.id,
            trigger: info.trigger.clone(),
            time_s: info.time_ns as f64 / 1e9,
            objects: info.objects,
            complete: info.complete,
        }
    }
}

fn listed(capture: &HeapCapture) -> Vec<SnapshotJson> {
    capture.snapshots.iter().map(SnapshotJson::listed).collect()
}

/// `memsleuth heap CAPTURE --json`.
#[derive(Debug, Clone, Serialize)]
pub struct HeapJson {
    pub capture: String,
    /// The snapshot shown.
    pub snapshot: SnapshotJson,
    /// Every snapshot the capture holds, complete or not.
    pub snapshots: Vec<SnapshotJson>,
    /// Whether the run traced allocations: without, no object has a site.
    pub traced: bool,
    pub totals: HeapTotals,
    pub suspects: Vec<Suspect>,
    pub types: Vec<TypeRow>,
    pub retainers: Vec<ObjectRow>,
}

pub fn heap_json(name: &str, capture: &HeapCapture, heap: &HeapAnalysis, limit: usize) -> HeapJson {
    HeapJson {
        capture: name.to_string(),
        snapshot: SnapshotJson::of(heap.snapshot),
        snapshots: listed(capture),
        traced: capture.traced,
        totals: heap.totals(),
        suspects: heap.suspects(SuspectParams::default()),
        types: heap.types_table(limit),
        retainers: heap.retainers(limit),
    }
}

/// `memsleuth heap CAPTURE --type NAME --json`.
#[derive(Debug, Clone, Serialize)]
pub struct HeapTypeJson {
    pub capture: String,
    pub snapshot: SnapshotJson,
    pub snapshots: Vec<SnapshotJson>,
    pub traced: bool,
    pub totals: HeapTotals,
    #[serde(rename = "type")]
    pub detail: TypeDetail,
}

pub fn heap_type_json(
    name: &str,
    capture: &HeapCapture,
    heap: &HeapAnalysis,
    group: u32,
    limit: usize,
) -> HeapTypeJson {
    HeapTypeJson {
        capture: name.to_string(),
        snapshot: SnapshotJson::of(heap.snapshot),
        snapshots: listed(capture),
        traced: capture.traced,
        totals: heap.totals(),
        detail: heap.type_detail(group, limit),
    }
}

/// One side of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSideJson {
    pub capture: String,
    pub snapshot: SnapshotJson,
}

/// `memsleuth diff --json`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffJson {
    pub before: DiffSideJson,
    pub after: DiffSideJson,
    #[serde(flatten)]
    pub diff: HeapDiff,
}

/// A path as one line of Python: `sys.modules['app'].CACHE[*]`.
pub fn join_path(path: &[String]) -> String {
    let Some((root, steps)) = path.split_first() else {
        return String::from("(unreachable: a cycle no root refers to)");
    };
    let mut out = root.clone();
    // A step that is no Python (a native object's type) stands apart from the root.
    if steps.first().is_some_and(|s| s.starts_with('<')) {
        out.push(' ');
    }
    for s in steps {
        out.push_str(s);
    }
    out
}

/// Keeps the end of `s` within `width` characters: the end of a path is
/// the object, and of a file name its name.
fn keep_end(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 2 {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn seconds(s: f64) -> String {
    format!("{s:.2} s")
}

fn signed_bytes(delta: i128, style: &TextStyle) -> String {
    let sign = if delta < 0 { "-" } else { "+" };
    format!("{sign}{}", style.bytes(delta.unsigned_abs() as u64))
}

fn signed_count(delta: i128) -> String {
    let sign = if delta < 0 { "-" } else { "+" };
    format!("{sign}{}", grouped(delta.unsigned_abs() as u64))
}

fn snapshot_line(
    out: &mut String,
    capture: &str,
    s: &SnapshotJson,
    totals: &HeapTotals,
    style: &TextStyle,
) {
    let _ = writeln!(
        out,
        "Heap snapshot {} of {capture} ({}, at {}): {} objects, {}",
        s.id,
        s.trigger,
        seconds(s.time_s),
        grouped(totals.objects),
        style.bytes(totals.shallow_bytes)
    );
    let _ = writeln!(
        out,
        "  reachable from modules and threads  {:>10}",
        style.bytes(totals.reachable_bytes)
    );
    let _ = writeln!(
        out,
        "  held only by native code            {:>10}",
        style.bytes(totals.native_only_bytes)
    );
    if totals.unreachable_objects > 0 {
        let _ = writeln!(
            out,
            "  unreachable (uncollected cycles)    {:>10} in {} objects",
            style.bytes(totals.unreachable_bytes),
            grouped(totals.unreachable_objects)
        );
    }
}

/// Allocation sites under a heading, or why there are none.
fn site_lines(out: &mut String, sites: &[HeapSite], traced: bool, indent: &str, style: &TextStyle) {
    if sites.is_empty() {
        let why = if traced {
            "allocated before tracking started"
        } else {
            "the run traced no allocations"
        };
        let _ = writeln!(out, "{indent}allocation sites unknown: {why}");
        return;
    }
    let loc_width = style.width.saturating_sub(indent.len() + 24).max(20);
    for s in sites {
        let place = format!("{} ({}:{})", s.function, s.file, s.line);
        let _ = writeln!(
            out,
            "{indent}{:>10}  {:>10}  {}",
            style.bytes(s.bytes),
            grouped(s.count),
            keep_end(&place, loc_width)
        );
    }
}

fn suspect_lines(out: &mut String, n: usize, s: &Suspect, traced: bool, style: &TextStyle) {
    let verb = if s.count == 1 { "retains" } else { "retain" };
    let place = match (&s.kind, &s.holder) {
        (SuspectKind::Type, _) => String::from("spread over many holders; most are at"),
        (SuspectKind::Accumulation, Some(h)) if s.count > 1 => format!("held by one {h} at"),
        (SuspectKind::Accumulation, Some(h)) => format!("held by a {h}, at"),
        (SuspectKind::Accumulation, None) => String::from("at"),
    };
    let _ = writeln!(
        out,
        "  {n}. {} {} {verb} {} ({} of the reachable bytes), {place}",
        grouped(s.count),
        s.type_name,
        style.bytes(s.retained_bytes),
        percent(s.share)
    );
    let _ = writeln!(out, "       {}", join_path(&s.path));
    let _ = writeln!(out, "     allocated at:");
    site_lines(out, &s.sites, traced, "       ", style);
}

fn type_rows(out: &mut String, rows: &[TypeRow], style: &TextStyle) {
    let _ = writeln!(
        out,
        "  {:>12}  {:>10}  {:>10}  type",
        "count", "shallow", "retained"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "  {:>12}  {:>10}  {:>10}  {}",
            grouped(r.count),
            style.bytes(r.shallow_bytes),
            style.bytes(r.retained_bytes),
            keep_end(&r.type_name, style.width.saturating_sub(40).max(20))
        );
    }
}

fn object_rows(out: &mut String, rows: &[ObjectRow], with_type: bool, style: &TextStyle) {
    let type_width = if with_type {
        rows.iter()
            .map(|r| r.type_name.chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 24)
    } else {
        0
    };
    let type_col = |name: &str| {
        if with_type {
            format!("{:<type_width$}  ", keep_end(name, type_width))
        } else {
            String::new()
        }
    };
    let _ = writeln!(
        out,
        "  {:>10}  {:>10}  {}path",
        "retained",
        "shallow",
        type_col("type")
    );
    let path_width = style.width.saturating_sub(28 + type_width).max(30);
    for r in rows {
        let _ = writeln!(
            out,
            "  {:>10}  {:>10}  {}{}",
            style.bytes(r.retained_bytes),
            style.bytes(r.shallow_bytes),
            type_col(&r.type_name),
            keep_end(&join_path(&r.path), path_width)
        );
    }
}

/// What `memsleuth heap` prints.
pub fn heap_text(h: &HeapJson, style: impl Into<TextStyle>) -> String {
    let style = &style.into();
    let mut out = String::new();
    snapshot_line(&mut out, &h.capture, &h.snapshot, &h.totals, style);
    let _ = writeln!(out, "{}", style.strong("Leak suspects:"));
    if h.suspects.is_empty() {
        let _ = writeln!(
            out,
            "  (none: no object or type retains 10% of the reachable bytes)"
        );
    }
    for (i, s) in h.suspects.iter().enumerate() {
        suspect_lines(&mut out, i + 1, s, h.traced, style);
    }
    let _ = writeln!(out, "{}", style.strong("Types by retained bytes:"));
    type_rows(&mut out, &h.types, style);
    let _ = writeln!(
        out,
        "{}",
        style.strong("Biggest objects by retained bytes:")
    );
    object_rows(&mut out, &h.retainers, true, style);
    let _ = writeln!(
        out,
        "More: memsleuth heap {} --type TYPE; memsleuth diff {}",
        h.capture, h.capture
    );
    out
}

/// What `memsleuth heap --type NAME` prints.
pub fn heap_type_text(h: &HeapTypeJson, style: impl Into<TextStyle>) -> String {
    let style = &style.into();
    let mut out = String::new();
    snapshot_line(&mut out, &h.capture, &h.snapshot, &h.totals, style);
    let d = &h.detail;
    let _ = writeln!(
        out,
        "{}: {} instances, {} shallow, retaining {}",
        d.type_name,
        grouped(d.count),
        style.bytes(d.shallow_bytes),
        style.bytes(d.retained_bytes)
    );
    let _ = writeln!(out, "{}", style.strong("Instances retaining the most:"));
    object_rows(&mut out, &d.instances, false, style);
    let _ = writeln!(out, "{}", style.strong("Allocated at:"));
    site_lines(&mut out, &d.sites, h.traced, "  ", style);
    let _ = writeln!(out, "{}", style.strong("Kept alive through:"));
    let _ = writeln!(out, "  {:>12}  {:>10}  path", "instances", "shallow");
    for p in &d.paths {
        let _ = writeln!(
            out,
            "  {:>12}  {:>10}  {}",
            grouped(p.count),
            style.bytes(p.bytes),
            keep_end(&join_path(&p.path), style.width.saturating_sub(30).max(30))
        );
    }
    out
}

/// What `memsleuth diff` prints.
pub fn diff_text(d: &DiffJson, style: impl Into<TextStyle>) -> String {
    let style = &style.into();
    let mut out = String::new();
    let side = |s: &DiffSideJson| {
        format!(
            "snapshot {} of {} ({}, at {})",
            s.snapshot.id,
            s.capture,
            s.snapshot.trigger,
            seconds(s.snapshot.time_s)
        )
    };
    let _ = writeln!(out, "Heap diff: {} → {}", side(&d.before), side(&d.after));
    let diff = &d.diff;
    if diff.matched_by == "none" {
        let _ = writeln!(
            out,
            "  objects cannot be matched: the run traced no allocations, so only the types are compared"
        );
    } else {
        let _ = writeln!(
            out,
            "  new objects: {} ({}), matched by their allocation",
            grouped(diff.new_objects),
            style.bytes(diff.new_bytes)
        );
    }
    if diff.unmatched_before + diff.unmatched_after > 0 {
        let _ = writeln!(
            out,
            "  {} objects before and {} after have no allocation record (allocated before tracking started{}): they count by type only, never as new",
            grouped(diff.unmatched_before),
            grouped(diff.unmatched_after),
            if diff.matched_by == "none" { ", or untraced" } else { "" }
        );
    }
    let _ = writeln!(out, "{}", style.strong("Types by bytes gained:"));
    let _ = writeln!(
        out,
        "  {:>12}  {:>12}  {:>10}  {:>11}  type",
        "count", "change", "bytes", "change"
    );
    for t in &diff.types {
        let _ = writeln!(
            out,
            "  {:>12}  {:>12}  {:>10}  {:>11}  {}",
            grouped(t.count_after),
            signed_count(t.count_delta()),
            style.bytes(t.bytes_after),
            signed_bytes(t.bytes_delta(), style),
            keep_end(&t.type_name, style.width.saturating_sub(56).max(20))
        );
    }
    if diff.matched_by == "none" {
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        style.strong("Where the new objects were allocated:")
    );
    site_lines(&mut out, &diff.sites, true, "  ", style);
    let _ = writeln!(out, "{}", style.strong("What keeps the new objects alive:"));
    let _ = writeln!(
        out,
        "  {:>10}  {:>10}  {:>10}  path (count: new objects attached there)",
        "bytes", "objects", "count"
    );
    for p in &diff.paths {
        let _ = writeln!(
            out,
            "  {:>10}  {:>10}  {:>10}  {}",
            style.bytes(p.bytes),
            grouped(p.objects),
            grouped(p.count),
            keep_end(&join_path(&p.path), style.width.saturating_sub(40).max(30))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use memsleuth_analysis::heap::SnapshotBuilder;
    use memsleuth_analysis::Symbols;
    use memsleuth_format::{EdgeName, HeapEdge, HeapObjectDef, HeapRootDef, Metadata};

    /// `__main__` with a dict `CACHE` of four 1,000-byte bytes objects.
    fn cache() -> Snapshot {
        let mut b = SnapshotBuilder::new(3, 1_500_000_000, String::from("exit"));
        for (id, name) in ["module", "dict", "bytes"].iter().enumerate() {
            b.add_type(id as u32, name.to_string());
        }
        for (id, text) in [
            "'__main__'",
            "__dict__",
            "'CACHE'",
            "'a'",
            "'b'",
            "'c'",
            "'d'",
        ]
        .iter()
        .enumerate()
        {
            b.add_name(id as u32, text.to_string());
        }
        let edge = |name, target| HeapEdge { name, target };
        b.add_root(HeapRootDef {
            label: String::from("sys.modules"),
            edges: vec![edge(EdgeName::Key(0), 0x10)],
        });
        let object = |addr, type_id, size, edges| HeapObjectDef {
            addr,
            preheader: 0,
            type_id,
            size,
            refcnt: 1,
            gc_tracked: true,
            edges,
        };
        b.add_object(object(0x10, 0, 80, vec![edge(EdgeName::Internal(1), 0x20)]));
        b.add_object(object(0x20, 1, 400, vec![edge(EdgeName::Key(2), 0x30)]));
        let entries = (0..4).map(|i| edge(EdgeName::Key(3 + i), 0x40 + u64::from(i)));
        b.add_object(object(0x30, 1, 520, entries.collect()));
        for i in 0..4 {
            b.add_object(object(0x40 + i, 2, 1000, Vec::new()));
        }
        b.finish(|_| None)
    }

    fn capture() -> HeapCapture {
        HeapCapture {
            metadata: Metadata::default(),
            snapshots: Vec::new(),
            symbols: Symbols::default(),
            traced: false,
        }
    }

    #[test]
    fn the_heap_document_names_the_suspect_and_its_path() {
        let snapshot = cache();
        let capture = capture();
        let heap = HeapAnalysis::new(&snapshot, &capture.symbols);
        let doc = heap_json("app.msl", &capture, &heap, 10);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["snapshot"]["id"], 3);
        assert_eq!(json["snapshot"]["time_s"], 1.5);
        assert_eq!(json["totals"]["reachable_bytes"], 5000);
        let suspect = &json["suspects"][0];
        assert_eq!(suspect["type"], "bytes");
        assert_eq!(suspect["count"], 4);
        assert_eq!(suspect["retained_bytes"], 4000);
        assert_eq!(
            suspect["path"],
            serde_json::json!(["sys.modules", "['__main__']", ".CACHE"])
        );
        assert_eq!(suspect["sites"], serde_json::json!([]));
        assert_eq!(json["types"][0]["type"], "module");
        assert_eq!(json["retainers"][0]["retained_bytes"], 5000);
        let text = heap_text(&doc, 100);
        assert!(text.contains(
            "1. 4 bytes retain 3.9 KiB (80.0% of the reachable bytes), held by one dict at\n       sys.modules['__main__'].CACHE\n"
        ), "{text}");
        assert!(text.contains("allocation sites unknown: the run traced no allocations"));
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn paths_join_into_python() {
        assert_eq!(
            join_path(&strings(&["sys.modules", "['__main__']", ".CACHE", "[*]"])),
            "sys.modules['__main__'].CACHE[*]"
        );
        assert_eq!(
            join_path(&strings(&["held by native code", "<dict>", "['x']"])),
            "held by native code <dict>['x']"
        );
        assert!(join_path(&[]).starts_with("(unreachable"));
    }

    #[test]
    fn long_text_keeps_its_end() {
        assert_eq!(keep_end("abcdef", 4), "…def");
        assert_eq!(keep_end("abc", 4), "abc");
    }

    #[test]
    fn deltas_carry_their_sign() {
        assert_eq!(signed_bytes(2048, &TextStyle::from(80)), "+2.0 KiB");
        assert_eq!(signed_bytes(-5, &TextStyle::from(80)), "-5 B");
        assert_eq!(signed_count(0), "+0");
        assert_eq!(signed_count(-1234), "-1,234");
    }
}
