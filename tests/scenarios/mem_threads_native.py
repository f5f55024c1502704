"""Threads fragment glibc's heap: each thread fills its own malloc arena with
blocks, then frees all but every 64th, which keeps the memory in the arena."""

import ctypes
import threading

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
THREADS = 4
BLOCKS = 20_000
SIZE = 2048
kept = []


def work(barrier):
    barrier.wait()
    blocks = [libc.malloc(SIZE) for _ in range(BLOCKS)]  # @malloc
    for i, b in enumerate(blocks):
        if i % 64:
            libc.free(b)
        else:
            kept.append(b)


barrier = threading.Barrier(THREADS)
threads = [threading.Thread(target=work, args=(barrier,)) for _ in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
