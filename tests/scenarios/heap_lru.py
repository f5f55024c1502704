"""functools.lru_cache on a method keeps the instances alive: the cache's
keys are the argument tuples (self, x). `use` creates a Model, calls the
cached method and drops the Model; all 200 stay alive in the cache."""

import functools

N = 200


class Model:
    def __init__(self, n):
        self.n = n
        self.weights = bytearray(10_000)

    @functools.lru_cache(maxsize=None)
    def score(self, x):
        return x * 2


def use(n):
    m = Model(n)  # @model
    return m.score(3)


for i in range(N):
    use(i)
assert Model.score.cache_info().currsize == N
