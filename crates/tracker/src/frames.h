/*
 * Which of a thread's interpreter frames are Python frames, and their code
 * objects (CPython 3.11 and later), shared by the stack walk of
 * cpython_shim.c and the frame roots of heap_shim.c so that both see the
 * same frames. Include after <internal/pycore_frame.h>.
 */
#ifndef MEMSLEUTH_FRAMES_H
#define MEMSLEUTH_FRAMES_H

#if PY_VERSION_HEX >= 0x030B0000
/* The innermost frame of a thread state. */
static inline _PyInterpreterFrame *ms_current_frame(PyThreadState *ts) {
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#else
    return ts->cframe ? ts->cframe->current_frame : NULL;
#endif
}

/* The code object of a frame that runs Python code; NULL for a frame the
 * walks skip: the C-stack-owned frames 3.12+ pushes, frames still being set
 * up, and 3.13 frames that execute something other than a code object. */
static inline PyObject *ms_frame_code(_PyInterpreterFrame *f) {
#if PY_VERSION_HEX >= 0x030C0000
    if (f->owner == FRAME_OWNED_BY_CSTACK) return NULL;
#endif
    if (_PyFrame_IsIncomplete(f)) return NULL;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *code = f->f_executable;
    return code != NULL && PyCode_Check(code) ? code : NULL;
#else
    return (PyObject *)f->f_code;
#endif
}
#endif

#endif
