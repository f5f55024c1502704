//! Leak suspects, found as Eclipse MAT finds them.
//!
//! A candidate is an object that retains a large share of the heap. What it
//! holds is usually not the object itself but something far below it: the
//! search goes down the dominator tree while one child retains nearly all of
//! its parent, and stops where the memory fans out, at the *accumulation
//! point*. The suspect is what accumulates there: the objects that point
//! holds, by type (every group that retains a large share, or the largest).
//!
//! Unlike MAT, a fan-out does not end the story for its big branches: a
//! child that is a candidate with something big below it (two caches in one
//! module) gets a search of its own, so each branch names its own objects.
//! A big child with nothing big below it (a large buffer) is one of the
//! objects accumulating where it is held.
//!
//! Memory spread over many holders (a million small objects each kept by a
//! different owner) has no such point: a type whose instances together
//! retain a large share is a suspect of its own.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::heap::analysis::HeapAnalysis;
use crate::heap::patterns::Patterns;
use crate::heap::sites::{allocation_sites, HeapSite};
use crate::heap::snapshot::NodeId;

/// Thresholds of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuspectParams {
    /// The share of the bytes reachable from the roots a candidate retains.
    pub min_share: f64,
    /// The share of its parent's retained bytes a child must retain for the
    /// search to go down into it.
    pub dominant_child: f64,
    /// How many allocation sites to list per suspect (all for 0).
    pub sites: usize,
}

impl Default for SuspectParams {
    fn default() -> Self {
        SuspectParams {
            min_share: 0.10,
            dominant_child: 0.80,
            sites: 5,
        }
    }
}

/// How a suspect was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuspectKind {
    /// Objects held together at one accumulation point.
    Accumulation,
    /// Instances of one type, spread over many holders.
    Type,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suspect {
    pub kind: SuspectKind,
    /// The type of the objects that accumulate.
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    /// What those objects retain together.
    pub retained_bytes: u64,
    /// `retained_bytes` as a part of the bytes reachable from the roots.
    pub share: f64,
    /// The type of the accumulation point holding them (`None` for a type
    /// suspect); the object itself for a single object that is its own
    /// accumulation point, then `holder` is what holds it.
    pub holder: Option<String>,
    /// The path to the accumulation point, or the most common path pattern
    /// of a type suspect's instances.
    pub path: Vec<String>,
    /// Where the suspect's objects were allocated; empty when unknown.
    pub sites: Vec<HeapSite>,
}

