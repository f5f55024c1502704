//! pymalloc's arenas, pools and size classes at one moment, rebuilt from the
//! blocks a replay holds live, and the arenas a few live blocks pin.
//!
//! pymalloc serves requests of at most 512 bytes from the object and mem
//! domains. It rounds each up to a multiple of 16 (its size class) and carves
//! it from a pool: a `pool_size` stretch of an arena, aligned to `pool_size`,
//! that holds blocks of one class behind a 48-byte header. An arena goes back
//! to the system only when none of its pools holds a live block, so one
//! surviving block keeps a whole arena resident. The capture holds every
//! arena and every block, so this picture is exact for the arenas made while
//! tracking; those made before tracking started (the interpreter's start-up)
//! are known only by pymalloc's own counts (`PymallocStats`).

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::replay::{SiteKey, StackStats};

/// The largest request pymalloc serves (`SMALL_REQUEST_THRESHOLD`).
pub const SMALL_REQUEST: u64 = 512;
/// pymalloc's block alignment on 64-bit builds: the step between size classes.
pub const ALIGNMENT: u64 = 16;
/// `POOL_OVERHEAD`: a pool's header, rounded up to the alignment.
pub const POOL_HEADER: u64 = 48;
/// Every supported version has 64 pools per arena (256 KiB arenas of 4 KiB
/// pools in 3.9, 1 MiB arenas of 16 KiB pools from 3.10 on 64-bit).
pub const POOLS_PER_ARENA: u64 = 64;
/// An arena whose live blocks fill less than this share of it is pinned:
/// almost empty, yet kept from the system.
pub const PINNED_SHARE: f64 = 0.05;

/// The size class a request of `size` bytes is served from.
pub fn size_class(size: u64) -> u64 {
    size.max(1).div_ceil(ALIGNMENT) * ALIGNMENT
}

/// Whether a block of this layer and size was served by pymalloc.
pub fn is_pymalloc_block(layer: memsleuth_format::Domain, size: u64) -> bool {
    use memsleuth_format::Domain;
    matches!(layer, Domain::Object | Domain::Mem) && size <= SMALL_REQUEST
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassPicture {
    pub size: u64,
    pub pools: u64,
    pub blocks_in_use: u64,
    pub blocks_free: u64,
}

/// Arenas kept from the system by a few live blocks, and who allocated those.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PinnedArenas {
    pub arenas: u64,
    /// What the pinned arenas occupy.
    pub arena_bytes: u64,
    pub live_blocks: u64,
    /// The pinning blocks' bytes, each rounded up to its size class.
    pub live_bytes: u64,
    /// The pinning blocks by allocation site, most bytes first.
    #[serde(skip)]
    pub by_site: Vec<(SiteKey, StackStats)>,
}

/// pymalloc at one moment, for the arenas made while tracking.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PymallocPicture {
    pub arena_size: u64,
    pub pool_size: u64,
    pub arenas: u64,
    pub arena_bytes: u64,
    /// Pools holding at least one live block, and pools holding none.
    pub used_pools: u64,
    pub free_pools: u64,
    /// Live blocks in these arenas, and their bytes rounded to their class.
    pub live_blocks: u64,
    pub live_bytes: u64,
    /// Free blocks inside used pools.
    pub free_block_bytes: u64,
    /// Free pools, pool headers, and pools lost to alignment.
    pub free_pool_bytes: u64,
    pub overhead_bytes: u64,
    /// The share of arena memory that holds no live object.
    pub fragmentation: f64,
    pub classes: Vec<ClassPicture>,
    pub pinned: PinnedArenas,
    /// Live pymalloc-sized blocks outside every tracked arena: in arenas
    /// made before tracking started.
    pub blocks_in_untracked_arenas: u64,
}

#[derive(Default, Clone, Copy)]
struct ArenaTally {
    live_blocks: u64,
    live_bytes: u64,
}

