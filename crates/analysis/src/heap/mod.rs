//! Heap snapshots: what holds the memory and who keeps it alive.
//!
//! [`load_snapshots`] replays a capture's events beside its snapshots, so
//! each object learns where its block was allocated (when the run traced
//! allocations) and a stable identity that survives between snapshots.
//! [`HeapAnalysis`] then answers "what" and "who": retained sizes from the
//! dominator tree, paths from the roots, types, leak suspects; [`diff`]
//! answers "what grew" between two snapshots.
//!
//! Heaps hold tens of millions of objects, so every per-node table is a
//! column of `u32` or `u64` indexed by node, and every walk is iterative.

mod analysis;
mod detail;
mod diff;
mod dominators;
mod load;
mod origins;
mod paths;
mod patterns;
mod retained;
mod sites;
mod snapshot;
mod suspects;
pub mod tree;
mod types;

#[cfg(test)]
pub(crate) mod test_heap;
#[cfg(test)]
mod tests;

pub use analysis::{HeapAnalysis, HeapTotals, ObjectRow};
pub use detail::TypeDetail;
pub use diff::{diff, DiffBase, HeapDiff, NewPath, TypeDelta};
pub use dominators::{Dominators, NONE};
pub use load::{load_snapshots, HeapCapture, SnapshotInfo, Want};
pub use paths::{Paths, Reach};
pub use patterns::{PathCount, PatternId, Patterns};
pub use retained::retained_sizes;
pub use sites::{allocation_sites, HeapSite};
pub use snapshot::{Label, NodeId, Nodes, Origin, Snapshot, SnapshotBuilder, NATIVE_ROOT_LABEL};
pub use suspects::{Suspect, SuspectKind, SuspectParams};
pub use types::{TypeGroups, TypeNotFound, TypeRow, TypeStats};
