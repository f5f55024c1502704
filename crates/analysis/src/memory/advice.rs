//! Recommendations, each made only when the capture proves its case, with
//! the numbers, the sites and the saving it expects.
//!
//! Every rule needs two things: a pattern (a cycle freed by the collector,
//! a whole file read at one line) and a size that matters (a share of the
//! peak or the RSS, and a floor in bytes), so that a small or healthy
//! program gets no advice at all. Rules that look at the code read the
//! line the capture names, through the caller (this crate does no I/O).

use serde::Serialize;

use crate::memory::accounting::RssAccount;
use crate::memory::MemoryFacts;
use crate::replay::{Profile, SiteKey, StackStats};
use crate::sites::{by_line, LineSite};

/// No recommendation is worth making for less than this.
pub const MIN_SAVING: u64 = 8 << 20;

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// A stable key: `slots`, `stream-file`, `generator`, `bound-cache`,
    /// `break-cycles`, `gc-freeze`, `malloc-arenas`, `pymalloc-fragmentation`.
    pub kind: &'static str,
    /// What to do, in one line.
    pub title: String,
    /// Why: the numbers the capture shows.
    pub evidence: String,
    /// What following it is expected to save, in bytes.
    pub saving_bytes: u64,
    /// Where: the lines it is about, most bytes first.
    pub sites: Vec<LineSite>,
}

/// Instances of one class, from a heap snapshot, for the `__slots__` rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassInstances {
    pub type_name: String,
    pub instances: u64,
    /// What the instances occupy with their attribute storage (`__dict__`
    /// or inline values).
    pub bytes: u64,
    /// What they would occupy with `__slots__` for the same attributes.
    pub slotted_bytes: u64,
    pub sites: Vec<LineSite>,
}

/// A container that only grows, from a heap snapshot, for the cache rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrowingCache {
    /// `lru_cache(maxsize=None)` or `module-level dict`.
    pub what: String,
    /// How to find it: `module.function` or `module.NAME`.
    pub name: String,
    pub entries: u64,
    pub retained_bytes: u64,
    pub sites: Vec<LineSite>,
}

/// What the rules look at.
pub struct AdviceInput<'a> {
    pub profile: &'a Profile,
    pub exit: Option<&'a RssAccount>,
    /// Line `n` of a source file, for the rules that read the code.
    pub source_line: &'a dyn Fn(&str, u32) -> Option<String>,
    pub classes: &'a [ClassInstances],
    pub caches: &'a [GrowingCache],
}

/// Every recommendation the capture proves, largest saving first.
pub fn recommend(input: &AdviceInput<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let facts = &input.profile.memory;
    out.extend(pymalloc_fragmentation(input.profile, facts));
    out.extend(break_cycles(input.profile, facts));
    out.extend(stream_files(input));
    out.extend(generators(input));
    out.extend(slots(input));
    out.extend(bound_caches(input));
    out.extend(gc_freeze(facts));
    out.extend(malloc_arenas(facts));
    out.sort_by(|a, b| b.saving_bytes.cmp(&a.saving_bytes).then(a.kind.cmp(b.kind)));
    out
}

fn lines(profile: &Profile, sites: &[(SiteKey, StackStats)]) -> Vec<LineSite> {
    let mut l = by_line(
        sites.iter().map(|(k, s)| (*k, s.bytes, s.count)),
        &profile.symbols,
    );
    l.truncate(5);
    l
}

