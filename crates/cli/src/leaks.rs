//! `memsleuth leaks`: the lines whose live memory grows steadily over a run.
//! Analyses the capture (its timeline places the checkpoints, its peak sets
//! the minimum growth, its symbols name the lines), replays it once more for
//! the checkpoints, and, when it holds heap snapshots, reads the last one for
//! what keeps the growing lines' objects alive.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};
use memsleuth_analysis::heap::Want;
use memsleuth_analysis::{Growth, GrowthRule, Profile};
use memsleuth_format::reader::CaptureReader;

use crate::args::LeaksArgs;
use crate::commands::{print_json, read, stdout_style};
use crate::load;
use crate::progress::Progress;

pub fn leaks(args: &LeaksArgs) -> Result<i32> {
    let profile = read(&args.capture)?;
    let mut growth = judge_growth(&args.capture, &profile)?;
    let limit = args.output.limit;
    // Reading a snapshot's graph costs a pass and memory in proportion to
    // the heap: only when some line grows.
    if profile.snapshots > 0 && !growth.growing.is_empty() {
        add_retainers(&args.capture, &mut growth, limit)?;
    }
    let name = args.capture.display().to_string();
    let doc = memsleuth_report::growth_json(&name, growth, profile.snapshots > 0, limit);
    if args.output.json {
        print_json(&doc)?;
    } else {
        print!(
            "{}",
            memsleuth_report::growth_text(&doc, stdout_style(args.output.bytes))
        );
    }
    Ok(0)
}

/// The growth checkpoints of the capture at `path`, whose analysis is
/// `profile`, and the verdict on every line.
fn judge_growth(path: &Path, profile: &Profile) -> Result<Growth> {
    let context = || format!("cannot read capture {}", path.display());
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    let progress = Progress::new(size, "finding growth");
    let file = File::open(path).with_context(context)?;
    let reader = CaptureReader::new(BufReader::with_capacity(1 << 20, progress.reading(file)))
        .with_context(context)?;
    let growth = memsleuth_analysis::growth(reader, profile, GrowthRule::default());
    progress.finish();
    growth.with_context(context)
}

/// Adds, from the last complete heap snapshot, the types allocated at the
/// growing lines that will be shown (`limit`, all for 0) and their paths.
fn add_retainers(path: &Path, growth: &mut Growth, limit: usize) -> Result<()> {
    let (capture, mut graphs) = load::heap_snapshots(path, Want::Last)?;
    if let Some(snapshot) = graphs.pop() {
        let top = if limit == 0 { usize::MAX } else { limit };
        growth.add_snapshot(&snapshot, &capture.symbols, top);
    }
    Ok(())
}
