//! Node ids that stay the same across the snapshots of one process, so
//! DevTools' Comparison view and memlab can tell which objects are new.
//!
//! Readers hold ids in 32 bits (DevTools and memlab parse the node array
//! into a `Uint32Array`; V8's own ids are `uint32_t`), and the ids of one
//! file must be unique. The id space is split so that the kinds never meet:
//!
//! - `1`: the super-root (V8's root has id 1, and memlab takes id 1 as the root);
//! - odd ids from 3: an object whose allocation was traced, `2 * serial + 1`,
//!   the serial being the allocation's position in the event stream, unique
//!   for the life of the process (V8's heap object ids are odd too). Past
//!   2^31 events the serial wraps around;
//! - even ids below [`FIRST_ADDRESS_ID`]: root `r` is `2 * r`;
//! - even ids from [`FIRST_ADDRESS_ID`]: an object allocated before tracking
//!   started (or in a capture without allocations), from its address. The
//!   same object keeps its address, so its id; a different untraced object at
//!   the same address in a later snapshot cannot be told apart from it.
//!
//! Ids that still collide in one file (wrapped serials, addresses 32 GiB
//! apart) are moved to the next free id of their kind, in node order: unique
//! in the file, stable across files as long as nothing collides.

use rustc_hash::FxHashSet;

use memsleuth_analysis::heap::{NodeId, Snapshot};

/// The first even id derived from an address; the even ids below are the roots'.
pub(super) const FIRST_ADDRESS_ID: u32 = 1 << 20;

/// The super-root's id.
pub(super) const ROOT_ID: u32 = 1;

/// The id of every node of `snapshot`, by node index.
pub(super) fn node_ids(snapshot: &Snapshot) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..snapshot.node_count() as NodeId)
        .map(|n| preferred_id(snapshot, n))
        .collect();
    resolve_collisions(&mut ids);
    ids
}

fn preferred_id(snapshot: &Snapshot, n: NodeId) -> u32 {
    if n == 0 {
        return ROOT_ID;
    }
    if !snapshot.is_object(n) {
        return n.saturating_mul(2);
    }
    match snapshot.nodes.origin[n as usize] {
        Some(origin) => serial_id(origin.serial),
        None => address_id(snapshot.nodes.addr[n as usize]),
    }
}

pub(super) fn serial_id(serial: u64) -> u32 {
    // Below 2^31, so the odd id fits in 32 bits.
    let wrapped = (serial % (1 << 31)) as u32;
    2 * wrapped + 1
}

pub(super) fn address_id(addr: u64) -> u32 {
    let slots = u64::from((u32::MAX - FIRST_ADDRESS_ID) / 2 + 1);
    // Objects are 16-byte aligned: the low bits tell nothing apart.
    let slot = ((addr >> 4) % slots) as u32;
    FIRST_ADDRESS_ID + 2 * slot
}

/// The next id of the same kind (odd or even), wrapping within the kind.
fn next_id(id: u32) -> u32 {
    if id % 2 == 1 {
        match id.checked_add(2) {
            Some(next) => next,
            None => ROOT_ID + 2,
        }
    } else {
        match id.checked_add(2) {
            Some(next) => next,
            None => FIRST_ADDRESS_ID,
        }
    }
}

/// Gives every node after the first holder of a duplicated id the next id of
/// its kind that no node wanted. Sorting a copy keeps the common case (no
/// duplicate) to one pass and no hash set the size of the heap.
fn resolve_collisions(ids: &mut [u32]) {
    let mut wanted = ids.to_vec();
    wanted.sort_unstable();
    let duplicated: FxHashSet<u32> = wanted
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    if duplicated.is_empty() {
        return;
    }
    // Duplicated ids already handed out, and the free ids given instead.
    let mut taken: FxHashSet<u32> = FxHashSet::default();
    for id in ids.iter_mut() {
        if !duplicated.contains(id) || taken.insert(*id) {
            continue;
        }
        let mut candidate = next_id(*id);
        // Ends: a kind has 2^31 ids, and readers cap a file far below that.
        while wanted.binary_search(&candidate).is_ok() || !taken.insert(candidate) {
            candidate = next_id(candidate);
        }
        *id = candidate;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_of_ids_never_meet() {
        assert_eq!(serial_id(1), 3);
        assert_eq!(serial_id((1 << 31) - 1), u32::MAX);
        assert_eq!(serial_id(1 << 31), 1, "wraps; collisions are resolved");
        for addr in [0, 16, 0x7f00_0000_0010, u64::MAX] {
            let id = address_id(addr);
            assert_eq!(id % 2, 0);
            assert!(id >= FIRST_ADDRESS_ID);
        }
        assert_eq!(next_id(u32::MAX), 3);
        assert_eq!(next_id(u32::MAX - 1), FIRST_ADDRESS_ID);
    }

    #[test]
    fn duplicates_move_to_the_next_free_id_of_their_kind() {
        let mut ids = vec![1, 3, 5, 3, 1, FIRST_ADDRESS_ID, FIRST_ADDRESS_ID];
        resolve_collisions(&mut ids);
        assert_eq!(ids, [1, 3, 5, 7, 9, FIRST_ADDRESS_ID, FIRST_ADDRESS_ID + 2]);
    }

    #[test]
    fn unique_ids_are_left_alone() {
        let mut ids = vec![1, 2, 4, 7, 3, FIRST_ADDRESS_ID + 8];
        resolve_collisions(&mut ids);
        assert_eq!(ids, [1, 2, 4, 7, 3, FIRST_ADDRESS_ID + 8]);
    }
}
