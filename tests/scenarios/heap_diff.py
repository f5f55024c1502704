"""Two heap snapshots from the program; between them 5,000 Leak objects
are appended to a module-level list at one line."""

import memsleuth

N = 5000


class Leak:
    __slots__ = ("n",)


LEAKS = []


def leak(n):
    for _ in range(n):
        LEAKS.append(Leak())  # @leak


print(memsleuth.snapshot())
leak(N)
print(memsleuth.snapshot())
