//! Replays a capture's events to find the peak, the leaks and the totals.
//!
//! Two passes: the first finds the totals, the timeline, the leaks and the
//! index of the event at which tracked bytes peaked; the second replays up to
//! that event to learn which blocks were live then. Keeping a copy of the live
//! set at every new maximum instead would cost memory and time proportional to
//! the number of times the maximum moves, which on a growing program is every
//! allocation.

use std::collections::BTreeMap;

use memsleuth_format::reader::Completeness;
use memsleuth_format::{Domain, Metadata, Record, ThreadDef};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::blockmap::BlockMap;
use crate::memory::{self, pymalloc, MemoryFacts, MemoryObserver};
use crate::symbols::Symbols;
use crate::temporaries::Temporaries;

/// What allocations are grouped by before symbolization: the Python stack,
/// the native stack (0 when not recorded) and the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SiteKey {
    pub stack: u32,
    pub native: u32,
    pub layer: Domain,
}

/// One layer's part of the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LayerTotals {
    pub layer: Domain,
    /// Whether the layer adds up to the tracked total (all but arenas).
    pub in_total: bool,
    /// Live in this layer at the moment the tracked total peaked.
    pub at_peak_bytes: u64,
    /// The most this layer alone ever held.
    pub max_bytes: u64,
    pub leaked_bytes: u64,
    pub allocated_bytes: u64,
    pub allocations: u64,
}

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
    /// Live blocks pymalloc serves (object and mem requests of at most 512
    /// bytes), each rounded up to its size class.
    pub pymalloc_block_bytes: u64,
    /// Live bytes of each layer, in [`Domain::ALL`] order (pymalloc's
    /// arenas included, though they are not in `tracked_bytes`).
    pub layer_bytes: [u64; Domain::ALL.len()],
}

/// The process was stopped at its `--limit` (a `LimitReached` record).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LimitStop {
    pub time_s: f64,
    pub rss_bytes: u64,
    pub limit_bytes: u64,
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
    pub peak_by_stack: FxHashMap<SiteKey, StackStats>,
    pub leaks_by_stack: FxHashMap<SiteKey, StackStats>,
    pub allocated_by_stack: FxHashMap<SiteKey, StackStats>,
    /// Temporaries (see `temporaries.rs`) by site.
    pub temporary_by_stack: FxHashMap<SiteKey, StackStats>,
    /// Every layer that holds anything, in [`Domain::ALL`] order.
    pub layers: Vec<LayerTotals>,
    pub timeline: Vec<TimelinePoint>,
    pub symbols: Symbols,
    /// Complete heap snapshots in the capture (see `heap`).
    pub snapshots: u32,
    /// The memory managers and the collector (see `memory`).
    pub memory: MemoryFacts,
    /// Set when memsleuth stopped the process at its RSS limit.
    pub limit_stop: Option<LimitStop>,
}

impl Profile {
    /// The threads seen, main thread first, then by native id.
    pub fn threads(&self) -> Vec<ThreadDef> {
        let mut t: Vec<ThreadDef> = self.symbols.threads().cloned().collect();
        t.sort_by_key(|t| (!t.is_main, t.native_id));
        t
    }
}

#[derive(Clone, Copy)]
struct Block {
    size: u64,
    key: SiteKey,
}

/// The blocks live at one moment of the replay.
#[derive(Default)]
pub(crate) struct LiveSet {
    /// Heap blocks of the Python layers and the C heap, by address.
    blocks: BlockMap<Block>,
    /// Mappings by start address; they never overlap, but an unmap may
    /// split one or cover several.
    maps: BTreeMap<u64, Block>,
    /// pymalloc arenas, kept apart: they are not part of `bytes`.
    arenas: FxHashMap<u64, Block>,
    /// Live bytes of the layers that count in the total.
    bytes: u64,
    by_layer: [u64; Domain::ALL.len()],
    /// Live pymalloc blocks, rounded to their size class.
    pymalloc_bytes: u64,
}

impl LiveSet {
    /// Applies one event; returns the bytes and key of a new block, if any.
    /// Frees of blocks allocated before tracking started are ignored.
    pub(crate) fn apply(&mut self, record: &Record) -> Option<(u64, SiteKey)> {
        self.apply_noting(record, |_, _, _| {})
    }

