//! `memsleuth report`, and the report `memsleuth run` writes: gathers what
//! the HTML page shows (the profile, checkpoints over time, the heap
//! snapshots) and writes the page beside the capture or where `-o` says.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use memsleuth_analysis::heap::{diff, DiffBase, HeapAnalysis, Want};
use memsleuth_analysis::Profile;
use memsleuth_format::reader::CaptureReader;
use memsleuth_report::{Caps, HeapSection};

use crate::args::ReportArgs;
use crate::load;
use crate::memory::{summarize, HeapEvidence};

pub fn report(args: &ReportArgs) -> Result<i32> {
    if args.capture.is_dir() {
        return crate::processes::report(args);
    }
    let profile = load::analyze(&args.capture)?;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.capture));
    write_report(&args.capture, &profile, &output)?;
    eprintln!("memsleuth: wrote the report to {}", output.display());
    Ok(0)
}

/// Where a capture's report goes unless told: beside it, as `.html`.
pub(crate) fn default_output(capture: &Path) -> PathBuf {
    capture.with_extension("html")
}

/// Writes the report of `capture`, whose analysis is `profile`, to `output`.
pub(crate) fn write_report(capture: &Path, profile: &Profile, output: &Path) -> Result<()> {
    let caps = Caps::default();
    let name = capture.display().to_string();
    let reader = CaptureReader::open(capture)
        .with_context(|| format!("cannot read capture {}", capture.display()))?;
    let checkpoints = memsleuth_analysis::checkpoints(
        reader,
        &profile.symbols,
        profile.timeline.len(),
        caps.checkpoints,
        caps.checkpoint_sites,
    )
    .with_context(|| format!("cannot read capture {}", capture.display()))?;
    let (snapshots, heap, evidence) = if profile.snapshots > 0 {
        heap(capture, &name, caps)?
    } else {
        (Vec::new(), None, HeapEvidence::default())
    };
    let memory = summarize(profile, &evidence);
    let data =
        memsleuth_report::report_data(profile, &name, checkpoints, snapshots, heap, memory, caps);
    let page = memsleuth_report::render_html(&data).context("cannot encode the report's data")?;
    std::fs::write(output, page).with_context(|| {
        let _ = std::fs::remove_file(output);
        format!("cannot write the report to {}", output.display())
    })
}

/// Snapshot markers for the timeline, and the heap section: the last
/// complete snapshot, and its diff with the first when there are two.
type HeapPart = (Vec<(u32, f64, String)>, Option<HeapSection>, HeapEvidence);

fn heap(capture: &Path, name: &str, caps: Caps) -> Result<HeapPart> {
    let (heap_capture, graphs) = load::heap_snapshots(capture, Want::FirstAndLast)?;
    let markers = heap_capture
        .snapshots
        .iter()
        .filter(|s| s.complete)
        .map(|s| (s.id, s.time_ns as f64 / 1e9, s.trigger.clone()))
        .collect();
    let Some(last) = graphs.last() else {
        return Ok((markers, None, HeapEvidence::default()));
    };
    let compared = match graphs.as_slice() {
        [first, .., last] => Some((
            first.id,
            last.id,
            diff(
                &DiffBase::new(first),
                last,
                &heap_capture.symbols,
                caps.heap_rows,
            ),
        )),
        _ => None,
    };
    let analysis = HeapAnalysis::new(last, &heap_capture.symbols);
    let section = memsleuth_report::heap_section(name, &heap_capture, &analysis, compared, &caps);
    Ok((markers, Some(section), HeapEvidence::of(&analysis)))
}
