//! The heap section: the last complete snapshot's types, suspects and
//! biggest retainers, the detail (sites, paths from the roots) of its
//! largest types, and the diff between the first and the last snapshot.

use memsleuth_analysis::heap::{HeapAnalysis, HeapCapture, HeapDiff, TypeDetail};
use serde::Serialize;

use crate::heap::{heap_json, HeapJson};

#[derive(Serialize)]
pub struct HeapSection {
    pub last: HeapJson,
    /// The detail of the types retaining the most, in `last.types` order.
    pub details: Vec<TypeDetail>,
    /// Present when the capture holds two complete snapshots or more.
    pub diff: Option<HeapDiff>,
    /// The ids of the snapshots `diff` compares.
    pub diff_ids: Option<(u32, u32)>,
}

/// The heap section of `heap`, the analysis of the last complete snapshot:
/// `rows` rows per list, the detail of the `detailed` first types.
pub fn heap_section(
    name: &str,
    capture: &HeapCapture,
    heap: &HeapAnalysis,
    diff: Option<(u32, u32, HeapDiff)>,
    rows: usize,
    detailed: usize,
) -> HeapSection {
    let last = heap_json(name, capture, heap, rows);
    let details = last
        .types
        .iter()
        .take(detailed)
        .filter_map(|t| heap.groups.find(&t.type_name).ok())
        .map(|group| heap.type_detail(group, rows))
        .collect();
    let (diff_ids, diff) = match diff {
        Some((a, b, d)) => (Some((a, b)), Some(d)),
        None => (None, None),
    };
    HeapSection {
        last,
        details,
        diff,
        diff_ids,
    }
}
