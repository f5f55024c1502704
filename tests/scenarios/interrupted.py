"""Holds 3 MiB, says it is ready, then sleeps until Ctrl-C interrupts it."""

import sys
import time

held = bytearray(3 * 1024 * 1024)  # @held
print("ready", flush=True)
time.sleep(120)  # @sleep
sys.exit("not interrupted")
