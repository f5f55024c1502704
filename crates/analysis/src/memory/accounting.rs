//! Where the RSS goes: the resident bytes split by who holds them, with the
//! rest named rather than hidden.
//!
//! At exit every part is measured inside the process (pymalloc's and glibc's
//! own statistics, the kernel's split of RSS), so the parts must add up to
//! the measured RSS; what they do not explain is reported, and called out
//! when it exceeds the tolerance. At the peak only the capture's own figures
//! exist (the allocators were not asked then), so that account is an
//! estimate whose last part holds everything not tracked.

use memsleuth_format::Domain;
use serde::Serialize;

use crate::memory::{MeasuredState, MemoryFacts};
use crate::replay::TimelinePoint;

/// The least the unexplained part may be and still count as adding up:
/// thread stacks, the interpreter's static data and memory mapped before
/// tracking started are of this order in a small program.
pub const TOLERANCE_FLOOR: u64 = 24 << 20;
/// The share of RSS the unexplained part may be in a large process.
pub const TOLERANCE_SHARE: f64 = 0.10;

/// One part of the RSS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RssPart {
    /// A stable key: `python-objects`, `pymalloc-free`, `native-in-use`,
    /// `memsleuth`, `glibc-free`, `mappings`, `files`, `rest`.
    pub key: &'static str,
    pub label: &'static str,
    /// Bytes; the rest may be negative (pages counted by an allocator but
    /// never touched, so not resident).
    pub bytes: i64,
    /// Where the figure comes from.
    pub source: &'static str,
}

/// The RSS of one moment, split into parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RssAccount {
    /// `exit` or `peak`.
    pub moment: &'static str,
    pub rss: u64,
    pub parts: Vec<RssPart>,
    /// Measured parts add up to the RSS within this.
    pub tolerance: u64,
    /// The part not explained is within the tolerance (always true for an
    /// estimate, which has no measured parts to check).
    pub adds_up: bool,
    pub estimated: bool,
}

impl RssAccount {
    pub fn part(&self, key: &str) -> i64 {
        self.parts
            .iter()
            .find(|p| p.key == key)
            .map_or(0, |p| p.bytes)
    }
}

fn tolerance(rss: u64) -> u64 {
    TOLERANCE_FLOOR.max((rss as f64 * TOLERANCE_SHARE) as u64)
}

fn part(key: &'static str, label: &'static str, bytes: u64, source: &'static str) -> RssPart {
    RssPart {
        key,
        label,
        bytes: bytes as i64,
        source,
    }
}

/// The account at exit, from the `exit` measurement; `None` without one.
pub fn account_at_exit(facts: &MemoryFacts) -> Option<RssAccount> {
    let m: &MeasuredState = facts.state("exit")?;
    let s = &m.state;
    let mut parts = Vec::new();
    if let Some(p) = &s.pymalloc {
        let arenas = p.arenas_current * p.arena_size;
        parts.push(part(
            "python-objects",
            "Python objects in pymalloc",
            p.allocated_bytes,
            "pymalloc",
        ));
        parts.push(part(
            "pymalloc-free",
            "pymalloc free space",
            arenas.saturating_sub(p.allocated_bytes),
            "pymalloc",
        ));
    }
    if let Some(g) = &s.malloc {
        let in_use = g.in_use_bytes + g.mmap_bytes;
        parts.push(part(
            "native-in-use",
            "C heap in use (large Python objects, buffers, extensions)",
            in_use.saturating_sub(s.tracker_heap_bytes),
            "glibc mallinfo2",
        ));
        parts.push(part(
            "memsleuth",
            "memsleuth's own buffers",
            s.tracker_heap_bytes.min(in_use),
            "memsleuth",
        ));
        parts.push(part(
            "glibc-free",
            "C heap free but not returned",
            g.free_bytes,
            "glibc mallinfo2",
        ));
    }
    parts.push(part(
        "mappings",
        "mmap'd regions",
        m.layer(Domain::Mmap),
        "capture",
    ));
    parts.push(part(
        "files",
        "code, libraries and mapped files",
        s.rss_file + s.rss_shmem,
        "kernel",
    ));
    let explained: i64 = parts.iter().map(|p| p.bytes).sum();
    let rest = s.rss as i64 - explained;
    let tolerance = tolerance(s.rss);
    parts.push(RssPart {
        key: "rest",
        label: "the rest: stacks, interpreter data, memory mapped before tracking",
        bytes: rest,
        source: "remainder",
    });
    Some(RssAccount {
        moment: "exit",
        rss: s.rss,
        parts,
        tolerance,
        adds_up: rest.unsigned_abs() <= tolerance,
        estimated: false,
    })
}

/// The account at the peak, estimated from the capture: the timeline sample
/// nearest the peak, the pymalloc picture then, and the file-backed RSS of
/// the first measurement.
pub fn account_at_peak(
    facts: &MemoryFacts,
    timeline: &[TimelinePoint],
    peak_time_s: f64,
) -> Option<RssAccount> {
    let point = timeline.iter().min_by(|a, b| {
        (a.time_s - peak_time_s)
            .abs()
            .total_cmp(&(b.time_s - peak_time_s).abs())
    })?;
    let layer = |d: Domain| point.layer_bytes[d as usize];
    let baseline = facts.state("start");
    let untracked_arenas = baseline
        .and_then(|b| b.state.pymalloc.as_ref())
        .map_or(0, |p| p.arenas_current * p.arena_size);
    let arenas = layer(Domain::Arena) + untracked_arenas;
    let python = layer(Domain::Object) + layer(Domain::Mem) + layer(Domain::Raw);
    let pymalloc_free = arenas.saturating_sub(point.pymalloc_block_bytes);
    let files = facts
        .states
        .first()
        .map_or(0, |s| s.state.rss_file + s.state.rss_shmem);
    let mut parts = vec![
        part(
            "python-objects",
            "Python objects and buffers",
            python,
            "capture",
        ),
        part(
            "pymalloc-free",
            "pymalloc free space",
            pymalloc_free,
            "capture",
        ),
        part(
            "native-in-use",
            "C heap in use",
            layer(Domain::Native),
            "capture",
        ),
        part("mappings", "mmap'd regions", layer(Domain::Mmap), "capture"),
        part("files", "code, libraries and mapped files", files, "kernel"),
    ];
    let explained: i64 = parts.iter().map(|p| p.bytes).sum();
    parts.push(RssPart {
        key: "rest",
        label: "the rest: C heap free space, allocator overhead, stacks, untracked memory",
        bytes: point.rss_bytes as i64 - explained,
        source: "remainder",
    });
    Some(RssAccount {
        moment: "peak",
        rss: point.rss_bytes,
        parts,
        tolerance: tolerance(point.rss_bytes),
        adds_up: true,
        estimated: true,
    })
}
