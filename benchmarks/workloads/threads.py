"""Four threads allocating at once.

Each thread repeatedly builds and drops lists and dicts of small objects.
Under the GIL the threads interleave at switch intervals, so the profiler's
per-thread state (thread-local buffers, stack tracking, locks around shared
state) is exercised with several threads live simultaneously.
"""

import threading

THREADS = 4
ROUNDS = 70
N = 8_000


def worker(tid, results):
    acc = 0
    for r in range(ROUNDS):
        items = [(tid, r, i) for i in range(N)]
        index = {i: [i, tid] for i in range(N)}
        names = ["w%d-%d" % (tid, i) for i in range(0, N, 4)]
        acc += len(items) + len(index) + len(names)
        del items, index, names
    results[tid] = acc


def main():
    results = [0] * THREADS
    threads = [
        threading.Thread(target=worker, args=(t, results), name="worker-%d" % t)
        for t in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results)


if __name__ == "__main__":
    main()