/// Builds the picture from the live arenas (start, size) and the live
/// blocks (address, size, site) of the pymalloc layers. `blocks` is called
/// twice at most: the sites of the pinning blocks are gathered in a second
/// walk, over the pinned arenas only, which is far cheaper than keeping
/// every arena's sites in the first.
pub fn picture<I>(arenas: &[(u64, u64)], blocks: impl Fn() -> I) -> Option<PymallocPicture>
where
    I: Iterator<Item = (u64, u64, SiteKey)>,
{
    let arena_size = arenas.iter().map(|&(_, size)| size).max()?;
    let pool_size = arena_size / POOLS_PER_ARENA;
    let mut sorted = arenas.to_vec();
    sorted.sort_unstable();
    let mut tallies: Vec<ArenaTally> = sorted.iter().map(|_| ArenaTally::default()).collect();
    // Pool address -> (size class, live blocks).
    let mut pools: FxHashMap<u64, (u64, u64)> = FxHashMap::default();
    let mut outside = 0u64;
    for (addr, size, _) in blocks() {
        let Some(i) = containing(&sorted, addr) else {
            outside += 1;
            continue;
        };
        let class = size_class(size);
        let t = &mut tallies[i];
        t.live_blocks += 1;
        t.live_bytes += class;
        let pool = pools.entry(addr & !(pool_size - 1)).or_insert((class, 0));
        pool.1 += 1;
    }
    let mut p = PymallocPicture {
        arena_size,
        pool_size,
        arenas: sorted.len() as u64,
        arena_bytes: sorted.iter().map(|&(_, s)| s).sum(),
        used_pools: pools.len() as u64,
        blocks_in_untracked_arenas: outside,
        ..PymallocPicture::default()
    };
    p.classes = class_table(&pools, pool_size);
    p.live_blocks = tallies.iter().map(|t| t.live_blocks).sum();
    p.live_bytes = tallies.iter().map(|t| t.live_bytes).sum();
    p.free_block_bytes = p.classes.iter().map(|c| c.blocks_free * c.size).sum();
    let capacity: u64 = sorted.iter().map(|&a| pools_in(a, pool_size)).sum();
    p.free_pools = capacity.saturating_sub(p.used_pools);
    p.free_pool_bytes = p.free_pools * pool_size;
    p.overhead_bytes = p
        .arena_bytes
        .saturating_sub(p.live_bytes + p.free_block_bytes + p.free_pool_bytes);
    p.fragmentation = if p.arena_bytes == 0 {
        0.0
    } else {
        1.0 - p.live_bytes as f64 / p.arena_bytes as f64
    };
    p.pinned = pinned(&sorted, &tallies, blocks);
    Some(p)
}

/// The index of the arena holding `addr`, in arenas sorted by start.
fn containing(sorted: &[(u64, u64)], addr: u64) -> Option<usize> {
    let i = sorted.partition_point(|&(start, _)| start <= addr);
    let i = i.checked_sub(1)?;
    let (start, size) = sorted[i];
    (addr < start + size).then_some(i)
}

/// Pools an arena holds: its pool-aligned stretch (an arena that does not
/// start on a pool boundary loses its first, partial pool).
fn pools_in((start, size): (u64, u64), pool_size: u64) -> u64 {
    let first = start.div_ceil(pool_size) * pool_size;
    (start + size).saturating_sub(first) / pool_size
}

fn class_table(pools: &FxHashMap<u64, (u64, u64)>, pool_size: u64) -> Vec<ClassPicture> {
    let mut by_class: FxHashMap<u64, ClassPicture> = FxHashMap::default();
    for &(class, live) in pools.values() {
        let c = by_class.entry(class).or_insert(ClassPicture {
            size: class,
            ..ClassPicture::default()
        });
        c.pools += 1;
        c.blocks_in_use += live;
        let per_pool = pool_size.saturating_sub(POOL_HEADER) / class;
        c.blocks_free += per_pool.saturating_sub(live);
    }
    let mut out: Vec<ClassPicture> = by_class.into_values().collect();
    out.sort_unstable_by_key(|c| c.size);
    out
}

