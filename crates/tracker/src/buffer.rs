//! Per-thread event buffers and the registry the writer drains them from.
//!
//! A thread appends to its own buffer under its own mutex, which only the
//! writer ever contends for, briefly, every sampling interval: there is no
//! lock shared between allocating threads. Every event takes a number from one
//! global counter inside that mutex; see [`SharedBuffer::take_before`] for why
//! that lets the writer emit events in the exact global order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use memsleuth_format::Record;

/// A buffer holds this many events before it is handed to the writer whole.
pub(crate) const EVENTS_PER_BLOCK: usize = 16 * 1024;
/// Full blocks a thread may have waiting before it waits for the writer.
pub(crate) const MAX_FULL_BLOCKS: usize = 64;

/// The global order of events across threads.
static SEQ: AtomicU64 = AtomicU64::new(0);

pub(crate) fn next_unassigned_seq() -> u64 {
    SEQ.load(Ordering::SeqCst)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Malloc,
    Calloc,
    Free,
    /// The first half of a realloc: the old block, reported before it is released.
    ReallocFree,
    /// The second half: the new block.
    ReallocAlloc,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub seq: u64,
    pub addr: u64,
    pub size: u64,
    pub stack: u32,
    pub kind: EventKind,
    pub domain: u8,
}

#[derive(Default)]
pub(crate) struct Inner {
    full: Vec<Vec<Event>>,
    current: Vec<Event>,
    /// Stack-tree, code and thread definitions, in the order they were made.
    defs: Vec<Record>,
}

pub(crate) struct SharedBuffer {
    inner: Mutex<Inner>,
}

impl SharedBuffer {
    pub(crate) fn new(first_defs: Vec<Record>) -> Arc<SharedBuffer> {
        let inner = Inner {
            full: Vec::new(),
            current: Vec::with_capacity(EVENTS_PER_BLOCK),
            defs: first_defs,
        };
        Arc::new(SharedBuffer {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `defs` then one event, numbering the event. Returns how many
    /// full blocks now wait for the writer.
    pub(crate) fn push(&self, defs: &mut Vec<Record>, mut event: Event) -> usize {
        let mut inner = self.lock();
        if !defs.is_empty() {
            inner.defs.append(defs);
        }
        event.seq = SEQ.fetch_add(1, Ordering::AcqRel);
        if inner.current.len() >= EVENTS_PER_BLOCK {
            let fresh = Vec::with_capacity(EVENTS_PER_BLOCK);
            let full = std::mem::replace(&mut inner.current, fresh);
            inner.full.push(full);
        }
        inner.current.push(event);
        inner.full.len()
    }

    pub(crate) fn backlog(&self) -> usize {
        self.lock().full.len()
    }

    /// Moves every definition, and every event numbered below `bound`, into
    /// the given vectors.
    ///
    /// The caller reads `bound` from the counter *before* calling this. Any
    /// event numbered below it took its number inside this buffer's mutex
    /// before `bound` was read, so it is complete by the time this function
    /// holds the mutex: nothing below `bound` can still arrive afterwards, and
    /// the union over all threads of what this returns is a gap-free prefix of
    /// the global order.
    pub(crate) fn take_before(&self, bound: u64, defs: &mut Vec<Record>, events: &mut Vec<Event>) {
        let mut inner = self.lock();
        defs.append(&mut inner.defs);
        let mut kept_full = Vec::new();
        for mut block in inner.full.drain(..) {
            let cut = block.partition_point(|e| e.seq < bound);
            events.extend_from_slice(&block[..cut]);
            if cut < block.len() {
                block.drain(..cut);
                kept_full.push(block);
            }
        }
        inner.full = kept_full;
        let cut = inner.current.partition_point(|e| e.seq < bound);
        events.extend(inner.current.drain(..cut));
    }

    pub(crate) fn is_empty(&self) -> bool {
        let inner = self.lock();
        inner.full.is_empty() && inner.current.is_empty() && inner.defs.is_empty()
    }
}

/// Every buffer of the current session; threads register on first use.
static REGISTRY: Mutex<Vec<Arc<SharedBuffer>>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Arc<SharedBuffer>>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn register(buffer: Arc<SharedBuffer>) {
    registry().push(buffer);
}

pub(crate) fn clear_registry() {
    registry().clear();
}

/// A snapshot of the registered buffers, dropping those whose thread has
/// exited and whose contents the writer already took.
pub(crate) fn live_buffers() -> Vec<Arc<SharedBuffer>> {
    let mut reg = registry();
    reg.retain(|b| Arc::strong_count(b) > 1 || !b.is_empty());
    reg.clone()
}
