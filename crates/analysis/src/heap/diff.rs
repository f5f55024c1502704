//! What changed between two snapshots of one process.
//!
//! Objects are matched by the allocation that made them (`Origin::serial`),
//! never by address: an address freed and reused by a new object would
//! otherwise pass for the old one. Objects without an origin (allocated
//! before tracking started, or in a run that traced no allocations) match
//! nothing; they count in the per-type totals only.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::heap::dominators::NONE;
use crate::heap::paths::Paths;
use crate::heap::patterns::Patterns;
use crate::heap::sites::{allocation_sites, HeapSite};
use crate::heap::snapshot::{NodeId, Snapshot};
use crate::heap::types::TypeGroups;
use crate::symbols::Symbols;

/// What a diff keeps of the earlier snapshot, so its graph can be dropped
/// before the later one is analysed.
pub struct DiffBase {
    /// By type name: instances and their shallow bytes.
    types: FxHashMap<String, (u64, u64)>,
    /// The serials of its objects, sorted.
    serials: Vec<u64>,
    /// Its objects without an origin.
    unmatched: u64,
}

impl DiffBase {
    pub fn new(snapshot: &Snapshot) -> DiffBase {
        let mut serials: Vec<u64> = objects(snapshot)
            .filter_map(|n| snapshot.nodes.origin[n as usize].map(|o| o.serial))
            .collect();
        serials.sort_unstable();
        let unmatched = objects(snapshot).len() as u64 - serials.len() as u64;
        DiffBase {
            types: type_totals(snapshot),
            serials,
            unmatched,
        }
    }

    fn has(&self, serial: u64) -> bool {
        self.serials.binary_search(&serial).is_ok()
    }
}

fn objects(snapshot: &Snapshot) -> std::ops::Range<NodeId> {
    snapshot.first_object()..snapshot.node_count() as NodeId
}

fn type_totals(snapshot: &Snapshot) -> FxHashMap<String, (u64, u64)> {
    let groups = TypeGroups::new(snapshot);
    let mut by_group = vec![(0u64, 0u64); groups.len()];
    for n in objects(snapshot) {
        let g = &mut by_group[groups.of(snapshot, n) as usize];
        g.0 += 1;
        g.1 += snapshot.nodes.size[n as usize];
    }
    by_group
        .into_iter()
        .enumerate()
        .filter(|(_, (count, _))| *count > 0)
        .map(|(g, totals)| (groups.name(g as u32).to_string(), totals))
        .collect()
}

/// One type in both snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeDelta {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count_before: u64,
    pub count_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl TypeDelta {
    pub fn bytes_delta(&self) -> i128 {
        i128::from(self.bytes_after) - i128::from(self.bytes_before)
    }

    pub fn count_delta(&self) -> i128 {
        i128::from(self.count_after) - i128::from(self.count_before)
    }
}

/// New objects by the path pattern where they hang off objects that were
/// already there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPath {
    pub path: Vec<String>,
    /// New objects whose own path parent is not new: where growth attaches.
    pub count: u64,
    /// Those and every new object reached through them.
    pub objects: u64,
    /// The shallow bytes of `objects`.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeapDiff {
    /// `allocation` when objects were matched by their allocation, `none`
    /// when the later snapshot's objects have no origin to match by.
    pub matched_by: &'static str,
    /// Objects of the later snapshot whose allocation the earlier one lacks.
    pub new_objects: u64,
    pub new_bytes: u64,
    /// Objects without an origin, in each snapshot: counted by type only.
    pub unmatched_before: u64,
    pub unmatched_after: u64,
    /// The types whose count or bytes changed, most bytes gained first.
    pub types: Vec<TypeDelta>,
    /// Where the new objects were allocated, most bytes first.
    pub sites: Vec<HeapSite>,
    /// Where the new objects are kept alive, most bytes first.
    pub paths: Vec<NewPath>,
}

