use serde::{Deserialize, Serialize};

/// The layer an allocation was requested from: CPython's three allocator
/// domains (`PyMemAllocatorDomain`), the C heap, mmap, and pymalloc's arenas.
///
/// A block belongs to the outermost layer it was requested through: the
/// `malloc` that `PyMem_RawMalloc` makes is not recorded again, nor the `mmap`
/// behind a pymalloc arena. Arenas are recorded on their own, and are *not*
/// part of the tracked total: the small objects inside them already are.
///
/// Serialized by its layer name (see [`Domain::layer_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Domain {
    /// `PyMem_RawMalloc` and friends: callable without the GIL.
    #[serde(rename = "python-raw")]
    Raw = 0,
    /// `PyMem_Malloc`: buffers owned by Python objects.
    #[serde(rename = "python-mem")]
    Mem = 1,
    /// `PyObject_Malloc`: the objects themselves.
    #[serde(rename = "python-object")]
    Object = 2,
    /// The C heap: `malloc`, `calloc`, `realloc`, the aligned allocators.
    #[serde(rename = "native-heap")]
    Native = 3,
    /// Anonymous and file mappings made with `mmap` and `mremap`.
    #[serde(rename = "mmap")]
    Mmap = 4,
    /// pymalloc's arenas (`PyObject_SetArenaAllocator`): capacity, not objects.
    #[serde(rename = "pymalloc-arena")]
    Arena = 5,
}

impl Domain {
    pub const ALL: [Domain; 6] = [
        Domain::Raw,
        Domain::Mem,
        Domain::Object,
        Domain::Native,
        Domain::Mmap,
        Domain::Arena,
    ];
    /// CPython's allocator domains, the ones `PyMem_SetAllocator` wraps.
    pub const PYTHON: [Domain; 3] = [Domain::Raw, Domain::Mem, Domain::Object];

    pub fn from_u8(v: u8) -> Option<Domain> {
        Domain::ALL.get(v as usize).copied()
    }

    /// The layer name users see in reports.
    pub fn layer_name(self) -> &'static str {
        match self {
            Domain::Raw => "python-raw",
            Domain::Mem => "python-mem",
            Domain::Object => "python-object",
            Domain::Native => "native-heap",
            Domain::Mmap => "mmap",
            Domain::Arena => "pymalloc-arena",
        }
    }

    /// Whether this layer's bytes add up to the tracked total. Arenas do not:
    /// the objects in them are counted in the Python layers already.
    pub fn counts_in_total(self) -> bool {
        self != Domain::Arena
    }
}

/// Which allocator entry point made a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocKind {
    Malloc = 0,
    Calloc = 1,
    /// `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`.
    Aligned = 2,
    /// `mmap`, or the new range of an `mremap`.
    Mmap = 3,
}

impl AllocKind {
    pub fn from_u8(v: u8) -> Option<AllocKind> {
        match v {
            0 => Some(AllocKind::Malloc),
            1 => Some(AllocKind::Calloc),
            2 => Some(AllocKind::Aligned),
            3 => Some(AllocKind::Mmap),
            _ => None,
        }
    }
}

/// How a code object maps instruction offsets to lines; it changed in 3.10 and 3.11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineTableFormat {
    /// `co_lnotab`, CPython 3.9 and earlier.
    Lnotab = 1,
    /// `co_linetable` of CPython 3.10.
    Linetable310 = 2,
    /// The location table of CPython 3.11 and later (PEP 657).
    Locations311 = 3,
}

impl LineTableFormat {
    pub fn from_u8(v: u8) -> Option<LineTableFormat> {
        match v {
            1 => Some(LineTableFormat::Lnotab),
            2 => Some(LineTableFormat::Linetable310),
            3 => Some(LineTableFormat::Locations311),
            _ => None,
        }
    }
}

