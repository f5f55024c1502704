"""What the report's Memory manager section explains, with known sizes.

Twenty objects, each in a reference cycle with itself and holding a
1,000,000-byte bytearray: reference counting cannot free them, so only the
explicit collection does (the automatic collector is off until then).
Before that, a burst of small objects of which one in KEEP_EVERY survives:
the survivors keep pymalloc's arenas from the system (pinned arenas)."""

import gc
import time

PAYLOAD = 1_000_000
CYCLES = 20
SMALL = 300_000
KEEP_EVERY = 1000


class Holder:
    def __init__(self):
        self.payload = bytearray(PAYLOAD)  # @payload
        self.me = self


def churn():
    burst = [(i, i + 1) for i in range(SMALL)]  # @burst
    return burst[::KEEP_EVERY]


def make_cycles():
    for _ in range(CYCLES):
        Holder()


def main():
    gc.disable()
    kept = churn()
    make_cycles()
    # Let the timeline sample the cycles while they wait for the collector.
    time.sleep(0.05)
    gc.collect()  # @collect
    gc.enable()
    time.sleep(0.05)
    return kept


if __name__ == "__main__":
    # Kept past the end of tracking: the survivors still pin arenas at exit.
    KEPT = main()
    assert len(KEPT) == SMALL // KEEP_EVERY
