"""A library loaded with ctypes while tracking runs (argv[1]: the path of
libmstest.so, built from tests/native/mstest.c) allocates natively twice:

- from a thread that C code creates and joins (no Python thread state):
  THREAD_SIZE bytes, kept;
- in the calling (main) thread, directly from a C function: HERE_SIZE bytes,
  kept.

Prints {"main": main native id, "c_thread": the C thread's gettid, sizes}.
"""
import ctypes
import json
import sys
import threading

THREAD_SIZE = 3_000_000
HERE_SIZE = 2_000_000

lib = ctypes.CDLL(sys.argv[1])
lib.mstest_alloc_in_c_thread.argtypes = [ctypes.c_size_t]
lib.mstest_alloc_in_c_thread.restype = ctypes.c_long
lib.mstest_alloc_here.argtypes = [ctypes.c_size_t]
lib.mstest_alloc_here.restype = ctypes.c_int

c_thread = lib.mstest_alloc_in_c_thread(THREAD_SIZE)  # @call_thread
assert c_thread > 0, c_thread
assert lib.mstest_alloc_here(HERE_SIZE) == 0  # @call_here

print(json.dumps({
    "main": threading.get_native_id(),
    "c_thread": c_thread,
    "thread_size": THREAD_SIZE,
    "here_size": HERE_SIZE,
}))