/// What offline symbolization needs of one code object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeDef {
    pub id: u32,
    pub filename: String,
    /// The qualified name where the interpreter has one (3.11+), else the name.
    pub name: String,
    pub first_line: u32,
    pub linetable_format: LineTableFormat,
    pub linetable: Vec<u8>,
}

/// One node of the interned stack tree: a frame (code object and the byte
/// offset of its current instruction) under a parent node. A stack is named by
/// its innermost node. Parent `0` never occurs: every tree hangs from a thread
/// root ([`ThreadDef::root`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDef {
    pub id: u32,
    pub parent: u32,
    pub code: u32,
    pub offset: u32,
    /// This frame was entered from C: the interpreter's evaluation loop was
    /// called anew for it. Native stacks hold one evaluation-loop frame per
    /// entry frame (and, before 3.11, per Python frame), which is how the two
    /// stacks are merged.
    pub entry: bool,
}

/// One node of the interned native stack tree: a return address under a
/// parent node (0 for the outermost frame). A native stack is named by its
/// innermost node; 0 names "no native stack recorded".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeFrameDef {
    pub id: u32,
    pub parent: u32,
    /// The instruction address in the profiled process.
    pub pc: u64,
}

/// A loaded ELF object (executable or shared library), which is what
/// offline symbolization of native addresses needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleDef {
    pub path: String,
    /// The GNU build id note, empty when the object has none.
    pub build_id: Vec<u8>,
    /// What was added to the object's virtual addresses when it was loaded.
    pub load_bias: u64,
    /// The address range its loadable segments occupy.
    pub start: u64,
    pub end: u64,
}

/// A thread, and the stack node that stands for "this thread, no Python frame".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadDef {
    pub root: u32,
    /// The kernel's thread id (`gettid`).
    pub native_id: u64,
    pub is_main: bool,
}

/// Facts about the run, stored once in the header as JSON so that new fields
/// never need a format version bump.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub memsleuth_version: String,
    pub python_version: String,
    pub python_executable: String,
    /// The profiled program's `sys.argv`.
    pub argv: Vec<String>,
    /// How the program was named: `script`, `module` or `code`.
    pub target_kind: String,
    pub pid: u32,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    pub start_time_unix_ns: u64,
    pub sample_interval_ms: u32,
    pub platform: String,
    /// The C heap and mmap were tracked, not only CPython's allocators.
    pub native_memory: bool,
    /// Allocation and reallocation records carry a native stack id.
    pub native_stacks: bool,
    /// With `--follow-children`, in a child's capture: the parent's pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u32>,
    /// With `--follow-children`, how this process began: `fork` (a copy of
    /// its parent, whose capture begins at the fork) or `exec` (a new
    /// interpreter). Empty for the process `memsleuth run` started.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub started_by: String,
}

/// What the process's memory managers held at one moment. Stored as JSON
/// inside its record, so that fields can be added without a format change;
/// absent fields read as their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessMemory {
    pub time_ns: u64,
    /// When it was taken: `start`, `exit`, or `after-trim` (`--trim-probe`).
    pub label: String,
    /// `/proc/self/status`: resident bytes, in all and by kind.
    pub rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
    pub threads: u32,
    /// Bytes memsleuth's own code held on the C heap at that moment.
    pub tracker_heap_bytes: u64,
    /// `None` when the interpreter does not use pymalloc.
    pub pymalloc: Option<PymallocStats>,
    /// `None` when the C library is not glibc.
    pub malloc: Option<MallocStats>,
    pub gc: GcState,
}

/// pymalloc's own account of its arenas (`sys._debugmallocstats()`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PymallocStats {
    pub arena_size: u64,
    pub pool_size: u64,
    pub arenas_current: u64,
    pub arenas_allocated_total: u64,
    pub arenas_reclaimed: u64,
    pub arenas_highwater: u64,
    /// Bytes in blocks handed out and not freed: the objects.
    pub allocated_bytes: u64,
    /// Free blocks inside pools that hold at least one live block.
    pub available_bytes: u64,
    /// Pools with no live block (never carved, or emptied).
    pub unused_pools: u64,
    pub pool_header_bytes: u64,
    /// Bytes lost to rounding blocks up to their size class.
    pub quantization_bytes: u64,
    /// The pool lost when an arena does not start on a pool boundary.
    pub alignment_bytes: u64,
    pub classes: Vec<SizeClassStats>,
}

