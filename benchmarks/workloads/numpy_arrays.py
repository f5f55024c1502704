"""numpy arrays of many sizes: elementwise arithmetic, reductions, concatenation.

Most of the memory here is allocated by C code: numpy takes an array's data
buffer from malloc, or calloc for np.zeros, and ndarray.resize grows one
with realloc -- not from Python's allocators -- while the array objects
themselves, their shape/stride blocks and the scalars that reductions
return come from Python's allocators. Three size classes, because
glibc serves them differently:

* small (8 B - 1.6 KiB): mostly the C heap's tcache and small bins. Below 1 KiB
  numpy also keeps a few freed buffers per size in its own cache, so a
  steady state of temporaries is partly served without malloc; arrays kept
  alive in a list and dropped in bulk get past that cache.
* medium (2 - 120 KiB): the regular heap, below glibc's initial 128 KiB mmap
  threshold.
* large (0.25 - 40 MiB): mmap. glibc raises its mmap threshold to the size of
  a freed mmapped block (up to 32 MiB), so after a while some of the mid-sized
  large arrays come from the heap instead; everything above 32 MiB is always
  mmapped, and munmapped on free.

Each round makes temporaries with elementwise arithmetic, reduces them,
concatenates pieces, keeps a few results for a while (a bounded history of
arrays) and frees the rest. Deterministic: a fixed seed, fixed sizes, no
I/O, and one BLAS thread (no BLAS call is made, but OpenBLAS starts its
thread pool when numpy is imported).
"""

import os

# Must be set before numpy loads OpenBLAS: the pool's threads and buffers
# would otherwise depend on the machine's core count.
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

SEED = 20261122
ROUNDS = 3
SMALL_N = 10_000  # small arrays per round
MEDIUM_N = 400  # medium arrays per round
# float64 element counts: 256 KiB ... 40 MiB. glibc's mmap threshold never
# grows beyond 32 MiB, so the 40 MiB arrays are mmapped in every round; the
# others only until freeing one has raised the threshold past their size.
LARGE_ELEMS = (32_768, 2_097_152, 131_072, 524_288, 5_242_880, 1_048_576)
HISTORY = 64  # results kept alive across rounds (oldest dropped first)


def small_phase(rng: np.random.Generator, kept: list) -> float:
    """Many tiny arrays and their temporaries; every 4th result is held
    until 500 have gathered, then they are all freed at once."""
    acc = 0.0
    batch = []
    for i in range(SMALL_N):
        n = 1 + (i * 37) % 200  # 8 B .. 1.6 KiB of float64
        a = rng.random(n)
        b = a * 2.5 + 1.0  # two temporaries, one freed at once
        c = np.sqrt(b) - a
        acc += float(c.sum()) + float(b.max())
        if i % 4 == 0:
            batch.append(c)
        if len(batch) == 500:  # more than numpy's cache keeps: real frees
            acc += float(np.concatenate(batch).mean())
            kept.append(batch[-1])
            batch = []
    return acc


def medium_phase(rng: np.random.Generator, kept: list) -> float:
    """Medium arrays (heap, below the mmap threshold), concatenated in groups."""
    acc = 0.0
    group = []
    trail = np.zeros(0)  # an append-only buffer, grown in place by realloc
    for i in range(MEDIUM_N):
        n = 256 + (i * 977) % 15_000  # 2 KiB .. 120 KiB
        x = rng.standard_normal(n)
        y = np.abs(x) * 0.5 + x * x  # several temporaries
        z = np.where(y > 1.0, y, -y)
        acc += float(z.std())
        group.append(z.astype(np.float32))
        if len(group) == 16:
            joined = np.concatenate(group)  # one block the size of 16 inputs
            acc += float(joined.min()) + float(np.sort(joined[:4096])[100])
            kept.append(joined[::97].copy())  # a small slice outlives the group
            group = []
            old = trail.size
            # realloc. Nothing else refers to trail, but numpy's reference
            # check refuses the resize under memray (numpy 2.4, CPython 3.11),
            # so it is turned off.
            trail.resize(old + 2048, refcheck=False)
            trail[old:] = joined[:2048]
    kept.append(trail[::64].copy())
    return acc


def large_phase(rng: np.random.Generator, kept: list, r: int) -> float:
    """Large arrays: mmap (or, once the threshold has grown, the heap top)."""
    acc = 0.0
    for j, n in enumerate(LARGE_ELEMS):
        a = np.zeros(n)  # calloc: fresh mmapped pages are not cleared again
        a += float(r + j)
        b = rng.random(n)
        # numpy does the subtraction in the a * b temporary (it elides
        # temporaries of 256 KiB and up), so c - b is what makes one here
        c = a * b - 0.5
        acc += float((c - b).sum()) + float(c[-1000:].max())
        if j % 2 == 0:
            kept.append(c[: n // 64].copy())  # keep a fraction, free the rest
        del a, b, c
    return acc


def main() -> None:
    rng = np.random.default_rng(SEED)
    kept: list = []
    total = 0.0
    for r in range(ROUNDS):
        total += small_phase(rng, kept)
        total += medium_phase(rng, kept)
        total += large_phase(rng, kept, r)
        del kept[:-HISTORY]  # bounded history: older results are freed
    assert np.isfinite(total) and len(kept) == HISTORY


if __name__ == "__main__":
    main()
