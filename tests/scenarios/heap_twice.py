"""Two heap snapshots back to back, nothing in between. The Plain
instances keep their attributes without a __dict__ (3.11+), which a walk
that asked for their __dict__ would create."""

import memsleuth

N = 1000


class Plain:
    def __init__(self, i):
        self.i = i
        self.name = "plain"


OBJS = [Plain(i) for i in range(N)]
# Two statements, no assignment: a name bound between the snapshots would be
# a new key of the module's dict.
memsleuth.snapshot()
memsleuth.snapshot()
