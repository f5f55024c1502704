//! A set of object addresses for the heap walk, laid out like the heap.
//!
//! The walk asks "met before?" for the target of every reference: tens of
//! millions of questions about millions of objects. A hash set answers each
//! with a miss on a random cache line of a table far bigger than the caches.
//! Objects sit at 16-byte aligned addresses packed into pages, so this set
//! keeps one bit per 16-byte slot of each 4 KiB page it has seen (32 bytes
//! a page), found through a small map of pages that stays in cache.
//! Addresses that are not 16-byte aligned (statically allocated objects)
//! go to a plain hash set.

use rustc_hash::{FxHashMap, FxHashSet};

const SLOT_SHIFT: u32 = 4;
const PAGE_SHIFT: u32 = 12;
const SLOTS_PER_PAGE: u64 = 1 << (PAGE_SHIFT - SLOT_SHIFT);
const SLOT_MASK: u64 = (1 << SLOT_SHIFT) - 1;

type PageBits = [u64; (SLOTS_PER_PAGE / 64) as usize];

#[derive(Default)]
pub(crate) struct AddressSet {
    pages: FxHashMap<u64, u32>,
    bits: Vec<PageBits>,
    unaligned: FxHashSet<u64>,
}

impl AddressSet {
    /// Adds `addr`; true if it was not in the set.
    pub(crate) fn insert(&mut self, addr: u64) -> bool {
        if addr & SLOT_MASK != 0 {
            return self.unaligned.insert(addr);
        }
        let next = self.bits.len() as u32;
        let page = *self.pages.entry(addr >> PAGE_SHIFT).or_insert(next);
        if page == next {
            self.bits.push(PageBits::default());
        }
        let slot = (addr >> SLOT_SHIFT) & (SLOTS_PER_PAGE - 1);
        let word = &mut self.bits[page as usize][(slot / 64) as usize];
        let bit = 1u64 << (slot % 64);
        let new = *word & bit == 0;
        *word |= bit;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_is_new_once() {
        let mut set = AddressSet::default();
        for addr in [0x1000, 0x1010, 0x1ff0, 0x2000, 0x7f12_3456_7890, 0x1008] {
            assert!(set.insert(addr), "{addr:#x} is new");
        }
        for addr in [0x1000, 0x1010, 0x1ff0, 0x2000, 0x7f12_3456_7890, 0x1008] {
            assert!(!set.insert(addr), "{addr:#x} was seen");
        }
        assert!(set.insert(0x1020));
        assert_eq!(set.pages.len(), 3);
    }
}
