"""Two caches that only grow, and a bounded one that does not."""

import functools

N = 60_000
CACHE = {}


@functools.lru_cache(maxsize=None)
def render(i):
    return "x" * 300 + str(i)  # @render


@functools.lru_cache(maxsize=128)
def bounded(i):
    return "y" * 300 + str(i)


def remember(i):
    CACHE[i] = bytes(300) + str(i).encode()  # @remember


for i in range(N):
    render(i)
    bounded(i)
    remember(i)
