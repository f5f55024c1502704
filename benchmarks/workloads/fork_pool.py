"""A worker pool: four forked workers do the allocating.

The parent only hands out tasks, so a profiler that follows forked children
(`memsleuth run --follow-children`, `memray run --follow-fork`) pays for
the workers' small-object churn, and one that does not pays for almost
nothing. The fork start method is named, so every Python version runs the
same thing.
"""

import multiprocessing

TASKS = 8
N = 50_000


def work(seed):
    rows = [{"id": i, "name": str(i + seed), "tags": (i, seed)} for i in range(N)]
    return sum(len(r["name"]) for r in rows)


if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    pool = context.Pool(4)
    total = sum(pool.map(work, range(TASKS)))
    pool.close()
    pool.join()
