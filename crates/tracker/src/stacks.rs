//! Turns the calling thread's frames into one interned stack id.
//!
//! Stacks form a prefix tree: a node is (parent node, code, instruction
//! offset), so an event carries only its innermost node. Each thread keeps the
//! path of nodes of its previous stack; consecutive allocations mostly share
//! all but the innermost frames, so the common prefix is matched by comparing
//! plain integers and only the frames below it are looked up or created.
//! Node and code ids come from process-wide counters, so ids never collide
//! across threads while the tree itself is per thread and lock-free.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use memsleuth_format::{CodeDef, FrameDef, LineTableFormat, Record, INTERPRETER_CODE};
use rustc_hash::FxHashMap;

use crate::codes;
use crate::sys::shim;

static NEXT_NODE: AtomicU32 = AtomicU32::new(1);
static NEXT_CODE: AtomicU32 = AtomicU32::new(1);
/// See `Options::stack_base`; 0 marks an unused slot.
static STACK_BASE: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

pub(crate) fn set_stack_base(codes: &[usize]) {
    for (i, slot) in STACK_BASE.iter().enumerate() {
        slot.store(codes.get(i).copied().unwrap_or(0), Ordering::Relaxed);
    }
}

fn is_stack_base(code: usize) -> bool {
    STACK_BASE.iter().any(|b| b.load(Ordering::Relaxed) == code)
}

pub(crate) fn reset_ids() {
    NEXT_NODE.store(1, Ordering::Relaxed);
    NEXT_CODE.store(1, Ordering::Relaxed);
}

pub(crate) fn new_node_id() -> u32 {
    NEXT_NODE.fetch_add(1, Ordering::Relaxed)
}

/// How many of a stack's outermost frames can be the stack base: the
/// launcher's frames sit at the root of the main thread, and `_stop` is the
/// only Python frame of the exit handler that runs it.
const BASE_SCAN: usize = 4;

/// Frames are compared in blocks of this many words with one `memcmp`.
const COMPARE_BLOCK: usize = 32;

/// The number of leading frames (two words each) that `a` and `b` share.
fn common_prefix_frames(a: &[u64], b: &[u64]) -> usize {
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + COMPARE_BLOCK <= len && a[i..i + COMPARE_BLOCK] == b[i..i + COMPARE_BLOCK] {
        i += COMPARE_BLOCK;
    }
    while i < len && a[i] == b[i] {
        i += 1;
    }
    i / 2
}

/// What a walk of the calling thread's frames found.
enum Walk {
    /// No Python thread state: a thread started by C code.
    NoThreadState,
    /// A thread state but no Python frame: the interpreter starting, shutting
    /// down, or starting a thread.
    Interpreter,
    /// Only the launcher's frames: not the program's allocation.
    Launcher,
    /// The program's frames: this word range of `scratch`, outermost first.
    Frames(std::ops::Range<usize>),
}

/// Set in a walked frame's offset word when the frame is an entry frame
/// (`MS_ENTRY` in the shim); offsets themselves never reach it.
const ENTRY_BIT: u32 = 1 << 31;

/// Slots of the per-thread frame cache; a power of two.
const FRAME_CACHE_SLOTS: usize = 1024;

/// A direct-mapped cache of (parent node, code address, offset) -> node: the
/// innermost frame changes at almost every allocation, and this answers it
/// without the two hash-map lookups (code id, then node) of a miss.
#[derive(Clone, Copy, Default)]
struct FrameSlot {
    parent: u32,
    offset: u32,
    code: usize,
    node: u32,
}

fn frame_slot(parent: u32, code: usize, offset: u32) -> usize {
    let h = (code as u64 ^ u64::from(offset) << 40 ^ u64::from(parent) << 20)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 54) as usize & (FRAME_CACHE_SLOTS - 1)
}

