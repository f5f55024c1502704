"""Allocator churn at a known line: 5,000 bytearrays of 1,000 bytes made and
dropped at once. Each one's buffer (1,001 bytes: ob_alloc is n + 1) is freed
before anything else is allocated, so it is a temporary; the object itself
is not, its buffer having been allocated after it. The 100 bytearrays kept
in a list are no temporaries."""

N = 5000
KEPT = 100
KEEP = []


def churn(n):
    for _ in range(n):
        bytearray(1000)  # @temp


def keep(n):
    for _ in range(n):
        KEEP.append(bytearray(1000))  # @kept


churn(N)
keep(KEPT)
