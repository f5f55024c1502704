#!/usr/bin/env bash
# Everything CI checks, from a fresh machine: set-up, then formatting, lints,
# Rust tests and the end-to-end pytest suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== pytest"
.venv/bin/python -m pytest -q tests
