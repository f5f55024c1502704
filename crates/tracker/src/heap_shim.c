/*
 * The heap walk of a snapshot: every object the collector tracks, every
 * object reachable from them, the roots, and each object's references with
 * the names a Python programmer would use for them.
 *
 * Like cpython_shim.c it is compiled against the exact interpreter's private
 * headers, because the collector's lists, the pre-header and the attribute
 * storage of instances are private and change between versions
 * (docs/object-layout.md tables them).
 *
 * The walk must not change the heap it measures. It runs with the GIL held
 * and calls only functions that neither allocate Python objects, run Python
 * code, nor change reference counts: `tp_traverse`, `PyDict_Next`,
 * direct field reads. In particular it never asks for an
 * instance's `__dict__` (which would create one), never calls `__sizeof__`
 * or `__repr__`. What it learns goes straight to the sink's callbacks, which
 * belong to the tracker and allocate only through malloc (kept out of the
 * capture by the tracker's re-entrancy guard).
 */
#define PY_SSIZE_T_CLEAN
/* The collector's state and the pre-header are visible only to the core. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <frameobject.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <structmember.h>

#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#if PY_VERSION_HEX >= 0x030B0000
#include <internal/pycore_object.h>
#include <internal/pycore_dict.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_code.h>
#endif
#include "frames.h"
#include "pystr.h"

/* How an edge is named; the values are the capture format's edge kinds. */
enum { MS_ATTR = 0, MS_KEY = 1, MS_INDEX = 2, MS_INTERNAL = 3 };

typedef struct {
    void *ctx;
    /* One object: its address, type, size, pre-header, refcount, whether the
     * collector tracks it. Its edges follow, then `end_object`. */
    void (*object)(void *ctx, PyObject *o, PyTypeObject *tp, uint64_t size, uint32_t preheader,
                   uint64_t refcnt, int tracked);
    /* One reference of the current object or root. `name` is the str (or
     * key object) naming it for MS_ATTR and MS_KEY, `cname` a C string for
     * MS_INTERNAL, `index` the position for MS_INDEX. */
    void (*edge)(void *ctx, PyObject *target, int kind, PyObject *name, const char *cname,
                 uint64_t index);
    void (*end_object)(void *ctx);
    /* A root that is a thread's frame: thread id, code object, byte offset. */
    void (*frame_root)(void *ctx, uint64_t thread_id, PyObject *code, int line);
    /* A root with a fixed label. */
    void (*named_root)(void *ctx, const char *label);
} ms_heap_sink;

/* ---- sizes ---------------------------------------------------------------- */

/* pymalloc serves requests up to 512 bytes from 16-byte size classes; larger
 * ones go to glibc's malloc, whose chunks carry an 8-byte header and are
 * 16-byte multiples, and which maps requests of 128 KiB and more whole pages
 * (its default threshold; asking malloc itself is not safe for a block that
 * some extension allocated elsewhere). */
static uint64_t block_size(ms_heap_sink *s, const void *block, uint64_t n) {
    (void)s;
    (void)block;
    if (n == 0) return 0;
    if (n <= 512) return (n + 15) & ~(uint64_t)15;
    if (n < 128 * 1024) return (n + 8 + 15) & ~(uint64_t)15;
    return (n + 16 + 4095) & ~(uint64_t)4095;
}

static uint32_t preheader_size(PyTypeObject *tp) {
#if PY_VERSION_HEX >= 0x030B0000
    return (uint32_t)_PyType_PreHeaderSize(tp);
#else
    return PyType_IS_GC(tp) ? (uint32_t)sizeof(PyGC_Head) : 0;
#endif
}

static uint64_t var_items(PyObject *o, PyTypeObject *tp) {
#if PY_VERSION_HEX >= 0x030C0000
    if (PyLong_Check(o)) {
        uint64_t digits = ((PyLongObject *)o)->long_value.lv_tag >> 3;
        return digits ? digits : 1;
    }
#else
    if (PyLong_Check(o)) {
        Py_ssize_t n = Py_SIZE(o);
        return (uint64_t)(n < 0 ? -n : n);
    }
#endif
    (void)tp;
    Py_ssize_t n = Py_SIZE(o);
    return (uint64_t)(n < 0 ? -n : n);
}

