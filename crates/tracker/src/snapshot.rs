//! Heap snapshots: walks every live object (see `sys::heap_walk`) and
//! appends the graph to the capture, between the events that came before it
//! and those that come after.
//!
//! Types and edge names are interned per snapshot, by the address of the
//! object that names them: during a walk no object can die, so an address
//! names one object, and most names (attribute names, dict keys) are shared
//! str objects met thousands of times.

use std::ffi::CStr;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use memsleuth_format::{EdgeName, HeapEdge, HeapObjectDef, HeapRootDef, Record};
use rustc_hash::FxHashMap;

use crate::addrset::AddressSet;
use crate::recorder;
use crate::sys::heap_walk::{self, EdgeRef, Gil, HeapVisitor, ObjectInfo, ObjectRef};
use crate::writer::{self, Out};

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// Restarts snapshot numbering for a new capture.
pub(crate) fn reset_ids() {
    NEXT_ID.store(1, Ordering::Relaxed);
}

/// What one snapshot wrote.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotStats {
    pub id: u32,
    pub objects: u64,
}

/// Takes a snapshot into the capture being written. `None` when no capture
/// is being written (or it can no longer grow).
pub(crate) fn take(gil: &Gil<'_>, trigger: &str) -> Option<io::Result<SnapshotStats>> {
    // The walk's own allocations (interning tables, record buffers) are
    // memsleuth's, not the program's.
    let _quiet = recorder::quiet();
    writer::with_drained(|out, origin| {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        out.push(&Record::SnapshotStart {
            id,
            time_ns: origin.elapsed().as_nanos() as u64,
            trigger: trigger.to_string(),
        });
        let objects = walk(gil, out)?;
        out.push(&Record::SnapshotEnd {
            id,
            time_ns: origin.elapsed().as_nanos() as u64,
            objects,
        });
        out.flush_chunk()?;
        Ok(SnapshotStats { id, objects })
    })
}

/// Walks the roots, the collector's objects, then everything reached only
/// through edges; returns how many objects were written.
fn walk<'w>(gil: &Gil<'w>, out: &mut Out) -> io::Result<u64> {
    let mut w = Walker::new(out);
    heap_walk::roots(gil, &mut w);
    heap_walk::walk_tracked(gil, &mut w);
    while let Some(o) = w.pending.pop() {
        if !heap_walk::is_tracked(gil, o) {
            heap_walk::describe(gil, o, &mut w);
        }
    }
    w.error.map_or(Ok(w.objects), Err)
}

/// What the walker is building when an edge arrives.
enum Current {
    None,
    Object(HeapObjectDef),
    Root(HeapRootDef),
}

struct Walker<'o, 'w> {
    out: &'o mut Out,
    current: Current,
    /// Edge buffer reused from object to object.
    spare: Vec<HeapEdge>,
    types: FxHashMap<usize, u32>,
    /// Names by (kind, address of the naming object or C string).
    names: FxHashMap<(u8, usize), u32>,
    next_name: u32,
    /// Every object met through an edge so far.
    seen: AddressSet,
    /// Objects met through an edge for the first time. Those the collector
    /// does not track are described once, after the tracked ones. Whether
    /// one is tracked is asked only then, once per object rather than once
    /// per reference: the question reads the object's type, a cache miss on
    /// a heap far bigger than the caches.
    pending: Vec<ObjectRef<'w>>,
    objects: u64,
    error: Option<io::Error>,
}

/// Name kinds for interning: the same object may name an attribute and a key.
const NAME_ATTR: u8 = 0;
const NAME_KEY: u8 = 1;
const NAME_C: u8 = 2;

impl<'o, 'w> Walker<'o, 'w> {
    fn new(out: &'o mut Out) -> Self {
        Walker {
            out,
            current: Current::None,
            spare: Vec::new(),
            types: FxHashMap::default(),
            names: FxHashMap::default(),
            next_name: 0,
            seen: AddressSet::default(),
            pending: Vec::new(),
            objects: 0,
            error: None,
        }
    }

    fn type_id(&mut self, info: &ObjectInfo<'w>) -> u32 {
        let next = self.types.len() as u32;
        let id = *self.types.entry(info.ty.addr()).or_insert(next);
        if id == next {
            self.out.push(&Record::HeapType {
                id,
                name: heap_walk::type_name(info.ty),
            });
        }
        id
    }

