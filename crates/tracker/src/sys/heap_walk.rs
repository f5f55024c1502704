//! Safe wrappers over `heap_shim.c`, the heap walk of a snapshot.
//!
//! The shim calls back into a [`HeapVisitor`] for every object, edge and
//! root. Everything the visitor is handed is borrowed for the walk (`'w`):
//! the objects stay alive because the walk holds the GIL and runs no Python
//! code, so nothing can free them until it returns.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;

use super::shim::{self, RawBuf};

/// An object met during a walk, by address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ObjectRef<'w> {
    ptr: *mut c_void,
    _walk: PhantomData<&'w ()>,
}

impl ObjectRef<'_> {
    pub(crate) fn addr(self) -> u64 {
        self.ptr as u64
    }
}

/// A type met during a walk.
#[derive(Clone, Copy)]
pub(crate) struct TypeRef<'w> {
    ptr: *mut c_void,
    _walk: PhantomData<&'w ()>,
}

impl TypeRef<'_> {
    pub(crate) fn addr(self) -> usize {
        self.ptr as usize
    }
}

/// How an edge is named.
#[derive(Clone, Copy)]
pub(crate) enum EdgeRef<'w> {
    /// An attribute or local, named by a str object.
    Attr(ObjectRef<'w>),
    /// A dict value, named by its key object.
    Key(ObjectRef<'w>),
    Index(u64),
    /// Named by a C string that lives as long as the interpreter (a literal
    /// of the shim, or a slot name of a type).
    Internal(&'w CStr),
    /// An attribute named by a C string (a `__slots__` member).
    AttrC(&'w CStr),
}

/// One object as the walk reports it.
pub(crate) struct ObjectInfo<'w> {
    pub(crate) object: ObjectRef<'w>,
    pub(crate) ty: TypeRef<'w>,
    pub(crate) size: u64,
    pub(crate) preheader: u32,
    pub(crate) refcnt: u64,
    pub(crate) tracked: bool,
}

/// What a walk reports to. Implementations must not panic: they are called
/// from C.
pub(crate) trait HeapVisitor<'w> {
    fn object(&mut self, info: ObjectInfo<'w>);
    /// A reference of the current object or root.
    fn edge(&mut self, target: ObjectRef<'w>, name: EdgeRef<'w>);
    /// Ends the current object or root.
    fn end(&mut self);
    /// Starts a root that is a thread's frame.
    fn frame_root(&mut self, thread: u64, code: ObjectRef<'w>, line: i32);
    fn named_root(&mut self, label: &'w CStr);
}

#[repr(C)]
struct RawSink {
    ctx: *mut c_void,
    object: extern "C" fn(*mut c_void, *mut c_void, *mut c_void, u64, u32, u64, c_int),
    edge: extern "C" fn(*mut c_void, *mut c_void, c_int, *mut c_void, *const c_char, u64),
    end_object: extern "C" fn(*mut c_void),
    frame_root: extern "C" fn(*mut c_void, u64, *mut c_void, c_int),
    named_root: extern "C" fn(*mut c_void, *const c_char),
}

extern "C" {
    fn ms_heap_walk_tracked(sink: *mut RawSink) -> u64;
    fn ms_heap_describe(sink: *mut RawSink, o: *mut c_void);
    fn ms_heap_roots(sink: *mut RawSink);
    fn ms_heap_is_tracked(o: *mut c_void) -> c_int;
    fn ms_heap_gc_running() -> c_int;
    fn ms_object_block(o: *mut c_void) -> usize;
    fn ms_heap_str(o: *mut c_void) -> RawBuf;
    fn ms_heap_int(o: *mut c_void, ok: *mut c_int) -> i64;
    fn ms_heap_type_name(
        tp: *mut c_void,
        module: *mut RawBuf,
        qualname: *mut RawBuf,
        cname: *mut *const c_char,
    );
    fn ms_heap_code_names(code: *mut c_void, name: *mut RawBuf, file: *mut RawBuf);
}

/// The visitor behind a sink's `ctx`. A fat `dyn` pointer does not fit in a
/// C `void *`, so the sink points at this thin holder.
struct Holder<'a, 'w> {
    visitor: &'a mut dyn HeapVisitor<'w>,
}

fn holder<'a, 'w>(ctx: *mut c_void) -> &'a mut Holder<'a, 'w> {
    // SAFETY: every sink's `ctx` is the `Holder` that `with_sink` made, which
    // outlives the shim call that invokes the callbacks; the shim calls them
    // one at a time on this thread, so the borrow is unique.
    unsafe { &mut *ctx.cast::<Holder<'a, 'w>>() }
}

fn object_ref<'w>(ptr: *mut c_void) -> ObjectRef<'w> {
    ObjectRef {
        ptr,
        _walk: PhantomData,
    }
}

extern "C" fn on_object(
    ctx: *mut c_void,
    o: *mut c_void,
    tp: *mut c_void,
    size: u64,
    preheader: u32,
    refcnt: u64,
    tracked: c_int,
) {
    holder(ctx).visitor.object(ObjectInfo {
        object: object_ref(o),
        ty: TypeRef {
            ptr: tp,
            _walk: PhantomData,
        },
        size,
        preheader,
        refcnt,
        tracked: tracked != 0,
    });
}

/// The edge kinds of `heap_shim.c`.
const MS_ATTR: c_int = 0;
const MS_KEY: c_int = 1;
const MS_INDEX: c_int = 2;

extern "C" fn on_edge(
    ctx: *mut c_void,
    target: *mut c_void,
    kind: c_int,
    name: *mut c_void,
    cname: *const c_char,
    index: u64,
) {
    let cstr = || {
        // SAFETY: the shim passes either NULL or a NUL-terminated C string
        // that lives as long as the interpreter (see `EdgeRef::Internal`).
        (!cname.is_null()).then(|| unsafe { CStr::from_ptr(cname) })
    };
    let edge = match kind {
        MS_ATTR if !name.is_null() => EdgeRef::Attr(object_ref(name)),
        MS_ATTR => match cstr() {
            Some(c) => EdgeRef::AttrC(c),
            None => EdgeRef::Index(index),
        },
        MS_KEY => EdgeRef::Key(object_ref(name)),
        MS_INDEX => EdgeRef::Index(index),
        _ => match cstr() {
            Some(c) => EdgeRef::Internal(c),
            None => EdgeRef::Index(index),
        },
    };
    holder(ctx).visitor.edge(object_ref(target), edge);
}

extern "C" fn on_end(ctx: *mut c_void) {
    holder(ctx).visitor.end();
}

extern "C" fn on_frame_root(ctx: *mut c_void, thread: u64, code: *mut c_void, line: c_int) {
    holder(ctx)
        .visitor
        .frame_root(thread, object_ref(code), line);
}

extern "C" fn on_named_root(ctx: *mut c_void, label: *const c_char) {
    // SAFETY: the shim passes string literals.
    let label = unsafe { CStr::from_ptr(label) };
    holder(ctx).visitor.named_root(label);
}

fn with_sink<'w, R>(visitor: &mut dyn HeapVisitor<'w>, f: impl FnOnce(*mut RawSink) -> R) -> R {
    let mut holder = Holder { visitor };
    let mut sink = RawSink {
        ctx: (&mut holder as *mut Holder).cast(),
        object: on_object,
        edge: on_edge,
        end_object: on_end,
        frame_root: on_frame_root,
        named_root: on_named_root,
    };
    f(&mut sink)
}

/// Proof that the caller holds the GIL and runs no Python code until the
/// walk ends, which is what keeps every object the walk reports alive.
pub(crate) struct Gil<'w>(PhantomData<&'w ()>);

impl Gil<'_> {
    /// The token, if the calling thread holds the GIL. Nothing the walk
    /// does runs Python code or releases the GIL, so holding it at the start
    /// means holding it throughout.
    pub(crate) fn check() -> Option<Self> {
        // SAFETY: `PyGILState_Check` may be called from any thread at any time.
        let held = unsafe { pyo3_ffi::PyGILState_Check() } == 1;
        held.then_some(Gil(PhantomData))
    }
}

