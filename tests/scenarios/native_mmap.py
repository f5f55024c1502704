"""Anonymous mappings at known lines:

- `mmap.mmap(-1, SIZE)` kept open until exit;
- another one closed (munmap'd) before exit;
- one of SIZE grown to 2 * SIZE by .resize() (mremap), kept;
- a ctypes libc.mmap of 2 * SIZE whose upper half is munmap'd again, so
  SIZE bytes of it stay mapped (a partial munmap shrinks the range).

In that order, so the most mapped at once is SIZE (kept) + 2 * SIZE (resized)
+ 2 * SIZE (before the partial munmap).

Prints {"size": SIZE, "page": the page size}.
"""
import ctypes
import json
import mmap

SIZE = 4 * 1024 * 1024

kept = mmap.mmap(-1, SIZE)  # @kept_open
closed = mmap.mmap(-1, SIZE)  # @closed
closed.close()  # @close

resized = mmap.mmap(-1, SIZE)  # @resized_from
resized.resize(2 * SIZE)  # @resize

libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.restype = ctypes.c_int
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value
flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
prot = mmap.PROT_READ | mmap.PROT_WRITE
halved = libc.mmap(None, 2 * SIZE, prot, flags, -1, 0)  # @halved
assert halved not in (None, MAP_FAILED), ctypes.get_errno()
assert libc.munmap(halved + SIZE, SIZE) == 0  # @munmap_upper_half

print(json.dumps({"size": SIZE, "page": mmap.PAGESIZE}))
