//! Everything the memory views show, in one serializable value: the text
//! of `memsleuth memory`, its `--json`, and the report's section all read it.

use memsleuth_format::{MallocStats, PymallocStats};
use serde::Serialize;

use crate::memory::accounting::{account_at_exit, account_at_peak, RssAccount};
use crate::memory::advice::{recommend, AdviceInput, ClassInstances, GrowingCache, Recommendation};
use crate::memory::{Fork, PymallocPicture};
use crate::replay::{Profile, SiteKey, StackStats};
use crate::sites::{by_line, LineSite};

/// Lines listed per table.
const SITES: usize = 10;

/// The collector over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GcSummary {
    pub collections: u64,
    pub collections_by_generation: [u64; 3],
    pub seconds: f64,
    pub seconds_by_generation: [f64; 3],
    /// `seconds` as a share of the run's duration.
    pub share_of_run: f64,
    pub collected: u64,
    pub uncollectable: u64,
    /// Python blocks freed only by collections: reference cycles.
    pub freed_bytes: u64,
    pub freed_blocks: u64,
    pub largest_collection_bytes: u64,
    pub cycle_sites: Vec<LineSite>,
    pub enabled: bool,
    pub thresholds: Vec<u64>,
    /// Objects in the permanent generation (`gc.freeze()`).
    pub frozen: u64,
    pub garbage: Vec<GarbageSummary>,
}

/// Objects of one type left in `gc.garbage` at exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GarbageSummary {
    pub type_name: String,
    pub count: u64,
    pub sites: Vec<LineSite>,
}

/// glibc's heap at exit, and after `malloc_trim` when probed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NativeHeap {
    pub at_exit: MallocStats,
    pub threads: u32,
    pub rss_at_exit: u64,
    pub after_trim: Option<MallocStats>,
    pub rss_after_trim: Option<u64>,
    /// RSS that `malloc_trim(0)` gave back (`--trim-probe`).
    pub trim_gave_back: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemorySummary {
    pub python_version: String,
    /// Whether the capture holds the in-process measurements (captures
    /// written with `--python-only`, or by older versions, may not).
    pub measured: bool,
    pub account_at_exit: Option<RssAccount>,
    pub account_at_peak: Option<RssAccount>,
    pub pymalloc_at_peak: Option<PymallocPicture>,
    pub pymalloc_at_exit: Option<PymallocPicture>,
    /// pymalloc's own figures at exit: every arena, those made before
    /// tracking included.
    pub pymalloc_stats_at_exit: Option<PymallocStats>,
    /// The share of all of pymalloc's arena bytes at exit that holds no
    /// live object, from its own figures.
    pub pymalloc_fragmentation_at_exit: Option<f64>,
    pub pinned_sites: Vec<LineSite>,
    pub gc: GcSummary,
    pub native_heap: Option<NativeHeap>,
    pub forks: Vec<Fork>,
    pub recommendations: Vec<Recommendation>,
}

/// What the caller knows beyond the capture's events.
pub struct SummaryInput<'a> {
    pub source_line: &'a dyn Fn(&str, u32) -> Option<String>,
    pub classes: &'a [ClassInstances],
    pub caches: &'a [GrowingCache],
}

fn top_lines(profile: &Profile, sites: &[(SiteKey, StackStats)]) -> Vec<LineSite> {
    let mut l = by_line(
        sites.iter().map(|(k, s)| (*k, s.bytes, s.count)),
        &profile.symbols,
    );
    l.truncate(SITES);
    l
}

fn gc_summary(profile: &Profile) -> GcSummary {
    let facts = &profile.memory;
    let gc = &facts.gc;
    let state = facts.state("exit").map(|s| &s.state.gc);
    let cycles: Vec<(SiteKey, StackStats)> =
        gc.freed_by_site.iter().map(|(k, s)| (*k, *s)).collect();
    let seconds = gc.seconds();
    GcSummary {
        collections: gc.collections_by_generation.iter().sum(),
        collections_by_generation: gc.collections_by_generation,
        seconds,
        seconds_by_generation: gc.seconds_by_generation,
        share_of_run: if profile.duration_s > 0.0 {
            seconds / profile.duration_s
        } else {
            0.0
        },
        collected: gc.collections.iter().map(|c| c.collected).sum(),
        uncollectable: gc.collections.iter().map(|c| c.uncollectable).sum(),
        freed_bytes: gc.freed_bytes,
        freed_blocks: gc.freed_blocks,
        largest_collection_bytes: gc.largest_collection_bytes,
        cycle_sites: top_lines(profile, &cycles),
        enabled: state.is_none_or(|g| g.enabled),
        thresholds: state.map(|g| g.thresholds.clone()).unwrap_or_default(),
        frozen: state.map_or(0, |g| g.frozen),
        garbage: facts
            .garbage
            .iter()
            .map(|g| GarbageSummary {
                type_name: g.type_name.clone(),
                count: g.count,
                sites: top_lines(profile, &g.sites),
            })
            .collect(),
    }
}

fn native_heap(profile: &Profile) -> Option<NativeHeap> {
    let exit = profile.memory.state("exit")?;
    let trim = profile.memory.state("after-trim");
    Some(NativeHeap {
        at_exit: exit.state.malloc.clone()?,
        threads: exit.state.threads,
        rss_at_exit: exit.state.rss,
        after_trim: trim.and_then(|t| t.state.malloc.clone()),
        rss_after_trim: trim.map(|t| t.state.rss),
        trim_gave_back: trim.map(|t| exit.state.rss.saturating_sub(t.state.rss)),
    })
}

fn fragmentation(p: &PymallocStats) -> f64 {
    let arenas = p.arenas_current * p.arena_size;
    if arenas == 0 {
        0.0
    } else {
        1.0 - p.allocated_bytes as f64 / arenas as f64
    }
}

/// Builds the summary of a profile.
pub fn memory_summary(profile: &Profile, input: &SummaryInput<'_>) -> MemorySummary {
    let facts = &profile.memory;
    let exit = account_at_exit(facts);
    let advice = recommend(&AdviceInput {
        profile,
        exit: exit.as_ref(),
        source_line: input.source_line,
        classes: input.classes,
        caches: input.caches,
    });
    MemorySummary {
        python_version: profile.metadata.python_version.clone(),
        measured: facts.state("exit").is_some(),
        account_at_peak: account_at_peak(facts, &profile.timeline, profile.peak_time_s),
        account_at_exit: exit,
        pymalloc_at_peak: facts.pymalloc_at_peak.clone(),
        pinned_sites: facts
            .pymalloc_at_exit
            .as_ref()
            .map(|p| top_lines(profile, &p.pinned.by_site))
            .unwrap_or_default(),
        pymalloc_at_exit: facts.pymalloc_at_exit.clone(),
        pymalloc_stats_at_exit: facts.state("exit").and_then(|s| s.state.pymalloc.clone()),
        pymalloc_fragmentation_at_exit: facts
            .state("exit")
            .and_then(|s| s.state.pymalloc.as_ref())
            .map(fragmentation),
        gc: gc_summary(profile),
        native_heap: native_heap(profile),
        forks: facts.forks.clone(),
        recommendations: advice,
    }
}
