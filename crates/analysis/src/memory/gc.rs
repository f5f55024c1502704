//! The garbage collector's work, read from the capture's collection markers:
//! every collection, and what needed the cyclic collector to be freed.
//!
//! A collection runs on one thread holding the GIL, so the object and mem
//! frees between its start and end markers are the collector's: the
//! objects of unreachable reference cycles and everything only they kept
//! alive. Two kinds of free inside that window are not: blocks the
//! interpreter made to describe the collection to `gc.callbacks` (marked
//! in the capture as scratch), and blocks allocated during the collection
//! itself (by a `__del__` method or a weakref callback).

use memsleuth_format::{Domain, Record};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use crate::replay::{LiveSet, SiteKey, StackStats};

/// One collection.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Collection {
    pub time_s: f64,
    pub generation: u8,
    pub duration_s: f64,
    /// Unreachable objects it freed, and those it could not (`gc.garbage`).
    pub collected: u64,
    pub uncollectable: u64,
    /// Bytes of Python blocks it freed (see the module docs).
    pub freed_bytes: u64,
}

/// Collections kept one by one; beyond this only the totals grow, so that
/// what is kept does not grow with the length of the run.
pub const MAX_COLLECTIONS: usize = 100_000;

/// What the collector did over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GcFacts {
    /// The first [`MAX_COLLECTIONS`] collections.
    pub collections: Vec<Collection>,
    /// Collections past that cap, counted but not kept.
    pub collections_not_kept: u64,
    /// The most bytes one collection freed: garbage that waited for it.
    pub largest_collection_bytes: u64,
    /// Seconds spent collecting, by generation.
    pub seconds_by_generation: [f64; 3],
    pub collections_by_generation: [u64; 3],
    /// Python blocks freed only by collections, by allocation site.
    #[serde(skip)]
    pub freed_by_site: FxHashMap<SiteKey, StackStats>,
    pub freed_bytes: u64,
    pub freed_blocks: u64,
}

impl GcFacts {
    pub fn seconds(&self) -> f64 {
        self.seconds_by_generation.iter().sum()
    }
}

/// An open collection.
struct Window {
    time_ns: u64,
    scratch: FxHashSet<u64>,
    born_inside: FxHashSet<u64>,
    freed_bytes: u64,
}

/// Follows the collection markers during the replay's first pass.
#[derive(Default)]
pub(crate) struct GcObserver {
    window: Option<Window>,
    pub(crate) facts: GcFacts,
}

fn collected_layer(domain: Domain) -> bool {
    matches!(domain, Domain::Object | Domain::Mem)
}

impl GcObserver {
    /// Looks at one record before `live` applies it.
    pub(crate) fn observe(&mut self, record: &Record, live: &LiveSet) {
        match *record {
            Record::GcStart { time_ns, .. } => {
                self.window = Some(Window {
                    time_ns,
                    scratch: FxHashSet::default(),
                    born_inside: FxHashSet::default(),
                    freed_bytes: 0,
                });
            }
            Record::GcScratch { addr } => {
                if let Some(w) = self.window.as_mut() {
                    w.scratch.insert(addr);
                }
            }
            Record::GcEnd {
                time_ns,
                generation,
                collected,
                uncollectable,
            } => self.close(time_ns, generation, collected, uncollectable),
            Record::Free { domain, addr } => self.freed(live, domain, addr),
            Record::Realloc {
                domain,
                old_addr,
                addr,
                ..
            } => {
                if old_addr != 0 {
                    self.freed(live, domain, old_addr);
                }
                self.born(domain, addr);
            }
            Record::Alloc { domain, addr, .. } => self.born(domain, addr),
            _ => {}
        }
    }

    fn born(&mut self, domain: Domain, addr: u64) {
        if let Some(w) = self.window.as_mut() {
            if collected_layer(domain) {
                w.born_inside.insert(addr);
            }
        }
    }