fn pinned<I>(sorted: &[(u64, u64)], tallies: &[ArenaTally], blocks: impl Fn() -> I) -> PinnedArenas
where
    I: Iterator<Item = (u64, u64, SiteKey)>,
{
    let mut out = PinnedArenas::default();
    let is_pinned: Vec<bool> = sorted
        .iter()
        .zip(tallies)
        .map(|(&(_, size), t)| {
            t.live_blocks > 0 && (t.live_bytes as f64 / size as f64) < PINNED_SHARE
        })
        .collect();
    for ((&(_, size), t), _) in sorted
        .iter()
        .zip(tallies)
        .zip(&is_pinned)
        .filter(|(_, &p)| p)
    {
        out.arenas += 1;
        out.arena_bytes += size;
        out.live_blocks += t.live_blocks;
        out.live_bytes += t.live_bytes;
    }
    if out.arenas == 0 {
        return out;
    }
    let mut by_site: FxHashMap<SiteKey, StackStats> = FxHashMap::default();
    for (addr, size, key) in blocks() {
        if containing(sorted, addr).is_some_and(|i| is_pinned[i]) {
            let site = by_site.entry(key).or_default();
            site.bytes += size_class(size);
            site.count += 1;
        }
    }
    out.by_site = by_site.into_iter().collect();
    out.by_site
        .sort_unstable_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.stack.cmp(&b.0.stack)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use memsleuth_format::Domain;

    fn key(stack: u32) -> SiteKey {
        SiteKey {
            stack,
            native: 0,
            layer: Domain::Object,
        }
    }

    const MIB: u64 = 1 << 20;
    const POOL: u64 = 16 * 1024;

    #[test]
    fn classes_pools_and_free_space_add_up_to_the_arenas() {
        // One pool-aligned arena: 64 pools. Two 32-byte blocks share a pool;
        // one 100-byte block (class 112) has a pool of its own.
        let arena = (64 * MIB, MIB);
        let blocks = [
            (64 * MIB, 32, key(1)),
            (64 * MIB + 32, 30, key(1)),
            (64 * MIB + 5 * POOL, 100, key(2)),
            (200 * MIB, 64, key(3)),
        ];
        let p = picture(&[arena], || blocks.iter().copied()).expect("an arena");
        assert_eq!((p.arena_size, p.pool_size), (MIB, POOL));
        assert_eq!((p.used_pools, p.free_pools), (2, 62));
        assert_eq!((p.live_blocks, p.live_bytes), (3, 32 + 32 + 112));
        assert_eq!(p.blocks_in_untracked_arenas, 1);
        let per_pool_32 = (POOL - POOL_HEADER) / 32;
        let per_pool_112 = (POOL - POOL_HEADER) / 112;
        assert_eq!(
            p.classes,
            vec![
                ClassPicture {
                    size: 32,
                    pools: 1,
                    blocks_in_use: 2,
                    blocks_free: per_pool_32 - 2
                },
                ClassPicture {
                    size: 112,
                    pools: 1,
                    blocks_in_use: 1,
                    blocks_free: per_pool_112 - 1
                },
            ]
        );
        assert_eq!(
            p.live_bytes + p.free_block_bytes + p.free_pool_bytes + p.overhead_bytes,
            MIB
        );
        // Three blocks in a 1 MiB arena: it is pinned, by sites 2 and 1.
        assert_eq!((p.pinned.arenas, p.pinned.live_blocks), (1, 3));
        let sites: Vec<(u32, u64)> = p
            .pinned
            .by_site
            .iter()
            .map(|(k, s)| (k.stack, s.bytes))
            .collect();
        assert_eq!(sites, vec![(2, 112), (1, 64)]);
    }

    #[test]
    fn an_unaligned_arena_loses_a_pool_and_a_full_one_is_not_pinned() {
        let start = 64 * MIB + 4096;
        assert_eq!(pools_in((start, MIB), POOL), 63);
        let blocks = || (0..2000u64).map(|i| (start + 12 * 1024 + i * 512, 512, key(1)));
        let p = picture(&[(start, MIB)], blocks).expect("an arena");
        assert_eq!(p.pinned.arenas, 0);
        assert_eq!(p.free_pools, 63 - p.used_pools);
    }
}
