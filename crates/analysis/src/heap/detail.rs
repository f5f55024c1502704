//! Everything about one type: its instances, the biggest of them, where they
//! were allocated, and the paths that keep them alive.

use serde::Serialize;

use crate::heap::analysis::{top_by, HeapAnalysis, ObjectRow};
use crate::heap::patterns::{PathCount, Patterns};
use crate::heap::sites::{allocation_sites, HeapSite};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeDetail {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub shallow_bytes: u64,
    /// What the instances retain together (see `types.rs`).
    pub retained_bytes: u64,
    /// The instances that retain the most, among those no other instance
    /// of the type dominates (a linked list shows its head, not every node).
    pub instances: Vec<ObjectRow>,
    /// Where the instances were allocated; empty when unknown.
    pub sites: Vec<HeapSite>,
    /// The most common path patterns to the instances, with the instances
    /// and their shallow bytes.
    pub paths: Vec<PathCount>,
}

impl HeapAnalysis<'_> {
    /// The detail of type group `group` (see [`crate::heap::TypeGroups::find`]);
    /// each list holds `limit` rows (all for 0).
    pub fn type_detail(&self, group: u32, limit: usize) -> TypeDetail {
        let g = group as usize;
        let instances = || {
            self.objects()
                .filter(move |&n| self.groups.of(self.snapshot, n) == group)
        };
        let outermost = instances().filter(|&n| self.types.outermost[n as usize]);
        let top = top_by(outermost, limit, |n| self.retained[n as usize]);
        let mut patterns = Patterns::new(self.snapshot);
        let paths = patterns.top(
            self.snapshot,
            &self.paths,
            instances().map(|n| (n, self.snapshot.nodes.size[n as usize])),
            if limit == 0 { usize::MAX } else { limit },
        );
        TypeDetail {
            type_name: self.groups.name(group).to_string(),
            count: self.types.count[g],
            shallow_bytes: self.types.shallow[g],
            retained_bytes: self.types.retained[g],
            instances: top.into_iter().map(|n| self.object_row(n)).collect(),
            sites: allocation_sites(self.snapshot, self.symbols, instances(), limit),
            paths,
        }
    }
}
