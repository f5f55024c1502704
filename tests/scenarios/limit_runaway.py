"""A runaway program: it keeps 5 MiB buffers until it has 2 GiB, unless
memsleuth stops it first. Its exit handler says whether it ran."""

import atexit
import sys

CHUNK = 5 * 1024 * 1024
kept = []
atexit.register(lambda: print("exit handlers ran"))
while len(kept) * CHUNK < 2 * 1024**3:
    kept.append(bytearray(CHUNK))  # @grow
print("finished without being stopped")
sys.exit(0)
