//! `memsleuth heap` and `memsleuth diff`: pick the snapshots, analyse, print.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use memsleuth_analysis::heap::{
    diff, DiffBase, HeapAnalysis, HeapCapture, Snapshot, SnapshotInfo, TypeNotFound, Want,
};
use memsleuth_format::reader::CaptureReader;
use memsleuth_format::Metadata;
use memsleuth_report::{DiffJson, DiffSideJson, SnapshotJson};

use crate::args::{DiffArgs, HeapArgs};
use crate::commands::stdout_style;
use crate::load;

/// The snapshot `asked` for (the last complete one by default) and what the
/// capture says about its snapshots; an error sentence when there is none.
pub(crate) fn one_snapshot(path: &Path, asked: Option<u32>) -> Result<(HeapCapture, Snapshot)> {
    let want = asked.map_or(Want::Last, |id| Want::Ids(id, None));
    let (capture, mut graphs) = load::heap_snapshots(path, want)?;
    match graphs.pop() {
        Some(snapshot) => Ok((capture, snapshot)),
        None => bail!("{}", missing_snapshot(path, &capture, asked)),
    }
}

pub fn heap(args: &HeapArgs) -> Result<i32> {
    let (capture, snapshot) = one_snapshot(&args.capture, args.snapshot)?;
    warn_if_not_last(&args.capture, &capture, &snapshot, args.snapshot);
    let name = args.capture.display().to_string();
    let heap = HeapAnalysis::new(&snapshot, &capture.symbols);
    let Some(type_name) = &args.type_name else {
        let doc = memsleuth_report::heap_json(&name, &capture, &heap, args.output.limit);
        return print(args.output.json, &doc, || {
            memsleuth_report::heap_text(&doc, stdout_style(args.output.bytes))
        });
    };
    let group = heap
        .groups
        .find(type_name)
        .map_err(|e| anyhow::anyhow!(type_not_found(&name, snapshot.id, type_name, e)))?;
    let doc = memsleuth_report::heap_type_json(&name, &capture, &heap, group, args.output.limit);
    print(args.output.json, &doc, || {
        memsleuth_report::heap_type_text(&doc, stdout_style(args.output.bytes))
    })
}

pub fn diff_command(args: &DiffArgs) -> Result<i32> {
    let (before, base, after, capture) = match &args.later {
        None => one_capture(&args.capture)?,
        Some(later) => two_captures(&args.capture, later)?,
    };
    let (after_path, after) = after;
    let doc = DiffJson {
        before,
        after: DiffSideJson {
            capture: after_path.display().to_string(),
            snapshot: SnapshotJson::of(&after),
        },
        diff: diff(&base, &after, &capture.symbols, args.output.limit),
    };
    print(args.output.json, &doc, || {
        memsleuth_report::diff_text(&doc, stdout_style(args.output.bytes))
    })
}

/// What a diff is made of: the earlier side, reduced to what the diff
/// needs; the later snapshot; the capture whose symbols name its sites.
type DiffInput<'p> = (DiffSideJson, DiffBase, (&'p Path, Snapshot), HeapCapture);

/// The first and the last complete snapshot of one capture.
fn one_capture(path: &Path) -> Result<DiffInput<'_>> {
    let (capture, mut graphs) = load::heap_snapshots(path, Want::FirstAndLast)?;
    if graphs.is_empty() {
        bail!("{}", missing_snapshot(path, &capture, None));
    }
    if graphs.len() < 2 {
        bail!(
            "capture {} holds one complete heap snapshot, and a diff needs two; take more with `memsleuth run --snapshot-every 30s` or `--snapshot-on SIGUSR2`, or pass two captures of one process",
            path.display()
        );
    }
    let after = graphs.remove(1);
    let before = graphs.remove(0);
    let side = side(path, &before);
    let base = DiffBase::new(&before);
    Ok((side, base, (path, after), capture))
}

/// The last complete snapshot of each of two captures of one process. The
/// earlier one is reduced to what the diff needs before the later one is
/// read, so only one graph is in memory at a time.
fn two_captures<'p>(earlier: &'p Path, later: &'p Path) -> Result<DiffInput<'p>> {
    let (first, mut graphs) = load::heap_snapshots(earlier, Want::Last)?;
    let Some(before) = graphs.pop() else {
        bail!("{}", missing_snapshot(earlier, &first, None));
    };
    let side = side(earlier, &before);
    let base = DiffBase::new(&before);
    drop(before);
    same_process(earlier, &first.metadata, later)?;
    let (capture, mut graphs) = load::heap_snapshots(later, Want::Last)?;
    let Some(after) = graphs.pop() else {
        bail!("{}", missing_snapshot(later, &capture, None));
    };
    Ok((side, base, (later, after), capture))
}

fn side(path: &Path, snapshot: &Snapshot) -> DiffSideJson {
    DiffSideJson {
        capture: path.display().to_string(),
        snapshot: SnapshotJson::of(snapshot),
    }
}

