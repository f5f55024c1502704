"""Allocates in a loop for a fixed number of iterations: about half a
second under memsleuth (0.2 s without), so that `--snapshot-every 100ms`
fires at least once. Never sleeps."""

ITERATIONS = 400_000

kept = []
for i in range(ITERATIONS):
    kept.append([i, str(i)])
    if len(kept) > 1000:
        kept.clear()
print(len(kept))
