/*
 * Reading a str's characters in place, shared by the stack shim (code
 * object names) and the heap shim (attribute names, dict keys, type names):
 * both hand the raw characters to Rust, which decodes them, so neither
 * creates a Python object or calls an API that could allocate.
 */
#ifndef MEMSLEUTH_PYSTR_H
#define MEMSLEUTH_PYSTR_H

/* 1 with the characters of `o` in *data, *len (characters) and *kind (bytes
 * per character), when `o` is a ready str; else 0, leaving them alone. */
static inline int ms_str_chars(PyObject *o, const void **data, intptr_t *len, int *kind) {
    if (o == NULL || !PyUnicode_Check(o)) return 0;
#if PY_VERSION_HEX < 0x030C0000
    if (!PyUnicode_IS_READY(o)) return 0;
#endif
    *data = PyUnicode_DATA(o);
    *len = PyUnicode_GET_LENGTH(o);
    *kind = (int)PyUnicode_KIND(o);
    return 1;
}

#endif