/* The object's own block as it was requested, pre-header excluded. */
static uint64_t object_bytes(PyObject *o, PyTypeObject *tp) {
    if (PyUnicode_Check(o)) {
#if PY_VERSION_HEX < 0x030C0000
        if (!PyUnicode_IS_COMPACT(o)) return (uint64_t)tp->tp_basicsize;
#endif
        uint64_t len = (uint64_t)PyUnicode_GET_LENGTH(o);
        uint64_t kind = PyUnicode_KIND(o);
        if (PyUnicode_IS_COMPACT_ASCII(o)) return sizeof(PyASCIIObject) + len + 1;
        return sizeof(PyCompactUnicodeObject) + (len + 1) * kind;
    }
    uint64_t size = (uint64_t)tp->tp_basicsize;
    if (tp->tp_itemsize) {
        size += var_items(o, tp) * (uint64_t)tp->tp_itemsize;
        size = (size + sizeof(void *) - 1) & ~(uint64_t)(sizeof(void *) - 1);
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES)) size += _PyInlineValuesSize(tp);
#endif
    return size;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
/* An instance's attribute values kept outside a dict (3.11, 3.12). */
static PyDictValues *split_values(PyObject *o, PyTypeObject *tp) {
    if (!PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) return NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyDictOrValues dorv = *_PyObject_DictOrValuesPointer(o);
    return _PyDictOrValues_IsValues(dorv) ? _PyDictOrValues_GetValues(dorv) : NULL;
#else
    return *_PyObject_ValuesPointer(o);
#endif
}
#endif

#if PY_VERSION_HEX >= 0x030B0000
/* The block holding a split dict's values, apart from its object; 0 for
 * values that live inside their object (3.13's inline values, which the
 * object counts). `n` is the shared keys' usable size, the values' count. */
static uint64_t split_values_bytes(ms_heap_sink *s, PyDictObject *mp, uint64_t n) {
#if PY_VERSION_HEX >= 0x030D0000
    (void)n;
    PyDictValues *v = mp->ma_values;
    if (v->embedded) return 0;
    return block_size(s, v, offsetof(PyDictValues, values) + (uint64_t)v->capacity * sizeof(PyObject *));
#else
    /* A prefix of one byte per value plus two, in whole pointers, precedes
     * the values in their block. */
    uint64_t prefix = (n + 2 + sizeof(void *) - 1) & ~(uint64_t)(sizeof(void *) - 1);
    return block_size(s, (char *)mp->ma_values - prefix, prefix + n * sizeof(PyObject *));
#endif
}
#endif

/* A dict's keys table, when it owns it (shared keys count with the type
 * that shares them), and its values, when they are split from the keys and
 * live in a block of their own. Before 3.11 `_PyDict_SizeOf` is exactly
 * that; from 3.11 it counts split values as a bare array, without the
 * header their block has, and on 3.13 it counts inline values that their
 * object already counts. */
static uint64_t dict_tables(ms_heap_sink *s, PyDictObject *mp, PyTypeObject *tp) {
    Py_ssize_t all = _PyDict_SizeOf(mp);
    uint64_t values = 0;
#if PY_VERSION_HEX >= 0x030B0000
    if (mp->ma_values != NULL) {
        uint64_t n = (uint64_t)(mp->ma_keys->dk_nentries + mp->ma_keys->dk_usable);
        all -= (Py_ssize_t)(n * sizeof(PyObject *));
        values = split_values_bytes(s, mp, n);
    }
#endif
    uint64_t keys = all > tp->tp_basicsize ? (uint64_t)(all - tp->tp_basicsize) : 0;
    return block_size(s, mp->ma_keys, keys) + values;
}

