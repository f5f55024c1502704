//! A capped view of the dominator tree, for a reader to browse: the part of
//! the tree that holds the most memory, with what was left out counted.
//!
//! A heap's tree has millions of nodes and some nodes (a big dict) have
//! hundreds of thousands of children, so the view keeps at most a few
//! children per node, a few levels and a bounded number of nodes. Nodes are
//! taken where the most memory is, across the whole tree rather than level
//! by level: a child's priority is the bytes retained by it and by its
//! smaller siblings, i.e. what its parent's "N more" row would hold if the
//! view stopped before it. So the 20 first entries of a cache of a million
//! small objects come before a module's one big function, since leaving
//! them out would hide more, and a deep chain that holds most of the heap
//! is expanded before the many small objects near the roots.

use std::collections::BinaryHeap;

use crate::heap::dominators::Dominators;
use crate::heap::snapshot::{Label, NodeId, Snapshot};

/// How much of the tree a view keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeCaps {
    /// Children kept per node, largest retained size first.
    pub children: usize,
    /// Levels kept below node 0.
    pub depth: usize,
    /// Nodes kept in all, node 0 included.
    pub nodes: usize,
}

/// One node of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    pub node: NodeId,
    /// Levels below node 0.
    pub depth: usize,
    /// Positions in [`TreeView::nodes`] of the children kept, largest
    /// retained size first.
    pub children: Vec<usize>,
    /// The children not kept, and the bytes they retain.
    pub other_children: u64,
    pub other_bytes: u64,
}

/// The part of a dominator tree kept under [`TreeCaps`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeView {
    /// Node 0 first; every node after its parent.
    pub nodes: Vec<TreeNode>,
    /// Nodes in the whole tree (the reachable ones), node 0 included.
    pub tree_nodes: u64,
}

impl TreeView {
    /// Nodes of the tree the view leaves out, in kept subtrees or not.
    pub fn cut_nodes(&self) -> u64 {
        self.tree_nodes - self.nodes.len() as u64
    }
}

/// A child waiting to be kept: the highest priority (see the module's
/// documentation) is taken first, ties by node so the view is the same on
/// every run. Priorities fall from a node's first child to its last, so
/// the children kept are always the largest.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    priority: u64,
    node: std::cmp::Reverse<NodeId>,
    parent: usize,
    retained: u64,
}

/// The view of `dominators`' tree from node 0, `retained` giving each node's
/// retained bytes.
pub fn dominator_tree_view(dominators: &Dominators, retained: &[u64], caps: TreeCaps) -> TreeView {
    let mut view = TreeView {
        nodes: Vec::new(),
        tree_nodes: dominators.order().len() as u64,
    };
    if view.tree_nodes == 0 || caps.nodes == 0 {
        return view;
    }
    let mut waiting = BinaryHeap::new();
    keep(&mut view, &mut waiting, dominators, retained, caps, 0, None);
    while view.nodes.len() < caps.nodes {
        let Some(c) = waiting.pop() else { break };
        let parent = Some(c.parent);
        keep(
            &mut view,
            &mut waiting,
            dominators,
            retained,
            caps,
            c.node.0,
            parent,
        );
    }
    // Every child offered is counted as left out until kept.
    for c in waiting {
        let p = &mut view.nodes[c.parent];
        p.other_children += 1;
        p.other_bytes += c.retained;
    }
    view
}

/// Adds `n` to the view under `parent` and offers its largest children,
/// counting the others as left out.
fn keep(
    view: &mut TreeView,
    waiting: &mut BinaryHeap<Candidate>,
    dominators: &Dominators,
    retained: &[u64],
    caps: TreeCaps,
    n: NodeId,
    parent: Option<usize>,
) {
    let at = view.nodes.len();
    let depth = parent.map_or(0, |p| view.nodes[p].depth + 1);
    if let Some(p) = parent {
        view.nodes[p].children.push(at);
    }
    let mut children = dominators.children(n).to_vec();
    let offered = if depth < caps.depth {
        caps.children.min(children.len())
    } else {
        0
    };
    let key = |c: &NodeId| (std::cmp::Reverse(retained[*c as usize]), *c);
    if offered > 0 && offered < children.len() {
        children.select_nth_unstable_by_key(offered - 1, key);
    }
    let (first, rest) = children.split_at_mut(offered);
    first.sort_unstable_by_key(key);
    let rest_bytes: u64 = rest.iter().map(|&c| retained[c as usize]).sum();
    view.nodes.push(TreeNode {
        node: n,
        depth,
        children: Vec::new(),
        other_children: rest.len() as u64,
        other_bytes: rest_bytes,
    });
    // Each child's priority: its bytes and those of every smaller sibling.
    let mut from_here = rest_bytes + first.iter().map(|&c| retained[c as usize]).sum::<u64>();
    for &c in first.iter() {
        let bytes = retained[c as usize];
        waiting.push(Candidate {
            priority: from_here,
            node: std::cmp::Reverse(c),
            parent: at,
            retained: bytes,
        });
        from_here -= bytes;
    }
}

