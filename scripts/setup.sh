#!/usr/bin/env bash
# Creates .venv with memsleuth built from this checkout (release build, via
# maturin) and the test dependencies. Safe to run again; needs python3 >= 3.9,
# cargo, and a C compiler.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
if ! command -v cargo >/dev/null; then
    echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and run again" >&2
    exit 1
fi
if ! command -v cc >/dev/null; then
    echo "setup: no C compiler; install gcc (apt-get install gcc) and run again" >&2
    exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
    "$python" -m venv "$root/.venv"
fi
"$root/.venv/bin/python" -m pip install -q --upgrade pip
"$root/.venv/bin/python" -m pip install -q "$root[test]"
echo "setup: memsleuth is installed in .venv ($("$root/.venv/bin/memsleuth" --version))"