/* Buffers the object owns alone, each as its allocator rounds it. */
static uint64_t owned_bytes(ms_heap_sink *s, PyObject *o, PyTypeObject *tp) {
    if (PyList_Check(o)) {
        PyListObject *l = (PyListObject *)o;
        return block_size(s, l->ob_item, (uint64_t)l->allocated * sizeof(PyObject *));
    }
    if (PyDict_Check(o)) return dict_tables(s, (PyDictObject *)o, tp);
    if (PyAnySet_Check(o)) {
        PySetObject *so = (PySetObject *)o;
        if (so->table == so->smalltable) return 0;
        return block_size(s, so->table, (uint64_t)(so->mask + 1) * sizeof(setentry));
    }
    if (PyByteArray_Check(o)) {
        PyByteArrayObject *b = (PyByteArrayObject *)o;
        return block_size(s, b->ob_bytes, (uint64_t)b->ob_alloc);
    }
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000
    PyDictValues *values = split_values(o, tp);
    if (values != NULL) {
        PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
        if (keys == NULL) return 0;
        uint64_t n = (uint64_t)(keys->dk_nentries + keys->dk_usable);
        uint64_t prefix = (n + 2 + sizeof(void *) - 1) & ~(uint64_t)(sizeof(void *) - 1);
        return block_size(s, (char *)values - prefix, prefix + n * sizeof(PyObject *));
    }
#endif
    return 0;
}

/* ---- edges ---------------------------------------------------------------- */

/* The references `tp_traverse` reports, collected so that the ones a layout
 * names can be told from the rest. */
typedef struct {
    PyObject **items;
    size_t len, cap;
    int failed;
} refs;

static int collect_ref(PyObject *o, void *arg) {
    refs *r = (refs *)arg;
    if (o == NULL) return 0;
    if (r->len == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        PyObject **items = (PyObject **)realloc(r->items, cap * sizeof(PyObject *));
        if (items == NULL) {
            r->failed = 1;
            return 1;
        }
        r->items = items;
        r->cap = cap;
    }
    r->items[r->len++] = o;
    return 0;
}

/* Traversed references sorted by address, each with its position, so that a
 * named edge finds the reference it accounts for in O(log n). */
typedef struct {
    uintptr_t ptr;
    size_t pos;
} sorted_ref;

static int cmp_sorted(const void *a, const void *b) {
    const sorted_ref *x = (const sorted_ref *)a, *y = (const sorted_ref *)b;
    if (x->ptr != y->ptr) return x->ptr < y->ptr ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static sorted_ref *sorted_items;
static size_t sorted_cap;

/* Emits named edges and strikes each target off the traversed references
 * once (by setting the pointer's low bit, which no object pointer has), so
 * that what is left over is emitted by position. */
typedef struct {
    ms_heap_sink *sink;
    refs *r;
    int sorted;
} namer;

static int sort_refs(refs *r) {
    if (r->len > sorted_cap) {
        sorted_ref *items = (sorted_ref *)realloc(sorted_items, r->len * sizeof(sorted_ref));
        if (items == NULL) return 0;
        sorted_items = items;
        sorted_cap = r->len;
    }
    for (size_t i = 0; i < r->len; i++) {
        sorted_items[i].ptr = (uintptr_t)r->items[i];
        sorted_items[i].pos = i;
    }
    qsort(sorted_items, r->len, sizeof(sorted_ref), cmp_sorted);
    return 1;
}

/* Most objects hold a handful of references: a scan beats sorting them. */
#define MS_SCAN_LIMIT 16

static void strike(namer *n, PyObject *target) {
    refs *r = n->r;
    if (r->len == 0) return;
    if (r->len <= MS_SCAN_LIMIT) {
        for (size_t i = 0; i < r->len; i++) {
            if (r->items[i] == target) {
                r->items[i] = (PyObject *)((uintptr_t)target | 1);
                return;
            }
        }
        return;
    }
    if (!n->sorted) {
        if (!sort_refs(r)) return;
        n->sorted = 1;
    }
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted_items[mid].ptr < (uintptr_t)target) lo = mid + 1; else hi = mid;
    }
    for (; lo < r->len && sorted_items[lo].ptr == (uintptr_t)target; lo++) {
        PyObject **item = &r->items[sorted_items[lo].pos];
        if ((uintptr_t)*item & 1) continue;
        *item = (PyObject *)((uintptr_t)*item | 1);
        return;
    }
}

