"""Deep recursion with allocations at every level.

Builds a degenerate (chain-like) tree of depth ~600 recursively, where each
level allocates a dict node, a small list and a string, then walks it
recursively and drops it. Every allocation happens with a Python stack of
hundreds of frames, which stresses stack capture/unwinding and
stack-deduplication in the profiler.
"""

import sys

DEPTH = 600
ROUNDS = 1500

sys.setrecursionlimit(max(sys.getrecursionlimit(), DEPTH * 3 + 100))


def build(depth):
    if depth == 0:
        return None
    node = {"depth": depth, "payload": [depth, depth + 1], "label": "n%d" % depth}
    node["child"] = build(depth - 1)
    if depth % 3 == 0:
        # a small side branch so the "tree" is not a pure list
        node["side"] = [(depth, "s%d" % depth)]
    return node


def walk(node):
    if node is None:
        return 0
    extra = ("w", node["depth"])  # allocation on the way down
    return node["depth"] + len(extra) + walk(node["child"])


def main():
    total = 0
    for _ in range(ROUNDS):
        tree = build(DEPTH)
        total += walk(tree)
        del tree
    assert total > 0


if __name__ == "__main__":
    main()