    fn freed(&mut self, live: &LiveSet, domain: Domain, addr: u64) {
        let Some(w) = self.window.as_mut() else {
            return;
        };
        if !collected_layer(domain) || w.scratch.contains(&addr) || w.born_inside.remove(&addr) {
            return;
        }
        let Some((size, key)) = live.block(domain, addr) else {
            return;
        };
        w.freed_bytes += size;
        let site = self.facts.freed_by_site.entry(key).or_default();
        site.bytes += size;
        site.count += 1;
        self.facts.freed_bytes += size;
        self.facts.freed_blocks += 1;
    }

    fn close(&mut self, time_ns: u64, generation: u8, collected: u64, uncollectable: u64) {
        let Some(w) = self.window.take() else {
            return;
        };
        let duration_s = time_ns.saturating_sub(w.time_ns) as f64 / 1e9;
        let g = usize::from(generation.min(2));
        self.facts.seconds_by_generation[g] += duration_s;
        self.facts.collections_by_generation[g] += 1;
        self.facts.largest_collection_bytes =
            self.facts.largest_collection_bytes.max(w.freed_bytes);
        if self.facts.collections.len() >= MAX_COLLECTIONS {
            self.facts.collections_not_kept += 1;
            return;
        }
        self.facts.collections.push(Collection {
            time_s: w.time_ns as f64 / 1e9,
            generation,
            duration_s,
            collected,
            uncollectable,
            freed_bytes: w.freed_bytes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(domain: Domain, addr: u64, size: u64, stack: u32) -> Record {
        Record::Alloc {
            domain,
            kind: memsleuth_format::AllocKind::Malloc,
            addr,
            size,
            stack,
            native: 0,
        }
    }

    fn free(addr: u64) -> Record {
        Record::Free {
            domain: Domain::Object,
            addr,
        }
    }

    /// Feeds records to the observer and the live set in replay order.
    fn replay(records: &[Record]) -> GcFacts {
        let mut live = LiveSet::default();
        let mut gc = GcObserver::default();
        for r in records {
            gc.observe(r, &live);
            live.apply(r);
        }
        gc.facts
    }

    #[test]
    fn only_frees_of_blocks_older_than_the_collection_count() {
        let facts = replay(&[
            alloc(Domain::Object, 0x1000, 100, 1), // a cycle member
            alloc(Domain::Mem, 0x2000, 5000, 2),   // its payload
            alloc(Domain::Object, 0x3000, 60, 3),  // the callbacks' info
            free(0x9000),                          // before any collection
            Record::GcStart {
                time_ns: 1_000,
                generation: 2,
            },
            Record::GcScratch { addr: 0x3000 },
            free(0x3000),
            alloc(Domain::Object, 0x4000, 70, 4), // made by a finalizer
            free(0x4000),
            free(0x1000),
            Record::Free {
                domain: Domain::Mem,
                addr: 0x2000,
            },
            Record::Free {
                domain: Domain::Native,
                addr: 0x5000,
            },
            Record::GcEnd {
                time_ns: 4_000,
                generation: 2,
                collected: 1,
                uncollectable: 0,
            },
        ]);
        assert_eq!((facts.freed_bytes, facts.freed_blocks), (5100, 2));
        let mut sites: Vec<(u32, u64)> = facts
            .freed_by_site
            .iter()
            .map(|(k, s)| (k.stack, s.bytes))
            .collect();
        sites.sort_unstable();
        assert_eq!(sites, vec![(1, 100), (2, 5000)]);
        assert_eq!(facts.collections_by_generation, [0, 0, 1]);
        assert_eq!(facts.largest_collection_bytes, 5100);
        let c = facts.collections[0];
        assert_eq!((c.collected, c.freed_bytes), (1, 5100));
        assert!((c.duration_s - 3e-6).abs() < 1e-12);
    }

    #[test]
    fn frees_after_the_collection_are_the_programs() {
        let facts = replay(&[
            alloc(Domain::Object, 0x1000, 100, 1),
            Record::GcStart {
                time_ns: 0,
                generation: 0,
            },
            Record::GcEnd {
                time_ns: 10,
                generation: 0,
                collected: 0,
                uncollectable: 0,
            },
            free(0x1000),
        ]);
        assert_eq!(facts.freed_bytes, 0);
        assert_eq!(facts.collections_by_generation, [1, 0, 0]);
    }
}
