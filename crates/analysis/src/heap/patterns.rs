//! Path patterns: the paths of many objects with the keys and indexes that
//! tell them apart replaced by `[*]`, so that a million cache entries read as
//! one line, `sys.modules['__main__'].CACHE[*]`.
//!
//! The first step from a root keeps its name (`sys.modules['app']` names a
//! module, a frame's step names a local variable), and so does an attribute
//! kept in an instance's `__dict__`. A step repeated back to back is written
//! `.next(.next)+`, so the nodes of a linked list share a pattern instead of
//! having one per depth.
//!
//! Patterns form a trie shared by every node's path: a node's pattern is its
//! parent's extended by one step, so each node costs one lookup whatever its
//! depth.

use memsleuth_format::EdgeName;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::heap::dominators::NONE;
use crate::heap::paths::{native_step, Paths};
use crate::heap::snapshot::{Label, NodeId, Snapshot};

/// A pattern, by its index in [`Patterns`].
pub type PatternId = u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Step {
    Root(NodeId),
    Unreachable,
    Edge(Label),
    /// `[*]`: any key or index.
    Any,
    /// The first step from "held by native code", by the object's type id.
    Native(u32),
    /// `.__dict__['name']`, written `.name`: the key's label.
    DictAttr(Label),
}

#[derive(Clone, Copy)]
struct Entry {
    parent: PatternId,
    step: Step,
    repeated: bool,
}

/// A group of objects by path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathCount {
    pub path: Vec<String>,
    pub count: u64,
    pub bytes: u64,
}

/// The patterns of a snapshot's paths, computed as nodes ask for them.
pub struct Patterns {
    /// By node: its pattern, [`NONE`] until asked for.
    of_node: Vec<PatternId>,
    entries: Vec<Entry>,
    index: FxHashMap<(PatternId, Step, bool), PatternId>,
    walk: Vec<NodeId>,
}

impl Patterns {
    pub fn new(snapshot: &Snapshot) -> Patterns {
        Patterns {
            of_node: vec![NONE; snapshot.node_count()],
            entries: Vec::new(),
            index: FxHashMap::default(),
            walk: Vec::new(),
        }
    }

    /// The pattern of node `n`'s path.
    pub fn of(&mut self, snapshot: &Snapshot, paths: &Paths, n: NodeId) -> PatternId {
        // Every ancestor of a node with a pattern has one: climb to the
        // first that has, then fill in downwards.
        self.walk.clear();
        let mut x = n;
        while self.of_node[x as usize] == NONE {
            self.walk.push(x);
            match paths.parent(x) {
                Some(p) => x = p,
                None => break,
            }
        }
        while let Some(y) = self.walk.pop() {
            let id = self.compute(snapshot, paths, y);
            self.of_node[y as usize] = id;
        }
        self.of_node[n as usize]
    }

    fn compute(&mut self, snapshot: &Snapshot, paths: &Paths, n: NodeId) -> PatternId {
        if !paths.is_reachable(n) {
            return self.intern(NONE, Step::Unreachable, false);
        }
        let Some(p) = paths.parent(n) else {
            return self.intern(NONE, Step::Root(n), false);
        };
        let base = self.of_node[p as usize];
        let native_root = snapshot.first_object() - 1;
        if p == native_root {
            return self.extend(base, Step::Native(snapshot.nodes.type_id[n as usize]));
        }
        let label = paths.label(snapshot, n);
        if !snapshot.is_object(p) {
            return self.extend(base, Step::Edge(label));
        }
        let names = paths.step_names(snapshot);
        if let Some(grand) = paths.parent(p) {
            if names.dict_attr(paths.label(snapshot, p), label).is_some() {
                let base = self.of_node[grand as usize];
                return self.extend(base, Step::DictAttr(label));
            }
        }
        match label.name() {
            EdgeName::Key(_) | EdgeName::Index(_) => self.extend(base, Step::Any),
            _ => self.extend(base, Step::Edge(label)),
        }
    }

    /// `base` followed by `step`, a repeat folded into the step before.
    fn extend(&mut self, base: PatternId, step: Step) -> PatternId {
        let last = self.entries[base as usize];
        if last.step != step {
            self.intern(base, step, false)
        } else if last.repeated {
            base
        } else {
            self.intern(last.parent, step, true)
        }
    }

    fn intern(&mut self, parent: PatternId, step: Step, repeated: bool) -> PatternId {
        let entries = &mut self.entries;
        *self
            .index
            .entry((parent, step, repeated))
            .or_insert_with(|| {
                entries.push(Entry {
                    parent,
                    step,
                    repeated,
                });
                (entries.len() - 1) as PatternId
            })
    }

    /// A pattern as a path: its root, then its steps. An unreachable
    /// object's path is empty, as in `docs/json.md`.
    pub fn render(&self, snapshot: &Snapshot, paths: &Paths, id: PatternId) -> Vec<String> {
        let names = paths.step_names(snapshot);
        let mut steps = Vec::new();
        let mut id = id;
        while id != NONE {
            let e = self.entries[id as usize];
            let text = match e.step {
                Step::Root(r) => snapshot.node_name(r).to_string(),
                Step::Unreachable => {
                    id = e.parent;
                    continue;
                }
                Step::Edge(label) => snapshot.step(label),
                Step::Any => String::from("[*]"),
                Step::Native(type_id) => native_step(snapshot.type_name(type_id)),
                Step::DictAttr(label) => format!(".{}", names.ident_key(label).unwrap_or("?")),
            };
            // The entry stands for two steps or more.
            steps.push(if e.repeated {
                format!("{text}({text})+")
            } else {
                text
            });
            id = e.parent;
        }
        steps.reverse();
        steps
    }

    /// Groups `objects` (node, bytes) by pattern: the `limit` most common
    /// patterns, by count, then bytes.
    pub fn top(
        &mut self,
        snapshot: &Snapshot,
        paths: &Paths,
        objects: impl IntoIterator<Item = (NodeId, u64)>,
        limit: usize,
    ) -> Vec<PathCount> {
        let mut groups: FxHashMap<PatternId, (u64, u64)> = FxHashMap::default();
        for (n, bytes) in objects {
            let g = groups.entry(self.of(snapshot, paths, n)).or_default();
            g.0 += 1;
            g.1 += bytes;
        }
        let mut rows: Vec<(PatternId, u64, u64)> =
            groups.into_iter().map(|(id, (c, b))| (id, c, b)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        rows.truncate(limit);
        rows.into_iter()
            .map(|(id, count, bytes)| PathCount {
                path: self.render(snapshot, paths, id),
                count,
                bytes,
            })
            .collect()
    }
}
