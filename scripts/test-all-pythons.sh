#!/usr/bin/env bash
# Builds memsleuth for every CPython 3.9-3.13 that pyenv has and runs the
# pytest suite under each. Usage: scripts/test-all-pythons.sh [VERSION...]
# Prints one line per version: "<version>: <pytest's last line>".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
    mapfile -t versions < <(pyenv versions --bare 2>/dev/null | grep -E '^3\.(9|1[0-3])\.[0-9]+$')
fi
for v in "${versions[@]}"; do
    py="$(pyenv root)/versions/$v/bin/python3"
    [ -x "$py" ] || { echo "$v: not installed"; continue; }
    work="${TMPDIR:-/tmp}/memsleuth-py$v"
    rm -rf "$work" && "$py" -m venv "$work/venv" || { echo "$v: cannot create a venv"; continue; }
    "$work/venv/bin/pip" install -q maturin pytest numpy jsonschema grpcio-tools >"$work/setup.log" 2>&1
    if ! (cd "$root" && CARGO_TARGET_DIR="$work/target" "$work/venv/bin/maturin" build --release -q \
            -i "$work/venv/bin/python" -o "$work/wheels" >>"$work/setup.log" 2>&1) \
        || ! "$work/venv/bin/pip" install -q "$work"/wheels/*.whl >>"$work/setup.log" 2>&1; then
        echo "$v: build failed (see $work/setup.log)"
        continue
    fi
    (cd "$root" && "$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests >"$work/pytest.log" 2>&1)
    echo "$v: $(tail -n 1 "$work/pytest.log")"
done
