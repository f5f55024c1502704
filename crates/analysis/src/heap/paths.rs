//! The shortest path from a root to every object, written as Python would
//! reach it: `sys.modules['__main__'].CACHE['k']`.
//!
//! The search prefers the roots a program can name: it runs from every root
//! but "held by native code" first, and only then from that root for the
//! objects still unreached. An object that C code holds but a module also
//! reaches is therefore shown by the module's path, which the user can act on.

use memsleuth_format::EdgeName;

use crate::heap::dominators::NONE;
use crate::heap::snapshot::{Label, NodeId, Snapshot};

/// A path longer than this many steps shows its first and last halves.
const MAX_STEPS: usize = 24;

/// How many objects and bytes a search reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reach {
    pub objects: u64,
    pub bytes: u64,
}

/// A breadth-first tree over the snapshot: each node's parent on one
/// shortest path from the roots.
pub struct Paths {
    /// By node: its parent; 0 for a root, [`NONE`] for the super-root and
    /// unreachable nodes.
    parent: Vec<NodeId>,
    /// By node: which of its parent's edges leads to it, counted from the
    /// parent's first edge (so it fits in 32 bits).
    via: Vec<u32>,
    /// Reached from the roots the program can name.
    pub from_real_roots: Reach,
    /// Reached only through "held by native code".
    pub only_native: Reach,
    /// The name id of `__dict__` in this snapshot.
    dict_name: Option<u32>,
}

impl Paths {
    pub fn new(snapshot: &Snapshot) -> Paths {
        let n = snapshot.node_count();
        let native_root = snapshot.first_object() - 1;
        let mut search = Search {
            snapshot,
            parent: vec![NONE; n],
            via: vec![0; n],
            queue: Vec::with_capacity(n),
            head: 0,
        };
        for root in 1..native_root {
            search.reach(root, 0, root - 1);
        }
        let from_real_roots = search.run();
        search.reach(native_root, 0, native_root - 1);
        let only_native = search.run();
        Paths {
            parent: search.parent,
            via: search.via,
            from_real_roots,
            only_native,
            dict_name: StepNames::dict_id(snapshot),
        }
    }

    /// `n`'s parent on its path; `None` for the super-root, a root, or an
    /// unreachable node.
    pub fn parent(&self, n: NodeId) -> Option<NodeId> {
        match self.parent[n as usize] {
            0 | NONE => None,
            p => Some(p),
        }
    }

    pub fn is_reachable(&self, n: NodeId) -> bool {
        self.parent[n as usize] != NONE
    }

    pub(crate) fn step_names<'a>(&self, snapshot: &'a Snapshot) -> StepNames<'a> {
        StepNames::new(snapshot, self.dict_name)
    }

    /// The name of the edge by which `n` is reached (meaningless for roots).
    pub(crate) fn label(&self, snapshot: &Snapshot, n: NodeId) -> Label {
        let p = self.parent[n as usize] as usize;
        let edge = snapshot.edge_start[p] as usize + self.via[n as usize] as usize;
        snapshot.edge_label[edge]
    }

    /// The path to `n`: its root's label, then one step per reference, with
    /// an attribute kept in an instance's `__dict__` written `.name`. A path
    /// of more than 24 steps keeps its first and last 12 around a `…N steps…`
    /// marker. Empty for an unreachable node.
    pub fn path(&self, snapshot: &Snapshot, n: NodeId) -> Vec<String> {
        if !self.is_reachable(n) || n == 0 {
            return Vec::new();
        }
        let nodes = self.chain(n);
        let names = self.step_names(snapshot);
        let root = nodes[0];
        let mut out = vec![snapshot.node_name(root).to_string()];
        let mut steps = Vec::new();
        let mut i = 1;
        while i < nodes.len() {
            let label = self.label(snapshot, nodes[i]);
            let next = nodes.get(i + 1).map(|&m| self.label(snapshot, m));
            if i == 1 && root == snapshot.first_object() - 1 {
                steps.push(native_step(snapshot.node_name(nodes[i])));
            } else if let Some(attr) = next.and_then(|l| names.dict_attr(label, l)) {
                steps.push(format!(".{attr}"));
                i += 1;
            } else {
                steps.push(snapshot.step(label));
            }
            i += 1;
        }
        out.extend(shorten(steps));
        out
    }

    /// The nodes from `n`'s root down to `n`.
    fn chain(&self, n: NodeId) -> Vec<NodeId> {
        let mut nodes = vec![n];
        let mut x = n;
        while let Some(p) = self.parent(x) {
            nodes.push(p);
            x = p;
        }
        nodes.reverse();
        nodes
    }
}

