"""A small service loop with the two classic memory problems.

- `load_report` reads a whole "file" into memory at once (a big temporary:
  it sets the peak);
- `lookup` memoizes results in a module-level dict that is never pruned
  (a leak: it is still live at exit).
"""

import json

_cache = {}


def load_report(n_rows):
    rows = [{"id": i, "name": f"user-{i}", "score": i * 0.5} for i in range(n_rows)]
    text = json.dumps(rows)  # the whole document in one string
    return len(text)


def lookup(key):
    if key not in _cache:
        _cache[key] = "x" * 1000 + str(key)  # never evicted
    return _cache[key]


def handle_requests(n):
    total = 0
    for i in range(n):
        total += len(lookup(i))
    return total


def main():
    size = load_report(120_000)
    served = handle_requests(20_000)
    print(f"report: {size} bytes; served {served} bytes")


if __name__ == "__main__":
    main()
