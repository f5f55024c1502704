/*
 * The one place that knows CPython's private frame and object layouts.
 *
 * It is compiled by build.rs against the headers of the exact interpreter the
 * extension is built for, so struct layouts can never drift from the running
 * interpreter: a new CPython version fails to compile here instead of reading
 * garbage at run time. Everything in this file must be safe to call from inside
 * an allocator hook: no Python API that can allocate, raise, or take a lock.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdint.h>

#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#undef _PyGC_FINALIZED
#include <internal/pycore_frame.h>
#include <internal/pycore_code.h>
#endif
#include "frames.h"
#include "pystr.h"

/* The line-table encoding that `ms_code_info` hands out. */
enum { MS_LNOTAB = 1, MS_LINETABLE_310 = 2, MS_LOCATIONS_311 = 3 };

typedef struct {
    const void *data;  /* compact unicode data, or bytes */
    intptr_t len;      /* in characters for strings, bytes for bytes */
    int kind;          /* 1, 2 or 4 bytes per character; 0 for bytes */
} ms_buf;

typedef struct {
    ms_buf filename;
    ms_buf name;
    ms_buf linetable;
    int firstlineno;
    int linetable_format;
} ms_code_info;

int ms_python_version_hex(void) { return PY_VERSION_HEX; }

/*
 * The thread state of the calling thread, or NULL when it has none (a thread
 * started by C code, or interpreter start-up). The fast path is the running
 * thread's; a thread that released the GIL (C code such as numpy or zlib
 * allocating with the GIL released) is found through its GIL-state key. A
 * thread reads only its own frames, which nothing else changes while it
 * runs C code, so the walk is safe with or without the GIL.
 */
static PyThreadState *this_thread_tstate(void) {
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *ts = PyThreadState_GetUnchecked();
#else
    PyThreadState *ts = _PyThreadState_UncheckedGet();
#endif
#if PY_VERSION_HEX < 0x030C0000
    /* Before 3.12 the "current" thread state is the GIL holder's, a global. */
    if (ts != NULL && ts->thread_id != PyThread_get_thread_ident()) ts = NULL;
#endif
    if (ts == NULL) ts = PyGILState_GetThisThreadState();
    return ts;
}

static ms_buf str_buf(PyObject *s) {
    ms_buf b = {0, 0, 0};
    ms_str_chars(s, &b.data, &b.len, &b.kind);
    return b;
}

static ms_buf bytes_buf(PyObject *o) {
    ms_buf b = {0, 0, 0};
    if (o == NULL || !PyBytes_Check(o)) return b;
    b.data = PyBytes_AS_STRING(o);
    b.len = PyBytes_GET_SIZE(o);
    return b;
}

/*
 * Walks the calling thread's Python frames and stores each as two words,
 * (code object, byte offset of the current instruction, with MS_ENTRY set
 * when the evaluation loop was entered anew for this frame), filling `out`
 * backwards from its end: when the walk fits, the frames sit in
 * out[2 * (cap - n) .. 2 * cap] outermost first, the order the tracker
 * compares stacks in. Returns the number of frames, which may exceed `cap`
 * (the caller grows its buffer and calls again); -1 when this thread has no
 * Python thread state (it was started by C code).
 */
#define MS_ENTRY ((uint64_t)1 << 31)

intptr_t ms_walk_frames(uint64_t *out, intptr_t cap) {
    PyThreadState *ts = this_thread_tstate();
    if (ts == NULL) return -1;
    intptr_t n = 0;
#define MS_STORE(code_, offset_)                         \
    do {                                                 \
        if (n < cap) {                                   \
            out[2 * (cap - 1 - n)] = (uint64_t)(uintptr_t)(code_); \
            out[2 * (cap - 1 - n) + 1] = (uint64_t)(offset_);     \
        }                                                \
        n++;                                             \
    } while (0)
#if PY_VERSION_HEX >= 0x030B0000
    for (_PyInterpreterFrame *f = ms_current_frame(ts); f != NULL; f = f->previous) {
        PyObject *code = ms_frame_code(f);
        if (code == NULL) continue;
#if PY_VERSION_HEX >= 0x030C0000
        /* 3.12+ pushes a C-stack-owned frame under each frame it enters. */
        uint64_t entry =
            (f->previous == NULL || f->previous->owner == FRAME_OWNED_BY_CSTACK) ? MS_ENTRY : 0;
#else
        uint64_t entry = f->is_entry ? MS_ENTRY : 0;
#endif
        MS_STORE(code, (uint64_t)_PyInterpreterFrame_LASTI(f) * sizeof(_Py_CODEUNIT) | entry);
    }
#else
    for (PyFrameObject *f = ts->frame; f != NULL; f = f->f_back) {
        int lasti = f->f_lasti < 0 ? 0 : f->f_lasti;
#if PY_VERSION_HEX >= 0x030A0000
        /* Before 3.11 every Python frame has its own evaluation-loop call. */
        MS_STORE(f->f_code, (uint64_t)lasti * sizeof(_Py_CODEUNIT) | MS_ENTRY);
#else
        MS_STORE(f->f_code, (uint64_t)lasti | MS_ENTRY);
#endif
    }
#endif
#undef MS_STORE
    return n;
}

/* Reads what offline symbolization needs from a live code object. */
void ms_code_info_of(void *code_ptr, ms_code_info *out) {
    PyCodeObject *code = (PyCodeObject *)code_ptr;
    out->filename = str_buf(code->co_filename);
#if PY_VERSION_HEX >= 0x030B0000
    out->name = str_buf(code->co_qualname);
    out->linetable = bytes_buf(code->co_linetable);
    out->linetable_format = MS_LOCATIONS_311;
#elif PY_VERSION_HEX >= 0x030A0000
    out->name = str_buf(code->co_name);
    out->linetable = bytes_buf(code->co_linetable);
    out->linetable_format = MS_LINETABLE_310;
#else
    out->name = str_buf(code->co_name);
    out->linetable = bytes_buf(code->co_lnotab);
    out->linetable_format = MS_LNOTAB;
#endif
    out->firstlineno = code->co_firstlineno;
}

/*
 * How far before the object pointer the allocator block of a code object
 * starts (a GC header or a pre-header), so a free of that block can be
 * recognised as the death of the code object.
 */
intptr_t ms_code_block_offset(void) {
    /* A GC header is two pointers on every supported version; 3.12 added a
     * pre-header of two more for managed dicts and weak references. */
    intptr_t offset = PyType_IS_GC(&PyCode_Type) ? 2 * (intptr_t)sizeof(void *) : 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (PyType_HasFeature(&PyCode_Type, Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF))
        offset += 2 * (intptr_t)sizeof(void *);
#endif
    return offset;
}
