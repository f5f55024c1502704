#!/usr/bin/env bash
# Sets up memsleuth and profiles the bundled example end to end: runs it,
# prints the summary, then the leak table, the peak's collapsed stacks, what
# the heap snapshot taken at exit says holds the memory, and why the process
# is as big as it is, with recommendations.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
out="${TMPDIR:-/tmp}/memsleuth-example.msl"
.venv/bin/memsleuth run --force --snapshot-at exit -o "$out" examples/leaky_cache.py
.venv/bin/memsleuth table "$out" --by leaks --limit 5
.venv/bin/memsleuth stacks "$out" --at peak | head -n 5
.venv/bin/memsleuth heap "$out" --limit 5
.venv/bin/memsleuth memory "$out"
