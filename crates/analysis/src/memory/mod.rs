//! Why the process is bigger than its objects: pymalloc's arenas and their
//! fragmentation, the garbage collector's work, glibc's free-but-held
//! memory, an account of RSS that adds up, and recommendations that the
//! capture proves (`docs/definitions.md` defines every figure).

pub mod accounting;
pub mod advice;
pub mod gc;
pub mod heap_evidence;
pub mod pymalloc;
pub mod summary;

use memsleuth_format::{Domain, ProcessMemory, Record};
use serde::Serialize;

use crate::replay::{LiveSet, SiteKey, StackStats};

pub use accounting::{account_at_exit, account_at_peak, RssAccount, RssPart};
pub use advice::{recommend, AdviceInput, ClassInstances, GrowingCache, Recommendation};
pub use gc::{Collection, GcFacts};
pub use pymalloc::{PinnedArenas, PymallocPicture};
pub use summary::{
    memory_summary, GarbageSummary, GcSummary, MemorySummary, NativeHeap, SummaryInput,
};

/// A measurement the program made of itself, with what the capture's own
/// replay held live at the same point of the event stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasuredState {
    pub state: ProcessMemory,
    /// Live bytes of each layer then, in [`Domain::ALL`] order.
    pub layer_bytes: [u64; Domain::ALL.len()],
}

impl MeasuredState {
    pub fn layer(&self, layer: Domain) -> u64 {
        self.layer_bytes[layer as usize]
    }
}

/// A fork of the profiled process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fork {
    pub time_s: f64,
    /// Live bytes in the python-object layer when it forked: what the
    /// children share until the collector's visits copy it.
    pub python_object_bytes: u64,
}

/// Everything about the memory managers that one replay learns.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryFacts {
    pub gc: GcFacts,
    pub states: Vec<MeasuredState>,
    pub forks: Vec<Fork>,
    pub pymalloc_at_peak: Option<PymallocPicture>,
    pub pymalloc_at_exit: Option<PymallocPicture>,
    /// `gc.garbage` at exit by type, with the sites of the objects named.
    pub garbage: Vec<GarbageSites>,
}

/// Objects of one type in `gc.garbage`, and where those named were allocated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GarbageSites {
    pub type_name: String,
    pub count: u64,
    #[serde(skip)]
    pub sites: Vec<(SiteKey, StackStats)>,
}

impl MemoryFacts {
    /// The measurement with this label (`start`, `exit`, `after-trim`).
    pub fn state(&self, label: &str) -> Option<&MeasuredState> {
        self.states.iter().find(|s| s.state.label == label)
    }
}

/// Gathers the memory facts during the replay's first pass.
#[derive(Default)]
pub(crate) struct MemoryObserver {
    gc: gc::GcObserver,
    states: Vec<MeasuredState>,
    forks: Vec<Fork>,
}

impl MemoryObserver {
    /// Looks at one record before `live` applies it.
    pub(crate) fn observe(&mut self, record: &Record, live: &LiveSet) {
        match record {
            Record::MemoryState(state) => self.states.push(MeasuredState {
                state: state.as_ref().clone(),
                layer_bytes: live.layer_bytes(),
            }),
            Record::Fork { time_ns } => self.forks.push(Fork {
                time_s: *time_ns as f64 / 1e9,
                python_object_bytes: live.layer_bytes()[Domain::Object as usize],
            }),
            _ => self.gc.observe(record, live),
        }
    }

    /// The facts, with the pymalloc picture at the end of the capture.
    pub(crate) fn finish(self, live_at_exit: &LiveSet) -> MemoryFacts {
        let garbage = self
            .states
            .iter()
            .rev()
            .find(|s| s.state.label == "exit")
            .map(|s| garbage_sites(&s.state.gc.garbage, live_at_exit))
            .unwrap_or_default();
        MemoryFacts {
            garbage,
            gc: self.gc.facts,
            states: self.states,
            forks: self.forks,
            pymalloc_at_peak: None,
            pymalloc_at_exit: pymalloc_picture(live_at_exit),
        }
    }
}

/// pymalloc's state in a replay's live set.
pub(crate) fn pymalloc_picture(live: &LiveSet) -> Option<PymallocPicture> {
    let arenas: Vec<(u64, u64)> = live.arenas().collect();
    let blocks = || {
        live.heap_blocks()
            .filter(|&(_, size, key): &(u64, u64, SiteKey)| {
                pymalloc::is_pymalloc_block(key.layer, size)
            })
    };
    pymalloc::picture(&arenas, blocks)
}

/// Pre-headers an object's block may start with before the object: none,
/// the collector's header, and that with one or two managed pointers.
const PREHEADERS: [u64; 4] = [0, 16, 32, 48];

/// The live block an object (by its `id()`) sits in.
fn block_of_object(live: &LiveSet, addr: u64) -> Option<(u64, SiteKey)> {
    use memsleuth_format::Domain;
    PREHEADERS.iter().find_map(|&pre| {
        let start = addr.checked_sub(pre)?;
        [Domain::Object, Domain::Mem, Domain::Raw]
            .iter()
            .find_map(|&d| live.block(d, start))
            .filter(|&(size, _)| size > pre)
    })
}

fn garbage_sites(groups: &[memsleuth_format::GarbageGroup], live: &LiveSet) -> Vec<GarbageSites> {
    groups
        .iter()
        .map(|g| {
            let mut sites: rustc_hash::FxHashMap<SiteKey, StackStats> = Default::default();
            for &addr in &g.addrs {
                if let Some((size, key)) = block_of_object(live, addr) {
                    let s = sites.entry(key).or_default();
                    s.bytes += size;
                    s.count += 1;
                }
            }
            GarbageSites {
                type_name: g.type_name.clone(),
                count: g.count,
                sites: sites.into_iter().collect(),
            }
        })
        .collect()
}