impl HeapAnalysis<'_> {
    /// The leak suspects, most retained bytes first.
    pub fn suspects(&self, params: SuspectParams) -> Vec<Suspect> {
        let total = self.paths.from_real_roots.bytes;
        let threshold = (params.min_share * total as f64).ceil() as u64;
        if threshold == 0 {
            return Vec::new();
        }
        let search = Search {
            heap: self,
            threshold,
            params,
            total,
        };
        let mut points = Vec::new();
        let mut grouped_at = FxHashSet::default();
        let mut suspects = Vec::new();
        // In preorder: an accumulation point is known before the objects
        // it groups are considered.
        for &n in self.dominators.order() {
            if !search.starts_descent(n, &grouped_at) {
                continue;
            }
            let a = search.accumulation_point(n);
            grouped_at.insert(a);
            let found = search.at(a);
            if !found.is_empty() {
                points.push(a);
                suspects.extend(found);
            }
        }
        let types = search.type_suspects(&suspects, &points);
        suspects.extend(types);
        suspects.sort_by(|a, b| {
            b.retained_bytes
                .cmp(&a.retained_bytes)
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        suspects
    }
}

struct Search<'h, 'a> {
    heap: &'h HeapAnalysis<'a>,
    threshold: u64,
    params: SuspectParams,
    total: u64,
}

impl Search<'_, '_> {
    fn retained(&self, n: NodeId) -> u64 {
        self.heap.retained[n as usize]
    }

    fn is_candidate(&self, n: NodeId) -> bool {
        self.heap.snapshot.is_object(n)
            && self.heap.dominators.is_reachable(n)
            && self.retained(n) >= self.threshold
    }

    fn is_dominant(&self, child: NodeId, parent: NodeId) -> bool {
        self.retained(child) as f64 >= self.params.dominant_child * self.retained(parent) as f64
    }

    /// Whether a descent starts at `n`: a candidate that is not on the way
    /// down from a candidate above it (whose descent covers it, so each
    /// node is on one descent at most and the search is linear), nor a
    /// plain big object that the accumulation point above it groups.
    fn starts_descent(&self, n: NodeId, grouped_at: &FxHashSet<NodeId>) -> bool {
        if !self.is_candidate(n) {
            return false;
        }
        let Some(d) = self.heap.dominators.idom(n) else {
            return true;
        };
        let on_the_way = self.is_candidate(d) && self.is_dominant(n, d);
        let grouped = grouped_at.contains(&d) && self.is_plain(n);
        !(on_the_way || grouped)
    }

    /// Goes down through children that retain nearly all of their parent
    /// and are candidates themselves: below the threshold nothing is a
    /// suspect any more.
    fn accumulation_point(&self, mut n: NodeId) -> NodeId {
        loop {
            let children = self.heap.dominators.children(n);
            let Some(&biggest) = children.iter().max_by_key(|&&c| self.retained(c)) else {
                return n;
            };
            if !(self.is_dominant(biggest, n) && self.is_candidate(biggest)) {
                return n;
            }
            n = biggest;
        }
    }

    /// A candidate with nothing big below it (a large bytes object, a
    /// list of small items): it is one of the objects that accumulate
    /// where it is held, not a place where memory accumulates.
    fn is_plain(&self, c: NodeId) -> bool {
        let children = self.heap.dominators.children(c);
        self.is_candidate(c)
            && children.iter().all(|&x| !self.is_candidate(x))
            && children.iter().map(|&x| self.retained(x)).sum::<u64>() < self.threshold
    }

    /// Whether a child of an accumulation point is left to a descent of
    /// its own: a candidate with something big below it.
    fn splits(&self, c: NodeId) -> bool {
        self.is_candidate(c) && !self.is_plain(c)
    }

    /// The suspects accumulating at `a`: each group, by type, of the
    /// objects it holds that retains the threshold, or the largest group
    /// when only together they do; else `a` itself when it is big.
    fn at(&self, a: NodeId) -> Vec<Suspect> {
        let heap = self.heap;
        let mut groups: FxHashMap<u32, (u64, u64)> = FxHashMap::default();
        let mut rest = 0;
        let mut own = self.retained(a);
        for &c in heap.dominators.children(a) {
            if self.splits(c) {
                own -= self.retained(c);
                continue;
            }
            let g = groups.entry(heap.groups.of(heap.snapshot, c)).or_default();
            g.0 += 1;
            g.1 += self.retained(c);
            rest += self.retained(c);
        }
        if rest >= self.threshold {
            let mut groups: Vec<(u32, (u64, u64))> = groups.into_iter().collect();
            groups.sort_by(|x, y| y.1 .1.cmp(&x.1 .1).then(x.0.cmp(&y.0)));
            let big = groups
                .iter()
                .take_while(|(_, (_, bytes))| *bytes >= self.threshold)
                .count()
                .max(1);
            return groups[..big]
                .iter()
                .map(|&(group, (count, bytes))| self.group_suspect(a, group, count, bytes))
                .collect();
        }
        if own < self.threshold {
            return Vec::new();
        }
        // Nothing accumulates below `a`: `a` is the big object.
        vec![Suspect {
            kind: SuspectKind::Accumulation,
            type_name: heap.snapshot.node_name(a).to_string(),
            count: 1,
            retained_bytes: own,
            share: self.share(own),
            holder: heap
                .paths
                .parent(a)
                .or(heap.dominators.idom(a))
                .map(|h| heap.snapshot.node_name(h).to_string()),
            path: heap.path(a),
            sites: self.sites([a]),
        }]
    }

    fn group_suspect(&self, a: NodeId, group: u32, count: u64, bytes: u64) -> Suspect {
        let heap = self.heap;
        let members = heap
            .dominators
            .children(a)
            .iter()
            .copied()
            .filter(|&c| !self.splits(c) && heap.groups.of(heap.snapshot, c) == group);
        Suspect {
            kind: SuspectKind::Accumulation,
            type_name: heap.groups.name(group).to_string(),
            count,
            retained_bytes: bytes,
            share: self.share(bytes),
            holder: Some(heap.snapshot.node_name(a).to_string()),
            path: heap.path(a),
            sites: self.sites(members),
        }
    }

    /// Types whose instances retain the threshold together though no one
    /// instance does. Only what no accumulation point explains counts (the
    /// payloads of a cache's entries are the cache's), and in a run that
    /// traced allocations only what was allocated while tracking: the
    /// interpreter's own functions and strings are no leak of the program.
    fn type_suspects(&self, found: &[Suspect], points: &[NodeId]) -> Vec<Suspect> {
        let heap = self.heap;
        let stats = &heap.types;
        let big = |g: u32| {
            stats.retained[g as usize] >= self.threshold
                && stats.max_retained[g as usize] < self.threshold
                && !found.iter().any(|s| s.type_name == heap.groups.name(g))
        };
        if !(0..heap.groups.len() as u32).any(big) {
            return Vec::new();
        }
        let (free, free_bytes) = self.unexplained(points);
        let free = &free;
        let wanted: Vec<u32> = (0..heap.groups.len() as u32)
            .filter(|&g| big(g) && free_bytes[g as usize] >= self.threshold)
            .collect();
        let mut patterns = Patterns::new(heap.snapshot);
        wanted
            .into_iter()
            .map(|g| {
                let instances = || {
                    heap.objects()
                        .filter(move |&n| free[n as usize] && heap.groups.of(heap.snapshot, n) == g)
                };
                let path = patterns
                    .top(
                        heap.snapshot,
                        &heap.paths,
                        instances().map(|n| (n, heap.snapshot.nodes.size[n as usize])),
                        1,
                    )
                    .pop()
                    .map(|p| p.path)
                    .unwrap_or_default();
                let bytes = free_bytes[g as usize];
                Suspect {
                    kind: SuspectKind::Type,
                    type_name: heap.groups.name(g).to_string(),
                    count: instances().count() as u64,
                    retained_bytes: bytes,
                    share: self.share(bytes),
                    holder: None,
                    path,
                    sites: self.sites(instances()),
                }
            })
            .collect()
    }

    /// The outermost instances (see `types.rs`) that lie under none of the
    /// accumulation points `points` and, when the snapshot knows origins,
    /// were allocated while tracking; and per type group, their retained
    /// bytes.
    fn unexplained(&self, points: &[NodeId]) -> (Vec<bool>, Vec<u64>) {
        let heap = self.heap;
        let origins = &heap.snapshot.nodes.origin;
        let traced = origins.iter().any(Option::is_some);
        let mut free = vec![false; heap.snapshot.node_count()];
        let mut bytes = vec![0u64; heap.groups.len()];
        let mut is_point = vec![false; heap.snapshot.node_count()];
        for &p in points {
            is_point[p as usize] = true;
        }
        let mut inside = 0u32;
        // (node, leaving): a point is pushed again to be left after its subtree.
        let mut stack: Vec<(NodeId, bool)> = vec![(0, false)];
        while let Some((n, leaving)) = stack.pop() {
            if leaving {
                inside -= 1;
                continue;
            }
            if is_point[n as usize] {
                inside += 1;
                stack.push((n, true));
            }
            let counts = inside == 0
                && heap.types.outermost[n as usize]
                && (!traced || origins[n as usize].is_some());
            if counts {
                free[n as usize] = true;
                bytes[heap.groups.of(heap.snapshot, n) as usize] += self.retained(n);
            }
            stack.extend(heap.dominators.children(n).iter().map(|&c| (c, false)));
        }
        (free, bytes)
    }

    fn share(&self, bytes: u64) -> f64 {
        bytes as f64 / self.total as f64
    }

    fn sites(&self, objects: impl IntoIterator<Item = NodeId>) -> Vec<HeapSite> {
        allocation_sites(
            self.heap.snapshot,
            self.heap.symbols,
            objects,
            self.params.sites,
        )
    }
}