static void named(namer *n, PyObject *target, int kind, PyObject *name, const char *cname,
                  uint64_t index) {
    if (target == NULL) return;
    n->sink->edge(n->sink->ctx, target, kind, name, cname, index);
    strike(n, target);
}

static void name_dict_items(namer *n, PyObject *d) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        named(n, v, MS_KEY, k, NULL, 0);
        named(n, k, MS_INTERNAL, NULL, "<key>", 0);
    }
}

static void name_sequence(namer *n, PyObject *const *items, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++) named(n, items[i], MS_INDEX, NULL, NULL, (uint64_t)i);
}

/* An instance's attributes: its dict if it has one, else the values it keeps
 * beside its type's shared keys, then its slots. */
static void name_instance(namer *n, PyObject *o, PyTypeObject *tp) {
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) return;
    named(n, (PyObject *)tp, MS_INTERNAL, NULL, "__class__", 0);
    PyObject *dict = NULL;
    PyObject **values = NULL;
    Py_ssize_t nvalues = 0;
    PyDictKeysObject *keys = ((PyHeapTypeObject *)tp)->ht_cached_keys;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT))
        dict = (PyObject *)_PyObject_GetManagedDict(o);
    if (dict == NULL && PyType_HasFeature(tp, Py_TPFLAGS_INLINE_VALUES) && keys != NULL) {
        PyDictValues *v = _PyObject_InlineValues(o);
        if (v->valid) {
            values = v->values;
            nvalues = keys->dk_nentries;
        }
    }
#elif PY_VERSION_HEX >= 0x030B0000
    if (PyType_HasFeature(tp, Py_TPFLAGS_MANAGED_DICT)) {
        PyDictValues *v = split_values(o, tp);
        if (v != NULL && keys != NULL) {
            values = v->values;
            nvalues = keys->dk_nentries;
        } else {
#if PY_VERSION_HEX >= 0x030C0000
            dict = _PyObject_DictOrValuesPointer(o)->dict;
#else
            dict = *_PyObject_ManagedDictPointer(o);
#endif
        }
    }
#else
    (void)keys;
#endif
    if (dict == NULL && tp->tp_dictoffset > 0) dict = *(PyObject **)((char *)o + tp->tp_dictoffset);
    named(n, dict, MS_INTERNAL, NULL, "__dict__", 0);
#if PY_VERSION_HEX >= 0x030B0000
    if (values != NULL && keys != NULL && DK_IS_UNICODE(keys)) {
        PyDictUnicodeEntry *entries = DK_UNICODE_ENTRIES(keys);
        for (Py_ssize_t i = 0; i < nvalues; i++)
            named(n, values[i], MS_ATTR, entries[i].me_key, NULL, 0);
    }
#else
    (void)values;
    (void)nvalues;
#endif
    for (PyTypeObject *t = tp; t != NULL && (t->tp_flags & Py_TPFLAGS_HEAPTYPE); t = t->tp_base) {
        PyMemberDef *m = ((PyHeapTypeObject *)t)->ht_type.tp_members;
        for (; m != NULL && m->name != NULL; m++) {
            if (m->type != T_OBJECT_EX && m->type != T_OBJECT) continue;
            if (m->flags & READONLY) continue;
            named(n, *(PyObject **)((char *)o + m->offset), MS_ATTR, NULL, m->name, 0);
        }
    }
}

static void name_function(namer *n, PyFunctionObject *f) {
    named(n, f->func_code, MS_INTERNAL, NULL, "__code__", 0);
    named(n, f->func_globals, MS_INTERNAL, NULL, "__globals__", 0);
    named(n, f->func_defaults, MS_INTERNAL, NULL, "__defaults__", 0);
    named(n, f->func_kwdefaults, MS_INTERNAL, NULL, "__kwdefaults__", 0);
    named(n, f->func_closure, MS_INTERNAL, NULL, "__closure__", 0);
    named(n, f->func_dict, MS_INTERNAL, NULL, "__dict__", 0);
    named(n, f->func_name, MS_INTERNAL, NULL, "__name__", 0);
    named(n, f->func_qualname, MS_INTERNAL, NULL, "__qualname__", 0);
    named(n, f->func_module, MS_INTERNAL, NULL, "__module__", 0);
    named(n, f->func_doc, MS_INTERNAL, NULL, "__doc__", 0);
    named(n, f->func_annotations, MS_INTERNAL, NULL, "__annotations__", 0);
}

