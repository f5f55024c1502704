#!/usr/bin/env bash
# Builds the HTML report's script and styles from web/ into
# crates/report/assets/ (committed, so `cargo build` never needs npm), with
# the licence texts of every bundled package beside them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web="$root/web"
assets="$root/crates/report/assets"
cd "$web"
# --ignore-scripts: esbuild's platform binary comes as an optional
# dependency; its install script only checks it.
npm ci --ignore-scripts --no-audit --no-fund
npx --no-install esbuild src/main.js \
    --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --charset=utf8 \
    --outfile="$assets/report.js"
# esbuild names the stylesheet after the script.
test -f "$assets/report.css"
# Every package that ends up in the bundle ships its licence in the page.
{
    echo "The script in this page bundles the following packages (from web/package-lock.json)."
    for dir in $(node -e '
        const lock = require("./package-lock.json");
        for (const [path, p] of Object.entries(lock.packages)) {
            if (path && !p.dev) console.log(path);
        }' | sort); do
        name=$(node -p "require('./$dir/package.json').name")
        version=$(node -p "require('./$dir/package.json').version")
        license=$(node -p "require('./$dir/package.json').license")
        echo
        echo "================================================================"
        echo "$name $version ($license)"
        echo "================================================================"
        cat "$dir"/LICEN[CS]E* 2>/dev/null || echo "(no licence file in the package; licence: $license)"
    done
} > "$assets/THIRD-PARTY-LICENSES.txt"
ls -l "$assets"
