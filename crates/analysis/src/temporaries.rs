//! Temporaries (`docs/definitions.md`): blocks freed before the thread that
//! allocated them allocated anything else. Many at one site mean allocator
//! churn: memory taken and given back at once, over and over, which costs
//! time and, in pymalloc and glibc, fragmentation, but never shows in a
//! peak.
//!
//! Found during the replay's first pass: each thread's most recent
//! allocation is remembered, and a free of exactly that block is a
//! temporary. Threads are told apart by the root of their stacks' frame
//! tree, which is found once per stack id.

use memsleuth_format::{Domain, Record};
use rustc_hash::FxHashMap;

use crate::replay::{LiveSet, SiteKey, StackStats};
use crate::symbols::Symbols;

/// A thread's root node for each stack id met, `u32::MAX` when not yet known.
const UNKNOWN: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Temporaries {
    /// By thread root: the address of that thread's latest allocation.
    latest: FxHashMap<u32, u64>,
    thread_of_stack: Vec<u32>,
    pub(crate) by_stack: FxHashMap<SiteKey, StackStats>,
}

impl Temporaries {
    fn thread(&mut self, stack: u32, symbols: &Symbols) -> u32 {
        let i = stack as usize;
        if self.thread_of_stack.len() <= i {
            self.thread_of_stack.resize(i + 1, UNKNOWN);
        }
        if self.thread_of_stack[i] == UNKNOWN {
            self.thread_of_stack[i] = symbols.thread_root(stack);
        }
        self.thread_of_stack[i]
    }

    /// Looks at one event before `live` applies it.
    pub(crate) fn observe(&mut self, record: &Record, live: &LiveSet, symbols: &Symbols) {
        match *record {
            Record::Free { domain, addr } => {
                if let Some((size, key)) = live.block(domain, addr) {
                    self.freed(key, addr, size, symbols);
                }
            }
            Record::Alloc {
                domain,
                addr,
                stack,
                native,
                ..
            }
            | Record::Realloc {
                domain,
                addr,
                stack,
                native,
                ..
            } => {
                let key = SiteKey {
                    stack,
                    native,
                    layer: domain,
                };
                self.allocated(key, addr, symbols);
            }
            _ => {}
        }
    }

    /// A block was allocated at `addr` by the stack of `key`.
    fn allocated(&mut self, key: SiteKey, addr: u64, symbols: &Symbols) {
        if !counts(key.layer) {
            return;
        }
        let thread = self.thread(key.stack, symbols);
        self.latest.insert(thread, addr);
    }

    /// The live block at `addr`, of `size` bytes allocated by `key`, was freed.
    fn freed(&mut self, key: SiteKey, addr: u64, size: u64, symbols: &Symbols) {
        if !counts(key.layer) {
            return;
        }
        let thread = self.thread(key.stack, symbols);
        if self.latest.get(&thread) == Some(&addr) {
            self.latest.remove(&thread);
            let stats = self.by_stack.entry(key).or_default();
            stats.bytes += size;
            stats.count += 1;
        }
    }
}

/// Mappings and arenas are no allocator churn of the program's own.
fn counts(layer: Domain) -> bool {
    !matches!(layer, Domain::Mmap | Domain::Arena)
}