/* Code objects are not GC objects (no tp_traverse), yet they hold their
 * constants and names: without these edges a function's constants would look
 * held by nothing. */
static void name_code(namer *n, PyCodeObject *c) {
    named(n, c->co_consts, MS_INTERNAL, NULL, "co_consts", 0);
    named(n, c->co_names, MS_INTERNAL, NULL, "co_names", 0);
    named(n, c->co_filename, MS_INTERNAL, NULL, "co_filename", 0);
    named(n, c->co_name, MS_INTERNAL, NULL, "co_name", 0);
#if PY_VERSION_HEX >= 0x030B0000
    named(n, c->co_qualname, MS_INTERNAL, NULL, "co_qualname", 0);
    named(n, c->co_localsplusnames, MS_INTERNAL, NULL, "co_localsplusnames", 0);
    named(n, c->co_localspluskinds, MS_INTERNAL, NULL, "co_localspluskinds", 0);
    named(n, c->co_linetable, MS_INTERNAL, NULL, "co_linetable", 0);
    named(n, c->co_exceptiontable, MS_INTERNAL, NULL, "co_exceptiontable", 0);
#else
    named(n, c->co_code, MS_INTERNAL, NULL, "co_code", 0);
    named(n, c->co_varnames, MS_INTERNAL, NULL, "co_varnames", 0);
    named(n, c->co_freevars, MS_INTERNAL, NULL, "co_freevars", 0);
    named(n, c->co_cellvars, MS_INTERNAL, NULL, "co_cellvars", 0);
#if PY_VERSION_HEX >= 0x030A0000
    named(n, c->co_linetable, MS_INTERNAL, NULL, "co_linetable", 0);
#else
    named(n, c->co_lnotab, MS_INTERNAL, NULL, "co_lnotab", 0);
#endif
#endif
}

static void name_type(namer *n, PyTypeObject *t) {
    named(n, t->tp_dict, MS_INTERNAL, NULL, "__dict__", 0);
    named(n, t->tp_mro, MS_INTERNAL, NULL, "__mro__", 0);
    named(n, t->tp_bases, MS_INTERNAL, NULL, "__bases__", 0);
    named(n, (PyObject *)t->tp_base, MS_INTERNAL, NULL, "__base__", 0);
}

/* Names what a known layout holds; the rest stays for positional edges. */
static void name_edges(namer *n, PyObject *o, PyTypeObject *tp) {
    if (PyDict_Check(o)) name_dict_items(n, o);
    if (PyList_Check(o)) name_sequence(n, ((PyListObject *)o)->ob_item, PyList_GET_SIZE(o));
    if (PyTuple_Check(o)) name_sequence(n, ((PyTupleObject *)o)->ob_item, PyTuple_GET_SIZE(o));
    if (PyModule_Check(o)) named(n, PyModule_GetDict(o), MS_INTERNAL, NULL, "__dict__", 0);
    if (PyCell_Check(o)) named(n, PyCell_GET(o), MS_INTERNAL, NULL, "cell_contents", 0);
    if (PyFunction_Check(o)) name_function(n, (PyFunctionObject *)o);
    if (PyMethod_Check(o)) {
        named(n, PyMethod_GET_FUNCTION(o), MS_INTERNAL, NULL, "__func__", 0);
        named(n, PyMethod_GET_SELF(o), MS_INTERNAL, NULL, "__self__", 0);
    }
    if (PyType_Check(o)) name_type(n, (PyTypeObject *)o);
    if (PyCode_Check(o)) name_code(n, (PyCodeObject *)o);
    name_instance(n, o, tp);
}

