"""Reference cycles with a known payload: each Node refers to itself, so
only the garbage collector can free it and its 1,000,000-byte buffer."""

import gc

NODES = 40
PAYLOAD = 1_000_000


class Node:
    def __init__(self):
        self.payload = bytearray(PAYLOAD)  # @payload
        self.me = self


def churn():
    for _ in range(NODES):
        Node()


gc.disable()
churn()
gc.collect()  # @collect