pub(crate) struct StackCache {
    root: u32,
    frame_cache: Box<[FrameSlot]>,
    /// The previous stack, outermost frame first, in the walk's layout: two
    /// words per frame, (code object address, instruction offset).
    path_words: Vec<u64>,
    /// The node of each frame of `path_words`.
    path_nodes: Vec<u32>,
    codes: FxHashMap<usize, u32>,
    nodes: FxHashMap<(u32, u32, u32), u32>,
    epoch: u64,
    /// The interpreter pseudo-frame's node, 0 until first needed.
    interpreter: u32,
    /// Where the walk writes; frames end up at its tail (see `walk_frames`).
    scratch: Vec<u64>,
}

impl StackCache {
    pub(crate) fn new(root: u32) -> StackCache {
        StackCache {
            root,
            frame_cache: vec![FrameSlot::default(); FRAME_CACHE_SLOTS].into_boxed_slice(),
            path_words: Vec::new(),
            path_nodes: Vec::new(),
            codes: FxHashMap::default(),
            nodes: FxHashMap::default(),
            epoch: codes::epoch(),
            interpreter: 0,
            scratch: vec![0; 2 * 256],
        }
    }

    fn truncate_path(&mut self, frames: usize) {
        self.path_words.truncate(2 * frames);
        self.path_nodes.truncate(frames);
    }

    /// Forgets what this thread knew about code objects that died since it
    /// last looked, so a reused address is described afresh.
    fn forget_dead_codes(&mut self) {
        let now = codes::epoch();
        if now == self.epoch {
            return;
        }
        // The frame cache is keyed by code address: forget it all.
        self.frame_cache.fill(FrameSlot::default());
        match codes::deaths_since(self.epoch) {
            Some(dead) => {
                for code in &dead {
                    self.codes.remove(code);
                }
                let first_dead = self
                    .path_words
                    .chunks_exact(2)
                    .position(|f| dead.contains(&(f[0] as usize)));
                if let Some(cut) = first_dead {
                    self.truncate_path(cut);
                }
            }
            None => {
                self.codes.clear();
                self.truncate_path(0);
            }
        }
        self.epoch = now;
    }

    /// Walks the calling thread's frames into `scratch`.
    fn walk(&mut self) -> Walk {
        loop {
            let cap = self.scratch.len() / 2;
            let Some(n) = shim::walk_frames(&mut self.scratch) else {
                return Walk::NoThreadState;
            };
            if n > cap {
                self.scratch.resize(2 * n.next_power_of_two(), 0);
                continue;
            }
            if n == 0 {
                return Walk::Interpreter;
            }
            let start = 2 * (cap - n);
            let frames = &self.scratch[start..];
            let skip = (0..n.min(BASE_SCAN))
                .rev()
                .find(|&i| is_stack_base(frames[2 * i] as usize))
                .map_or(0, |i| i + 1);
            if skip > 0 && skip == n {
                return Walk::Launcher;
            }
            return Walk::Frames(start + 2 * skip..self.scratch.len());
        }
    }

    /// The id of the calling thread's current stack, appending definitions of
    /// any new codes and nodes to `defs`; `None` when the allocation is the
    /// launcher's own and must not be recorded.
    pub(crate) fn current(&mut self, defs: &mut Vec<Record>) -> Option<u32> {
        self.forget_dead_codes();
        match self.walk() {
            Walk::Launcher => None,
            Walk::NoThreadState => Some(self.root),
            Walk::Interpreter => Some(self.interpreter_node(defs)),
            Walk::Frames(range) => {
                let scratch = std::mem::take(&mut self.scratch);
                let stack = self.intern(&scratch[range], defs, shim::code_info);
                self.scratch = scratch;
                Some(stack)
            }
        }
    }

    /// The node standing for "the interpreter, with no Python frame", made
    /// on first use.
    fn interpreter_node(&mut self, defs: &mut Vec<Record>) -> u32 {
        if self.interpreter == 0 {
            self.interpreter = new_node_id();
            defs.push(Record::Frame(FrameDef {
                id: self.interpreter,
                parent: self.root,
                code: INTERPRETER_CODE,
                offset: 0,
                entry: false,
            }));
        }
        self.interpreter
    }

