//! The allocation profile in the formats of tools users already have:
//! pprof ([`write_pprof`]) and speedscope ([`write_speedscope`]).
//! `docs/exports.md` says which viewer opens which.
//!
//! Both are built from the same rows: one per allocation site (Python
//! stack, native stack, layer), with what it held at the peak, what it
//! leaked and what it allocated in all, in the layers that count in the
//! total (pymalloc's arenas hold the objects the other layers count).

mod pprof;
mod proto;
mod speedscope;

use memsleuth_analysis::{Frame, Profile, SiteKey, StackStats};

pub use pprof::{write_pprof, InUse};
pub use speedscope::write_speedscope;

/// One allocation site and what each measure counts there.
struct SiteRow {
    /// Outermost first.
    frames: Vec<Frame>,
    layer: &'static str,
    peak: StackStats,
    leaks: StackStats,
    allocated: StackStats,
}

/// Every site that allocated in a counted layer, in a stable order (by
/// stack id, native stack id, layer), so that exports of one capture are
/// byte for byte the same.
fn site_rows(profile: &Profile) -> Vec<SiteRow> {
    let mut keys: Vec<SiteKey> = profile
        .allocated_by_stack
        .keys()
        .chain(profile.peak_by_stack.keys())
        .chain(profile.leaks_by_stack.keys())
        .filter(|k| k.layer.counts_in_total())
        .copied()
        .collect();
    keys.sort_by_key(|k| (k.stack, k.native, k.layer as u8));
    keys.dedup();
    let stats = |table: &rustc_hash::FxHashMap<SiteKey, StackStats>, key: &SiteKey| {
        table.get(key).copied().unwrap_or_default()
    };
    keys.iter()
        .map(|key| {
            let (mut frames, _) = profile.symbols.resolve(*key);
            frames.reverse();
            SiteRow {
                frames,
                layer: key.layer.layer_name(),
                peak: stats(&profile.peak_by_stack, key),
                leaks: stats(&profile.leaks_by_stack, key),
                allocated: stats(&profile.allocated_by_stack, key),
            }
        })
        .collect()
}
