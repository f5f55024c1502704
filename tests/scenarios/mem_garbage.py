"""Objects the collector finds unreachable are kept in gc.garbage
(gc.DEBUG_SAVEALL), so they are still there at exit."""

import gc

CYCLES = 25


class Leaky:
    def __init__(self):
        self.me = self


gc.set_debug(gc.DEBUG_SAVEALL)
for _ in range(CYCLES):
    Leaky()  # @leaky
gc.collect()
