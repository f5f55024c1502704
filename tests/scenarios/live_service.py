"""A service for the live view tests: one line keeps 20 MiB live from the
start, another grows steadily on a thread of its own (10 KiB every 20 ms,
about 29 MiB a minute, so it stays below 20 MiB for the first ~40 s), and
the program runs until the file named by argv[1] appears, then exits with
status 3."""

import os
import sys
import threading
import time

RELEASE = sys.argv[1]


def keep():
    return bytearray(20 * 1024 * 1024)  # @keep


def grow(into):
    while True:
        into.append(bytearray(10 * 1024))  # @grow
        time.sleep(0.02)


kept = keep()
grown = []
threading.Thread(target=grow, args=(grown,), daemon=True).start()
print("live_service started", flush=True)
while not os.path.exists(RELEASE):
    time.sleep(0.05)
print(f"live_service released with {len(grown)} buffers", flush=True)
sys.exit(3)
