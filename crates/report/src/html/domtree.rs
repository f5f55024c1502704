//! The dominator-tree explorer's data: the capped view of the last
//! snapshot's dominator tree ([`dominator_tree_view`]), each node described
//! as the page shows it (type or root, sizes, the reference it is held by,
//! where it was allocated).

use memsleuth_analysis::heap::tree::{dominator_tree_view, reference_name, TreeCaps};
use memsleuth_analysis::heap::{allocation_sites, HeapAnalysis, NodeId};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// One node of the tree as embedded.
#[derive(Serialize, Debug, PartialEq)]
pub struct TreeNodeJson {
    /// The type name, or the root's label.
    pub name: String,
    /// The step by which its dominator refers to it (`['CACHE']`, `.items`),
    /// absent when the dominator holds it only through other objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// For an object without `edge`: its shortest path from a root
    /// (`sys.modules`, `['__main__']`), since its type alone rarely says
    /// which object it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
    /// Index in [`DominatorTreeJson::sites`], absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<usize>,
    /// Indexes in [`DominatorTreeJson::nodes`], largest retained first.
    pub children: Vec<usize>,
    /// Children left out by a cap, and the bytes they retain.
    pub other_children: u64,
    pub other_bytes: u64,
}

#[derive(Serialize, Debug, PartialEq, Eq, Hash, Clone)]
pub struct TreeSite {
    pub file: String,
    pub line: u32,
    pub function: String,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct DominatorTreeJson {
    /// Node 0 is the super-root, `(roots)`; each node comes after its parent.
    pub nodes: Vec<TreeNodeJson>,
    /// Allocation sites, shared by the nodes that name them.
    pub sites: Vec<TreeSite>,
    /// Nodes in the whole tree, and those of them not embedded.
    pub tree_nodes: u64,
    pub cut_nodes: u64,
}

/// The embedded tree of `heap`'s snapshot under `caps`.
pub fn dominator_tree(heap: &HeapAnalysis, caps: TreeCaps) -> DominatorTreeJson {
    let view = dominator_tree_view(&heap.dominators, &heap.retained, caps);
    let mut sites = SiteTable::default();
    let nodes = view
        .nodes
        .iter()
        .map(|t| {
            let edge = heap
                .dominators
                .idom(t.node)
                .and_then(|d| reference_name(heap.snapshot, d, t.node));
            let path =
                (edge.is_none() && heap.snapshot.is_object(t.node)).then(|| heap.path(t.node));
            TreeNodeJson {
                name: heap.snapshot.node_name(t.node).to_string(),
                edge,
                path,
                shallow_bytes: heap.snapshot.nodes.size[t.node as usize],
                retained_bytes: heap.retained[t.node as usize],
                site: sites.of(heap, t.node),
                children: t.children.clone(),
                other_children: t.other_children,
                other_bytes: t.other_bytes,
            }
        })
        .collect();
    DominatorTreeJson {
        nodes,
        sites: sites.sites,
        tree_nodes: view.tree_nodes,
        cut_nodes: view.cut_nodes(),
    }
}

/// Sites by first use, so nodes allocated at one line share one entry.
#[derive(Default)]
struct SiteTable {
    sites: Vec<TreeSite>,
    index: FxHashMap<TreeSite, usize>,
}

impl SiteTable {
    fn of(&mut self, heap: &HeapAnalysis, n: NodeId) -> Option<usize> {
        let found = allocation_sites(heap.snapshot, heap.symbols, [n], 1);
        let s = found.into_iter().next()?;
        let site = TreeSite {
            file: s.file,
            line: s.line,
            function: s.function,
        };
        let next = self.sites.len();
        let at = *self.index.entry(site.clone()).or_insert(next);
        if at == next {
            self.sites.push(site);
        }
        Some(at)
    }
}
