"""A heap snapshot taken from the main thread while four threads append
Item objects to their own lists. Prints the number of items in the lists
just before and just after memsleuth.snapshot()."""

import threading

import memsleuth

THREADS = 4
# A bound that is never reached in practice: the threads stop when told.
LIMIT = 2_000_000


class Item:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


LISTS = [[] for _ in range(THREADS)]
stop = threading.Event()


def work(lst):
    i = 0
    while not stop.is_set() and i < LIMIT:
        lst.append(Item(i))
        i += 1


threads = [threading.Thread(target=work, args=(lst,)) for lst in LISTS]
for t in threads:
    t.start()
# Wait until every thread is appending (the threads run while this spins).
while not all(len(lst) >= 1000 for lst in LISTS):
    pass
before = sum(len(lst) for lst in LISTS)
snapshot_id = memsleuth.snapshot()
after = sum(len(lst) for lst in LISTS)
running = sum(t.is_alive() for t in threads)
stop.set()
for t in threads:
    t.join()
print(snapshot_id, before, after, running)