static void emit_edges(ms_heap_sink *s, PyObject *o, PyTypeObject *tp, refs *r) {
    r->len = 0;
    r->failed = 0;
    /* Static types have the GC flag of `type` but must not be traversed. */
    if (tp->tp_traverse != NULL && PyObject_IS_GC(o)) tp->tp_traverse(o, collect_ref, r);
    namer n = {s, r, 0};
    name_edges(&n, o, tp);
    uint64_t position = 0;
    for (size_t i = 0; i < r->len; i++) {
        if ((uintptr_t)r->items[i] & 1) continue;
        s->edge(s->ctx, r->items[i], MS_INDEX, NULL, NULL, position++);
    }
}

/* ---- objects and roots ---------------------------------------------------- */

static int gc_tracked(PyObject *o) {
    return PyObject_IS_GC(o) && _PyObject_GC_IS_TRACKED(o);
}

int ms_heap_is_tracked(PyObject *o) { return gc_tracked(o); }

static void describe(ms_heap_sink *s, PyObject *o, refs *r) {
    PyTypeObject *tp = Py_TYPE(o);
    uint32_t pre = preheader_size(tp);
    uint64_t size = block_size(s, (char *)o - pre, pre + object_bytes(o, tp)) + owned_bytes(s, o, tp);
    s->object(s->ctx, o, tp, size, pre, (uint64_t)Py_REFCNT(o), gc_tracked(o));
    emit_edges(s, o, tp, r);
    s->end_object(s->ctx);
}

static refs shared_refs;

/* Describes one object (one found through an edge, untracked by the collector). */
void ms_heap_describe(ms_heap_sink *s, PyObject *o) { describe(s, o, &shared_refs); }

static PyGC_Head *list_head(struct _gc_runtime_state *gc, int i) {
    return i < NUM_GENERATIONS ? &gc->generations[i].head : &gc->permanent_generation.head;
}

/* Whether the collector is running: its lists are then split into private
 * ones a walk cannot see (a snapshot asked for from a `__del__`). */
int ms_heap_gc_running(void) { return PyInterpreterState_Get()->gc.collecting != 0; }

/* Describes every object the collector tracks, in all generations and the
 * permanent one (`gc.freeze()`). Returns how many. */
uint64_t ms_heap_walk_tracked(ms_heap_sink *s) {
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    uint64_t count = 0;
    for (int i = 0; i <= NUM_GENERATIONS; i++) {
        PyGC_Head *head = list_head(gc, i);
        for (PyGC_Head *g = (PyGC_Head *)head->_gc_next; g != head; g = (PyGC_Head *)g->_gc_next) {
            describe(s, (PyObject *)(g + 1), &shared_refs);
            count++;
        }
    }
    return count;
}

/* The locals of one frame: code object, its locals array. */
static void frame_locals(ms_heap_sink *s, PyCodeObject *code, PyObject **locals) {
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *names = code->co_localsplusnames;
    Py_ssize_t n = code->co_nlocalsplus;
#else
    PyObject *names = NULL;
    Py_ssize_t nlocals = code->co_nlocals;
    Py_ssize_t ncells = PyTuple_GET_SIZE(code->co_cellvars);
    Py_ssize_t nfree = PyTuple_GET_SIZE(code->co_freevars);
    Py_ssize_t n = nlocals + ncells + nfree;
#endif
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = locals[i];
        if (v == NULL) continue;
#if PY_VERSION_HEX >= 0x030B0000
        PyObject *name = PyTuple_GET_ITEM(names, i);
#else
        (void)names;
        PyObject *name = i < nlocals ? PyTuple_GET_ITEM(code->co_varnames, i)
                         : i < nlocals + ncells ? PyTuple_GET_ITEM(code->co_cellvars, i - nlocals)
                         : PyTuple_GET_ITEM(code->co_freevars, i - nlocals - ncells);
#endif
        s->edge(s->ctx, v, MS_ATTR, name, NULL, 0);
    }
}