/// The changes from `base` to `after`, each list `limit` rows long (all for 0).
pub fn diff(base: &DiffBase, after: &Snapshot, symbols: &Symbols, limit: usize) -> HeapDiff {
    let is_new: Vec<bool> = (0..after.node_count() as NodeId)
        .map(|n| {
            after.is_object(n)
                && after.nodes.origin[n as usize].is_some_and(|o| !base.has(o.serial))
        })
        .collect();
    let new: Vec<NodeId> = objects(after).filter(|&n| is_new[n as usize]).collect();
    let matched = objects(after).any(|n| after.nodes.origin[n as usize].is_some());
    let unmatched_after = objects(after)
        .filter(|&n| after.nodes.origin[n as usize].is_none())
        .count() as u64;
    let mut types = type_deltas(base, after);
    let mut paths = new_paths(after, &is_new, &new);
    if limit > 0 {
        types.truncate(limit);
        paths.truncate(limit);
    }
    HeapDiff {
        matched_by: if matched { "allocation" } else { "none" },
        new_objects: new.len() as u64,
        new_bytes: new.iter().map(|&n| after.nodes.size[n as usize]).sum(),
        unmatched_before: base.unmatched,
        unmatched_after,
        types,
        sites: allocation_sites(after, symbols, new.iter().copied(), limit),
        paths,
    }
}

fn type_deltas(base: &DiffBase, after: &Snapshot) -> Vec<TypeDelta> {
    let mut rows: FxHashMap<String, TypeDelta> = FxHashMap::default();
    let row = |name: &String| TypeDelta {
        type_name: name.clone(),
        count_before: 0,
        count_after: 0,
        bytes_before: 0,
        bytes_after: 0,
    };
    for (name, &(count, bytes)) in &base.types {
        let r = rows.entry(name.clone()).or_insert_with(|| row(name));
        r.count_before = count;
        r.bytes_before = bytes;
    }
    for (name, (count, bytes)) in type_totals(after) {
        let r = rows.entry(name.clone()).or_insert_with(|| row(&name));
        r.count_after = count;
        r.bytes_after = bytes;
    }
    let mut rows: Vec<TypeDelta> = rows
        .into_values()
        .filter(|r| r.count_delta() != 0 || r.bytes_delta() != 0)
        .collect();
    rows.sort_by(|a, b| {
        (b.bytes_delta(), b.count_delta())
            .cmp(&(a.bytes_delta(), a.count_delta()))
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
    rows
}

/// Groups the new objects by the path pattern of their anchor: the topmost
/// new object on their path.
fn new_paths(after: &Snapshot, is_new: &[bool], new: &[NodeId]) -> Vec<NewPath> {
    if new.is_empty() {
        return Vec::new();
    }
    let paths = Paths::new(after);
    let mut patterns = Patterns::new(after);
    let mut anchors = Anchors {
        of: vec![NONE; after.node_count()],
        walk: Vec::new(),
    };
    let mut groups: FxHashMap<u32, (u64, u64, u64)> = FxHashMap::default();
    for &n in new {
        let anchor = anchors.of(&paths, is_new, n);
        let g = groups
            .entry(patterns.of(after, &paths, anchor))
            .or_default();
        g.0 += u64::from(anchor == n);
        g.1 += 1;
        g.2 += after.nodes.size[n as usize];
    }
    let mut rows: Vec<(u32, (u64, u64, u64))> = groups.into_iter().collect();
    rows.sort_by(|a, b| (b.1 .2, b.1 .1).cmp(&(a.1 .2, a.1 .1)).then(a.0.cmp(&b.0)));
    rows.into_iter()
        .map(|(id, (count, objects, bytes))| NewPath {
            path: patterns.render(after, &paths, id),
            count,
            objects,
            bytes,
        })
        .collect()
}

/// The topmost new object on each new object's path, remembered so that a
/// deep chain of new objects is climbed once.
struct Anchors {
    of: Vec<NodeId>,
    walk: Vec<NodeId>,
}

impl Anchors {
    fn of(&mut self, paths: &Paths, is_new: &[bool], n: NodeId) -> NodeId {
        self.walk.clear();
        let mut x = n;
        let top = loop {
            if self.of[x as usize] != NONE {
                break self.of[x as usize];
            }
            self.walk.push(x);
            match paths.parent(x) {
                Some(p) if is_new[p as usize] => x = p,
                _ => break x,
            }
        };
        for &y in &self.walk {
            self.of[y as usize] = top;
        }
        top
    }
}
