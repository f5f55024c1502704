"""A list in a class attribute (`Registry.items`), appended to in a loop:
50,000 Entry objects (one slot each) kept alive by the class itself."""

N = 50_000


class Entry:
    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n


class Registry:
    items = []


def register(n):
    for i in range(n):
        Registry.items.append(Entry(1000 + i))  # @entry


register(N)