    /// The id of a name, writing its record the first time.
    fn name_id(&mut self, key: (u8, usize), text: impl FnOnce() -> String) -> u32 {
        if let Some(&id) = self.names.get(&key) {
            return id;
        }
        let id = self.next_name;
        self.next_name += 1;
        self.names.insert(key, id);
        self.out.push(&Record::HeapName { id, text: text() });
        id
    }

    fn edge_name(&mut self, name: EdgeRef<'w>) -> EdgeName {
        match name {
            EdgeRef::Attr(o) => {
                EdgeName::Attr(self.name_id((NAME_ATTR, o.addr() as usize), || {
                    heap_walk::str_text(o).unwrap_or_else(|| "?".into())
                }))
            }
            EdgeRef::Key(o) => {
                EdgeName::Key(self.name_id((NAME_KEY, o.addr() as usize), || key_text(o)))
            }
            EdgeRef::Index(i) => EdgeName::Index(i),
            EdgeRef::Internal(c) => EdgeName::Internal(self.c_name(c)),
            EdgeRef::AttrC(c) => EdgeName::Attr(self.c_name(c)),
        }
    }

    fn c_name(&mut self, c: &CStr) -> u32 {
        self.name_id((NAME_C, c.as_ptr() as usize), || {
            c.to_string_lossy().into_owned()
        })
    }

    fn edges(&mut self) -> Option<&mut Vec<HeapEdge>> {
        match &mut self.current {
            Current::Object(o) => Some(&mut o.edges),
            Current::Root(r) => Some(&mut r.edges),
            Current::None => None,
        }
    }

    fn push(&mut self, record: Record) {
        self.out.push(&record);
        if let Err(e) = writer::flush_if_full(self.out) {
            self.error.get_or_insert(e);
        }
        self.spare = match record {
            Record::HeapObject(o) => o.edges,
            Record::HeapRoot(r) => r.edges,
            _ => Vec::new(),
        };
        self.spare.clear();
    }
}

/// `s` in single quotes, with backslashes and quotes escaped. Snapshots name
/// millions of keys, so the common case (nothing to escape) is one
/// allocation.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A dict key as Python writes it: `'name'`, `42`, or `<tuple>` for keys
/// whose text would need Python code to produce.
fn key_text(o: ObjectRef<'_>) -> String {
    if let Some(s) = heap_walk::str_text(o) {
        return quoted(&s);
    }
    if let Some(i) = heap_walk::int_value(o) {
        return i.to_string();
    }
    format!("<{}>", heap_walk::type_name(heap_walk::type_of(o)))
}

impl<'w> HeapVisitor<'w> for Walker<'_, 'w> {
    fn object(&mut self, info: ObjectInfo<'w>) {
        let type_id = self.type_id(&info);
        self.current = Current::Object(HeapObjectDef {
            addr: info.object.addr(),
            preheader: info.preheader,
            type_id,
            size: info.size,
            refcnt: info.refcnt,
            gc_tracked: info.tracked,
            edges: std::mem::take(&mut self.spare),
        });
    }

    fn edge(&mut self, target: ObjectRef<'w>, name: EdgeRef<'w>) {
        if self.seen.insert(target.addr()) {
            self.pending.push(target);
        }
        let name = self.edge_name(name);
        if let Some(edges) = self.edges() {
            edges.push(HeapEdge {
                name,
                target: target.addr(),
            });
        }
    }

    fn end(&mut self) {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Object(o) => {
                self.objects += 1;
                self.push(Record::HeapObject(o));
            }
            Current::Root(r) => self.push(Record::HeapRoot(r)),
            Current::None => {}
        }
    }

    fn frame_root(&mut self, thread: u64, code: ObjectRef<'w>, line: i32) {
        let (function, file) = heap_walk::code_names(code);
        self.current = Current::Root(HeapRootDef {
            label: format!("thread {thread} {function} ({file}:{line})"),
            edges: std::mem::take(&mut self.spare),
        });
    }

    fn named_root(&mut self, label: &'w CStr) {
        self.current = Current::Root(HeapRootDef {
            label: label.to_string_lossy().into_owned(),
            edges: std::mem::take(&mut self.spare),
        });
    }
}