    /// Interns a stack given as words, two per frame, outermost first;
    /// `describe` reads a code object seen for the first time.
    fn intern(
        &mut self,
        frames: &[u64],
        defs: &mut Vec<Record>,
        describe: fn(usize) -> shim::CodeInfo,
    ) -> u32 {
        let common = common_prefix_frames(frames, &self.path_words);
        self.truncate_path(common);
        let mut parent = self.path_nodes.last().copied().unwrap_or(self.root);
        for frame in frames[2 * common..].chunks_exact(2) {
            let (code, offset) = (frame[0] as usize, frame[1] as u32);
            let slot = frame_slot(parent, code, offset);
            let cached = self.frame_cache[slot];
            let hit = cached.node != 0
                && cached.parent == parent
                && cached.code == code
                && cached.offset == offset;
            let node = if hit {
                cached.node
            } else {
                let node = self.node(parent, code, offset, defs, describe);
                self.frame_cache[slot] = FrameSlot {
                    parent,
                    offset,
                    code,
                    node,
                };
                node
            };
            self.path_words.extend_from_slice(frame);
            self.path_nodes.push(node);
            parent = node;
        }
        parent
    }

    /// The node of a frame under `parent`, made and defined if new.
    fn node(
        &mut self,
        parent: u32,
        code: usize,
        offset: u32,
        defs: &mut Vec<Record>,
        describe: fn(usize) -> shim::CodeInfo,
    ) -> u32 {
        let code_id = self.code_id(code, defs, describe);
        *self
            .nodes
            .entry((parent, code_id, offset))
            .or_insert_with(|| {
                let id = new_node_id();
                defs.push(Record::Frame(FrameDef {
                    id,
                    parent,
                    code: code_id,
                    offset: offset & !ENTRY_BIT,
                    entry: offset & ENTRY_BIT != 0,
                }));
                id
            })
    }

