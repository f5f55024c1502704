//! Per-thread event lanes and the registry the writer drains them from.
//!
//! Each thread owns a lane and is its only producer: it writes events into the
//! lane's current block with plain atomic stores and publishes how many are
//! complete, so the common path takes no lock at all. The writer reads
//! published events concurrently, once per sampling interval. Blocks are
//! swapped, and definitions handed over, under the lane's mutex, which the
//! thread takes only every `EVENTS_PER_BLOCK` events or on a new definition.
//!
//! # The global order
//! Every event takes a number from one global counter, and the writer emits
//! events in that order. It must never emit event `n` while an event below
//! `n` could still appear. Numbers are dense: every number taken becomes a
//! published event a few instructions later. So the writer reads the counter
//! as its bound and collects events below it until it holds exactly as many
//! as the bound says exist (see `writer::WriterLoop::collect`); a thread
//! caught between taking its number and publishing it only delays the writer
//! by that instant. The producer's cost is one atomic add.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use memsleuth_format::Record;

/// A block holds this many events before the thread starts a new one.
pub(crate) const EVENTS_PER_BLOCK: usize = 16 * 1024;
/// Blocks a lane may hold before its thread waits for the writer.
pub(crate) const MAX_BLOCKS: usize = 64;
/// Words per event in a block: seq, addr, size | kind | domain, stack | native.
const WORDS: usize = 4;
/// Bits of the size word that hold the size; kind and domain take the top byte.
const SIZE_BITS: u32 = 56;

/// The global order of events across threads.
static SEQ: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Malloc = 0,
    Calloc = 1,
    Free = 2,
    /// The first half of a realloc: the old block, reported before it is released.
    ReallocFree = 3,
    /// The second half: the new block.
    ReallocAlloc = 4,
    /// `posix_memalign` and the other aligned allocators.
    Aligned = 5,
    /// A new mapping (`mmap`, or the new range of `mremap`).
    Mmap = 6,
    /// `munmap`: `addr` and `size` name a range, not a block.
    Unmap = 7,
    /// A garbage collection began: `addr` is its time, `domain` its generation.
    GcStart = 8,
    /// It ended: `addr` is the time, `size` the objects collected, `stack`
    /// the uncollectable ones, `domain` the generation.
    GcEnd = 9,
    /// `addr` is a block the interpreter made for `gc.callbacks` (see
    /// `Record::GcScratch`).
    GcScratch = 10,
    /// The process forked: `addr` is the time.
    Fork = 11,
}

