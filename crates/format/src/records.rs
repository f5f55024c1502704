use serde::{Deserialize, Serialize};

/// CPython's three allocator domains (`PyMemAllocatorDomain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// `PyMem_RawMalloc` and friends: callable without the GIL.
    Raw = 0,
    /// `PyMem_Malloc`: buffers owned by Python objects.
    Mem = 1,
    /// `PyObject_Malloc`: the objects themselves.
    Object = 2,
}

impl Domain {
    pub const ALL: [Domain; 3] = [Domain::Raw, Domain::Mem, Domain::Object];

    pub fn from_u8(v: u8) -> Option<Domain> {
        Domain::ALL.get(v as usize).copied()
    }

    /// The layer name users see in reports.
    pub fn layer_name(self) -> &'static str {
        match self {
            Domain::Raw => "python-raw",
            Domain::Mem => "python-mem",
            Domain::Object => "python-object",
        }
    }
}

/// Which allocator entry point made a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllocKind {
    Malloc = 0,
    Calloc = 1,
}

impl AllocKind {
    pub fn from_u8(v: u8) -> Option<AllocKind> {
        match v {
            0 => Some(AllocKind::Malloc),
            1 => Some(AllocKind::Calloc),
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
    },
    /// A timeline point: taken after every event that precedes it.
    Sample {
        time_ns: u64,
        rss_bytes: u64,
    },
    /// Tracking stopped cleanly; nothing follows.
    End {
        time_ns: u64,
    },
}
