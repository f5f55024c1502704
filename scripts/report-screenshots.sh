#!/usr/bin/env bash
# One PNG per section of a capture's HTML report, for a person to look at:
#   scripts/report-screenshots.sh CAPTURE OUTDIR
# Needs memsleuth installed, node, and chromium (scripts/test.sh installs it).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 CAPTURE OUTDIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
capture=$1
outdir=$2
mkdir -p "$outdir"
report="$outdir/report.html"
python3 -m memsleuth report "$capture" -o "$report"
if [ ! -d "$root/tests/report/node_modules/puppeteer-core" ]; then
    (cd "$root/tests/report" && npm ci --ignore-scripts --no-audit --no-fund)
fi
CHROMIUM=${CHROMIUM:-$(command -v chromium)} node "$root/tests/report/driver.js" "$report" --screenshots "$outdir" >/dev/null
ls "$outdir"/*.png
