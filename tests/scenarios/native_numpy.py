"""numpy arrays of known sizes kept until exit:

- @empty: np.empty of LEN float64 (data buffer from malloc);
- @zeros: np.zeros of ROWS x COLS float64 (data buffer from calloc);
- @ones: np.ones of LEN float64; np.ones is Python code in numpy, so the
  data is allocated under numpy's frame, called from this line.

Each array is a PyObject_Malloc'd ndarray object plus its data buffer (and
possibly a dims/strides block, which numpy may take from its own cache
instead of allocating). Prints the sizes to expect, from numpy itself.
"""
import json

import numpy as np

LEN = 1_000_000
ROWS, COLS = 1000, 1000

# Warm-up: numpy sets up caches and lazily-built state on first use.
np.empty(LEN)
np.zeros((ROWS, COLS))
np.ones(LEN)

kept_empty = np.empty(LEN)  # @empty
kept_zeros = np.zeros((ROWS, COLS))  # @zeros
kept_ones = np.ones(LEN)  # @ones

arrays = {"empty": kept_empty, "zeros": kept_zeros, "ones": kept_ones}
print(json.dumps({
    name: {
        "nbytes": a.nbytes,
        "owns_data": bool(a.flags.owndata),
        "object_size": type(a).__basicsize__,
        # numpy keeps dims and strides in one block of 2 * ndim npy_intp.
        "dims_block": 2 * a.ndim * np.dtype(np.intp).itemsize,
    }
    for name, a in arrays.items()
}))
