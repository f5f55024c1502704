"""A big list built only to be summed."""

N = 3_000_000


def total():
    return sum([i * 3 for i in range(N)])  # @listcomp


print(total())
