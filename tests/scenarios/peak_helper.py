"""A helper called from two places: 3 MiB from phase_one (freed), then 7 MiB
from phase_two (freed). The peak is the 7 MiB call."""


def make(n):
    return bytearray(n)  # @make


def phase_one():
    buf = make(3 * 1024 * 1024)  # @call_one
    assert len(buf) == 3 * 1024 * 1024
    del buf


def phase_two():
    buf = make(7 * 1024 * 1024)  # @call_two
    assert len(buf) == 7 * 1024 * 1024
    del buf


def main():
    phase_one()
    phase_two()


if __name__ == "__main__":
    main()
