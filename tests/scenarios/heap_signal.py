"""Sends itself SIGUSR2 once (for `run --snapshot-on SIGUSR2`); the
handler runs in the main thread right after os.kill returns."""

import os
import signal

DATA = [bytes(1000) for _ in range(100)]
os.kill(os.getpid(), signal.SIGUSR2)
print(len(DATA))
