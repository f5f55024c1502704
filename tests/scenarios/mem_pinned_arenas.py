"""Arena pinning: 2M small objects fill pymalloc arenas, then all but one in
64 are freed. The survivors keep nearly every arena from the system."""

N = 2_000_000
KEEP_EVERY = 64


class Record:
    def __init__(self, i):
        self.i = i  # @attr


def build():
    return [Record(i) for i in range(N)]  # @fill


def keep_some(records):
    return [r for i, r in enumerate(records) if i % KEEP_EVERY == 0]  # @keep


records = build()
survivors = keep_some(records)
del records