    fn code_id(
        &mut self,
        code: usize,
        defs: &mut Vec<Record>,
        describe: fn(usize) -> shim::CodeInfo,
    ) -> u32 {
        if let Some(&id) = self.codes.get(&code) {
            return id;
        }
        let info = describe(code);
        let id = NEXT_CODE.fetch_add(1, Ordering::Relaxed);
        let linetable_format = LineTableFormat::from_u8(info.linetable_format)
            .unwrap_or(LineTableFormat::Locations311);
        defs.push(Record::Code(CodeDef {
            id,
            filename: info.filename,
            name: info.name,
            first_line: info.first_line,
            linetable_format,
            linetable: info.linetable,
        }));
        codes::register(code);
        self.codes.insert(code, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_code(code: usize) -> shim::CodeInfo {
        shim::CodeInfo {
            filename: format!("file{code}.py"),
            name: format!("f{code}"),
            linetable: vec![],
            first_line: 1,
            linetable_format: 3,
        }
    }

    /// Interns a stack given outermost first as (code, offset) pairs.
    fn intern(cache: &mut StackCache, stack: &[(usize, u32)], defs: &mut Vec<Record>) -> u32 {
        let words: Vec<u64> = stack
            .iter()
            .flat_map(|&(c, o)| [c as u64, u64::from(o)])
            .collect();
        cache.intern(&words, defs, fake_code)
    }

    fn frames(defs: &[Record]) -> Vec<FrameDef> {
        defs.iter()
            .filter_map(|r| {
                if let Record::Frame(f) = r {
                    Some(*f)
                } else {
                    None
                }
            })
            .collect()
    }

    fn code_defs(defs: &[Record]) -> usize {
        defs.iter().filter(|r| matches!(r, Record::Code(_))).count()
    }

    #[test]
    fn the_same_stack_gets_the_same_id_and_no_new_definitions() {
        let mut cache = StackCache::new(1000);
        let mut defs = Vec::new();
        let a = intern(&mut cache, &[(10, 4), (20, 8)], &mut defs);
        assert_eq!(frames(&defs).len(), 2);
        assert_eq!(code_defs(&defs), 2);
        defs.clear();
        let b = intern(&mut cache, &[(10, 4), (20, 8)], &mut defs);
        assert_eq!(a, b);
        assert!(defs.is_empty());
    }

    #[test]
    fn a_new_leaf_offset_adds_one_node_under_the_shared_prefix() {
        let mut cache = StackCache::new(1000);
        let mut defs = Vec::new();
        let first = intern(&mut cache, &[(10, 4), (20, 8)], &mut defs);
        let parent = frames(&defs)[0].id;
        defs.clear();
        let second = intern(&mut cache, &[(10, 4), (20, 12)], &mut defs);
        assert_ne!(first, second);
        let new = frames(&defs);
        assert_eq!(new.len(), 1);
        assert_eq!(
            (new[0].id, new[0].parent, new[0].offset),
            (second, parent, 12)
        );
        assert_eq!(code_defs(&defs), 0, "code 20 was already described");
    }

    #[test]
    fn the_tree_is_rooted_at_the_thread_and_paths_stay_distinct() {
        let mut cache = StackCache::new(1000);
        let mut defs = Vec::new();
        // The same function reached from two callers is two stacks.
        let via_a = intern(&mut cache, &[(1, 0), (2, 10), (9, 0)], &mut defs);
        let via_b = intern(&mut cache, &[(1, 0), (3, 10), (9, 0)], &mut defs);
        assert_ne!(via_a, via_b);
        let all = frames(&defs);
        let root_children: Vec<_> = all.iter().filter(|f| f.parent == 1000).collect();
        assert_eq!(root_children.len(), 1, "one outermost frame, shared");
        // Returning to a stack seen before finds its node again, even after
        // the per-thread path moved elsewhere.
        defs.clear();
        assert_eq!(
            intern(&mut cache, &[(1, 0), (2, 10), (9, 0)], &mut defs),
            via_a
        );
        assert!(defs.is_empty());
    }

    #[test]
    fn returning_to_a_caller_yields_the_callers_node() {
        let mut cache = StackCache::new(1000);
        let mut defs = Vec::new();
        let outer = intern(&mut cache, &[(1, 6)], &mut defs);
        let _inner = intern(&mut cache, &[(1, 6), (2, 0)], &mut defs);
        assert_eq!(intern(&mut cache, &[(1, 6)], &mut defs), outer);
    }

    #[test]
    fn deep_stacks_compare_across_block_boundaries() {
        let mut cache = StackCache::new(1);
        let mut defs = Vec::new();
        let deep: Vec<(usize, u32)> = (0..100).map(|i| (1000 + i, 2 * i as u32)).collect();
        let first = intern(&mut cache, &deep, &mut defs);
        // Change one frame in the middle of a compare block: everything
        // below it must be new nodes, everything above it shared.
        let mut changed = deep.clone();
        changed[37].1 += 2;
        defs.clear();
        let second = intern(&mut cache, &changed, &mut defs);
        assert_ne!(first, second);
        assert_eq!(frames(&defs).len(), 100 - 37);
        defs.clear();
        assert_eq!(intern(&mut cache, &deep, &mut defs), first);
        assert!(defs.is_empty());
    }

    #[test]
    fn common_prefix_counts_whole_frames() {
        assert_eq!(common_prefix_frames(&[1, 2, 3, 4], &[1, 2, 3, 5]), 1);
        assert_eq!(common_prefix_frames(&[1, 2, 3, 4], &[1, 2, 3, 4, 5, 6]), 2);
        assert_eq!(common_prefix_frames(&[], &[1, 2]), 0);
        let long: Vec<u64> = (0..200).collect();
        let mut other = long.clone();
        other[131] = 0;
        assert_eq!(common_prefix_frames(&long, &other), 65);
    }

    #[test]
    fn a_thread_with_no_python_frame_is_its_root() {
        let mut cache = StackCache::new(77);
        let mut defs = Vec::new();
        assert_eq!(intern(&mut cache, &[], &mut defs), 77);
        assert!(defs.is_empty());
    }
}
