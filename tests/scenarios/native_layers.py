"""One program touching every in-total layer but mmap, with lines whose every
byte belongs to a known layer. Everything here is kept until exit.

- @small_objects: N bytes objects of SMALL_LEN bytes (pymalloc-sized);
- @big_bytes: N bytes objects of BIG_LEN bytes, over pymalloc's 512-byte
  limit, so pymalloc hands them to the raw allocator (still python-object);
- @numpy_data: a float64 numpy array of ARRAY_LEN elements (its data buffer is
  a native malloc).

The lists holding the objects are made on their own lines beforehand, so the
marked lines allocate only the objects themselves (and the ints of the loop
counter live on the `for` lines). Prints the expected sizes, computed with
sys.getsizeof, as JSON.
"""
import json
import sys

import numpy as np

N = 1000
SMALL_LEN = 100
BIG_LEN = 1000
ARRAY_LEN = 500_000

# Warm-up: numpy's first array creations set up caches at their own lines.
np.empty(ARRAY_LEN)

small = [None] * N
big = [None] * N
for i in range(N):
    small[i] = bytes(SMALL_LEN)  # @small_objects
for i in range(N):
    big[i] = bytes(BIG_LEN)  # @big_bytes
array = np.empty(ARRAY_LEN)  # @numpy_data

print(json.dumps({
    "n": N,
    # bytes are not GC-tracked, so getsizeof is exactly the requested size.
    "small_size": sys.getsizeof(bytes(SMALL_LEN)),
    "big_size": sys.getsizeof(bytes(BIG_LEN)),
    "array_nbytes": array.nbytes,
    "array_object": type(array).__basicsize__,
    "array_ndim": array.ndim,
    "intp_size": np.dtype(np.intp).itemsize,
}))
