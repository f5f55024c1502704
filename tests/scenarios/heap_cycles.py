"""Two reference cycles, one heap snapshot taken with memsleuth.snapshot().

- A pair of Node objects pointing at each other, held by one Holder in a
  module global: the Holder retains both nodes and their payloads.
- A pair of Garbage objects pointing at each other and referenced by nothing
  else, created with the collector disabled so that they are still there,
  unreachable, when the snapshot is taken."""

import gc

import memsleuth


class Node:
    __slots__ = ("other", "payload")


class Holder:
    __slots__ = ("pair",)


class Garbage:
    __slots__ = ("other", "payload")


def reachable_cycle():
    a, b = Node(), Node()
    a.payload = bytearray(3000)
    b.payload = bytearray(5000)
    a.other, b.other = b, a
    holder = Holder()
    holder.pair = a
    return holder


def garbage_cycle():
    x, y = Garbage(), Garbage()  # @garbage
    x.payload = bytearray(7000)
    y.payload = bytearray(9000)
    x.other, y.other = y, x


HOLDER = reachable_cycle()
gc.collect()
gc.disable()
garbage_cycle()
SNAPSHOT = memsleuth.snapshot()
gc.enable()
print(SNAPSHOT)