/// Bytes for a sentence, in the largest binary unit that keeps a digit
/// before the point.
fn mib(bytes: u64) -> String {
    let units = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    match units.iter().find(|&&(_, size)| bytes >= size) {
        Some(&(unit, size)) => format!("{:.1} {unit}", bytes as f64 / size as f64),
        None => format!("{bytes} B"),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Arenas pinned by a few live blocks that hold a large part of the RSS.
fn pymalloc_fragmentation(profile: &Profile, facts: &MemoryFacts) -> Option<Recommendation> {
    let p = facts.pymalloc_at_exit.as_ref()?;
    let pinned = &p.pinned;
    let saving = pinned.arena_bytes.saturating_sub(pinned.live_bytes);
    let rss = facts.state("exit").map_or(0, |s| s.state.rss);
    if saving < MIN_SAVING || share(pinned.arena_bytes, rss.max(profile.peak_bytes)) < 0.10 {
        return None;
    }
    let sites = lines(profile, &pinned.by_site);
    Some(Recommendation {
        kind: "pymalloc-fragmentation",
        title: "Free or move the few objects that pin pymalloc's arenas".into(),
        evidence: format!(
            "{} arenas ({}) are kept from the system by {} live blocks ({}, under {:.0}% of them); \
             an arena is returned only when every block in it is free. Allocate long-lived \
             objects before the short-lived ones, or keep them out of the churn (copy them \
             into a new container once the burst is over).",
            pinned.arenas,
            mib(pinned.arena_bytes),
            pinned.live_blocks,
            mib(pinned.live_bytes),
            super::pymalloc::PINNED_SHARE * 100.0,
        ),
        saving_bytes: saving,
        sites,
    })
}

/// Large payloads freed only by the cyclic collector.
fn break_cycles(profile: &Profile, facts: &MemoryFacts) -> Option<Recommendation> {
    let gc = &facts.gc;
    let saving = gc.largest_collection_bytes;
    if saving < MIN_SAVING || share(gc.freed_bytes, profile.total_allocated_bytes) < 0.05 {
        return None;
    }
    let by_site: Vec<(SiteKey, StackStats)> =
        gc.freed_by_site.iter().map(|(k, s)| (*k, *s)).collect();
    Some(Recommendation {
        kind: "break-cycles",
        title: "Break reference cycles (or use weakref) so memory is freed at once".into(),
        evidence: format!(
            "{} in {} blocks could only be freed by the garbage collector: they were in \
             reference cycles, and stayed allocated until a collection ran (up to {} waited \
             for one collection).",
            mib(gc.freed_bytes),
            gc.freed_blocks,
            mib(saving),
        ),
        saving_bytes: saving,
        sites: lines(profile, &by_site),
    })
}

/// The peak's lines with their bytes and blocks.
fn peak_lines(profile: &Profile) -> Vec<LineSite> {
    by_line(
        profile
            .peak_by_stack
            .iter()
            .filter(|(k, _)| k.layer.counts_in_total())
            .map(|(k, s)| (*k, s.bytes, s.count)),
        &profile.symbols,
    )
}

/// Whether a line of code reads a whole file into memory.
pub fn reads_whole_file(code: &str) -> bool {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    [
        ".read()",
        ".readlines()",
        ".read(-1)",
        ".read_text(",
        ".read_bytes()",
    ]
    .iter()
    .any(|pattern| code.contains(pattern))
}

/// A whole file read at once that makes up a large part of the peak.
fn stream_files(input: &AdviceInput<'_>) -> Vec<Recommendation> {
    let profile = input.profile;
    peak_lines(profile)
        .into_iter()
        .take(10)
        .filter(|l| {
            l.bytes / l.count.max(1) >= MIN_SAVING * 2
                && share(l.bytes, profile.peak_bytes) >= 0.20
                && (input.source_line)(&l.file, l.line).is_some_and(|c| reads_whole_file(&c))
        })
        .map(|l| Recommendation {
            kind: "stream-file",
            title: format!(
                "Stream the file read at {}:{} instead of reading it whole",
                l.file, l.line
            ),
            evidence: format!(
                "{} of the peak's {} ({:.0}%) is what this line read in one go; reading it in \
                 chunks or line by line (`for line in f`) holds one chunk at a time.",
                mib(l.bytes),
                mib(profile.peak_bytes),
                share(l.bytes, profile.peak_bytes) * 100.0
            ),
            saving_bytes: l.bytes,
            sites: vec![l],
        })
        .collect()
}

/// Whether a line passes a list comprehension straight to a function that
/// only iterates it once.
pub fn list_comprehension_consumed(code: &str) -> bool {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    [
        "sum([", "max([", "min([", "any([", "all([", "set([", "tuple([", ".join([",
    ]
    .iter()
    .any(|call| {
        code.find(call)
            .is_some_and(|at| code[at..].contains("for") && code[at..].contains("in"))
    })
}

/// A big list built only to be consumed once, at a line whose memory is
/// all freed again.
fn generators(input: &AdviceInput<'_>) -> Vec<Recommendation> {
    let profile = input.profile;
    let leaked = by_line(
        profile
            .leaks_by_stack
            .iter()
            .map(|(k, s)| (*k, s.bytes, s.count)),
        &profile.symbols,
    );
    peak_lines(profile)
        .into_iter()
        .take(10)
        .filter(|l| {
            let kept = leaked
                .iter()
                .find(|k| k.file == l.file && k.line == l.line)
                .map_or(0, |k| k.bytes);
            l.bytes >= MIN_SAVING * 2
                && share(l.bytes, profile.peak_bytes) >= 0.20
                && kept < l.bytes / 100
                && (input.source_line)(&l.file, l.line)
                    .is_some_and(|c| list_comprehension_consumed(&c))
        })
        .map(|l| Recommendation {
            kind: "generator",
            title: format!(
                "Use a generator expression at {}:{} instead of building a list",
                l.file, l.line
            ),
            evidence: format!(
                "The list built at this line held {} at the peak ({:.0}% of it) and was thrown \
                 away after one pass; without the brackets the items are made one at a time.",
                mib(l.bytes),
                share(l.bytes, profile.peak_bytes) * 100.0
            ),
            saving_bytes: l.bytes,
            sites: vec![l],
        })
        .collect()
}

/// Many instances of a class that keeps its attributes in a dict.
fn slots(input: &AdviceInput<'_>) -> Vec<Recommendation> {
    input
        .classes
        .iter()
        .filter(|c| c.instances >= 10_000 && c.bytes.saturating_sub(c.slotted_bytes) >= MIN_SAVING)
        .map(|c| {
            let saving = c.bytes - c.slotted_bytes;
            Recommendation {
                kind: "slots",
                title: format!("Give {} `__slots__`", c.type_name),
                evidence: format!(
                    "{} instances take {} with their attribute dicts; with `__slots__` they \
                     would take {} ({} bytes less each).",
                    c.instances,
                    mib(c.bytes),
                    mib(c.slotted_bytes),
                    saving / c.instances.max(1)
                ),
                saving_bytes: saving,
                sites: c.sites.clone(),
            }
        })
        .collect()
}

/// A cache that only grows and holds a large part of the heap.
fn bound_caches(input: &AdviceInput<'_>) -> Vec<Recommendation> {
    let peak = input.profile.peak_bytes;
    input
        .caches
        .iter()
        .filter(|c| c.retained_bytes >= MIN_SAVING && share(c.retained_bytes, peak) >= 0.10)
        .map(|c| Recommendation {
            kind: "bound-cache",
            title: format!("Bound {} ({})", c.name, c.what),
            evidence: format!(
                "It holds {} entries retaining {} and has no size limit; give it one \
                 (`lru_cache(maxsize=N)`, or evict old entries). A bound saves up to what \
                 it retains, less what the entries it keeps hold.",
                c.entries,
                mib(c.retained_bytes)
            ),
            saving_bytes: c.retained_bytes,
            sites: c.sites.clone(),
        })
        .collect()
}

/// A program that forks with many objects and never froze them.
fn gc_freeze(facts: &MemoryFacts) -> Option<Recommendation> {
    let last = facts.forks.last()?;
    // Some interpreters start with objects frozen (3.12 does), so only what
    // the program froze itself counts.
    let frozen = |label| facts.state(label).map_or(0, |s| s.state.gc.frozen);
    let frozen_by_program = frozen("exit").saturating_sub(frozen("start"));
    if facts.forks.len() < 2 || frozen_by_program > 0 || last.python_object_bytes < 4 * MIN_SAVING {
        return None;
    }
    Some(Recommendation {
        kind: "gc-freeze",
        title: "Call gc.freeze() before forking workers".into(),
        evidence: format!(
            "The program forked {} times with {} of Python objects live; each collection in a \
             child writes to every object it visits, copying the pages it shares with the \
             parent. gc.freeze() (after gc.disable() early in the parent) keeps them shared.",
            facts.forks.len(),
            mib(last.python_object_bytes)
        ),
        saving_bytes: last.python_object_bytes,
        sites: Vec::new(),
    })
}

/// Threads whose malloc arenas hold a lot of free memory.
fn malloc_arenas(facts: &MemoryFacts) -> Option<Recommendation> {
    let exit = facts.state("exit")?;
    let malloc = exit.state.malloc.as_ref()?;
    let trimmed = facts
        .state("after-trim")
        .map(|t| exit.state.rss.saturating_sub(t.state.rss));
    let saving = trimmed.unwrap_or(malloc.free_bytes);
    if malloc.arenas < 2 || saving < 4 * MIN_SAVING || share(saving, exit.state.rss) < 0.20 {
        return None;
    }
    let measured = match trimmed {
        Some(t) => format!("malloc_trim(0) at exit gave back {} of RSS", mib(t)),
        None => "run with --trim-probe to measure what malloc_trim gives back".into(),
    };
    Some(Recommendation {
        kind: "malloc-arenas",
        title: "Limit glibc's malloc arenas (MALLOC_ARENA_MAX=2) or call malloc_trim".into(),
        evidence: format!(
            "glibc holds {} free in {} arenas at exit ({:.0}% of RSS): threads get arenas of \
             their own, and free memory inside them is not returned; {}.",
            mib(malloc.free_bytes),
            malloc.arenas,
            share(malloc.free_bytes, exit.state.rss) * 100.0,
            measured
        ),
        saving_bytes: saving,
        sites: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_sentences_keep_a_digit_before_the_point() {
        assert_eq!(mib(300), "300 B");
        assert_eq!(mib(3 * 1024 + 512), "3.5 KiB");
        assert_eq!(mib(40_002_280), "38.1 MiB");
        assert_eq!(mib(3 << 30), "3.0 GiB");
    }

    #[test]
    fn whole_file_reads_are_recognised_and_chunked_ones_are_not() {
        assert!(reads_whole_file("    data = f.read()"));
        assert!(reads_whole_file("rows = open(p).readlines()"));
        assert!(reads_whole_file("text = Path(p).read_text()"));
        assert!(!reads_whole_file("chunk = f.read(65536)"));
        assert!(!reads_whole_file("for line in f:"));
    }

    #[test]
    fn only_comprehensions_consumed_in_place_are_recognised() {
        assert!(list_comprehension_consumed(
            "total = sum([x * x for x in values])"
        ));
        assert!(list_comprehension_consumed(
            "s = ', '.join([str(v) for v in vs])"
        ));
        assert!(!list_comprehension_consumed(
            "total = sum(x * x for x in values)"
        ));
        assert!(!list_comprehension_consumed(
            "squares = [x * x for x in values]"
        ));
    }
}
