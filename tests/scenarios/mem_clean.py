"""A healthy program: modest allocations, freed as it goes."""


def mean(values):
    return sum(values) / len(values)


results = []
for n in range(200):
    batch = list(range(n, n + 1000))  # @batch
    results.append(mean(batch))
print(round(sum(results)))