/// One pymalloc size class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SizeClassStats {
    pub size: u32,
    pub pools: u64,
    pub blocks_in_use: u64,
    pub blocks_free: u64,
}

/// glibc's `mallinfo2()`, and the number of malloc arenas (`malloc_info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MallocStats {
    /// Bytes obtained with `sbrk` and in the heaps of the other arenas.
    pub arena_bytes: u64,
    /// Bytes of chunks served by their own `mmap`.
    pub mmap_bytes: u64,
    pub mmap_chunks: u64,
    /// Bytes in chunks handed out (not counting `mmap_bytes`).
    pub in_use_bytes: u64,
    /// Bytes in free chunks: held by malloc, not returned to the system.
    pub free_bytes: u64,
    /// Free bytes at the top of the main heap, which `malloc_trim` can return.
    pub releasable_bytes: u64,
    /// Malloc arenas (the main one and one per contended thread).
    pub arenas: u32,
}

/// The garbage collector's state, as the `gc` module reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GcState {
    pub enabled: bool,
    pub thresholds: Vec<u64>,
    pub counts: Vec<u64>,
    /// Objects moved to the permanent generation by `gc.freeze()`.
    pub frozen: u64,
    /// `gc.garbage`, by type.
    pub garbage: Vec<GarbageGroup>,
}

/// Objects of one type in `gc.garbage`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GarbageGroup {
    pub type_name: String,
    pub count: u64,
    /// The first objects' addresses (`id()`), to find where they were allocated.
    pub addrs: Vec<u64>,
}

/// How an edge of the object graph is named: what a user would write to
/// follow it in Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeName {
    /// An attribute or a frame's local variable: `.name`. The number is a
    /// [`Record::HeapName`] id.
    Attr(u32),
    /// A dict entry's value, by its key as written in Python (`'a'`, `42`):
    /// `[key]`. The number is a [`Record::HeapName`] id.
    Key(u32),
    /// A list or tuple element, or any other positional reference: `[i]`.
    Index(u64),
    /// A reference the language does not name: an object's type, its
    /// `__dict__`, a dict's key object, a closure cell. The number is a
    /// [`Record::HeapName`] id.
    Internal(u32),
}

/// One reference from an object (or a root) to an object, by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapEdge {
    pub name: EdgeName,
    pub target: u64,
}

/// One live object of a heap snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapObjectDef {
    /// The object's address (`PyObject *`).
    pub addr: u64,
    /// Bytes before `addr` that belong to the object's memory block (the
    /// collector's header, a managed dict pointer): its block starts at
    /// `addr - preheader`.
    pub preheader: u32,
    /// A [`Record::HeapType`] id of the same snapshot.
    pub type_id: u32,
    /// The bytes the object occupies: its block and the buffers it owns
    /// alone (a list's item array, a dict's tables), each rounded up as the
    /// allocator that holds it rounds.
    pub size: u64,
    /// The interpreter's reference count. References beyond the edges found
    /// to the object are held by code the snapshot cannot see (C code, the
    /// evaluation stack).
    pub refcnt: u64,
    /// Whether the garbage collector tracks it.
    pub gc_tracked: bool,
    pub edges: Vec<HeapEdge>,
}

/// A root of a heap snapshot: something that keeps objects alive without
/// being an object the snapshot lists (`sys.modules`, a thread's frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapRootDef {
    /// What the root is, for people: `sys.modules`, `thread 1234 frame main (app.py:12)`.
    pub label: String,
    pub edges: Vec<HeapEdge>,
}

