"""String building: repeated concatenation, join, formatting and bytes.

Strings of growing size are built by += (CPython often resizes in place via
realloc), by str.join over many pieces and by f-strings, then encoded to
bytes. Compared with the other workloads this has fewer, larger and more
variably sized allocations, including reallocs of growing buffers.
"""

ROUNDS = 240
PIECES = 4_000


def build_concat(n):
    s = ""
    for i in range(n):
        s += "item-%d;" % i
    return s


def build_join(n):
    return ",".join(f"{i:06d}:{i * i:x}" for i in range(n))


def main():
    total = 0
    for r in range(ROUNDS):
        a = build_concat(PIECES)
        b = build_join(PIECES)
        c = (a + b).encode("utf-8")
        total += len(c) + r
        del a, b, c
    assert total > 0


if __name__ == "__main__":
    main()
