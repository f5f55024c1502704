//! What memsleuth computes from a capture: the peak and what was live then,
//! leaks, totals by layer, per-stack allocation statistics, the timeline,
//! sites grouped by stack, line, function or file, Python stacks merged
//! with native ones (whose symbols the caller resolves and hands in),
//! from heap snapshots ([`heap`]), retained sizes, paths from the roots,
//! leak suspects and diffs, the memory managers ([`memory`]: where the RSS
//! goes, pymalloc's arenas, the collector's work, recommendations), and
//! lines whose memory grows over the run ([`growth()`]).
//!
//! # Design constraints
//! - Pure computation over [`memsleuth_format::Record`]s: no I/O (the caller
//!   hands in a way to iterate the records), no Python, no unsafe code.
//! - Bounded memory: the records stream past once per pass; what is kept is
//!   proportional to the blocks live at one moment and the distinct stacks
//!   (and, for heap snapshots, to the objects of the snapshots asked for),
//!   never to the number of events.
//! - The definitions in `docs/definitions.md` are implemented here and
//!   nowhere else.
#![forbid(unsafe_code)]

mod blockmap;
mod checkpoints;
mod growth;
pub mod heap;
pub mod linetable;
mod live;
pub mod memory;
mod merge;
mod replay;
mod sites;
mod symbols;
mod temporaries;

pub use checkpoints::{checkpoints, Checkpoint, LiveSite};
pub use growth::{
    growth, judge, retained_types, trend, GrowingSite, Growth, GrowthRule, GrowthStack,
    RetainedType, SnapshotRef, Trend, Verdict,
};
pub use live::{LiveAnalysis, LiveFrame, LiveLine};
pub use replay::{
    analyze, CompletenessSource, LayerTotals, LimitStop, Profile, SiteKey, StackStats,
    TimelinePoint,
};
pub use sites::{collapsed_stacks, sites, Grouping, LineSite, Measure, Site};
pub use symbols::{Frame, Symbols};
