//! Which code objects the tracker has described, and which of them died.
//!
//! Frames are recorded by code object address. When a code object is freed
//! its address can be reused by a different code object, so every thread must
//! forget what it learnt about that address. Frees are the hot path, so the
//! check is a single load from a bit filter; only a hit takes the registry
//! lock to learn whether a described code object really died.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rustc_hash::FxHashSet;

const FILTER_BITS: usize = 1 << 18;
static FILTER: [AtomicU64; FILTER_BITS / 64] = [const { AtomicU64::new(0) }; FILTER_BITS / 64];
/// Bumped each time a described code object dies.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// How many recent deaths a thread can catch up on before it must forget everything.
const DEATH_LOG_LEN: usize = 4096;

struct Registry {
    /// Allocator blocks of live, described code objects.
    blocks: FxHashSet<usize>,
    /// (epoch after the death, code object address), oldest first.
    deaths: VecDeque<(u64, usize)>,
    block_offset: usize,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn filter_slot(block: usize) -> (usize, u64) {
    let h = ((block as u64) >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 18);
    ((h / 64) as usize, 1u64 << (h % 64))
}

fn registry() -> std::sync::MutexGuard<'static, Option<Registry>> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The registry's lock, held across a `fork()` (see `fork.rs`).
pub(crate) fn hold_for_fork() -> Box<dyn std::any::Any> {
    Box::new(registry())
}

/// Starts a fresh registry for a new tracking session.
pub(crate) fn reset(block_offset: usize) {
    let mut r = registry();
    for word in &FILTER {
        word.store(0, Ordering::Relaxed);
    }
    *r = Some(Registry {
        blocks: FxHashSet::default(),
        deaths: VecDeque::new(),
        block_offset,
    });
}

pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// Notes that the code object at `code` has been described.
pub(crate) fn register(code: usize) {
    let mut guard = registry();
    if let Some(r) = guard.as_mut() {
        let block = code.wrapping_sub(r.block_offset);
        let (word, bit) = filter_slot(block);
        FILTER[word].fetch_or(bit, Ordering::Relaxed);
        r.blocks.insert(block);
    }
}

/// Called for every object-domain free, before the block is released.
pub(crate) fn on_object_free(block: usize) {
    let (word, bit) = filter_slot(block);
    if FILTER[word].load(Ordering::Relaxed) & bit == 0 {
        return;
    }
    let mut guard = registry();
    if let Some(r) = guard.as_mut() {
        if r.blocks.remove(&block) {
            let now = EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
            r.deaths.push_back((now, block + r.block_offset));
            if r.deaths.len() > DEATH_LOG_LEN {
                r.deaths.pop_front();
            }
        }
    }
}

/// Code addresses that died after `since`, or `None` when the log no longer
/// reaches back that far and the caller must forget every code it knows.
pub(crate) fn deaths_since(since: u64) -> Option<Vec<usize>> {
    let guard = registry();
    let r = guard.as_ref()?;
    match r.deaths.front() {
        Some(&(oldest, _)) if oldest > since + 1 => None,
        _ => Some(
            r.deaths
                .iter()
                .filter(|(e, _)| *e > since)
                .map(|&(_, c)| c)
                .collect(),
        ),
    }
}
