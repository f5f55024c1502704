"""The ``memsleuth`` command and ``python -m memsleuth``: hand argv to the Rust CLI."""

import sys

from memsleuth import _native


def main() -> None:
    sys.exit(_native.cli_main(sys.argv[1:], sys.executable))


if __name__ == "__main__":
    main()