static void thread_frames(ms_heap_sink *s, PyThreadState *ts) {
#if PY_VERSION_HEX >= 0x030B0000
    uint64_t tid = (uint64_t)ts->native_thread_id;
#else
    /* Before 3.11 the state keeps only the ident `threading.get_ident()` gives. */
    uint64_t tid = (uint64_t)ts->thread_id;
#endif
#if PY_VERSION_HEX >= 0x030B0000
    for (_PyInterpreterFrame *f = ms_current_frame(ts); f != NULL; f = f->previous) {
        PyObject *code = ms_frame_code(f);
        if (code == NULL) continue;
        int offset = _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT);
        s->frame_root(s->ctx, tid, code, PyCode_Addr2Line((PyCodeObject *)code, offset));
        frame_locals(s, (PyCodeObject *)code, f->localsplus);
        s->end_object(s->ctx);
    }
#else
    for (PyFrameObject *f = ts->frame; f != NULL; f = f->f_back) {
        s->frame_root(s->ctx, tid, (PyObject *)f->f_code, PyFrame_GetLineNumber(f));
        frame_locals(s, f->f_code, f->f_localsplus);
        s->end_object(s->ctx);
    }
#endif
}

/* The roots: `sys.modules`, then every thread's frames, innermost first. */
void ms_heap_roots(ms_heap_sink *s) {
    PyInterpreterState *interp = PyInterpreterState_Get();
    PyObject *modules = PyImport_GetModuleDict();
    s->named_root(s->ctx, "sys.modules");
    if (modules != NULL && PyDict_Check(modules)) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(modules, &pos, &k, &v)) s->edge(s->ctx, v, MS_KEY, k, NULL, 0);
    }
    s->end_object(s->ctx);
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts != NULL;
         ts = PyThreadState_Next(ts))
        thread_frames(s, ts);
}

/* ---- names ---------------------------------------------------------------- */

typedef struct {
    const void *data;
    intptr_t len;
    int kind; /* 1, 2 or 4 bytes per character */
} ms_text;

/* The characters of a str, or len -1 when `o` is not a ready str. */
ms_text ms_heap_str(PyObject *o) {
    ms_text t = {0, -1, 0};
    ms_str_chars(o, &t.data, &t.len, &t.kind);
    return t;
}

/* An exact int's value, for naming dict keys; 0 in *ok when it has none that fits. */
long long ms_heap_int(PyObject *o, int *ok) {
    *ok = 0;
    if (o == NULL || !PyLong_CheckExact(o)) return 0;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    /* An exact int never fails the conversion; only the overflow flag says no. */
    *ok = overflow == 0;
    return v;
}

/* A type's name for people: `module.QualName` for classes, the bare name for builtins. */
void ms_heap_type_name(PyTypeObject *tp, ms_text *module, ms_text *qualname, const char **cname) {
    *cname = tp->tp_name;
    module->len = -1;
    qualname->len = -1;
    if (!(tp->tp_flags & Py_TPFLAGS_HEAPTYPE)) return;
    PyHeapTypeObject *ht = (PyHeapTypeObject *)tp;
    *qualname = ms_heap_str(ht->ht_qualname);
    if (tp->tp_dict == NULL || !PyDict_Check(tp->tp_dict)) return;
    /* A lookup by a C string would create a str; comparing keys creates nothing. */
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(tp->tp_dict, &pos, &k, &v)) {
        if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "__module__") == 0) {
            *module = ms_heap_str(v);
            return;
        }
    }
}

/* A code object's qualified name and file, for a frame root's label. */
void ms_heap_code_names(PyObject *code, ms_text *name, ms_text *file) {
    PyCodeObject *c = (PyCodeObject *)code;
#if PY_VERSION_HEX >= 0x030B0000
    *name = ms_heap_str(c->co_qualname);
#else
    *name = ms_heap_str(c->co_name);
#endif
    *file = ms_heap_str(c->co_filename);
}

/* Where the memory block of a live object starts: before the object, by the
 * collector's header and any managed pre-header its type has. */
uintptr_t ms_object_block(PyObject *o) { return (uintptr_t)o - preheader_size(Py_TYPE(o)); }
