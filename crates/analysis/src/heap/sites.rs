//! Where objects were allocated: the lines whose allocations they are, when
//! the run traced allocations and the objects were allocated while tracking.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::heap::snapshot::{NodeId, Snapshot};
use crate::replay::SiteKey;
use crate::symbols::{Frame, Symbols};

/// The objects of one group allocated at one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeapSite {
    /// The innermost Python frame of the allocating stack (see `sites.rs`).
    pub file: String,
    pub line: u32,
    pub function: String,
    /// Shallow bytes of those objects.
    pub bytes: u64,
    pub count: u64,
}

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
    // Stacks that end at one line are one site here, as in `table --group line`.
    let mut by_line: FxHashMap<(String, u32, String), (u64, u64)> = FxHashMap::default();
    for (key, (bytes, count)) in by_key {
        let (frames, _) = symbols.resolve(key);
        let Some(frame) = site_frame(&frames) else {
            continue;
        };
        let e = by_line
            .entry((frame.file.clone(), frame.line, frame.function.clone()))
            .or_default();
        e.0 += bytes;
        e.1 += count;
    }
    let mut sites: Vec<HeapSite> = by_line
        .into_iter()
        .map(|((file, line, function), (bytes, count))| HeapSite {
            file,
            line,
            function,
            bytes,
            count,
        })
        .collect();
    sites.sort_by(|a, b| {
        (b.bytes, b.count)
            .cmp(&(a.bytes, a.count))
            .then_with(|| (&a.file, a.line, &a.function).cmp(&(&b.file, b.line, &b.function)))
    });
    if limit > 0 {
        sites.truncate(limit);
    }
    sites
}

/// The program's line: the innermost Python frame, else the innermost frame.
fn site_frame(frames: &[Frame]) -> Option<&Frame> {
    frames
        .iter()
        .find(|f| !f.is_native())
        .or_else(|| frames.first())
}
