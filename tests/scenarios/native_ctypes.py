"""libc's allocator called through ctypes (so through dlsym inside _ctypes):
each marked line makes exactly one native-heap request of a known size.

Kept until exit: malloc (MALLOC_SIZE), calloc (CALLOC_N x CALLOC_SIZE), a block
grown by realloc, one by reallocarray, realloc(NULL, n) (a malloc),
aligned_alloc and posix_memalign.
Freed before exit: one malloc block by free, one by realloc(p, 0) (which frees
p in glibc and returns NULL).

Prints the sizes as JSON, so the test's expectations come from here.
"""
import ctypes
import json

libc = ctypes.CDLL("libc.so.6")
c_void_p, c_size_t = ctypes.c_void_p, ctypes.c_size_t
for name, restype, argtypes in [
    ("malloc", c_void_p, [c_size_t]),
    ("calloc", c_void_p, [c_size_t, c_size_t]),
    ("realloc", c_void_p, [c_void_p, c_size_t]),
    ("reallocarray", c_void_p, [c_void_p, c_size_t, c_size_t]),
    ("aligned_alloc", c_void_p, [c_size_t, c_size_t]),
    ("posix_memalign", ctypes.c_int, [ctypes.POINTER(c_void_p), c_size_t, c_size_t]),
    ("free", None, [c_void_p]),
]:
    fn = getattr(libc, name)
    fn.restype, fn.argtypes = restype, argtypes

MALLOC_SIZE = 1_000_000
CALLOC_N, CALLOC_SIZE = 1000, 1000
REALLOC_FROM, REALLOC_TO = 1000, 3_000_000
REALLOCARRAY_FROM, REALLOCARRAY_N, REALLOCARRAY_SIZE = 500, 1000, 2000
REALLOC_NULL_SIZE = 700_000
ALIGN, ALIGNED_SIZE = 4096, 40 * 4096
MEMALIGN_SIZE = 50_000
FREED_SIZE = 2_000_000
ZERO_FROM = 600_000

kept_malloc = libc.malloc(MALLOC_SIZE)  # @malloc
kept_calloc = libc.calloc(CALLOC_N, CALLOC_SIZE)  # @calloc

to_grow = libc.malloc(REALLOC_FROM)  # @realloc_from
kept_realloc = libc.realloc(to_grow, REALLOC_TO)  # @realloc

to_grow_array = libc.malloc(REALLOCARRAY_FROM)  # @reallocarray_from
kept_reallocarray = libc.reallocarray(to_grow_array, REALLOCARRAY_N, REALLOCARRAY_SIZE)  # @reallocarray

kept_realloc_null = libc.realloc(None, REALLOC_NULL_SIZE)  # @realloc_null

kept_aligned = libc.aligned_alloc(ALIGN, ALIGNED_SIZE)  # @aligned_alloc

memalign_out = c_void_p()
memalign_rc = libc.posix_memalign(ctypes.byref(memalign_out), ALIGN, MEMALIGN_SIZE)  # @posix_memalign

freed = libc.malloc(FREED_SIZE)  # @freed_malloc
libc.free(freed)  # @free

to_zero = libc.malloc(ZERO_FROM)  # @realloc_to_zero_from
assert libc.realloc(to_zero, 0) is None  # @realloc_to_zero

assert all([kept_malloc, kept_calloc, kept_realloc, kept_reallocarray, kept_realloc_null,
            kept_aligned])
assert memalign_rc == 0 and memalign_out.value

print(json.dumps({
    "malloc": MALLOC_SIZE,
    "calloc": CALLOC_N * CALLOC_SIZE,
    "realloc_from": REALLOC_FROM,
    "realloc": REALLOC_TO,
    "reallocarray_from": REALLOCARRAY_FROM,
    "reallocarray": REALLOCARRAY_N * REALLOCARRAY_SIZE,
    "realloc_null": REALLOC_NULL_SIZE,
    "aligned_alloc": ALIGNED_SIZE,
    "posix_memalign": MEMALIGN_SIZE,
    "freed_malloc": FREED_SIZE,
    "realloc_to_zero_from": ZERO_FROM,
}))