/// The name of the reference from `from` to `to` as a path step (see
/// [`Snapshot::step`]), when `from` refers to `to` and the reference has a
/// name: the super-root's and "held by native code"'s references are
/// numbered by the tracker, not named by the program.
pub fn reference_name(snapshot: &Snapshot, from: NodeId, to: NodeId) -> Option<String> {
    if from == 0 || from == snapshot.first_object() - 1 {
        return None;
    }
    let label: Label = snapshot
        .edges(from)
        .find_map(|(target, label)| (target == to).then_some(label))?;
    Some(snapshot.step(label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::dominators::tests::csr;
    use crate::heap::retained::retained_sizes;

    /// 0 → 1 → {2, 3, 4}, 2 → 5 → 6; sizes make 2 the largest child of 1.
    fn view(caps: TreeCaps) -> TreeView {
        let edges = [(0, 1), (1, 2), (1, 3), (1, 4), (2, 5), (5, 6)];
        let (start, target) = csr(7, &edges);
        let d = Dominators::compute(&start, &target);
        let retained = retained_sizes(&d, &[0, 1, 10, 30, 20, 100, 1000]);
        dominator_tree_view(&d, &retained, caps)
    }

    fn shape(v: &TreeView) -> Vec<(NodeId, Vec<NodeId>, u64, u64)> {
        v.nodes
            .iter()
            .map(|t| {
                let kids = t.children.iter().map(|&c| v.nodes[c].node).collect();
                (t.node, kids, t.other_children, t.other_bytes)
            })
            .collect()
    }

    #[test]
    fn uncapped_the_view_is_the_tree_largest_child_first() {
        let v = view(TreeCaps {
            children: 10,
            depth: 10,
            nodes: 100,
        });
        assert_eq!(v.tree_nodes, 7);
        assert_eq!(v.cut_nodes(), 0);
        let mut s = shape(&v);
        s.sort();
        assert_eq!(
            s,
            [
                (0, vec![1], 0, 0),
                (1, vec![2, 3, 4], 0, 0),
                (2, vec![5], 0, 0),
                (3, vec![], 0, 0),
                (4, vec![], 0, 0),
                (5, vec![6], 0, 0),
                (6, vec![], 0, 0),
            ]
        );
    }

    #[test]
    fn each_cap_leaves_out_what_it_counts() {
        // Two children per node: 4 (20 bytes) is left out of 1's.
        let v = view(TreeCaps {
            children: 2,
            depth: 10,
            nodes: 100,
        });
        assert_eq!(shape(&v)[1], (1, vec![2, 3], 1, 20));
        assert_eq!(v.cut_nodes(), 1);
        // Two levels: 5 and what it holds are counted under 2.
        let v = view(TreeCaps {
            children: 10,
            depth: 2,
            nodes: 100,
        });
        let two = shape(&v).into_iter().find(|s| s.0 == 2).unwrap();
        assert_eq!(two, (2, vec![], 1, 1100));
        assert_eq!(v.cut_nodes(), 2);
        // Four nodes: the largest are taken first, whatever their level.
        let v = view(TreeCaps {
            children: 10,
            depth: 10,
            nodes: 4,
        });
        let kept: Vec<NodeId> = v.nodes.iter().map(|t| t.node).collect();
        assert_eq!(kept, [0, 1, 2, 5]);
        assert_eq!(shape(&v)[1], (1, vec![2], 2, 50));
        assert_eq!(v.cut_nodes(), 3);
    }

    #[test]
    fn many_small_children_come_before_one_bigger_object() {
        // 0 → {1, 2}; 1 holds one object of 100 bytes, 2 ten of 20 each.
        let mut edges = vec![(0, 1), (0, 2), (1, 3)];
        edges.extend((4..14).map(|n| (2, n)));
        let (start, target) = csr(14, &edges);
        let d = Dominators::compute(&start, &target);
        let mut size = vec![0, 1, 1, 100];
        size.extend([20; 10]);
        let retained = retained_sizes(&d, &size);
        let v = dominator_tree_view(
            &d,
            &retained,
            TreeCaps {
                children: 3,
                depth: 10,
                nodes: 6,
            },
        );
        let kept: Vec<NodeId> = v.nodes.iter().map(|t| t.node).collect();
        // 2 (201 bytes) first, then its three largest children before 1,
        // though 3 alone is bigger than any of them: leaving them out would
        // hide 200, 180 and 160 bytes, leaving out 1 only 101.
        assert_eq!(kept, [0, 2, 4, 5, 6, 1]);
        assert_eq!(shape(&v)[1], (2, vec![4, 5, 6], 7, 140));
        assert_eq!(shape(&v)[5], (1, vec![], 1, 100));
    }
}
