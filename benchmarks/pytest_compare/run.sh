#!/bin/sh
# Runs the same limit_leaks tests under memsleuth's plugin, then under
# pytest-memray's (plain, then with PYTHONMALLOC=malloc, as its docs advise
# for leak checks). Both plugins read the marker `limit_leaks`, so each run
# disables the other. Needs memsleuth and pytest-memray installed.
set -u
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
echo "== memsleuth";                        "$PY" -m pytest -p no:cacheprovider -p no:memray -q -rf test_scenarios.py
echo "== pytest-memray";                    "$PY" -m pytest -p no:cacheprovider -p no:memsleuth --memray -q -rf test_scenarios.py
echo "== pytest-memray, PYTHONMALLOC=malloc"; PYTHONMALLOC=malloc "$PY" -m pytest -p no:cacheprovider -p no:memsleuth --memray -q -rf test_scenarios.py
exit 0