/// Whether the garbage collector is in the middle of a collection, when its
/// objects sit on private lists a walk cannot see.
pub(crate) fn gc_running(_gil: &Gil<'_>) -> bool {
    // SAFETY: reads one field of the interpreter state, with the GIL held.
    unsafe { ms_heap_gc_running() != 0 }
}

/// Where the memory block of the object at `addr` starts. The caller must
/// hold a reference to the object, which keeps it and its type alive.
pub(crate) fn object_block(_gil: &Gil<'_>, addr: usize) -> usize {
    // SAFETY: the GIL is held (the token) and the object is alive (this
    // function's contract); the shim reads only its type's flags and sizes.
    unsafe { ms_object_block(addr as *mut c_void) }
}

/// Reports the roots: `sys.modules`, then every thread's frames.
pub(crate) fn roots<'w>(_gil: &Gil<'w>, visitor: &mut dyn HeapVisitor<'w>) {
    // SAFETY: the GIL is held (the token); the sink's callbacks are valid.
    with_sink(visitor, |sink| unsafe { ms_heap_roots(sink) });
}

/// Reports every object the collector tracks; returns how many.
pub(crate) fn walk_tracked<'w>(_gil: &Gil<'w>, visitor: &mut dyn HeapVisitor<'w>) -> u64 {
    // SAFETY: as for `roots`.
    with_sink(visitor, |sink| unsafe { ms_heap_walk_tracked(sink) })
}

