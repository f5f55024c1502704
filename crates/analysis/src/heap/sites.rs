//! Where objects were allocated: the lines whose allocations they are, when
//! the run traced allocations and the objects were allocated while tracking.

use rustc_hash::FxHashMap;

use crate::heap::snapshot::{NodeId, Snapshot};
use crate::replay::SiteKey;
use crate::sites::{by_line, LineSite};
use crate::symbols::Symbols;

/// The objects of one group allocated at one line: the innermost Python
/// frame of the allocating stack, and the shallow bytes and number of those
/// objects.
pub type HeapSite = LineSite;

/// The allocation lines of `objects`, most bytes first, at most `limit`
/// (all for 0). Objects without an origin are left out.
pub fn allocation_sites(
    snapshot: &Snapshot,
    symbols: &Symbols,
    objects: impl IntoIterator<Item = NodeId>,
    limit: usize,
) -> Vec<HeapSite> {
    let mut by_key: FxHashMap<SiteKey, (u64, u64)> = FxHashMap::default();
    for n in objects {
        if let Some(origin) = snapshot.nodes.origin[n as usize] {
            let e = by_key.entry(origin.site).or_default();
            e.0 += snapshot.nodes.size[n as usize];
            e.1 += 1;
        }
    }
    let mut sites = by_line(by_key.into_iter().map(|(k, (b, c))| (k, b, c)), symbols);
    if limit > 0 {
        sites.truncate(limit);
    }
    sites
}
