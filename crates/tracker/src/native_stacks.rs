//! Native stacks for `--native`: unwound in the profiled process from the
//! loaded objects' DWARF call-frame information (framehop), interned into a
//! per-thread prefix tree like Python stacks, and symbolized only when the
//! capture is read.
//!
//! The unwinder holds every loaded object's unwind tables; it is rebuilt
//! when `dlopen` adds objects, and each thread picks up the new one at its
//! next allocation (one atomic load on the common path). Each thread keeps
//! its own rule cache, so unwinding allocates nothing and takes no lock.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, Module, MustNotAllocateDuringUnwind, Unwinder};
use memsleuth_format::{Domain, NativeFrameDef, Record};
use rustc_hash::FxHashMap;

use crate::sys::{objects, unwind};

type Native = UnwinderX86_64<&'static [u8], MustNotAllocateDuringUnwind>;
type Cache = CacheX86_64<MustNotAllocateDuringUnwind>;

/// The deepest native stack recorded; deeper ones keep their innermost frames.
const MAX_FRAMES: usize = 256;

/// Whether allocations record native stacks in this session.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Bumped whenever the shared unwinder is replaced.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static SHARED: Mutex<Option<Arc<Native>>> = Mutex::new(None);
/// Native stack node ids; 0 means "no native stack".
static NEXT_NODE: AtomicU32 = AtomicU32::new(1);

/// Starts or stops recording native stacks; starting describes every
/// object loaded now.
pub(crate) fn enable(on: bool) {
    if on {
        NEXT_NODE.store(1, Ordering::Relaxed);
        rebuild();
    }
    ENABLED.store(on, Ordering::Release);
}

pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether an allocation in this layer gets a native stack: memory that C
/// code asked for (the C heap, mmap, the raw domain, arenas). Not objects
/// and buffers from pymalloc's domains: they are most of all allocations,
/// their Python stack already names the line, and unwinding each would
/// multiply the cost of every small object.
pub(crate) fn wanted_for(domain: u8) -> bool {
    !matches!(Domain::from_u8(domain), Some(Domain::Object | Domain::Mem))
}

/// Rebuilds the unwinder from the objects loaded now; after `dlopen`.
pub(crate) fn rebuild() {
    let mut unwinder = Native::new();
    // Every object, this module included: the unwinder must get through our
    // own frames before `walk` drops them by address.
    objects::for_each(|o| {
        if let Some(t) = unwind::unwind_tables(o) {
            let info = ExplicitModuleSectionInfo {
                base_svma: 0,
                text_svma: t.text_svma,
                eh_frame_hdr_svma: Some(t.eh_frame_hdr.0),
                eh_frame_hdr: Some(t.eh_frame_hdr.1),
                eh_frame_svma: Some(t.eh_frame.0),
                eh_frame: Some(t.eh_frame.1),
                ..Default::default()
            };
            let name = String::from_utf8_lossy(o.name.to_bytes()).into_owned();
            unwinder.add_module(Module::new(name, t.avma, t.bias, info));
        }
    });
    *SHARED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(unwinder));
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// One thread's unwinding state and native stack tree.
pub(crate) struct NativeStacks {
    unwinder: Option<Arc<Native>>,
    generation: u64,
    cache: Box<Cache>,
    stack: Range<u64>,
    own: Range<u64>,
    /// Scratch for one walk: return addresses, innermost first.
    pcs: Vec<u64>,
    /// The previous stack, outermost first, and its nodes.
    path: Vec<u64>,
    nodes: Vec<u32>,
    tree: FxHashMap<(u32, u64), u32>,
}

impl NativeStacks {
    pub(crate) fn new() -> NativeStacks {
        NativeStacks {
            unwinder: None,
            generation: u64::MAX,
            cache: Box::new(Cache::new_in()),
            stack: 0..unwind::stack_top().unwrap_or(0),
            own: objects::own().map_or(0..0, |o| o.range.clone()),
            pcs: Vec::with_capacity(MAX_FRAMES),
            path: Vec::new(),
            nodes: Vec::new(),
            tree: FxHashMap::default(),
        }
    }

    fn refresh_unwinder(&mut self) {
        let now = GENERATION.load(Ordering::Acquire);
        if now != self.generation {
            self.unwinder = SHARED.lock().unwrap_or_else(|p| p.into_inner()).clone();
            self.generation = now;
        }
    }

    /// The calling thread's native stack id, defining new nodes in `defs`.
    /// Must be called from inside a hook: frames of this module are skipped.
    #[inline(never)]
    pub(crate) fn current(&mut self, defs: &mut Vec<Record>) -> u32 {
        self.refresh_unwinder();
        let regs = unwind::registers();
        self.walk(regs);
        self.intern(defs)
    }

    /// Fills `pcs` with the return addresses outside this module, innermost first.
    fn walk(&mut self, regs: unwind::Registers) {
        self.pcs.clear();
        let Some(unwinder) = self.unwinder.as_deref() else {
            return;
        };
        let stack = regs.sp..self.stack.end;
        let mut read = |addr: u64| unwind::read_stack_word(&stack, addr);
        let mut frames = unwinder.iter_frames(
            regs.ip,
            UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp),
            &mut self.cache,
            &mut read,
        );
        let mut inside_own = true;
        while let Ok(Some(frame)) = frames.next() {
            let pc = frame.address();
            if inside_own && self.own.contains(&pc) {
                continue;
            }
            inside_own = false;
            if pc == 0 || self.pcs.len() == MAX_FRAMES {
                break;
            }
            self.pcs.push(pc);
        }
    }

    /// Interns `pcs` (innermost first) from the outermost frame, reusing the
    /// prefix shared with the previous stack.
    fn intern(&mut self, defs: &mut Vec<Record>) -> u32 {
        let n = self.pcs.len();
        let common = self
            .path
            .iter()
            .zip(self.pcs.iter().rev())
            .take_while(|(a, b)| a == b)
            .count();
        self.path.truncate(common);
        self.nodes.truncate(common);
        let mut parent = self.nodes.last().copied().unwrap_or(0);
        for i in (0..n - common).rev() {
            let pc = self.pcs[i];
            let node = *self.tree.entry((parent, pc)).or_insert_with(|| {
                let id = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
                defs.push(Record::NativeFrame(NativeFrameDef { id, parent, pc }));
                id
            });
            self.path.push(pc);
            self.nodes.push(node);
            parent = node;
        }
        parent
    }
}