/// Reports one object the walk found through an edge.
/// Whether the collector lists `object`, so that the walk of its lists
/// describes it.
pub(crate) fn is_tracked<'w>(_gil: &Gil<'w>, object: ObjectRef<'w>) -> bool {
    // SAFETY: the GIL is held (the token proves it) and `object` was
    // reported during this walk, so it is alive.
    unsafe { ms_heap_is_tracked(object.ptr) != 0 }
}

pub(crate) fn describe<'w>(
    _gil: &Gil<'w>,
    object: ObjectRef<'w>,
    visitor: &mut dyn HeapVisitor<'w>,
) {
    // SAFETY: as for `roots`; `object` was reported during this walk, so it
    // is alive.
    with_sink(visitor, |sink| unsafe {
        ms_heap_describe(sink, object.ptr)
    });
}

/// The text the shim read, `None` when it found no str (length -1).
fn text(raw: &RawBuf) -> Option<String> {
    (raw.len >= 0).then(|| shim::decode_unicode(raw))
}

fn empty_text() -> RawBuf {
    RawBuf {
        data: std::ptr::null(),
        len: -1,
        kind: 0,
    }
}

/// The characters of a str object, or `None` for anything else.
pub(crate) fn str_text(o: ObjectRef<'_>) -> Option<String> {
    // SAFETY: `o` is alive for the walk; the shim checks its type.
    text(&unsafe { ms_heap_str(o.ptr) })
}

/// The value of an exact int that fits in 64 bits.
pub(crate) fn int_value(o: ObjectRef<'_>) -> Option<i64> {
    let mut ok: c_int = 0;
    // SAFETY: `o` is alive for the walk; the shim checks its type.
    let v = unsafe { ms_heap_int(o.ptr, &mut ok) };
    (ok != 0).then_some(v)
}

/// The type's module and qualified name (`app.Record`), or its C name
/// (`dict`, `numpy.ndarray`) for a static type.
pub(crate) fn type_name(ty: TypeRef<'_>) -> String {
    let (mut module, mut qualname) = (empty_text(), empty_text());
    let mut cname: *const c_char = std::ptr::null();
    // SAFETY: `ty` is alive for the walk; the out-pointers are valid.
    unsafe { ms_heap_type_name(ty.ptr, &mut module, &mut qualname, &mut cname) };
    let c_name = || {
        // SAFETY: `tp_name` is a NUL-terminated string owned by the type.
        (!cname.is_null()).then(|| {
            unsafe { CStr::from_ptr(cname) }
                .to_string_lossy()
                .into_owned()
        })
    };
    match (text(&module), text(&qualname)) {
        (Some(m), Some(q)) if m == "builtins" => q,
        (Some(m), Some(q)) => format!("{m}.{q}"),
        (None, Some(q)) => q,
        _ => c_name().unwrap_or_else(|| "?".into()),
    }
}

/// The type of an object, for naming keys that are neither str nor int.
pub(crate) fn type_of<'w>(o: ObjectRef<'w>) -> TypeRef<'w> {
    // SAFETY: `o` is alive for the walk; every object starts with its header.
    let tp = unsafe { (*o.ptr.cast::<pyo3_ffi::PyObject>()).ob_type };
    TypeRef {
        ptr: tp.cast(),
        _walk: PhantomData,
    }
}

/// A code object's qualified name and file name.
pub(crate) fn code_names(code: ObjectRef<'_>) -> (String, String) {
    let (mut name, mut file) = (empty_text(), empty_text());
    // SAFETY: `code` is a code object of a frame that is alive for the walk.
    unsafe { ms_heap_code_names(code.ptr, &mut name, &mut file) };
    (
        text(&name).unwrap_or_default(),
        text(&file).unwrap_or_default(),
    )
}
