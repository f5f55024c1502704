#!/usr/bin/env python3
"""How big is the HTML report and how long does it take to make, on a large
capture? Profiles a generated workload (many events, many distinct stacks)
with `memsleuth run --no-report`, times `memsleuth report` on it, and, when
Chromium and tests/report's driver are installed, how long the page takes
to be ready in headless Chromium.

    python3 benchmarks/report.py [--events N] [--functions K] [--scratch DIR]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "report" / "driver.js"


def workload(functions: int) -> str:
    """A program whose allocations come from `functions` functions, called in
    chains of three so that stacks are many and distinct; one block in a
    hundred is kept, so memory grows and the peak is late."""
    lines = ["import sys", "KEPT = []"]
    for i in range(functions):
        lines += [
            f"def f{i}(n, depth):",
            f"    if depth:",
            f"        return F[(n * 7 + {i}) % len(F)](n, depth - 1)",
            f"    b = bytes({16 + i % 64} + n % 512)",
            f"    if n % 100 == 0:",
            f"        KEPT.append(b)",
            f"    return b",
        ]
    lines += [
        f"F = [{', '.join(f'f{i}' for i in range(functions))}]",
        "N = int(sys.argv[1])",
        "for n in range(N):",
        "    F[n % len(F)](n, 2)",
    ]
    return "\n".join(lines) + "\n"


def memsleuth(*args, cwd):
    cmd = [sys.executable, "-m", "memsleuth", *map(str, args)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    return proc, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="allocations the workload makes (about; default 10M)")
    parser.add_argument("--functions", type=int, default=300, help="distinct allocating functions (default 300)")
    parser.add_argument("--scratch", type=Path, help="where to write the capture and report (default: a temp dir)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="memsleuth-report-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    script = scratch / "workload.py"
    script.write_text(workload(args.functions))
    capture = scratch / "workload.msl"
    report = scratch / "workload.html"
    # Each iteration allocates about one block (the bytes object).
    _, run_s = memsleuth("run", "--quiet", "--no-report", "--force", "-o", capture, script, args.events, cwd=scratch)
    summary = json.loads(memsleuth("summary", capture, "--json", cwd=scratch)[0].stdout)
    _, report_s = memsleuth("report", capture, "-o", report, cwd=scratch)
    result = {
        "allocations": summary["allocation_count"],
        "capture_bytes": capture.stat().st_size,
        "run_s": round(run_s, 2),
        "report_s": round(report_s, 2),
        "report_bytes": report.stat().st_size,
    }
    chromium = shutil.which("chromium")
    if chromium and (DRIVER.parent / "node_modules" / "puppeteer-core").is_dir():
        proc = subprocess.run(["node", str(DRIVER), str(report)], capture_output=True, text=True,
                              env={"CHROMIUM": chromium, "PATH": "/usr/bin:/bin", "HOME": str(scratch)})
        if proc.returncode == 0:
            seen = json.loads(proc.stdout)
            result["browser_ready_ms"] = seen["ready_ms"]
            result["browser_errors"] = seen["console_errors"] + seen["page_errors"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
