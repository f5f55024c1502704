"""Many small objects kept until exit, so pymalloc must take fresh arenas for
them: N tuples of two floats, all made on one line.

Prints {"n": N}.
"""
import json

N = 200_000

kept = [None] * N
for i in range(N):
    kept[i] = (float(i), float(-i))  # @small_objects

print(json.dumps({"n": N}))
