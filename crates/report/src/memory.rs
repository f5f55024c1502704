//! `memsleuth memory`: where the RSS goes, pymalloc's arenas, the garbage
//! collector, glibc's heap and the recommendations, as terminal text.

use std::fmt::Write;

use memsleuth_analysis::memory::{
    account_at_exit, GcSummary, MemorySummary, NativeHeap, PymallocPicture, Recommendation,
    RssAccount,
};
use memsleuth_analysis::{LineSite, Profile};
use memsleuth_format::PymallocStats;

use crate::style::TextStyle;

pub fn memory_text(summary: &MemorySummary, capture: &str, style: impl Into<TextStyle>) -> String {
    let style = &style.into();
    let mut out = String::new();
    if !summary.measured {
        let _ = writeln!(
            out,
            "This capture has no measurement of the memory managers at exit (the program did not \
             end through memsleuth's exit handler, or the capture predates them); the figures \
             below come from its events alone."
        );
    }
    for account in [&summary.account_at_exit, &summary.account_at_peak]
        .into_iter()
        .flatten()
    {
        rss_account(&mut out, account, style);
    }
    if let Some(stats) = &summary.pymalloc_stats_at_exit {
        let fragmentation = summary.pymalloc_fragmentation_at_exit.unwrap_or(0.0);
        pymalloc_stats(&mut out, stats, fragmentation, style);
    }
    for (moment, picture) in [
        ("at the peak", &summary.pymalloc_at_peak),
        ("at exit", &summary.pymalloc_at_exit),
    ] {
        if let Some(p) = picture {
            pymalloc(&mut out, moment, p, style);
        }
    }
    if summary
        .pymalloc_at_exit
        .as_ref()
        .is_some_and(|p| p.pinned.arenas > 0)
    {
        pinned(&mut out, summary, style);
    }
    gc(&mut out, &summary.gc, style);
    if let Some(native) = &summary.native_heap {
        native_heap(&mut out, native, style);
    }
    recommendations(&mut out, &summary.recommendations, style);
    let _ = writeln!(
        out,
        "Capture: {capture}  (memsleuth memory {capture} --json)"
    );
    out
}

/// One line for the end-of-run summary: the RSS at exit and its largest parts.
pub(crate) fn rss_line(profile: &Profile, capture: &str, style: &TextStyle) -> Option<String> {
    let account = account_at_exit(&profile.memory)?;
    let mut parts: Vec<_> = account.parts.iter().filter(|p| p.key != "rest").collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
    let largest: Vec<String> = parts
        .iter()
        .take(3)
        .map(|p| format!("{} {}", short_label(p.key), signed_bytes(style, p.bytes)))
        .collect();
    Some(format!(
        "RSS at exit {}: {}  (why: memsleuth memory {capture})",
        style.bytes(account.rss),
        largest.join(", ")
    ))
}

/// The words for a part in the one-line summary.
fn short_label(key: &str) -> &str {
    match key {
        "python-objects" => "Python objects",
        "pymalloc-free" => "pymalloc free space",
        "native-in-use" => "C heap",
        "memsleuth" => "memsleuth",
        "glibc-free" => "glibc free",
        "mappings" => "mmap",
        "files" => "code and files",
        other => other,
    }
}

fn heading(out: &mut String, style: &TextStyle, title: &str) {
    let _ = writeln!(out, "{}", style.strong(title));
}

fn signed_bytes(style: &TextStyle, n: i64) -> String {
    if n < 0 {
        format!("-{}", style.bytes(n.unsigned_abs()))
    } else {
        style.bytes(n as u64)
    }
}

fn rss_account(out: &mut String, a: &RssAccount, style: &TextStyle) {
    let how = if a.estimated {
        "estimated from the capture"
    } else {
        "measured"
    };
    heading(
        out,
        style,
        &format!(
            "Where the RSS goes {} ({how}): {}",
            a.moment_words(),
            style.bytes(a.rss)
        ),
    );
    for p in &a.parts {
        let _ = writeln!(
            out,
            "  {:>12}  {:<64} {}",
            signed_bytes(style, p.bytes),
            p.label,
            p.source
        );
    }
    if !a.estimated {
        let rest = a.part("rest");
        let verdict = if a.adds_up {
            format!(
                "  The parts add up to the RSS within {} (what they leave unexplained: {}).",
                style.bytes(a.tolerance),
                signed_bytes(style, rest)
            )
        } else {
            format!(
                "  The parts do NOT add up: {} of the RSS is unexplained, more than the {} \
                 tolerance (memory mapped outside the tracked allocators, or before tracking).",
                signed_bytes(style, rest),
                style.bytes(a.tolerance)
            )
        };
        let _ = writeln!(out, "{verdict}");
    }
}

trait MomentWords {
    fn moment_words(&self) -> &'static str;
}

impl MomentWords for RssAccount {
    fn moment_words(&self) -> &'static str {
        match self.moment {
            "peak" => "at the peak",
            _ => "at exit",
        }
    }
}

