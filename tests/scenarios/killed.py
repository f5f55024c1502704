"""Holds 20 MiB, says "ready" on stdout, then blocks reading stdin until the
test kills it (or stdin closes, when run by hand)."""
import sys

HELD = bytearray(20 * 1024 * 1024)  # @hold
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.read()
