"""A multiprocessing pool whose start method is argv[1]: each worker keeps
3,000,000 bytes from its initializer, and maps a temporary 5,000,000."""

import multiprocessing
import sys

KEPT = None


def init():
    global KEPT
    KEPT = bytearray(3_000_000)  # @kept


def work(n):
    block = bytearray(n)  # @task
    return len(block)


if __name__ == "__main__":
    context = multiprocessing.get_context(sys.argv[1])
    pool = context.Pool(3, initializer=init)
    print(sum(pool.map(work, [5_000_000] * 6)))
    pool.close()
    pool.join()
