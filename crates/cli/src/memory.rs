//! `memsleuth memory`: why the process is bigger than its objects, and what
//! to change. Gathers what the summary needs beyond the capture's events:
//! the program's source lines (for the rules that read code) and, when the
//! capture has a heap snapshot, the evidence only a snapshot holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use memsleuth_analysis::heap::HeapAnalysis;
use memsleuth_analysis::memory::{
    heap_evidence, memory_summary, ClassInstances, GrowingCache, MemorySummary, SummaryInput,
};
use memsleuth_analysis::Profile;

use crate::args::MemoryArgs;
use crate::commands::{print_json, read, stdout_style};
use crate::heap::one_snapshot;

/// What a heap snapshot adds to the recommendations.
#[derive(Default)]
pub(crate) struct HeapEvidence {
    classes: Vec<ClassInstances>,
    caches: Vec<GrowingCache>,
}

impl HeapEvidence {
    pub(crate) fn of(analysis: &HeapAnalysis<'_>) -> HeapEvidence {
        HeapEvidence {
            classes: heap_evidence::class_instances(analysis),
            caches: heap_evidence::growing_caches(analysis),
        }
    }
}

/// Reads source lines on demand, each file once. A file that cannot be read
/// (moved, or `<string>`) has no lines, so the rules that need one stay quiet.
#[derive(Default)]
struct SourceLines {
    files: RefCell<HashMap<String, Option<Vec<String>>>>,
}

impl SourceLines {
    fn line(&self, file: &str, line: u32) -> Option<String> {
        let mut files = self.files.borrow_mut();
        let lines = files.entry(file.to_string()).or_insert_with(|| {
            std::fs::read_to_string(file)
                .ok()
                .map(|text| text.lines().map(str::to_string).collect())
        });
        lines
            .as_ref()?
            .get((line as usize).checked_sub(1)?)
            .cloned()
    }
}

/// The memory summary of a capture whose analysis is `profile`.
pub(crate) fn summarize(profile: &Profile, evidence: &HeapEvidence) -> MemorySummary {
    let sources = SourceLines::default();
    let source_line = |file: &str, line: u32| sources.line(file, line);
    memory_summary(
        profile,
        &SummaryInput {
            source_line: &source_line,
            classes: &evidence.classes,
            caches: &evidence.caches,
        },
    )
}

/// The evidence of the capture's last heap snapshot, if it has one.
pub(crate) fn last_snapshot_evidence(capture: &Path, profile: &Profile) -> Result<HeapEvidence> {
    if profile.snapshots == 0 {
        return Ok(HeapEvidence::default());
    }
    let (heap, snapshot) = one_snapshot(capture, None)?;
    Ok(HeapEvidence::of(&HeapAnalysis::new(
        &snapshot,
        &heap.symbols,
    )))
}

pub fn memory(args: &MemoryArgs) -> Result<i32> {
    let profile = read(&args.capture)?;
    let evidence = last_snapshot_evidence(&args.capture, &profile)?;
    let summary = summarize(&profile, &evidence);
    if args.json {
        print_json(&summary)?;
    } else {
        let name = args.capture.display().to_string();
        print!(
            "{}",
            memsleuth_report::memory_text(&summary, &name, stdout_style(args.bytes))
        );
    }
    Ok(0)
}