    /// [`LiveSet::apply`], also telling `note` each change it makes to a
    /// site's live bytes: `(site, bytes, true)` for bytes that start being
    /// live, `(site, bytes, false)` for bytes that stop (a free, the old
    /// block of a realloc, a block replaced at its address after a lost
    /// free, the part of a mapping an unmap cuts). Whoever keeps per-site
    /// totals of their own follows these rules through `note` instead of
    /// restating them.
    pub(crate) fn apply_noting(
        &mut self,
        record: &Record,
        mut note: impl FnMut(SiteKey, u64, bool),
    ) -> Option<(u64, SiteKey)> {
        let note = &mut note;
        match *record {
            Record::Alloc {
                domain,
                addr,
                size,
                stack,
                native,
                ..
            } => Some(self.allocate(domain, addr, size, stack, native, note)),
            Record::Free { domain, addr } => {
                self.remove(domain, addr, note);
                None
            }
            Record::Realloc {
                domain,
                old_addr,
                addr,
                size,
                stack,
                native,
            } => {
                if old_addr != 0 {
                    self.remove(domain, old_addr, note);
                }
                Some(self.allocate(domain, addr, size, stack, native, note))
            }
            Record::Unmap { addr, size } => {
                self.unmap(addr, size, note);
                None
            }
            _ => None,
        }
    }

    /// Starts a block; returns its size and site.
    fn allocate(
        &mut self,
        layer: Domain,
        addr: u64,
        size: u64,
        stack: u32,
        native: u32,
        note: &mut impl FnMut(SiteKey, u64, bool),
    ) -> (u64, SiteKey) {
        let key = SiteKey {
            stack,
            native,
            layer,
        };
        self.insert(addr, Block { size, key }, note);
        (size, key)
    }

    fn grow(&mut self, block: Block, note: &mut impl FnMut(SiteKey, u64, bool)) {
        let (layer, size) = (block.key.layer, block.size);
        if pymalloc::is_pymalloc_block(layer, size) {
            self.pymalloc_bytes += pymalloc::size_class(size);
        }
        self.by_layer[layer as usize] += size;
        if layer.counts_in_total() {
            self.bytes += size;
        }
        note(block.key, size, true);
    }

    fn shrink(&mut self, block: Block, note: &mut impl FnMut(SiteKey, u64, bool)) {
        let (layer, size) = (block.key.layer, block.size);
        if pymalloc::is_pymalloc_block(layer, size) {
            self.pymalloc_bytes -= pymalloc::size_class(size);
        }
        self.by_layer[layer as usize] -= size;
        if layer.counts_in_total() {
            self.bytes -= size;
        }
        note(block.key, size, false);
    }

    fn insert(&mut self, addr: u64, block: Block, note: &mut impl FnMut(SiteKey, u64, bool)) {
        let old = match block.key.layer {
            Domain::Mmap => {
                // A mapping replaces whatever its range held (MAP_FIXED).
                self.unmap(addr, block.size, note);
                self.maps.insert(addr, block)
            }
            Domain::Arena => self.arenas.insert(addr, block),
            _ => self.blocks.insert(addr, block),
        };
        if let Some(old) = old {
            // A block allocated twice without a free in between means a free
            // was lost; trust the newest allocation.
            self.shrink(old, note);
        }
        self.grow(block, note);
    }

    fn remove(&mut self, layer: Domain, addr: u64, note: &mut impl FnMut(SiteKey, u64, bool)) {
        let gone = match layer {
            Domain::Arena => self.arenas.remove(&addr),
            _ => self.blocks.remove(addr),
        };
        if let Some(block) = gone {
            self.shrink(block, note);
        }
    }

    /// Ends the mapped bytes in `[addr, addr + size)`, keeping the parts of
    /// partly covered mappings that lie outside it.
    fn unmap(&mut self, addr: u64, size: u64, note: &mut impl FnMut(SiteKey, u64, bool)) {
        let end = addr.saturating_add(size);
        let covered: Vec<(u64, Block)> = self
            .maps
            .range(..end)
            .rev()
            .take_while(|(&start, b)| start.saturating_add(b.size) > addr)
            .map(|(&start, &b)| (start, b))
            .collect();
        for (start, block) in covered {
            self.maps.remove(&start);
            self.shrink(block, note);
            let block_end = start + block.size;
            for (piece_start, piece_end) in [(start, addr), (end, block_end)] {
                if piece_start < piece_end && piece_start >= start && piece_end <= block_end {
                    let piece = Block {
                        size: piece_end - piece_start,
                        ..block
                    };
                    self.maps.insert(piece_start, piece);
                    self.grow(piece, note);
                }
            }
        }
    }

    /// The size and site of the live block at `addr` in `domain`'s map.
    pub(crate) fn block(&self, domain: Domain, addr: u64) -> Option<(u64, SiteKey)> {
        let block = match domain {
            Domain::Arena => self.arenas.get(&addr),
            _ => self.blocks.get(addr),
        };
        block.map(|b| (b.size, b.key))
    }

    /// Live bytes of each layer, in [`Domain::ALL`] order.
    pub(crate) fn layer_bytes(&self) -> [u64; Domain::ALL.len()] {
        self.by_layer
    }

    /// The live pymalloc arenas: (start, size).
    pub(crate) fn arenas(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.arenas.iter().map(|(&a, b)| (a, b.size))
    }