/// One entry of a chunk. Addresses, sizes and times are absolute here; the
/// byte encoding (see `codec`) is what deltas them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Code(CodeDef),
    Frame(FrameDef),
    Thread(ThreadDef),
    Alloc {
        domain: Domain,
        kind: AllocKind,
        addr: u64,
        size: u64,
        stack: u32,
        /// The native stack, 0 when none was recorded.
        native: u32,
    },
    Free {
        domain: Domain,
        addr: u64,
    },
    /// Ends the block at `old_addr` and starts one at `addr`. `old_addr` 0
    /// means there is no old block here: a realloc of NULL, or a realloc whose
    /// old half was written earlier as a [`Record::Free`] because another
    /// thread's event came between the two halves.
    Realloc {
        domain: Domain,
        old_addr: u64,
        addr: u64,
        size: u64,
        stack: u32,
        native: u32,
    },
    /// `munmap`: ends whatever part of mmap'd blocks the range covers, which
    /// may be a piece of one block or several whole ones.
    Unmap {
        addr: u64,
        size: u64,
    },
    NativeFrame(NativeFrameDef),
    Module(ModuleDef),
    /// A timeline point: taken after every event that precedes it.
    Sample {
        time_ns: u64,
        rss_bytes: u64,
    },
    /// Opens a heap snapshot. The records up to the matching
    /// [`Record::SnapshotEnd`] describe the heap at this point of the event
    /// stream: types, names, roots and objects, in no particular order.
    /// Records of no other kind come between them.
    SnapshotStart {
        /// Numbers snapshots of one capture from 1.
        id: u32,
        time_ns: u64,
        /// What asked for it: `exit`, `signal SIGUSR2`, `every 30s`, `api`.
        trigger: String,
    },
    /// A type of the current snapshot: its id (local to the snapshot) and
    /// its qualified name (`module.Class`, or the bare name for builtins).
    HeapType {
        id: u32,
        name: String,
    },
    /// A name edges of the current snapshot refer to, by id.
    HeapName {
        id: u32,
        text: String,
    },
    HeapRoot(HeapRootDef),
    HeapObject(HeapObjectDef),
    /// Closes the snapshot opened by the [`Record::SnapshotStart`] with this id.
    /// A snapshot without it was cut short and is not to be used.
    SnapshotEnd {
        id: u32,
        time_ns: u64,
        objects: u64,
    },
    /// A garbage collection began on the thread whose events follow; it
    /// ends at the next [`Record::GcEnd`]. The object frees between the two
    /// are the collector's (see `docs/definitions.md`, "freed by the collector").
    GcStart {
        time_ns: u64,
        generation: u8,
    },
    /// The collection opened by the last [`Record::GcStart`] finished.
    GcEnd {
        time_ns: u64,
        generation: u8,
        /// Objects it found unreachable and freed.
        collected: u64,
        /// Objects it found unreachable but could not free (`gc.garbage`).
        uncollectable: u64,
    },
    /// A block the interpreter made just before the last [`Record::GcStart`]
    /// to tell `gc.callbacks` about the collection, and frees inside it: its
    /// free is the interpreter's bookkeeping, not a cycle's.
    GcScratch {
        addr: u64,
    },
    /// What the process's memory managers held at one moment, measured
    /// inside the process: RSS by kind, pymalloc's and glibc's statistics,
    /// the collector's state.
    MemoryState(Box<ProcessMemory>),
    /// The profiled process forked; the child is not tracked.
    Fork {
        time_ns: u64,
    },
    /// The process's RSS reached the limit it was run with
    /// (`memsleuth run --limit`): memsleuth ended the capture here and
    /// stopped the process. Only an End record follows.
    LimitReached {
        time_ns: u64,
        rss_bytes: u64,
        limit_bytes: u64,
    },
    /// Tracking stopped cleanly; nothing follows.
    End {
        time_ns: u64,
    },
}
