//! Retained size: the bytes that would be freed with an object, which are
//! its own and those of every object it dominates.

use crate::heap::dominators::Dominators;

/// Retained bytes by node, from the shallow sizes `size`. The sum runs from
/// the leaves of the dominator tree up, in one pass over its order. An
/// unreachable node (a garbage cycle not yet collected) is in no tree: its
/// retained size is its own.
pub fn retained_sizes(dominators: &Dominators, size: &[u64]) -> Vec<u64> {
    // Summed by preorder position, where the dominators are read in order.
    let order = dominators.order();
    let idom = dominators.idom_positions();
    let mut by_position: Vec<u64> = order.iter().map(|&n| size[n as usize]).collect();
    for w in (1..order.len()).rev() {
        by_position[idom[w] as usize] += by_position[w];
    }
    let mut retained = size.to_vec();
    for (&n, &bytes) in order.iter().zip(&by_position) {
        retained[n as usize] = bytes;
    }
    retained
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::dominators::tests::csr;

    #[test]
    fn a_node_retains_what_it_alone_keeps_alive() {
        // 0 → 1 → {2, 3} → 4; 0 → 5 → 3: node 1 does not retain 3 and 4.
        let edges = [(0, 1), (1, 2), (1, 3), (2, 4), (3, 4), (0, 5), (5, 3)];
        let (start, target) = csr(6, &edges);
        let d = Dominators::compute(&start, &target);
        let size = [0, 1, 10, 100, 1000, 10000];
        let retained = retained_sizes(&d, &size);
        assert_eq!(retained, [11111, 11, 10, 100, 1000, 10000]);
    }

    #[test]
    fn an_unreachable_node_retains_its_own_size() {
        let (start, target) = csr(3, &[(0, 1), (2, 1)]);
        let d = Dominators::compute(&start, &target);
        assert_eq!(retained_sizes(&d, &[0, 5, 7]), [5, 5, 7]);
    }
}