    /// The live blocks of the Python layers and the C heap: (address, size, site).
    pub(crate) fn heap_blocks(&self) -> impl Iterator<Item = (u64, u64, SiteKey)> + '_ {
        self.blocks.iter().map(|(a, b)| (a, b.size, b.key))
    }

    /// Live bytes of the layers that count in the total.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(crate) fn by_stack(&self) -> FxHashMap<SiteKey, StackStats> {
        let mut out: FxHashMap<SiteKey, StackStats> = FxHashMap::default();
        let all = self
            .blocks
            .values()
            .chain(self.maps.values())
            .chain(self.arenas.values());
        for b in all {
            out.entry(b.key).or_default().add(b.size);
        }
        out
    }

    fn count(&self) -> u64 {
        (self.blocks.len() + self.maps.len()) as u64
    }
}

pub(crate) fn is_event(record: &Record) -> bool {
    matches!(
        record,
        Record::Alloc { .. } | Record::Free { .. } | Record::Realloc { .. } | Record::Unmap { .. }
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
    let mut allocated_by_stack: FxHashMap<SiteKey, StackStats> = FxHashMap::default();
    let mut max_by_layer = [0u64; Domain::ALL.len()];
    let mut timeline = Vec::new();
    let (mut total_allocated_bytes, mut allocation_count) = (0u64, 0u64);
    let (mut peak_bytes, mut event_index, mut end_ns) = (0u64, 0u64, 0u64);
    let mut mark = PeakMark {
        event_index: 0,
        before: None,
        after: None,
    };
    let mut last_sample: Option<(u64, u64)> = None;
    let mut snapshots = 0u32;
    let mut temporaries = Temporaries::default();
    let mut memory = MemoryObserver::default();
    let mut limit_stop = None;
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
                    pymalloc_block_bytes: live.pymalloc_bytes,
                    layer_bytes: live.by_layer,
                });
                if mark.after.is_none() && peak_bytes > 0 {
                    mark.after = Some((event_index, time_ns));
                }
                last_sample = Some((event_index, time_ns));
                end_ns = end_ns.max(time_ns);
            }
            Record::End { time_ns } => end_ns = end_ns.max(time_ns),
            Record::SnapshotEnd { .. } => snapshots += 1,
            Record::LimitReached {
                time_ns,
                rss_bytes,
                limit_bytes,
            } => {
                limit_stop = Some(LimitStop {
                    time_s: time_ns as f64 / 1e9,
                    rss_bytes,
                    limit_bytes,
                });
            }
            Record::GcStart { .. }
            | Record::GcEnd { .. }
            | Record::GcScratch { .. }
            | Record::MemoryState(_)
            | Record::Fork { .. } => memory.observe(&record, &live),
            ref r if is_event(r) => {
                temporaries.observe(r, &live, &symbols);
                memory.observe(r, &live);
                if let Some((size, key)) = live.apply(r) {
                    if key.layer.counts_in_total() {
                        total_allocated_bytes += size;
                        allocation_count += 1;
                    }
                    allocated_by_stack.entry(key).or_default().add(size);
                }
                for (max, now) in max_by_layer.iter_mut().zip(live.by_layer) {
                    *max = (*max).max(now);
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
    let (leaked_bytes, leak_count) = (live.bytes, live.count());
    let mut memory = memory.finish(&live);
    drop(live);

    let peak_by_stack = if peak_bytes == 0 {
        FxHashMap::default()
    } else {
        let at_peak = live_at(&mut open, mark.event_index)?;
        memory.pymalloc_at_peak = memory::pymalloc_picture(&at_peak);
        at_peak.by_stack()
    };
    let layers = layer_totals(
        &peak_by_stack,
        &leaks_by_stack,
        &allocated_by_stack,
        &max_by_layer,
    );
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
        temporary_by_stack: temporaries.by_stack,
        layers,
        timeline,
        symbols,
        snapshots,
        memory,
        limit_stop,
    })
}

/// Sums the per-site tables by layer.
fn layer_totals(
    peak: &FxHashMap<SiteKey, StackStats>,
    leaks: &FxHashMap<SiteKey, StackStats>,
    allocated: &FxHashMap<SiteKey, StackStats>,
    max_by_layer: &[u64; Domain::ALL.len()],
) -> Vec<LayerTotals> {
    let sum = |table: &FxHashMap<SiteKey, StackStats>, layer: Domain| {
        table.iter().filter(|(k, _)| k.layer == layer).fold(
            StackStats::default(),
            |mut acc, (_, s)| {
                acc.bytes += s.bytes;
                acc.count += s.count;
                acc
            },
        )
    };
    Domain::ALL
        .iter()
        .map(|&layer| {
            let made = sum(allocated, layer);
            LayerTotals {
                layer,
                in_total: layer.counts_in_total(),
                at_peak_bytes: sum(peak, layer).bytes,
                max_bytes: max_by_layer[layer as usize],
                leaked_bytes: sum(leaks, layer).bytes,
                allocated_bytes: made.bytes,
                allocations: made.count,
            }
        })
        .filter(|t| t.allocations > 0 || t.max_bytes > 0)
        .collect()
}

