//! The heap section: the last complete snapshot's types, suspects and
//! biggest retainers, the detail (sites, paths from the roots) of its
//! largest types, its dominator tree (capped), and the diff between the
//! first and the last snapshot.

use memsleuth_analysis::heap::tree::TreeCaps;
use memsleuth_analysis::heap::{HeapAnalysis, HeapCapture, HeapDiff, TypeDetail};
use serde::Serialize;

use super::data::Caps;
use super::domtree::{dominator_tree, DominatorTreeJson};

use crate::heap::{heap_json, HeapJson};

#[derive(Serialize)]
pub struct HeapSection {
    pub last: HeapJson,
    /// The detail of the types retaining the most, in `last.types` order.
    pub details: Vec<TypeDetail>,
    /// The last snapshot's dominator tree, as much as the caps keep.
    pub tree: DominatorTreeJson,
    /// Present when the capture holds two complete snapshots or more.
    pub diff: Option<HeapDiff>,
    /// The ids of the snapshots `diff` compares.
    pub diff_ids: Option<(u32, u32)>,
}

/// The heap section of `heap`, the analysis of the last complete snapshot:
/// `caps` says how many rows per list, types detailed and tree nodes.
pub fn heap_section(
    name: &str,
    capture: &HeapCapture,
    heap: &HeapAnalysis,
    diff: Option<(u32, u32, HeapDiff)>,
    caps: &Caps,
) -> HeapSection {
    let (rows, detailed) = (caps.heap_rows, caps.heap_types_detailed);
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
    let tree = dominator_tree(
        heap,
        TreeCaps {
            children: caps.tree_children,
            depth: caps.tree_depth,
            nodes: caps.tree_nodes,
        },
    );
    HeapSection {
        last,
        details,
        tree,
        diff,
        diff_ids,
    }
}