/// Refuses captures of two processes: objects are matched by allocation
/// number, which only means the same object within one process's record.
fn same_process(earlier: &Path, first: &Metadata, later: &Path) -> Result<()> {
    let reader = CaptureReader::open(later)
        .with_context(|| format!("cannot read capture {}", later.display()))?;
    let second = reader.metadata();
    if first.pid == second.pid && first.start_time_unix_ns == second.start_time_unix_ns {
        return Ok(());
    }
    let which = if first.pid == second.pid {
        format!("both pid {}, started at different times", first.pid)
    } else {
        format!("pid {} and pid {}", first.pid, second.pid)
    };
    bail!(
        "{} and {} come from different processes ({which}), and a diff compares snapshots of one process; pass one capture with two snapshots, or two copies of one run's capture",
        earlier.display(),
        later.display()
    )
}

fn print<T: serde::Serialize>(json: bool, doc: &T, text: impl FnOnce() -> String) -> Result<i32> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, doc)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", text())?;
    }
    Ok(0)
}

/// Says on stderr that the snapshot shown is not the capture's last, when
/// the last was cut short and none was asked for.
fn warn_if_not_last(path: &Path, capture: &HeapCapture, shown: &Snapshot, asked: Option<u32>) {
    if asked.is_some() {
        return;
    }
    if let Some(last) = capture.snapshots.last().filter(|s| s.id != shown.id) {
        eprintln!(
            "memsleuth: warning: snapshot {} of capture {} was cut short (the process died while taking it); showing snapshot {}",
            last.id,
            path.display(),
            shown.id
        );
    }
}

/// Why no graph came back for the snapshot asked for, as one sentence.
fn missing_snapshot(path: &Path, capture: &HeapCapture, asked: Option<u32>) -> String {
    let name = path.display();
    let complete: Vec<&SnapshotInfo> = capture.snapshots.iter().filter(|s| s.complete).collect();
    let ids = complete
        .iter()
        .map(|s| s.id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let listed = capture.snapshots.iter().find(|s| Some(s.id) == asked);
    match (asked, listed) {
        _ if capture.snapshots.is_empty() => format!(
            "capture {name} holds no heap snapshot; record one with `memsleuth run --snapshot-at exit ...` (or --snapshot-on SIGUSR2, --snapshot-every 30s)"
        ),
        (None, _) => format!(
            "capture {name} holds no complete heap snapshot: the process died while taking it; record another with `memsleuth run --snapshot-at exit ...`"
        ),
        (Some(id), Some(_)) if complete.is_empty() => format!(
            "snapshot {id} of capture {name} was cut short (the process died while taking it), and no other is complete"
        ),
        (Some(id), Some(_)) => format!(
            "snapshot {id} of capture {name} was cut short (the process died while taking it); use a complete one: {ids}"
        ),
        (Some(id), None) if complete.is_empty() => format!(
            "capture {name} has no snapshot {id}, and none of its snapshots is complete"
        ),
        (Some(id), None) => format!("capture {name} has no snapshot {id}; its snapshots are {ids}"),
    }
}

fn type_not_found(capture: &str, snapshot: u32, name: &str, e: TypeNotFound) -> String {
    match e {
        TypeNotFound::Ambiguous(names) => format!(
            "several types of snapshot {snapshot} of {capture} are named {name} ({}); pass the full name to --type",
            names.join(", ")
        ),
        TypeNotFound::Unknown(close) if close.is_empty() => format!(
            "snapshot {snapshot} of {capture} has no object of type {name}; `memsleuth heap {capture} --limit 0` lists every type"
        ),
        TypeNotFound::Unknown(close) => format!(
            "snapshot {snapshot} of {capture} has no object of type {name}; did you mean {}?",
            close.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use memsleuth_analysis::Symbols;

    fn capture(snapshots: &[(u32, bool)]) -> HeapCapture {
        HeapCapture {
            metadata: Metadata::default(),
            snapshots: snapshots
                .iter()
                .map(|&(id, complete)| SnapshotInfo {
                    id,
                    time_ns: 0,
                    trigger: String::from("exit"),
                    objects: 0,
                    complete,
                })
                .collect(),
            symbols: Symbols::default(),
            traced: true,
        }
    }

    #[test]
    fn a_missing_snapshot_is_explained_in_one_sentence() {
        let path = Path::new("app.msl");
        let none = missing_snapshot(path, &capture(&[]), None);
        assert!(none.starts_with("capture app.msl holds no heap snapshot; record one with `memsleuth run --snapshot-at exit"));
        let absent = missing_snapshot(path, &capture(&[(1, true), (2, true), (3, false)]), Some(7));
        assert_eq!(
            absent,
            "capture app.msl has no snapshot 7; its snapshots are 1, 2"
        );
        let cut = missing_snapshot(path, &capture(&[(1, true), (2, false)]), Some(2));
        assert!(cut.starts_with("snapshot 2 of capture app.msl was cut short"));
        assert!(cut.ends_with("use a complete one: 1"));
    }

    #[test]
    fn an_unknown_type_gets_suggestions() {
        let e = TypeNotFound::Unknown(vec![String::from("app.Entry")]);
        assert_eq!(
            type_not_found("app.msl", 2, "Entyr", e),
            "snapshot 2 of app.msl has no object of type Entyr; did you mean app.Entry?"
        );
    }
}