/// The live blocks just after the `n`-th event (counting from 1).
fn live_at<S, I, E>(open: &mut S, n: u64) -> Result<LiveSet, E>
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
    Ok(live)
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

#[cfg(test)]
mod tests {
    use super::*;
    use memsleuth_format::AllocKind;

    fn map(addr: u64, size: u64, stack: u32) -> Record {
        Record::Alloc {
            domain: Domain::Mmap,
            kind: AllocKind::Mmap,
            addr,
            size,
            stack,
            native: 0,
        }
    }

    fn live_maps(live: &LiveSet) -> Vec<(u64, u64, u32)> {
        live.maps
            .iter()
            .map(|(&a, b)| (a, b.size, b.key.stack))
            .collect()
    }

    #[test]
    fn an_unmap_in_the_middle_of_a_mapping_keeps_both_ends() {
        let mut live = LiveSet::default();
        live.apply(&map(0x10000, 0x8000, 7));
        live.apply(&Record::Unmap {
            addr: 0x12000,
            size: 0x1000,
        });
        assert_eq!(
            live_maps(&live),
            [(0x10000, 0x2000, 7), (0x13000, 0x5000, 7)]
        );
        assert_eq!(live.bytes, 0x7000);
    }

    #[test]
    fn an_unmap_across_several_mappings_ends_all_it_covers() {
        let mut live = LiveSet::default();
        live.apply(&map(0x10000, 0x1000, 1));
        live.apply(&map(0x11000, 0x1000, 2));
        live.apply(&map(0x12000, 0x2000, 3));
        live.apply(&Record::Unmap {
            addr: 0x10800,
            size: 0x2800,
        });
        assert_eq!(
            live_maps(&live),
            [(0x10000, 0x800, 1), (0x13000, 0x1000, 3)]
        );
        assert_eq!(live.bytes, 0x1800);
    }

    #[test]
    fn a_fixed_mapping_replaces_what_its_range_held() {
        let mut live = LiveSet::default();
        live.apply(&map(0x10000, 0x4000, 1));
        live.apply(&map(0x11000, 0x1000, 2));
        assert_eq!(
            live_maps(&live),
            [
                (0x10000, 0x1000, 1),
                (0x11000, 0x1000, 2),
                (0x12000, 0x2000, 1)
            ]
        );
        assert_eq!(live.bytes, 0x4000);
    }

    #[test]
    fn arenas_are_tracked_but_not_counted_in_the_total() {
        let mut live = LiveSet::default();
        let arena = Record::Alloc {
            domain: Domain::Arena,
            kind: AllocKind::Mmap,
            addr: 0x40000,
            size: 1 << 20,
            stack: 1,
            native: 0,
        };
        live.apply(&arena);
        assert_eq!(live.bytes, 0);
        assert_eq!(live.by_layer[Domain::Arena as usize], 1 << 20);
        live.apply(&Record::Free {
            domain: Domain::Arena,
            addr: 0x40000,
        });
        assert_eq!(live.by_layer[Domain::Arena as usize], 0);
    }

    /// The net change `apply_noting` reported for each stack.
    fn noted(live: &mut LiveSet, records: &[Record]) -> BTreeMap<u32, i64> {
        let mut net = BTreeMap::new();
        for r in records {
            live.apply_noting(r, |key, bytes, starts| {
                let signed = if starts {
                    bytes as i64
                } else {
                    -(bytes as i64)
                };
                *net.entry(key.stack).or_insert(0) += signed;
            });
        }
        net
    }

    #[test]
    fn noted_changes_follow_cut_mappings_and_lost_frees() {
        let mut live = LiveSet::default();
        let heap = |addr, size, stack| Record::Alloc {
            domain: Domain::Object,
            kind: AllocKind::Malloc,
            addr,
            size,
            stack,
            native: 0,
        };
        let net = noted(
            &mut live,
            &[
                map(0x10000, 0x4000, 1),
                Record::Unmap {
                    addr: 0x11000,
                    size: 0x1000,
                },
                heap(0x100, 64, 2),
                // The free of the first block was lost: the second replaces it.
                heap(0x100, 32, 3),
            ],
        );
        let expected = BTreeMap::from([(1, 0x3000), (2, 0), (3, 32)]);
        assert_eq!(net, expected);
        // The notes add up to what the set itself holds.
        assert_eq!(live.bytes, 0x3000 + 32);
    }
}
