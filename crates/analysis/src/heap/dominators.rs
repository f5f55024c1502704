//! Immediate dominators of a graph from node 0, by the semi-NCA algorithm
//! (Georgiadis' variant of Lengauer–Tarjan).
//!
//! Object `d` dominates `n` when every path from the roots to `n` passes
//! through `d`: freeing `d` frees `n`. Semi-NCA runs in near-linear time like
//! Lengauer–Tarjan and is faster in practice. Everything is iterative over
//! `u32` columns indexed by DFS preorder number, since a heap holds tens of
//! millions of objects and any recursion would overflow the stack.

use crate::heap::snapshot::{NodeId, Snapshot};

/// Marks "no node": the dominator of an unreachable node.
pub const NONE: NodeId = NodeId::MAX;

/// The dominator tree of a graph rooted at node 0.
///
/// Internally every table is indexed by DFS preorder number rather than by
/// node: in preorder a node's dominator comes before it, so one pass over
/// the numbers backwards goes from the leaves up, and walking the numbers
/// reads memory in order instead of jumping around a heap-sized array.
pub struct Dominators {
    /// By node: its preorder number, [`NONE`] when unreachable.
    number: Vec<u32>,
    /// By number: the node.
    vertex: Vec<NodeId>,
    /// By number: the number of its immediate dominator (0 for the root).
    idom: Vec<u32>,
    /// The tree's children of number `w` are `children[child_start[w]..child_start[w + 1]]`.
    child_start: Vec<u32>,
    children: Vec<NodeId>,
}

impl Dominators {
    /// The dominators of a snapshot's graph, from its super-root.
    pub fn of(snapshot: &Snapshot) -> Dominators {
        Dominators::compute(&snapshot.edge_start, &snapshot.edge_target)
    }

    /// The dominators of the graph whose node `n` has the edges
    /// `edge_target[edge_start[n]..edge_start[n + 1]]`, from node 0.
    pub fn compute(edge_start: &[u64], edge_target: &[NodeId]) -> Dominators {
        let graph = Csr {
            start: edge_start,
            target: edge_target,
        };
        let dfs = depth_first(&graph);
        let preds = predecessors(&graph, &dfs.number);
        let idom = semi_nca(dfs.parent, &preds);
        drop(preds);
        let (child_start, children) = tree_children(&idom, &dfs.vertex);
        Dominators {
            number: dfs.number,
            vertex: dfs.vertex,
            idom,
            child_start,
            children,
        }
    }

    /// The immediate dominator of `n`; `None` for node 0 and unreachable nodes.
    pub fn idom(&self, n: NodeId) -> Option<NodeId> {
        match self.number[n as usize] {
            0 | NONE => None,
            w => Some(self.vertex[self.idom[w as usize] as usize]),
        }
    }

    pub fn is_reachable(&self, n: NodeId) -> bool {
        self.number[n as usize] != NONE
    }

    /// The reachable nodes, each after its immediate dominator.
    pub fn order(&self) -> &[NodeId] {
        &self.vertex
    }

    /// By position in [`Self::order`]: the position of the immediate
    /// dominator (0 for node 0 itself).
    pub fn idom_positions(&self) -> &[u32] {
        &self.idom
    }

    /// The nodes `n` immediately dominates.
    pub fn children(&self, n: NodeId) -> &[NodeId] {
        match self.number[n as usize] {
            NONE => &[],
            w => {
                let w = w as usize;
                &self.children[self.child_start[w] as usize..self.child_start[w + 1] as usize]
            }
        }
    }
}

struct Csr<'a> {
    start: &'a [u64],
    target: &'a [NodeId],
}

impl Csr<'_> {
    fn targets(&self, n: NodeId) -> &[NodeId] {
        let n = n as usize;
        &self.target[self.start[n] as usize..self.start[n + 1] as usize]
    }

    fn len(&self) -> usize {
        self.start.len().saturating_sub(1)
    }
}

/// A depth-first spanning tree, in preorder numbers.
struct Dfs {
    /// By node: its preorder number, [`NONE`] when unreachable.
    number: Vec<u32>,
    /// By number: the node.
    vertex: Vec<NodeId>,
    /// By number: the number of the tree parent (0 for the root).
    parent: Vec<u32>,
}

/// Numbers the nodes in depth-first preorder.
///
/// A visited node pushes all its unvisited targets at once, and a popped
/// node that was reached meanwhile is skipped: this visits exactly as the
/// recursive search taking edges in order does, and reads each node's edges
/// once, together, where a stack of edge cursors would come back to every
/// node after each child and miss the cache each time.
fn depth_first(graph: &Csr) -> Dfs {
    let n = graph.len();
    let mut dfs = Dfs {
        number: vec![NONE; n],
        vertex: Vec::with_capacity(n),
        parent: Vec::with_capacity(n),
    };
    // (node, number of the node that pushed it)
    let mut stack: Vec<(NodeId, u32)> = if n > 0 { vec![(0, 0)] } else { Vec::new() };
    while let Some((v, parent)) = stack.pop() {
        if dfs.number[v as usize] != NONE {
            continue;
        }
        let number = dfs.vertex.len() as u32;
        dfs.number[v as usize] = number;
        dfs.vertex.push(v);
        dfs.parent.push(parent);
        for &w in graph.targets(v).iter().rev() {
            if dfs.number[w as usize] == NONE {
                stack.push((w, number));
            }
        }
    }
    dfs
}

