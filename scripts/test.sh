#!/usr/bin/env bash
# Everything CI checks, from a fresh machine: set-up, then formatting, lints,
# Rust tests and the end-to-end pytest suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The symbolizer's tests build C and C++ libraries and split their debug info.
missing=()
command -v g++ >/dev/null || missing+=(g++)
command -v objcopy >/dev/null || missing+=(binutils)
# The .heapsnapshot export is read back by memlab's parser, on Node.js.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# The HTML report is tested in a real headless browser (tests/test_report.py).
command -v chromium >/dev/null || missing+=(chromium)
# The live terminal view is driven in tmux (tests/test_live.py).
command -v tmux >/dev/null || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo_=""; [ "$(id -u)" -ne 0 ] && sudo_="sudo"
    $sudo_ apt-get update -q && $sudo_ apt-get install -y -q "${missing[@]}"
fi
scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== pytest"
.venv/bin/python -m pytest -q tests