fn pymalloc(out: &mut String, moment: &str, p: &PymallocPicture, style: &TextStyle) {
    heading(
        out,
        style,
        &format!(
            "pymalloc {moment} (arenas made while tracking): {} arenas, {}, {:.0}% fragmented",
            p.arenas,
            style.bytes(p.arena_bytes),
            p.fragmentation * 100.0
        ),
    );
    let _ = writeln!(
        out,
        "  live blocks {} ({}); free blocks in used pools {}; free pools {} of {} ({}); overhead {}",
        p.live_blocks,
        style.bytes(p.live_bytes),
        style.bytes(p.free_block_bytes),
        p.free_pools,
        p.free_pools + p.used_pools,
        style.bytes(p.free_pool_bytes),
        style.bytes(p.overhead_bytes)
    );
    let mut classes: Vec<_> = p.classes.iter().collect();
    classes.sort_by_key(|c| std::cmp::Reverse(c.pools));
    let _ = writeln!(
        out,
        "  {:>6}  {:>8}  {:>12}  {:>12}",
        "class", "pools", "blocks used", "blocks free"
    );
    for c in classes.iter().take(8) {
        let _ = writeln!(
            out,
            "  {:>6}  {:>8}  {:>12}  {:>12}",
            c.size, c.pools, c.blocks_in_use, c.blocks_free
        );
    }
    if classes.len() > 8 {
        let _ = writeln!(out, "  ({} more size classes)", classes.len() - 8);
    }
}

/// pymalloc's own figures: every arena, those made before tracking too.
fn pymalloc_stats(out: &mut String, p: &PymallocStats, fragmentation: f64, style: &TextStyle) {
    let arenas = p.arenas_current * p.arena_size;
    heading(
        out,
        style,
        &format!(
            "pymalloc at exit (its own figures, all arenas): {} arenas of {} ({}; at most {} at once), {:.0}% fragmented",
            p.arenas_current,
            style.bytes(p.arena_size),
            style.bytes(arenas),
            p.arenas_highwater,
            fragmentation * 100.0
        ),
    );
    let _ = writeln!(
        out,
        "  objects {}; free blocks in used pools {}; {} unused pools ({}); headers, rounding and alignment {}",
        style.bytes(p.allocated_bytes),
        style.bytes(p.available_bytes),
        p.unused_pools,
        style.bytes(p.unused_pools * p.pool_size),
        style.bytes(p.pool_header_bytes + p.quantization_bytes + p.alignment_bytes)
    );
}

fn site_lines(out: &mut String, sites: &[LineSite], style: &TextStyle) {
    for s in sites.iter().take(5) {
        let _ = writeln!(
            out,
            "    {:>12}  {:>9} blocks  {}:{} ({})",
            style.bytes(s.bytes),
            s.count,
            s.file,
            s.line,
            s.function
        );
    }
}

fn pinned(out: &mut String, summary: &MemorySummary, style: &TextStyle) {
    let Some(p) = &summary.pymalloc_at_exit else {
        return;
    };
    let pin = &p.pinned;
    heading(
        out,
        style,
        &format!(
            "Arenas pinned at exit: {} arenas ({}) held by {} live blocks ({})",
            pin.arenas,
            style.bytes(pin.arena_bytes),
            pin.live_blocks,
            style.bytes(pin.live_bytes)
        ),
    );
    site_lines(out, &summary.pinned_sites, style);
}

fn gc(out: &mut String, g: &GcSummary, style: &TextStyle) {
    heading(
        out,
        style,
        &format!(
            "Garbage collector: {} collections (generations 0/1/2: {}/{}/{}), {:.3} s ({:.1}% of the run)",
            g.collections,
            g.collections_by_generation[0],
            g.collections_by_generation[1],
            g.collections_by_generation[2],
            g.seconds,
            g.share_of_run * 100.0
        ),
    );
    let _ = writeln!(
        out,
        "  {} objects collected, {} uncollectable; {} in {} blocks freed only by the collector (reference cycles)",
        g.collected,
        g.uncollectable,
        style.bytes(g.freed_bytes),
        g.freed_blocks
    );
    if !g.cycle_sites.is_empty() {
        let _ = writeln!(out, "  allocated at:");
        site_lines(out, &g.cycle_sites, style);
    }
    if !g.enabled {
        let _ = writeln!(out, "  the collector was disabled at exit (gc.disable())");
    }
    if g.frozen > 0 {
        let _ = writeln!(out, "  {} objects frozen (gc.freeze())", g.frozen);
    }
    for garbage in &g.garbage {
        let _ = writeln!(
            out,
            "  gc.garbage holds {} {} objects",
            garbage.count, garbage.type_name
        );
        site_lines(out, &garbage.sites, style);
    }
}

fn native_heap(out: &mut String, n: &NativeHeap, style: &TextStyle) {
    let m = &n.at_exit;
    heading(
        out,
        style,
        &format!(
            "C heap (glibc) at exit: {} in use, {} free but not returned, {} arenas, {} threads",
            style.bytes(m.in_use_bytes + m.mmap_bytes),
            style.bytes(m.free_bytes),
            m.arenas,
            n.threads
        ),
    );
    match (n.rss_after_trim, n.trim_gave_back) {
        (Some(after), Some(gave)) => {
            let _ = writeln!(
                out,
                "  malloc_trim(0) gave back {}: RSS {} -> {}",
                style.bytes(gave),
                style.bytes(n.rss_at_exit),
                style.bytes(after)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  (memsleuth run --trim-probe measures what malloc_trim would give back)"
            );
        }
    }
}

fn recommendations(out: &mut String, recs: &[Recommendation], style: &TextStyle) {
    if recs.is_empty() {
        heading(
            out,
            style,
            "Recommendations: none; nothing in this run calls for one",
        );
        return;
    }
    heading(out, style, "Recommendations:");
    for (i, r) in recs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {} (saves about {})",
            i + 1,
            r.title,
            style.bytes(r.saving_bytes)
        );
        let _ = writeln!(out, "     {}", r.evidence);
        for s in r.sites.iter().take(3) {
            let _ = writeln!(
                out,
                "     at {}:{} ({}): {} in {} blocks",
                s.file,
                s.line,
                s.function,
                style.bytes(s.bytes),
                s.count
            );
        }
    }
}
