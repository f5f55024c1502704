//! A map from block address to block, laid out like the heap it mirrors.
//!
//! A replay inserts and removes one entry per event, tens of millions of
//! times, in a map that holds every live block (millions). In a hash map
//! every insert lands on a random cache line of a table far bigger than the
//! caches, and the table is rebuilt each time it doubles; the replay then
//! spends most of its time waiting for memory.
//!
//! Allocators hand out neighbouring addresses one after another (pymalloc
//! carves a pool into blocks in address order, malloc splits the top chunk),
//! so this map keeps their neighbourhood: it splits an address into its
//! 4 KiB page and the 16-byte slot inside it, finds the page in a small hash
//! map (one entry per page, so it stays in cache), and the slot in the
//! page's array of 256 slot entries. Entries index a slab of blocks whose
//! free cells are reused. Addresses that are not 16-byte aligned (no
//! allocator CPython uses returns one, but a capture may hold anything) go
//! to a plain hash map.

use rustc_hash::FxHashMap;

const SLOT_SHIFT: u32 = 4;
const PAGE_SHIFT: u32 = 12;
const SLOTS_PER_PAGE: usize = 1 << (PAGE_SHIFT - SLOT_SHIFT);
const SLOT_MASK: u64 = (1 << SLOT_SHIFT) - 1;

/// A page's slots: 0 for none, else 1 + the block's index in the slab.
type Page = [u32; SLOTS_PER_PAGE];

pub(crate) struct BlockMap<B> {
    pages: FxHashMap<u64, u32>,
    slots: Vec<Page>,
    slab: Vec<B>,
    /// Slab cells whose block was removed.
    vacant: Vec<u32>,
    unaligned: FxHashMap<u64, B>,
    len: usize,
}

impl<B> Default for BlockMap<B> {
    fn default() -> Self {
        BlockMap {
            pages: FxHashMap::default(),
            slots: Vec::new(),
            slab: Vec::new(),
            vacant: Vec::new(),
            unaligned: FxHashMap::default(),
            len: 0,
        }
    }
}

fn page_and_slot(addr: u64) -> (u64, usize) {
    (
        addr >> PAGE_SHIFT,
        ((addr >> SLOT_SHIFT) as usize) & (SLOTS_PER_PAGE - 1),
    )
}

impl<B: Copy> BlockMap<B> {
    pub(crate) fn len(&self) -> usize {
        self.len + self.unaligned.len()
    }

    /// Sets the block at `addr`, returning the one it replaces.
    pub(crate) fn insert(&mut self, addr: u64, block: B) -> Option<B> {
        if addr & SLOT_MASK != 0 {
            return self.unaligned.insert(addr, block);
        }
        let (page, slot) = page_and_slot(addr);
        let next_page = self.slots.len() as u32;
        let p = *self.pages.entry(page).or_insert(next_page);
        if p == next_page {
            self.slots.push([0; SLOTS_PER_PAGE]);
        }
        let cell = self.slots[p as usize][slot];
        if cell != 0 {
            let old = std::mem::replace(&mut self.slab[cell as usize - 1], block);
            return Some(old);
        }
        let index = match self.vacant.pop() {
            Some(i) => {
                self.slab[i as usize] = block;
                i
            }
            None => {
                self.slab.push(block);
                self.slab.len() as u32 - 1
            }
        };
        self.slots[p as usize][slot] = index + 1;
        self.len += 1;
        None
    }

    pub(crate) fn remove(&mut self, addr: u64) -> Option<B> {
        if addr & SLOT_MASK != 0 {
            return self.unaligned.remove(&addr);
        }
        let (page, slot) = page_and_slot(addr);
        let p = *self.pages.get(&page)?;
        let cell = std::mem::take(&mut self.slots[p as usize][slot]);
        let index = cell.checked_sub(1)?;
        self.vacant.push(index);
        self.len -= 1;
        Some(self.slab[index as usize])
    }

    pub(crate) fn get(&self, addr: u64) -> Option<&B> {
        if addr & SLOT_MASK != 0 {
            return self.unaligned.get(&addr);
        }
        let (page, slot) = page_and_slot(addr);
        let p = *self.pages.get(&page)?;
        let index = self.slots[p as usize][slot].checked_sub(1)?;
        Some(&self.slab[index as usize])
    }

    /// Every block with its address, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &B)> + '_ {
        self.pages
            .iter()
            .flat_map(move |(&page, &p)| {
                self.slots[p as usize]
                    .iter()
                    .enumerate()
                    .filter_map(move |(slot, &cell)| {
                        let addr = page << PAGE_SHIFT | (slot as u64) << SLOT_SHIFT;
                        cell.checked_sub(1).map(|i| (addr, &self.slab[i as usize]))
                    })
            })
            .chain(self.unaligned.iter().map(|(&a, b)| (a, b)))
    }

    /// Every block, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &B> + '_ {
        self.slots
            .iter()
            .flat_map(|page| page.iter())
            .filter_map(|&cell| cell.checked_sub(1))
            .map(|i| &self.slab[i as usize])
            .chain(self.unaligned.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_replaces_and_removes_by_address() {
        let mut map = BlockMap::default();
        assert_eq!(map.insert(0x1000, 'a'), None);
        assert_eq!(map.insert(0x1010, 'b'), None);
        assert_eq!(map.insert(0x7f00_0000_2000, 'c'), None);
        assert_eq!(map.insert(0x1010, 'B'), Some('b'));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(0x1010), Some(&'B'));
        assert_eq!(map.get(0x1020), None);
        assert_eq!(map.get(0x5000), None);
        assert_eq!(map.remove(0x1000), Some('a'));
        assert_eq!(map.remove(0x1000), None);
        assert_eq!(map.len(), 2);
        // A removed block's cell is reused.
        assert_eq!(map.insert(0x1fff0, 'd'), None);
        assert_eq!(map.slab.len(), 3);
        let mut all: Vec<char> = map.values().copied().collect();
        all.sort();
        assert_eq!(all, vec!['B', 'c', 'd']);
    }

    #[test]
    fn iterates_every_block_with_its_address() {
        let mut m = BlockMap::default();
        for addr in [0x1000_0010u64, 0x1000_0ff0, 0x2000_0000, 0x3000_0008] {
            m.insert(addr, addr * 2);
        }
        m.remove(0x2000_0000);
        let mut seen: Vec<(u64, u64)> = m.iter().map(|(a, &b)| (a, b)).collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            vec![
                (0x1000_0010, 0x2000_0020),
                (0x1000_0ff0, 0x2000_1fe0),
                (0x3000_0008, 0x6000_0010)
            ]
        );
    }

    #[test]
    fn unaligned_addresses_are_kept_apart() {
        let mut map = BlockMap::default();
        assert_eq!(map.insert(0x1008, 1), None);
        assert_eq!(map.insert(0x1000, 2), None);
        assert_eq!(map.get(0x1008), Some(&1));
        assert_eq!(map.get(0x1000), Some(&2));
        assert_eq!(map.len(), 2);
        assert_eq!(map.remove(0x1008), Some(1));
        assert_eq!(map.values().copied().collect::<Vec<_>>(), vec![2]);
    }
}