impl EventKind {
    fn from_u8(v: u8) -> EventKind {
        match v {
            0 => EventKind::Malloc,
            1 => EventKind::Calloc,
            3 => EventKind::ReallocFree,
            4 => EventKind::ReallocAlloc,
            5 => EventKind::Aligned,
            6 => EventKind::Mmap,
            7 => EventKind::Unmap,
            8 => EventKind::GcStart,
            9 => EventKind::GcEnd,
            10 => EventKind::GcScratch,
            11 => EventKind::Fork,
            _ => EventKind::Free,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub seq: u64,
    pub addr: u64,
    pub size: u64,
    pub stack: u32,
    /// The native stack, 0 when not recorded.
    pub native: u32,
    pub kind: EventKind,
    pub domain: u8,
}

/// A fixed array of events, written by one thread and read by the writer.
struct Block {
    words: Box<[AtomicU64]>,
    /// Events fully written; only the producing thread increases it.
    published: AtomicUsize,
}

impl Block {
    fn new() -> Arc<Block> {
        let words = (0..EVENTS_PER_BLOCK * WORDS)
            .map(|_| AtomicU64::new(0))
            .collect();
        Arc::new(Block {
            words,
            published: AtomicUsize::new(0),
        })
    }

    fn write(&self, index: usize, e: &Event) {
        let w = &self.words[index * WORDS..(index + 1) * WORDS];
        w[0].store(e.seq, Ordering::Relaxed);
        w[1].store(e.addr, Ordering::Relaxed);
        // No allocation reaches 2^56 bytes; a request that large fails and is never recorded.
        let size = e.size & ((1 << SIZE_BITS) - 1);
        let tags = (e.kind as u64) | u64::from(e.domain) << 4;
        w[2].store(size | tags << SIZE_BITS, Ordering::Relaxed);
        w[3].store(
            u64::from(e.stack) | u64::from(e.native) << 32,
            Ordering::Relaxed,
        );
        self.published.store(index + 1, Ordering::Release);
    }

    /// Reads a published event (the caller loaded `published` with Acquire).
    fn read(&self, index: usize) -> Event {
        let w = &self.words[index * WORDS..(index + 1) * WORDS];
        let sized = w[2].load(Ordering::Relaxed);
        let tags = sized >> SIZE_BITS;
        let stacks = w[3].load(Ordering::Relaxed);
        Event {
            seq: w[0].load(Ordering::Relaxed),
            addr: w[1].load(Ordering::Relaxed),
            size: sized & ((1 << SIZE_BITS) - 1),
            stack: stacks as u32,
            native: (stacks >> 32) as u32,
            kind: EventKind::from_u8((tags & 15) as u8),
            domain: (tags >> 4) as u8,
        }
    }
}

/// What the thread and the writer exchange under the lane's mutex.
struct Shared {
    /// Blocks not yet fully taken by the writer, oldest first; the last one
    /// is the thread's current block.
    blocks: VecDeque<Arc<Block>>,
    /// Events of `blocks[0]` the writer already took.
    taken: usize,
    /// Blocks the writer has emptied, for the thread to reuse: a fresh block
    /// would cost a 512 KiB zeroing and its page faults.
    spare: Vec<Arc<Block>>,
    /// Stack-tree, code and thread definitions, in the order they were made.
    defs: Vec<Record>,
}

pub(crate) struct Lane {
    shared: Mutex<Shared>,
}

/// The producing side of a lane, owned by its thread.
pub(crate) struct Producer {
    lane: Arc<Lane>,
    current: Arc<Block>,
    len: usize,
}

impl Lane {
    /// A new lane holding `first_defs`, and its producer.
    pub(crate) fn new(first_defs: Vec<Record>) -> (Arc<Lane>, Producer) {
        let current = Block::new();
        let shared = Shared {
            blocks: VecDeque::from([Arc::clone(&current)]),
            taken: 0,
            spare: Vec::new(),
            defs: first_defs,
        };
        let lane = Arc::new(Lane {
            shared: Mutex::new(shared),
        });
        (
            Arc::clone(&lane),
            Producer {
                lane,
                current,
                len: 0,
            },
        )
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn backlog(&self) -> usize {
        self.lock().blocks.len()
    }

    /// Moves every definition, and every published event numbered below
    /// `bound` not taken before, into the given vectors; returns how many
    /// events it moved.
    pub(crate) fn take_before(
        &self,
        bound: u64,
        defs: &mut Vec<Record>,
        events: &mut Vec<Event>,
    ) -> u64 {
        let before = events.len();
        let mut shared = self.lock();
        let mut taken = shared.taken;
        // A thread hands over definitions under this lock before publishing
        // the events that use them, so every event read while the lock is
        // held has its definitions in `shared.defs` by now.
        let mut done_blocks = 0;
        for (i, block) in shared.blocks.iter().enumerate() {
            let published = block.published.load(Ordering::Acquire);
            let mut stopped = false;
            while taken < published {
                let e = block.read(taken);
                if e.seq >= bound {
                    stopped = true;
                    break;
                }
                events.push(e);
                taken += 1;
            }
            let is_current = i + 1 == shared.blocks.len();
            if stopped || taken < EVENTS_PER_BLOCK || is_current {
                break;
            }
            done_blocks += 1;
            taken = 0;
        }
        let emptied: Vec<Arc<Block>> = shared.blocks.drain(..done_blocks).collect();
        shared.spare.extend(emptied);
        shared.taken = taken;
        defs.append(&mut shared.defs);
        (events.len() - before) as u64
    }

    pub(crate) fn is_drained(&self) -> bool {
        let shared = self.lock();
        let Some(last) = shared.blocks.back() else {
            return true;
        };
        shared.blocks.len() == 1
            && shared.taken == last.published.load(Ordering::Acquire)
            && shared.defs.is_empty()
    }
}

impl Producer {
    pub(crate) fn lane(&self) -> &Arc<Lane> {
        &self.lane
    }

    /// Hands `defs` to the writer, then numbers and publishes one event.
    /// Returns how many blocks the lane now holds.
    pub(crate) fn push(&mut self, defs: &mut Vec<Record>, mut event: Event) -> usize {
        let mut backlog = 0;
        if !defs.is_empty() || self.len == EVENTS_PER_BLOCK {
            let mut shared = self.lane.lock();
            shared.defs.append(defs);
            if self.len == EVENTS_PER_BLOCK {
                self.current = match shared.spare.pop() {
                    Some(block) => {
                        // The writer took every event of it; the lock orders
                        // this reset before the writer reads it again.
                        block.published.store(0, Ordering::Relaxed);
                        block
                    }
                    None => Block::new(),
                };
                self.len = 0;
                shared.blocks.push_back(Arc::clone(&self.current));
            }
            backlog = shared.blocks.len();
        }
        // Nothing may come between taking a number and publishing the event:
        // the writer waits for every number below its bound (module docs).
        event.seq = SEQ.fetch_add(1, Ordering::AcqRel);
        self.current.write(self.len, &event);
        self.len += 1;
        backlog
    }
}

/// The number the next event will take: every event below it exists, or is
/// a few instructions away from being published.
pub(crate) fn next_seq() -> u64 {
    SEQ.load(Ordering::SeqCst)
}

/// Every lane of the current session; threads register on first use.
static REGISTRY: Mutex<Vec<Arc<Lane>>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Arc<Lane>>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn register(lane: Arc<Lane>) {
    registry().push(lane);
}

pub(crate) fn clear_registry() {
    registry().clear();
}

/// The registry's lock, held across a `fork()` (see `fork.rs`).
pub(crate) fn hold_for_fork() -> Box<dyn std::any::Any> {
    Box::new(registry())
}

/// A snapshot of the registered lanes, dropping those whose thread has
/// exited (the registry holds the last reference) and that are drained.
pub(crate) fn live_lanes() -> Vec<Arc<Lane>> {
    let mut reg = registry();
    reg.retain(|lane| Arc::strong_count(lane) > 1 || !lane.is_drained());
    reg.clone()
}
