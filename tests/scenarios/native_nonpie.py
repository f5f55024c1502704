"""Run by tests/test_nonpie.py in a non-PIE interpreter whose executable takes
the address of malloc & co. (canonical PLT entries): one allocation of each
kind at a known line.

Kept until exit: a libc malloc block through ctypes (native-heap), a bytes
object (python-object) and an open anonymous mmap (mmap).

Prints the sizes as JSON, so the test's expectations come from here, with
the executable of the process that ran it (so the test can tell that it was
the non-PIE interpreter, not an ordinary python).
"""
import ctypes
import json
import mmap
import os

MALLOC_SIZE = 1_500_000
BYTES_SIZE = 2_000_000
MMAP_SIZE = 4 * 1024 * 1024

libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]

kept_malloc = libc.malloc(MALLOC_SIZE)  # @malloc
kept_bytes = bytes(BYTES_SIZE)  # @bytes
kept_mmap = mmap.mmap(-1, MMAP_SIZE)  # @mmap

assert kept_malloc
kept_mmap[0] = 1  # touch the mapping, as a real program would

print(json.dumps({
    "malloc": MALLOC_SIZE,
    "bytes": BYTES_SIZE,
    "mmap": MMAP_SIZE,
    "executable": os.readlink("/proc/self/exe"),
}))
