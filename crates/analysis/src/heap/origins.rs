//! Where each live block was allocated: the part of the allocation trace a
//! heap snapshot is joined with, and no more.
//!
//! The replay of the summary ([`crate::replay`]) also keeps sizes, mappings
//! and arenas; at ten million live blocks that is a few hundred megabytes
//! more than the heap loader can afford beside the graph it builds.
//! Objects live in heap blocks, never in mappings or pymalloc arenas as a
//! whole, so those events are skipped.

use memsleuth_format::{Domain, Record};

use crate::blockmap::BlockMap;
use crate::heap::snapshot::Origin;
use crate::replay::SiteKey;

#[derive(Default)]
pub(crate) struct Origins {
    blocks: BlockMap<Origin>,
}

fn holds_objects(domain: Domain) -> bool {
    !matches!(domain, Domain::Mmap | Domain::Arena)
}

impl Origins {
    /// Applies one event, `serial` being its position in the event stream.
    pub(crate) fn apply(&mut self, record: &Record, serial: u64) {
        match *record {
            Record::Alloc {
                domain,
                addr,
                stack,
                native,
                ..
            } if holds_objects(domain) => {
                self.start(domain, addr, stack, native, serial);
            }
            Record::Free { domain, addr } if holds_objects(domain) => {
                self.blocks.remove(addr);
            }
            Record::Realloc {
                domain,
                old_addr,
                addr,
                stack,
                native,
                ..
            } if holds_objects(domain) => {
                self.blocks.remove(old_addr);
                self.start(domain, addr, stack, native, serial);
            }
            _ => {}
        }
    }

    fn start(&mut self, layer: Domain, addr: u64, stack: u32, native: u32, serial: u64) {
        let site = SiteKey {
            stack,
            native,
            layer,
        };
        self.blocks.insert(addr, Origin { serial, site });
    }

    /// Where the live block that starts at `addr` was allocated.
    pub(crate) fn at(&self, addr: u64) -> Option<Origin> {
        self.blocks.get(addr).copied()
    }
}
