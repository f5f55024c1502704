//! One snapshot, analysed: its dominator tree, retained sizes, paths from
//! the roots and type statistics, computed once and shared by every table.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::Serialize;

use crate::heap::dominators::Dominators;
use crate::heap::paths::Paths;
use crate::heap::retained::retained_sizes;
use crate::heap::snapshot::{NodeId, Snapshot};
use crate::heap::types::{TypeGroups, TypeRow, TypeStats};
use crate::symbols::Symbols;

/// A snapshot with everything the heap tables are made of.
pub struct HeapAnalysis<'a> {
    pub snapshot: &'a Snapshot,
    /// Resolves the allocation sites of objects.
    pub symbols: &'a Symbols,
    pub dominators: Dominators,
    /// By node: the bytes freed if it were (see `retained.rs`).
    pub retained: Vec<u64>,
    pub paths: Paths,
    pub groups: TypeGroups,
    pub types: TypeStats,
}

/// Where the snapshot's bytes are, by how they are reached. The three byte
/// counts add up to `shallow_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeapTotals {
    pub objects: u64,
    pub shallow_bytes: u64,
    /// Reachable from the roots a program names: modules, threads' frames.
    pub reachable_bytes: u64,
    /// Reachable only through references nobody listed ("held by native code").
    pub native_only_bytes: u64,
    /// Reachable from no root: garbage cycles not collected yet.
    pub unreachable_objects: u64,
    pub unreachable_bytes: u64,
}

/// One object, for a list of the biggest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    #[serde(rename = "type")]
    pub type_name: String,
    pub address: u64,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
    /// See [`Paths::path`].
    pub path: Vec<String>,
}

impl<'a> HeapAnalysis<'a> {
    pub fn new(snapshot: &'a Snapshot, symbols: &'a Symbols) -> HeapAnalysis<'a> {
        let dominators = Dominators::of(snapshot);
        let retained = retained_sizes(&dominators, &snapshot.nodes.size);
        let paths = Paths::new(snapshot);
        let groups = TypeGroups::new(snapshot);
        let types = TypeStats::new(snapshot, &groups, &dominators, &retained);
        HeapAnalysis {
            snapshot,
            symbols,
            dominators,
            retained,
            paths,
            groups,
            types,
        }
    }

    /// The object nodes.
    pub fn objects(&self) -> std::ops::Range<NodeId> {
        self.snapshot.first_object()..self.snapshot.node_count() as NodeId
    }

    pub fn totals(&self) -> HeapTotals {
        let objects = self.objects().len() as u64;
        let shallow_bytes: u64 = self.snapshot.nodes.size.iter().sum();
        let real = self.paths.from_real_roots;
        let native = self.paths.only_native;
        HeapTotals {
            objects,
            shallow_bytes,
            reachable_bytes: real.bytes,
            native_only_bytes: native.bytes,
            unreachable_objects: objects - real.objects - native.objects,
            unreachable_bytes: shallow_bytes - real.bytes - native.bytes,
        }
    }

    /// The types table, by retained bytes; `limit` rows (all for 0).
    pub fn types_table(&self, limit: usize) -> Vec<TypeRow> {
        let mut rows = self.types.rows(&self.groups);
        if limit > 0 {
            rows.truncate(limit);
        }
        rows
    }

    pub fn path(&self, n: NodeId) -> Vec<String> {
        self.paths.path(self.snapshot, n)
    }

    pub fn object_row(&self, n: NodeId) -> ObjectRow {
        ObjectRow {
            type_name: self.snapshot.node_name(n).to_string(),
            address: self.snapshot.nodes.addr[n as usize],
            shallow_bytes: self.snapshot.nodes.size[n as usize],
            retained_bytes: self.retained[n as usize],
            path: self.path(n),
        }
    }

    /// The objects that retain the most, biggest first: `limit` of them
    /// (all for 0).
    pub fn retainers(&self, limit: usize) -> Vec<ObjectRow> {
        top_by(self.objects(), limit, |n| self.retained[n as usize])
            .into_iter()
            .map(|n| self.object_row(n))
            .collect()
    }
}

/// The `limit` nodes of largest `key`, largest first, ties by node; all of
/// them for a limit of 0. Holds `limit` nodes, not all of them.
pub(crate) fn top_by(
    nodes: impl Iterator<Item = NodeId>,
    limit: usize,
    key: impl Fn(NodeId) -> u64,
) -> Vec<NodeId> {
    let mut best: Vec<(u64, Reverse<NodeId>)> = if limit == 0 {
        nodes.map(|n| (key(n), Reverse(n))).collect()
    } else {
        let mut heap = BinaryHeap::with_capacity(limit + 1);
        for n in nodes {
            heap.push(Reverse((key(n), Reverse(n))));
            if heap.len() > limit {
                heap.pop();
            }
        }
        heap.into_iter().map(|Reverse(e)| e).collect()
    };
    best.sort_unstable_by(|a, b| b.cmp(a));
    best.into_iter().map(|(_, Reverse(n))| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_by_keeps_the_largest_in_order_ties_by_node() {
        let sizes = [5, 9, 1, 9, 7];
        let key = |n: NodeId| sizes[n as usize];
        assert_eq!(top_by(0..5, 3, key), [1, 3, 4]);
        assert_eq!(top_by(0..5, 0, key), [1, 3, 4, 0, 2]);
    }
}