/// The predecessors of each vertex, in preorder numbers. A predecessor
/// numbered below the vertex is its own answer in the semidominator step
/// (it is not linked yet), so only the least of those is kept; the list
/// holds the others, which need the forest. Most references in a heap go
/// to objects found later, so the list is short and the step skips most
/// of the random reads it would make.
struct Preds {
    /// By number: the least predecessor numbered below it (its parent or less).
    earlier: Vec<u32>,
    start: Vec<u64>,
    later: Vec<u32>,
}

impl Preds {
    fn later(&self, w: u32) -> &[u32] {
        let w = w as usize;
        &self.later[self.start[w] as usize..self.start[w + 1] as usize]
    }
}

/// Both passes go through the nodes in node order, so the edge lists are
/// read in order; only the numbers of the targets are looked up at random.
fn predecessors(graph: &Csr, number: &[u32]) -> Preds {
    let r = number.iter().filter(|&&w| w != NONE).count();
    let mut earlier: Vec<u32> = (0..r as u32).collect();
    let mut start = vec![0u64; r + 1];
    let edges = || {
        (0..graph.len() as NodeId)
            .filter(|&v| number[v as usize] != NONE)
            .flat_map(|v| {
                let nv = number[v as usize];
                graph
                    .targets(v)
                    .iter()
                    .map(move |&w| (nv, number[w as usize]))
            })
    };
    for (nv, nw) in edges() {
        if nv < nw {
            let low = &mut earlier[nw as usize];
            *low = (*low).min(nv);
        } else {
            start[nw as usize + 1] += 1;
        }
    }
    for i in 1..=r {
        start[i] += start[i - 1];
    }
    let mut later = vec![0u32; start[r] as usize];
    // `start[w]` serves as w's fill cursor, which leaves it at w's end, the
    // start of w + 1; shifting by one restores the starts without a copy.
    for (nv, nw) in edges().filter(|(nv, nw)| nv >= nw) {
        let w = nw as usize;
        later[start[w] as usize] = nv;
        start[w] += 1;
    }
    start.copy_within(0..r, 1);
    start[0] = 0;
    Preds {
        earlier,
        start,
        later,
    }
}

/// One vertex of the link-eval forest: its ancestor there, and the least
/// semidominator on the compressed path above it. They are read together,
/// so they sit together.
#[derive(Clone, Copy)]
struct Link {
    ancestor: u32,
    best: u32,
}

/// Immediate dominators by preorder number, from the DFS tree's parents.
///
/// Eval only ever needs the semidominator of the vertex it finds, so the
/// forest keeps that number itself (`best`) rather than the vertex.
fn semi_nca(parent: Vec<u32>, preds: &Preds) -> Vec<u32> {
    let r = parent.len();
    let mut forest: Vec<Link> = (0..r)
        .map(|w| Link {
            ancestor: parent[w],
            best: w as u32,
        })
        .collect();
    let mut semi: Vec<u32> = vec![0; r];
    let mut path = Vec::new();
    for w in (1..r as u32).rev() {
        let mut s = preds.earlier[w as usize];
        for &v in preds.later(w) {
            s = s.min(eval(v, w + 1, &mut forest, &mut path));
        }
        semi[w as usize] = s;
        forest[w as usize].best = s;
    }
    drop(forest);
    let mut idom = parent;
    for w in 1..r {
        let s = semi[w];
        let mut candidate = idom[w];
        while candidate > s {
            candidate = idom[candidate as usize];
        }
        idom[w] = candidate;
    }
    idom
}

/// The least semidominator on the forest path from `v` up to, not
/// including, its forest root, compressing that path. Vertices numbered
/// `linked` and above are in the forest; the others are roots of their own.
fn eval(v: u32, linked: u32, forest: &mut [Link], path: &mut Vec<u32>) -> u32 {
    if forest[v as usize].ancestor < linked {
        return forest[v as usize].best;
    }
    path.clear();
    let mut x = v;
    while forest[x as usize].ancestor >= linked {
        path.push(x);
        x = forest[x as usize].ancestor;
    }
    // `x` is the topmost vertex below the forest root: compress onto it.
    let mut above = forest[x as usize];
    while let Some(y) = path.pop() {
        let link = &mut forest[y as usize];
        link.ancestor = above.ancestor;
        link.best = link.best.min(above.best);
        above = *link;
    }
    forest[v as usize].best
}

