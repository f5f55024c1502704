#!/usr/bin/env bash
# Installs the independent .heapsnapshot reader in tests/heapsnapshot (memlab's
# parser, pinned by its package-lock.json) and, given arguments, runs it:
#
#   scripts/heapsnapshot-reader.sh                       # install only
#   scripts/heapsnapshot-reader.sh FILE.heapsnapshot [ID ...]
#
# check.js prints JSON on stdout: node and edge counts, each ID's retained
# size and allocation stack as memlab computes them, totals by class.
# Needs node >= 18 and npm. Install scripts are skipped (.npmrc): memlab
# depends on puppeteer, which would download a browser it never uses here.
set -euo pipefail
dir=$(cd "$(dirname "$0")/../tests/heapsnapshot" && pwd)
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
    echo "heapsnapshot-reader: node and npm are missing; install Node.js 18 or later and run again" >&2
    exit 1
fi
if [ ! -d "$dir/node_modules/@memlab/core" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
fi
if [ $# -gt 0 ]; then
    exec node "$dir/check.js" "$@"
fi