/// The first step from "held by native code": the object's type, since the
/// reference has no name.
pub(crate) fn native_step(type_name: &str) -> String {
    format!("<{type_name}>")
}

/// Keeps both ends of a long path.
fn shorten(steps: Vec<String>) -> Vec<String> {
    if steps.len() <= MAX_STEPS {
        return steps;
    }
    let half = MAX_STEPS / 2;
    let hidden = steps.len() - 2 * half;
    let mut out: Vec<String> = steps[..half].to_vec();
    out.push(format!("…{hidden} steps…"));
    out.extend_from_slice(&steps[steps.len() - half..]);
    out
}

struct Search<'a> {
    snapshot: &'a Snapshot,
    parent: Vec<NodeId>,
    via: Vec<u32>,
    queue: Vec<NodeId>,
    head: usize,
}

impl Search<'_> {
    fn reach(&mut self, n: NodeId, parent: NodeId, via: u32) {
        self.parent[n as usize] = parent;
        self.via[n as usize] = via;
        self.queue.push(n);
    }

    /// Empties the queue, returning the objects it reached.
    fn run(&mut self) -> Reach {
        let mut reach = Reach::default();
        while let Some(&v) = self.queue.get(self.head) {
            self.head += 1;
            if self.snapshot.is_object(v) {
                reach.objects += 1;
                reach.bytes += self.snapshot.nodes.size[v as usize];
            }
            let start = self.snapshot.edge_start[v as usize] as usize;
            let end = self.snapshot.edge_start[v as usize + 1] as usize;
            for (k, &w) in self.snapshot.edge_target[start..end].iter().enumerate() {
                if self.parent[w as usize] == NONE && w != 0 {
                    self.reach(w, v, k as u32);
                }
            }
        }
        reach
    }
}

/// What path rendering needs to know about a snapshot's edge names.
pub(crate) struct StepNames<'a> {
    names: &'a [String],
    /// The name id of `__dict__`.
    dict: Option<u32>,
}

impl<'a> StepNames<'a> {
    pub(crate) fn new(snapshot: &'a Snapshot, dict: Option<u32>) -> StepNames<'a> {
        StepNames {
            names: &snapshot.names,
            dict,
        }
    }

    /// The name id of `__dict__`, looked up once per snapshot.
    pub(crate) fn dict_id(snapshot: &Snapshot) -> Option<u32> {
        let i = snapshot.names.iter().position(|n| n == "__dict__")?;
        Some(i as u32)
    }

    pub(crate) fn is_dict(&self, label: Label) -> bool {
        matches!(label.name(), EdgeName::Internal(id) if Some(id) == self.dict)
    }

    /// The identifier of a key step whose key is a string that is a Python
    /// identifier (`CACHE` for `['CACHE']`).
    pub(crate) fn ident_key(&self, label: Label) -> Option<&'a str> {
        match label.name() {
            EdgeName::Key(id) => quoted_identifier(self.names.get(id as usize)?),
            _ => None,
        }
    }

    /// The attribute that `.__dict__` then `key` amount to: `.__dict__['x']`
    /// is `.x` when the key is an identifier.
    pub(crate) fn dict_attr(&self, first: Label, key: Label) -> Option<&'a str> {
        if self.is_dict(first) {
            self.ident_key(key)
        } else {
            None
        }
    }
}

/// `CACHE` for the key `'CACHE'`; `None` when the key is no string, or a
/// string an attribute could not be named by.
fn quoted_identifier(key: &str) -> Option<&str> {
    let inner = key.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars();
    let first = chars.next()?;
    let valid = (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&inner);
    valid.then_some(inner)
}

/// Python's keywords: `obj.__dict__['class']` cannot be written `obj.class`.
const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_string_keys_that_are_identifiers_become_attributes() {
        assert_eq!(quoted_identifier("'CACHE'"), Some("CACHE"));
        assert_eq!(quoted_identifier("'_x1'"), Some("_x1"));
        assert_eq!(quoted_identifier("'1x'"), None);
        assert_eq!(quoted_identifier("'a b'"), None);
        assert_eq!(quoted_identifier("'class'"), None);
        assert_eq!(quoted_identifier("''"), None);
        assert_eq!(quoted_identifier("42"), None);
        assert_eq!(quoted_identifier("CACHE"), None);
    }

    #[test]
    fn long_paths_keep_both_ends() {
        let steps: Vec<String> = (0..30).map(|i| format!("[{i}]")).collect();
        let short = shorten(steps);
        assert_eq!(short.len(), MAX_STEPS + 1);
        assert_eq!(short[0], "[0]");
        assert_eq!(short[MAX_STEPS / 2], "…6 steps…");
        assert_eq!(short[MAX_STEPS], "[29]");
    }
}
