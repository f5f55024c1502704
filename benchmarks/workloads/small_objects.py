"""Small-object churn: many short-lived tuples, dicts, small lists and
instances of a user class (with and without __slots__).

Almost every allocation here goes through pymalloc and is freed within the
same loop iteration, so the profiler sees a very high rate of tiny
alloc/free pairs with a near-constant live heap.
"""

ROUNDS = 12
N = 80_000


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class SlotPoint:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


def churn(n):
    acc = 0
    for i in range(n):
        t = (i, i + 1, i + 2)
        d = {"a": i, "b": t}
        lst = [i, str(i), t]
        p = Point(i, lst)
        s = SlotPoint(d, p)
        acc += len(s.x) + len(p.y) + t[2]
    return acc


def main():
    total = 0
    for _ in range(ROUNDS):
        total += churn(N)
    assert total > 0


if __name__ == "__main__":
    main()