/// The dominator tree as adjacency lists by number, children in preorder.
fn tree_children(idom: &[u32], vertex: &[NodeId]) -> (Vec<u32>, Vec<NodeId>) {
    let r = idom.len();
    let mut start = vec![0u32; r + 1];
    for &d in idom.iter().skip(1) {
        start[d as usize + 1] += 1;
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut children = vec![0; r.saturating_sub(1)];
    let mut cursor = start.clone();
    for (w, &d) in idom.iter().enumerate().skip(1) {
        children[cursor[d as usize] as usize] = vertex[w];
        cursor[d as usize] += 1;
    }
    (start, children)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A graph from its edge list, as the CSR columns a snapshot has.
    pub(crate) fn csr(nodes: usize, edges: &[(u32, u32)]) -> (Vec<u64>, Vec<NodeId>) {
        let mut start = vec![0u64; nodes + 1];
        let mut target = Vec::new();
        for n in 0..nodes as u32 {
            target.extend(edges.iter().filter(|e| e.0 == n).map(|e| e.1));
            start[n as usize + 1] = target.len() as u64;
        }
        (start, target)
    }

    fn idoms(nodes: usize, edges: &[(u32, u32)]) -> Vec<Option<NodeId>> {
        let (start, target) = csr(nodes, edges);
        let d = Dominators::compute(&start, &target);
        (0..nodes as u32).map(|n| d.idom(n)).collect()
    }

    #[test]
    fn a_chain_is_its_own_dominator_tree() {
        assert_eq!(
            idoms(4, &[(0, 1), (1, 2), (2, 3)]),
            [None, Some(0), Some(1), Some(2)]
        );
    }

    #[test]
    fn the_join_of_a_diamond_is_dominated_by_its_top() {
        // 0 → 1 → {2, 3} → 4 → 5
        let edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (4, 5)];
        assert_eq!(
            idoms(6, &edges),
            [None, Some(0), Some(1), Some(1), Some(1), Some(4)]
        );
    }

    #[test]
    fn a_cycle_is_dominated_by_where_it_is_entered() {
        // 0 → 1 → 2 → 3 → 1, and 3 → 4
        let edges = [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)];
        assert_eq!(idoms(5, &edges), [None, Some(0), Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn a_second_way_in_lifts_the_dominator() {
        // The textbook graph of Lengauer and Tarjan's paper (R=0, A..L=1..12).
        let (r, a, b, c, d, e, f, g, h, i, j, k, l) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        let edges = [
            (r, a),
            (r, b),
            (r, c),
            (a, d),
            (b, a),
            (b, d),
            (b, e),
            (c, f),
            (c, g),
            (d, l),
            (e, h),
            (f, i),
            (g, i),
            (g, j),
            (h, e),
            (h, k),
            (i, k),
            (j, i),
            (k, i),
            (k, r),
            (l, h),
        ];
        let expected = [
            None,
            Some(r),
            Some(r),
            Some(r),
            Some(r),
            Some(r),
            Some(c),
            Some(c),
            Some(r),
            Some(r),
            Some(g),
            Some(r),
            Some(d),
        ];
        assert_eq!(idoms(13, &edges), expected);
    }

    #[test]
    fn every_reachable_node_comes_after_its_dominator() {
        let edges = [(0, 2), (2, 1), (1, 3), (0, 3), (3, 4), (4, 2)];
        let (start, target) = csr(5, &edges);
        let d = Dominators::compute(&start, &target);
        let mut seen = [false; 5];
        for &n in d.order() {
            if let Some(p) = d.idom(n) {
                assert!(seen[p as usize], "{n} before its dominator {p}");
            }
            seen[n as usize] = true;
        }
        assert_eq!(seen, [true; 5]);
    }

    #[test]
    fn unreachable_nodes_have_no_dominator_and_no_place_in_the_tree() {
        // 3 ↔ 4 is a cycle nobody refers to.
        let edges = [(0, 1), (1, 2), (3, 4), (4, 3), (4, 2)];
        let (start, target) = csr(5, &edges);
        let d = Dominators::compute(&start, &target);
        assert_eq!(d.idom(2), Some(1));
        assert_eq!(d.idom(3), None);
        assert!(!d.is_reachable(4));
        assert_eq!(d.order(), [0, 1, 2]);
        assert_eq!(d.children(0), [1]);
        assert_eq!(d.children(1), [2]);
        assert!(d.children(3).is_empty());
    }

    #[test]
    fn self_loops_and_repeated_edges_change_nothing() {
        let edges = [(0, 1), (0, 1), (1, 1), (1, 2), (1, 2), (2, 0)];
        assert_eq!(idoms(3, &edges), [None, Some(0), Some(1)]);
    }
}
