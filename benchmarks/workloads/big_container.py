"""A big container built, kept briefly, then dropped -- repeated.

Each round builds a list of 1M small tuples and a dict of 500k entries
(str keys -> ints), touches them, and deletes them. Peak RSS is dominated by
the live container, and the profiler has to record a burst of ~millions of
allocations followed by a burst of frees (and, for snapshot/peak-tracking
tools, a large live set at the high-water mark).
"""

ROUNDS = 3
LIST_N = 800_000
DICT_N = 400_000


def build_list(n):
    return [(i, i * 2) for i in range(n)]


def build_dict(n):
    return {"k%d" % i: i for i in range(n)}


def main():
    check = 0
    for r in range(ROUNDS):
        big_list = build_list(LIST_N)
        big_dict = build_dict(DICT_N)
        check += big_list[-1][1] + big_dict["k%d" % (DICT_N - 1)] + r
        del big_list
        del big_dict
    assert check > 0


if __name__ == "__main__":
    main()
