"""A module-level dict caching 100,000 Record objects (two slots, no
__dict__), each holding its own 100-byte bytes payload, kept until exit.

The dict's keys are the same int objects as the records' `key` slots, so the
dict (not a record) dominates them: each record retains itself and its payload,
nothing else."""

N = 100_000
PAYLOAD_SIZE = 100


class Record:
    __slots__ = ("key", "payload")

    def __init__(self, key, payload):
        self.key = key
        self.payload = payload


CACHE = {}


def fill(n):
    for i in range(n):
        CACHE[i] = Record(i, bytes(PAYLOAD_SIZE))  # @record


fill(N)
assert len(CACHE) == N
