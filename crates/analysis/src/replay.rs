//! Replays a capture's events to find the peak, the leaks and the totals.
//!
//! Two passes: the first finds the totals, the timeline, the leaks and the
//! index of the event at which tracked bytes peaked; the second replays up to
//! that event to learn which blocks were live then. Keeping a copy of the live
//! set at every new maximum instead would cost memory and time proportional to
//! the number of times the maximum moves, which on a growing program is every
//! allocation.

use memsleuth_format::reader::Completeness;
use memsleuth_format::{Metadata, Record, ThreadDef};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::symbols::Symbols;

/// Bytes and number of blocks attributed to one stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StackStats {
    pub bytes: u64,
    pub count: u64,
}

impl StackStats {
    fn add(&mut self, bytes: u64) {
        self.bytes += bytes;
        self.count += 1;
    }
}

/// One timeline sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelinePoint {
    pub time_s: f64,
    pub rss_bytes: u64,
    pub tracked_bytes: u64,
}

/// Everything the first answers need, computed from one capture.
pub struct Profile {
    pub metadata: Metadata,
    pub completeness: Completeness,
    pub peak_bytes: u64,
    pub peak_time_s: f64,
    pub total_allocated_bytes: u64,
    pub allocation_count: u64,
    pub duration_s: f64,
    pub leaked_bytes: u64,
    pub leak_count: u64,
    pub peak_by_stack: FxHashMap<u32, StackStats>,
    pub leaks_by_stack: FxHashMap<u32, StackStats>,
    pub allocated_by_stack: FxHashMap<u32, StackStats>,
    pub timeline: Vec<TimelinePoint>,
    pub symbols: Symbols,
}

impl Profile {
    /// The threads seen, main thread first, then by native id.
    pub fn threads(&self) -> Vec<ThreadDef> {
        let mut t: Vec<ThreadDef> = self.symbols.threads().cloned().collect();
        t.sort_by_key(|t| (!t.is_main, t.native_id));
        t
    }
}

/// The blocks live at one moment of the replay.
#[derive(Default)]
struct LiveSet {
    blocks: FxHashMap<u64, (u64, u32)>,
    bytes: u64,
}

impl LiveSet {
    /// Applies one event; returns the bytes and stack of a new block, if any.
    /// Frees of blocks allocated before tracking started are ignored.
    fn apply(&mut self, record: &Record) -> Option<(u64, u32)> {
        match *record {
            Record::Alloc {
                addr, size, stack, ..
            } => {
                self.insert(addr, size, stack);
                Some((size, stack))
            }
            Record::Free { addr, .. } => {
                self.remove(addr);
                None
            }
            Record::Realloc {
                old_addr,
                addr,
                size,
                stack,
                ..
            } => {
                if old_addr != 0 {
                    self.remove(old_addr);
                }
                self.insert(addr, size, stack);
                Some((size, stack))
            }
            _ => None,
        }
    }

    fn insert(&mut self, addr: u64, size: u64, stack: u32) {
        if let Some((old, _)) = self.blocks.insert(addr, (size, stack)) {
            // A block allocated twice without a free in between means a free
            // was lost; trust the newest allocation.
            self.bytes -= old;
        }
        self.bytes += size;
    }

    fn remove(&mut self, addr: u64) {
        if let Some((size, _)) = self.blocks.remove(&addr) {
            self.bytes -= size;
        }
    }

    fn by_stack(&self) -> FxHashMap<u32, StackStats> {
        let mut out: FxHashMap<u32, StackStats> = FxHashMap::default();
        for &(size, stack) in self.blocks.values() {
            out.entry(stack).or_default().add(size);
        }
        out
    }
}

fn is_event(record: &Record) -> bool {
    matches!(
        record,
        Record::Alloc { .. } | Record::Free { .. } | Record::Realloc { .. }
    )
}

/// Where the peak happened, to be placed on the timeline after the first pass.
struct PeakMark {
    event_index: u64,
    /// (event index, time) of the samples just before and after the peak.
    before: Option<(u64, u64)>,
    after: Option<(u64, u64)>,
}

