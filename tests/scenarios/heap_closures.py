"""Closures capturing buffers: 20 lambdas kept in a module-level list, each
closing over its own 1,000,000-byte bytearray."""

N = 20
SIZE = 1_000_000


def make(size):
    buf = bytearray(size)  # @buffer
    return lambda: len(buf)  # @closure


HANDLERS = []
for _ in range(N):
    HANDLERS.append(make(SIZE))
assert sum(h() for h in HANDLERS) == N * SIZE
