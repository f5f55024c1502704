"""Many instances of a class without __slots__, alive at exit."""

N = 300_000


class Point:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z


points = [Point(i, i + 1, i + 2) for i in range(N)]  # @points
