"""Two blocks live together at the peak, from two functions: 6 MiB and 2 MiB.
The report's flamegraph shows the smaller at a quarter of the width, so a
click that zooms it is visible. Heap snapshots are taken by the test's flags."""


def big():
    return bytearray(6 * 1024 * 1024)  # @big


def small():
    return bytearray(2 * 1024 * 1024)  # @small


def main():
    a = big()  # @call_big
    b = small()  # @call_small
    assert len(a) + len(b) == 8 * 1024 * 1024


if __name__ == "__main__":
    main()