impl PeakMark {
    fn time_s(&self) -> f64 {
        let ns = match (self.before, self.after) {
            (Some((i0, t0)), Some((i1, t1))) if i1 > i0 => {
                let frac = (self.event_index.saturating_sub(i0)) as f64 / (i1 - i0) as f64;
                t0 as f64 + frac * t1.saturating_sub(t0) as f64
            }
            (_, Some((_, t))) | (Some((_, t)), None) => t as f64,
            (None, None) => 0.0,
        };
        ns / 1e9
    }
}

/// Analyses a capture. `open` must return a fresh iterator over the capture's
/// records, with the metadata and (once exhausted) completeness; it is called
/// twice.
pub fn analyze<S, I, E>(mut open: S) -> Result<Profile, E>
where
    S: FnMut() -> Result<(Metadata, I), E>,
    I: Iterator<Item = Result<Record, E>> + CompletenessSource,
{
    let (metadata, mut records) = open()?;
    let mut symbols = Symbols::default();
    let mut live = LiveSet::default();
    let mut allocated_by_stack: FxHashMap<u32, StackStats> = FxHashMap::default();
    let mut timeline = Vec::new();
    let (mut total_allocated_bytes, mut allocation_count) = (0u64, 0u64);
    let (mut peak_bytes, mut event_index, mut end_ns) = (0u64, 0u64, 0u64);
    let mut mark = PeakMark {
        event_index: 0,
        before: None,
        after: None,
    };
    let mut last_sample: Option<(u64, u64)> = None;
    for record in records.by_ref() {
        let record = record?;
        if symbols.learn(&record) {
            continue;
        }
        match record {
            Record::Sample { time_ns, rss_bytes } => {
                timeline.push(TimelinePoint {
                    time_s: time_ns as f64 / 1e9,
                    rss_bytes,
                    tracked_bytes: live.bytes,
                });
                if mark.after.is_none() && peak_bytes > 0 {
                    mark.after = Some((event_index, time_ns));
                }
                last_sample = Some((event_index, time_ns));
                end_ns = end_ns.max(time_ns);
            }
            Record::End { time_ns } => end_ns = end_ns.max(time_ns),
            ref r if is_event(r) => {
                if let Some((size, stack)) = live.apply(r) {
                    total_allocated_bytes += size;
                    allocation_count += 1;
                    allocated_by_stack.entry(stack).or_default().add(size);
                }
                event_index += 1;
                if live.bytes > peak_bytes {
                    peak_bytes = live.bytes;
                    mark = PeakMark {
                        event_index,
                        before: last_sample,
                        after: None,
                    };
                }
            }
            _ => {}
        }
    }
    let completeness = records.completeness();
    let leaks_by_stack = live.by_stack();
    let (leaked_bytes, leak_count) = (live.bytes, live.blocks.len() as u64);
    drop(live);

    let peak_by_stack = if peak_bytes == 0 {
        FxHashMap::default()
    } else {
        live_at(&mut open, mark.event_index)?
    };
    Ok(Profile {
        metadata,
        completeness,
        peak_bytes,
        peak_time_s: mark.time_s(),
        total_allocated_bytes,
        allocation_count,
        duration_s: end_ns as f64 / 1e9,
        leaked_bytes,
        leak_count,
        peak_by_stack,
        leaks_by_stack,
        allocated_by_stack,
        timeline,
        symbols,
    })
}

/// The live blocks by stack just after the `n`-th event (counting from 1).
fn live_at<S, I, E>(open: &mut S, n: u64) -> Result<FxHashMap<u32, StackStats>, E>
where
    S: FnMut() -> Result<(Metadata, I), E>,
    I: Iterator<Item = Result<Record, E>>,
{
    let (_, records) = open()?;
    let mut live = LiveSet::default();
    let mut seen = 0u64;
    for record in records {
        let record = record?;
        if !is_event(&record) {
            continue;
        }
        live.apply(&record);
        seen += 1;
        if seen == n {
            break;
        }
    }
    Ok(live.by_stack())
}

/// A record source that can say, once exhausted, whether the capture was whole.
pub trait CompletenessSource {
    fn completeness(&self) -> Completeness;
}

impl<R: std::io::Read> CompletenessSource for memsleuth_format::reader::CaptureReader<R> {
    fn completeness(&self) -> Completeness {
        memsleuth_format::reader::CaptureReader::completeness(self).clone()
    }
}
