#!/usr/bin/env python3
"""Compare the overhead of memory profilers on the workloads in ./workloads.

For every workload, each selected command is run ``--runs`` times.  The
commands are interleaved round-robin inside every repetition (and the
starting command is rotated from one repetition to the next), so slow drift
of the machine -- thermal throttling, background jobs, page cache -- affects
all commands alike instead of whichever happened to run last.

Per run we record:

* wall time: ``time.perf_counter()`` from spawning the command until it has
  been reaped;
* peak RSS: ``ru_maxrss`` of the command as returned by ``os.wait4`` for that
  one process (the kernel folds in the peak of any descendants it waited for,
  so a launcher that spawns the real interpreter is covered). The command is
  spawned by a minimal helper interpreter, see SPAWN_HELPER;
* output size: total bytes of everything the command left in its private,
  initially empty working directory (capture file, side files, report dirs).

Under the tables, the two targets of the native-memory issue are checked per
workload and overall (see "The targets set in the issue" below).

Standard library only (the numpy_arrays workload needs numpy).  Usage::

    python3 benchmarks/run.py                      # all workloads, all tools, 5 runs
    python3 benchmarks/run.py --runs 3 --only threads --only big_container
    python3 benchmarks/run.py --tools plain,memray,tracemalloc --json out.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

HERE = Path(__file__).resolve().parent
WORKLOAD_DIR = HERE / "workloads"
MIB = 1024 * 1024

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------


def find_executable(name: str) -> Optional[str]:
    """Look next to the running interpreter first, then on PATH.

    Preferring the interpreter's own bin directory makes sure the profiler
    belongs to the same Python as the ``plain`` baseline, and avoids version
    manager shims (pyenv's shims are shell scripts that add startup time).
    """
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    return shutil.which(name, path=bindir) or shutil.which(name)


@dataclass
class Tool:
    name: str
    description: str
    # executable the tool needs (None: only the Python interpreter)
    executable_name: Optional[str]
    # (exe, script, outdir) -> argv
    build: Callable[[Optional[str], str, str], list]
    # does this tool write a capture/report?  (False -> output column is "-")
    writes_output: bool = True
    exe: Optional[str] = None
    available: bool = False
    note: str = ""
    version: str = ""


def _py() -> str:
    return sys.executable


def _build_plain(exe, script, outdir):
    return [_py(), script]


def _build_memsleuth(exe, script, outdir):
    return [exe, "run", "--quiet", "--no-report", "-o", os.path.join(outdir, "capture.msl"), script]


def _build_memsleuth_children(exe, script, outdir):
    return [exe, "run", "--quiet", "--no-report", "--follow-children", "--force",
            "-o", os.path.join(outdir, "captures"), script]


def _build_memray_follow_fork(exe, script, outdir):
    return [exe, "run", "--follow-fork", "-q", "-f", "-o", os.path.join(outdir, "capture.bin"), script]


def _build_memsleuth_native(exe: Optional[str], script: str, outdir: str) -> list:
    return [exe, "run", "--native", "--quiet", "--no-report",
            "-o", os.path.join(outdir, "capture.msl"), script]


def _build_tracemalloc(exe, script, outdir):
    return [_py(), "-X", "tracemalloc=25", script]


def _build_memray_pyalloc(exe, script, outdir):
    return [exe, "run", "--trace-python-allocators", "-q", "-f",
            "-o", os.path.join(outdir, "capture.bin"), script]


def _build_memray(exe, script, outdir):
    return [exe, "run", "-q", "-f", "-o", os.path.join(outdir, "capture.bin"), script]


def _build_memray_native(exe: Optional[str], script: str, outdir: str) -> list:
    return [exe, "run", "--native", "-q", "-f", "-o", os.path.join(outdir, "capture.bin"), script]


def _build_fil(exe, script, outdir):
    # Global options go before the "run" sub-command.  Fil writes a timestamped
    # report directory under -o; --no-browser stops it from opening the report.
    return [exe, "-o", os.path.join(outdir, "fil-result"), "--no-browser", "run", script]


def make_tools() -> "dict[str, Tool]":
    tools = [
        Tool("plain", "python3 workload.py", None, _build_plain, writes_output=False),
        Tool("memsleuth", "memsleuth run --quiet --no-report -o CAPTURE.msl workload.py",
             "memsleuth", _build_memsleuth),
        Tool("memsleuth-native",
             "memsleuth run --native --quiet --no-report -o CAPTURE.msl workload.py",
             "memsleuth", _build_memsleuth_native),
        Tool("memsleuth-children",
             "memsleuth run --follow-children --quiet --no-report -o CAPTURES/ workload.py",
             "memsleuth", _build_memsleuth_children),
        Tool("tracemalloc", "python3 -X tracemalloc=25 workload.py", None,
             _build_tracemalloc, writes_output=False),
        Tool("memray-python-allocators",
             "memray run --trace-python-allocators -q -f -o CAPTURE.bin workload.py",
             "memray", _build_memray_pyalloc),
        Tool("memray", "memray run -q -f -o CAPTURE.bin workload.py", "memray", _build_memray),
        Tool("memray-native", "memray run --native -q -f -o CAPTURE.bin workload.py", "memray",
             _build_memray_native),
        Tool("memray-follow-fork", "memray run --follow-fork -q -f -o CAPTURE.bin workload.py",
             "memray", _build_memray_follow_fork),
        Tool("fil", "fil-profile -o OUTDIR --no-browser run workload.py", "fil-profile", _build_fil),
    ]
    return {t.name: t for t in tools}


TOOL_ALIASES = {
    "memray-pyalloc": "memray-python-allocators",
    "memray-python": "memray-python-allocators",
    "filprofiler": "fil",
    "fil-profile": "fil",
    "python": "plain",
}


def _tool_version(tool: Tool) -> str:
    dist = {"memray": "memray", "memray-python-allocators": "memray", "memray-native": "memray",
            "memray-follow-fork": "memray", "fil": "filprofiler", "memsleuth": "memsleuth",
            "memsleuth-native": "memsleuth", "memsleuth-children": "memsleuth"}.get(tool.name)
    if dist is None:
        return platform.python_version()
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:
        pass
    if tool.exe:
        try:
            out = subprocess.run([tool.exe, "--version"], capture_output=True, text=True,
                                 timeout=30, env=child_env())
            text = (out.stdout or out.stderr).strip().splitlines()
            if out.returncode == 0 and text:
                return text[0]
        except Exception:
            pass
    return "unknown"


# ---------------------------------------------------------------------------
# Running one command
# ---------------------------------------------------------------------------


def child_env() -> dict:
    env = dict(os.environ)
    # Same interpreter first on PATH, for tools that launch "python3" themselves.
    bindir = os.path.dirname(os.path.abspath(sys.executable))
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    # Deterministic str hashing -> identical dict layouts from run to run.
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONTRACEMALLOC", None)
    env.pop("PYTHONMALLOC", None)
    return env


@dataclass
class RunResult:
    wall_s: Optional[float]  # None if the command could not be measured
    maxrss_kib: int
    output_bytes: int
    returncode: int
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def tree_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# Each command is started by a tiny helper interpreter (``python3 -I -S``,
# ~8 MiB RSS) rather than directly by this script. Linux carries a process's
# peak RSS across execve(): a child forked from this runner would inherit the
# runner's own high-water mark (~20 MiB and growing) as a floor for its
# ru_maxrss, hiding the difference between small processes. The helper's
# floor stays below what any Python process running a script reaches
# (~13 MiB), so ru_maxrss is the command's own peak. The helper also takes
# the wall time, from just before spawning the command until reaping it, so
# the helper's own start-up is not counted.
SPAWN_HELPER = """\
import os, sys, time
result_path, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_pid, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(result_path, "w") as f:
    f.write("%r %d %d\\n" % (wall, ru.ru_maxrss, os.waitstatus_to_exitcode(status)))
"""


def run_once(tool: Tool, script: str, scratch: str, timeout: float) -> RunResult:
    """Run one command in a fresh, empty directory and measure it."""
    outdir = tempfile.mkdtemp(prefix=f"{tool.name}-", dir=scratch)
    argv = tool.build(tool.exe, script, outdir)
    err_path = os.path.join(scratch, "stderr.txt")
    result_path = os.path.join(scratch, "result.txt")
    if os.path.exists(result_path):
        os.unlink(result_path)
    timed_out = False
    try:
        with open(os.devnull, "wb") as devnull, open(err_path, "wb") as err:
            helper = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", SPAWN_HELPER, result_path] + argv,
                cwd=outdir, env=child_env(), stdin=subprocess.DEVNULL, stdout=devnull,
                stderr=err, start_new_session=True)
            try:
                helper_rc = helper.wait(timeout=timeout or None)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(helper.pid, signal.SIGKILL)  # helper and the command
                helper_rc = helper.wait()
            except BaseException:  # e.g. Ctrl-C: the new session does not get SIGINT
                os.killpg(helper.pid, signal.SIGKILL)
                helper.wait()
                raise
        with open(err_path, "rb") as err:
            tail = err.read()[-2000:].decode("utf-8", "replace")
        out_bytes = tree_size(outdir)
        try:
            with open(result_path) as f:
                wall_s, maxrss_s, rc_s = f.read().split()
            wall, maxrss, rc = float(wall_s), int(maxrss_s), int(rc_s)
        except (OSError, ValueError):
            # helper failed (e.g. executable could not be started) or was killed
            wall, maxrss, rc = None, 0, helper_rc if helper_rc else -1
        if timed_out:
            tail = f"timed out after {timeout:g} s\n" + tail
        # ru_maxrss is in KiB on Linux (bytes on macOS).
        if sys.platform == "darwin":
            maxrss //= 1024
        return RunResult(wall, maxrss, out_bytes, rc, "" if rc == 0 else tail)
    finally:
        shutil.rmtree(outdir, ignore_errors=True)


PROBE_SCRIPT = "x = [list(range(10)) for _ in range(1000)]\nd = {i: str(i) for i in range(1000)}\n"


def probe(tool: Tool, scratch: str) -> None:
    """Decide whether a tool can be used here; fills tool.available/note."""
    if tool.executable_name is not None:
        tool.exe = find_executable(tool.executable_name)
        if tool.exe is None:
            tool.note = (f"`{tool.executable_name}` not found next to {sys.executable} "
                         f"or on PATH -- column skipped")
            return
    script = os.path.join(scratch, "probe_script.py")
    with open(script, "w") as f:
        f.write(PROBE_SCRIPT)
    try:
        res = run_once(tool, script, scratch, timeout=120)
    except OSError as e:
        tool.note = f"could not start {tool.exe or sys.executable}: {e}"
        return
    if not res.ok:
        last = [l for l in res.stderr_tail.strip().splitlines() if l.strip()]
        tool.note = (f"probe run failed (exit {res.returncode}): "
                     f"{last[-1] if last else 'no stderr'} -- column skipped")
        return
    if tool.writes_output and res.output_bytes == 0:
        tool.note = "probe run wrote no output file (output column may read 0)"
    tool.available = True
    tool.version = _tool_version(tool)


# ---------------------------------------------------------------------------
# Statistics and reporting
# ---------------------------------------------------------------------------


def summarize(runs: "list[RunResult]") -> dict:
    ok = [r for r in runs if r.ok]
    if not ok:
        return {"ok_runs": 0, "failed_runs": len(runs)}
    walls = [r.wall_s for r in ok]
    return {
        "ok_runs": len(ok),
        "failed_runs": len(runs) - len(ok),
        "median_wall_s": statistics.median(walls),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "median_maxrss_mib": statistics.median(r.maxrss_kib for r in ok) / 1024,
        "max_maxrss_mib": max(r.maxrss_kib for r in ok) / 1024,
        "median_output_mib": statistics.median(r.output_bytes for r in ok) / MIB,
    }


def fmt(x, spec, missing="-"):
    return missing if x is None else format(x, spec)


def markdown_table(results: dict, tools: "list[Tool]") -> str:
    lines = [
        "| workload | tool | median wall (s) | min–max (s) | × plain | peak RSS (MiB) | output (MiB) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for wname, per_tool in results.items():
        for t in tools:
            s = per_tool.get(t.name)
            if s is None:
                continue
            summary = s["summary"]
            if summary["ok_runs"] == 0:
                lines.append(f"| {wname} | {t.name} | FAILED ({summary['failed_runs']} runs) | | | | |")
                continue
            ratio = summary.get("ratio_to_plain")
            out = fmt(summary["median_output_mib"], ".2f") if t.writes_output else "-"
            failed = f" ({summary['failed_runs']} failed)" if summary["failed_runs"] else ""
            lines.append(
                f"| {wname} | {t.name}{failed} | {summary['median_wall_s']:.2f} "
                f"| {summary['min_wall_s']:.2f}–{summary['max_wall_s']:.2f} "
                f"| {fmt(ratio, '.2f')} | {summary['median_maxrss_mib']:.0f} | {out} |"
            )
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The targets set in the issue
# ---------------------------------------------------------------------------

# Target 1: memsleuth's default mode (Python allocators, C heap and mmap, no
# native stacks) runs at most this many times as long as plain, on every workload.
DEFAULT_MODE_MAX_RATIO = 1.5
# Target 2: with native stacks, memsleuth's overhead is at most this share of
# memray --native's overhead, on every workload.
NATIVE_MAX_OVERHEAD_SHARE = 0.5

PASS, MISS, NOT_MEASURED, INCOMPLETE = "PASS", "MISS", "n/a", "INCOMPLETE"


def complete_median(results: dict, workload: str, tool: str) -> Optional[float]:
    """Median wall time of a tool on a workload, or None unless every run succeeded.

    A tool that crashed on some runs has not met a target whatever its other
    runs say, so such a workload counts as not measured rather than passed.
    """
    entry = results[workload].get(tool)
    if entry is None:
        return None
    s = entry["summary"]
    if s["failed_runs"] or "median_wall_s" not in s:
        return None
    return s["median_wall_s"]


def overall_status(statuses: "list[str]") -> str:
    """One verdict for "on every workload": a single MISS decides it."""
    if MISS in statuses:
        return MISS
    if statuses and all(st == PASS for st in statuses):
        return PASS
    return INCOMPLETE if PASS in statuses else NOT_MEASURED


def default_mode_target(results: dict, workloads: "list[str]") -> dict:
    per: dict = {}
    for w in workloads:
        plain = complete_median(results, w, "plain")
        tool = complete_median(results, w, "memsleuth")
        if plain is None or tool is None:
            per[w] = {"ratio": None, "status": NOT_MEASURED}
            continue
        ratio = tool / plain
        per[w] = {"ratio": ratio, "status": PASS if ratio <= DEFAULT_MODE_MAX_RATIO else MISS}
    return {
        "rule": f"memsleuth median wall <= {DEFAULT_MODE_MAX_RATIO:g} x plain median wall "
                "on every workload",
        "max_ratio": DEFAULT_MODE_MAX_RATIO,
        "tools": ["plain", "memsleuth"],
        "workloads": per,
        "overall": overall_status([v["status"] for v in per.values()]),
    }


def native_target(results: dict, workloads: "list[str]") -> dict:
    per: dict = {}
    for w in workloads:
        plain = complete_median(results, w, "plain")
        ours = complete_median(results, w, "memsleuth-native")
        theirs = complete_median(results, w, "memray-native")
        if plain is None or ours is None or theirs is None:
            per[w] = {"memsleuth_native_overhead": None, "memray_native_overhead": None,
                      "share": None, "status": NOT_MEASURED}
            continue
        ours_over, theirs_over = ours / plain - 1, theirs / plain - 1
        # Compare the overheads, not their quotient: the quotient means nothing
        # when memray's overhead is within the noise of zero (or below it).
        ok = ours_over <= NATIVE_MAX_OVERHEAD_SHARE * theirs_over
        per[w] = {
            "memsleuth_native_overhead": ours_over,
            "memray_native_overhead": theirs_over,
            "share": ours_over / theirs_over if theirs_over > 0 else None,
            "status": PASS if ok else MISS,
        }
    return {
        "rule": f"(memsleuth-native median / plain median - 1) <= {NATIVE_MAX_OVERHEAD_SHARE:g} x "
                "(memray-native median / plain median - 1) on every workload",
        "max_share": NATIVE_MAX_OVERHEAD_SHARE,
        "tools": ["plain", "memsleuth-native", "memray-native"],
        "workloads": per,
        "overall": overall_status([v["status"] for v in per.values()]),
    }


def percent(x: Optional[float]) -> str:
    return "-" if x is None else f"{x * 100:+.0f}%"


def targets_markdown(default_mode: dict, native: dict, ran: "set[str]", runs: int) -> str:
    """The verdicts, one table per target; a target whose tools did not run gets one line."""
    lines = [f"1. **Default mode: {default_mode['overall']}.** Target: `memsleuth`'s median wall "
             f"time is at most {DEFAULT_MODE_MAX_RATIO:g}× plain's on every workload."]
    lines += _not_run_or_table(
        default_mode, ran,
        ["| workload | memsleuth × plain | target |", "|---|---:|---|"],
        lambda w, v: f"| {w} | {fmt(v['ratio'], '.2f')} | {v['status']} |")
    lines += ["", f"2. **Native stacks: {native['overall']}.** Target: the overhead of "
              f"`memsleuth-native` is at most {NATIVE_MAX_OVERHEAD_SHARE:g}× that of "
              "`memray-native` on every workload (overhead = median wall / plain median wall − 1)."]
    lines += _not_run_or_table(
        native, ran,
        ["| workload | memsleuth-native overhead | memray-native overhead "
         "| memsleuth / memray overhead | target |", "|---|---:|---:|---:|---|"],
        lambda w, v: f"| {w} | {percent(v['memsleuth_native_overhead'])} "
                     f"| {percent(v['memray_native_overhead'])} | {fmt(v['share'], '.2f')} "
                     f"| {v['status']} |")
    verdicts = [v["status"] for t in (default_mode, native) for v in t["workloads"].values()]
    if NOT_MEASURED in verdicts:
        lines += ["", f"`{NOT_MEASURED}`: a tool the target needs did not run, or failed at least "
                  f"once on that workload; `{INCOMPLETE}`: no misses, but not every workload was "
                  "measured."]
    if runs < 3 and (PASS in verdicts or MISS in verdicts):
        # with one or two runs a verdict near the limit can flip from run to run
        lines += ["", f"With {runs} run{'s' if runs != 1 else ''} per command these verdicts are "
                  "within the noise; use the default 5 runs for a real measurement."]
    return "\n".join(lines)


def _not_run_or_table(target: dict, ran: "set[str]", header: "list[str]",
                      row: "Callable[[str, dict], str]") -> "list[str]":
    missing = [name for name in target["tools"] if name not in ran]
    if missing:  # a table of n/a rows would say less than this line
        return ["", "Not measured: needs " + ", ".join(f"`{n}`" for n in missing)
                + " (not selected with --tools, or not available)."]
    return ["", *header, *(row(w, v) for w, v in target["workloads"].items())]


def list_workloads() -> "list[str]":
    return sorted(p.stem for p in WORKLOAD_DIR.glob("*.py") if not p.name.startswith("_"))


# Modules outside the standard library that a workload imports. Without them
# the workload is skipped with a note (or refused with --only) instead of
# failing under every tool.
WORKLOAD_REQUIRES = {"numpy_arrays": ("numpy",)}


def missing_modules(workload: str) -> "list[str]":
    # find_spec in this interpreter answers for the children too: they all run
    # sys.executable or a profiler installed next to it (see find_executable).
    return [m for m in WORKLOAD_REQUIRES.get(workload, ()) if importlib.util.find_spec(m) is None]


def parse_args(argv=None):
    all_tools = list(make_tools())
    p = argparse.ArgumentParser(
        description="Compare memory profilers (wall time, peak RSS, output size) on benchmark workloads.")
    p.add_argument("--runs", type=int, default=5, help="repetitions per command (default: 5)")
    p.add_argument("--only", action="append", metavar="WORKLOAD", default=[],
                   help="run only this workload (repeatable); one of: " + ", ".join(list_workloads()))
    p.add_argument("--tools", default=",".join(all_tools),
                   help="comma-separated tools (default: all): " + ",".join(all_tools)
                   + ". 'plain' is always added as the baseline.")
    p.add_argument("--json", metavar="PATH", help="write raw and summarized results as JSON")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="per-run timeout in seconds (default: 900)")
    p.add_argument("--scratch", metavar="DIR",
                   help="directory for per-run working dirs and captures (default: system temp); "
                        "each run's output is deleted right after it is measured")
    p.add_argument("--list", action="store_true", help="list workloads and tools, then exit")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be >= 1")
    return p, args


def main(argv=None) -> int:
    parser, args = parse_args(argv)
    # Turn SIGTERM into SystemExit so a running command is killed on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in background by a shell
        signal.signal(signal.SIGINT, signal.default_int_handler)
    tools_by_name = make_tools()
    workloads = list_workloads()

    if args.list:
        print("workloads:", ", ".join(workloads))
        for w, mods in WORKLOAD_REQUIRES.items():
            missing = missing_modules(w)
            print(f"workload {w} needs {', '.join(mods)}"
                  + (f" (missing: {', '.join(missing)})" if missing else ""))
        for t in tools_by_name.values():
            print(f"tool {t.name}: {t.description}")
        return 0

    selected = []
    for name in (n.strip() for n in args.tools.split(",")):
        if not name:
            continue
        name = TOOL_ALIASES.get(name, name)
        if name not in tools_by_name:
            parser.error(f"unknown tool {name!r}; choose from {', '.join(tools_by_name)}")
        if name not in selected:
            selected.append(name)
    if "plain" not in selected:
        selected.insert(0, "plain")
    # keep the canonical column order
    selected = [n for n in tools_by_name if n in selected]

    chosen_workloads = []
    for w in args.only:
        w = Path(w).stem if w.endswith(".py") else w
        if w not in workloads:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(workloads)}")
        missing = missing_modules(w)
        if missing:
            parser.error(f"workload {w!r} needs {', '.join(missing)}: "
                         "pip install -r benchmarks/requirements.txt")
        if w not in chosen_workloads:
            chosen_workloads.append(w)
    skipped: "dict[str, str]" = {}
    if not chosen_workloads:
        for w in workloads:
            missing = missing_modules(w)
            if missing:
                skipped[w] = (f"workload skipped: {', '.join(missing)} not installed "
                              "(pip install -r benchmarks/requirements.txt)")
            else:
                chosen_workloads.append(w)

    scratch = tempfile.mkdtemp(prefix="memsleuth-bench-", dir=args.scratch)
    try:
        return _run(args, tools_by_name, selected, chosen_workloads, skipped, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(args, tools_by_name, selected, workloads, skipped, scratch) -> int:
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    log(f"python: {sys.executable} ({platform.python_version()}), cpus: {os.cpu_count()}, "
        f"runs: {args.runs}")
    tools: "list[Tool]" = []
    notes: "dict[str, str]" = dict(skipped)  # keyed by tool or workload name
    for w, note in skipped.items():
        log(f"{w}: {note}")
    for name in selected:
        t = tools_by_name[name]
        probe(t, scratch)
        status = f"{t.exe or sys.executable} ({t.version})" if t.available else "UNAVAILABLE"
        log(f"tool {t.name:<25} {status}" + (f" -- {t.note}" if t.note else ""))
        if t.note:
            notes[t.name] = t.note
        if t.available:
            tools.append(t)
    if not any(t.name == "plain" for t in tools):
        log("error: the plain baseline does not run; giving up")
        return 2

    raw: "dict[str, dict[str, list[RunResult]]]" = {w: {t.name: [] for t in tools} for w in workloads}
    for w in workloads:
        script = str(WORKLOAD_DIR / f"{w}.py")
        for rep in range(args.runs):
            # round-robin inside each repetition, rotating the starting tool
            k = rep % len(tools)
            order = tools[k:] + tools[:k]
            for t in order:
                res = run_once(t, script, scratch, args.timeout)
                raw[w][t.name].append(res)
                status = "ok" if res.ok else f"FAILED exit {res.returncode}"
                log(f"  {w:<16} run {rep + 1}/{args.runs} {t.name:<25} {fmt(res.wall_s, '7.2f', '      -')} s "
                    f"{res.maxrss_kib / 1024:7.0f} MiB {res.output_bytes / MIB:9.2f} MiB out  {status}")
                if not res.ok and res.stderr_tail:
                    tail = res.stderr_tail.strip().splitlines()[-5:]
                    log("      " + "\n      ".join(tail))

    # summarize
    results: dict = {}
    for w in workloads:
        results[w] = {}
        base = summarize(raw[w]["plain"]).get("median_wall_s")
        for t in tools:
            s = summarize(raw[w][t.name])
            if base and "median_wall_s" in s:
                s["ratio_to_plain"] = s["median_wall_s"] / base
            results[w][t.name] = {
                "summary": s,
                "runs": [vars(r) for r in raw[w][t.name]],
            }

    overall: dict = {}
    for t in tools:
        ratios = [results[w][t.name]["summary"].get("ratio_to_plain") for w in workloads]
        ratios = [r for r in ratios if r is not None]
        overall[t.name] = {
            "median_ratio": statistics.median(ratios) if ratios else None,
            "min_ratio": min(ratios) if ratios else None,
            "max_ratio": max(ratios) if ratios else None,
            "workloads": len(ratios),
        }

    print(f"## Results ({args.runs} run{'s' if args.runs != 1 else ''} per command, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs)\n")
    print(markdown_table(results, tools))
    print("\n### Median over workloads of (median wall / plain median wall)\n")
    print("| tool | median ratio | min | max |")
    print("|---|---:|---:|---:|")
    for t in tools:
        o = overall[t.name]
        print(f"| {t.name} | {fmt(o['median_ratio'], '.2f')} | {fmt(o['min_ratio'], '.2f')} "
              f"| {fmt(o['max_ratio'], '.2f')} |")
    default_mode = default_mode_target(results, workloads)
    native = native_target(results, workloads)
    print("\n### Targets\n")
    print(targets_markdown(default_mode, native, {t.name for t in tools}, args.runs))
    if notes:
        print("\n### Notes\n")
        for name, note in notes.items():
            print(f"- **{name}**: {note}")

    if args.json:
        doc = {
            "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "python": sys.executable,
            "python_version": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "runs": args.runs,
            "tools": {
                name: {
                    "command": tools_by_name[name].description,
                    "executable": tools_by_name[name].exe,
                    "version": tools_by_name[name].version,
                    "available": tools_by_name[name].available,
                    "note": tools_by_name[name].note,
                }
                for name in selected
            },
            "units": {"wall_s": "seconds", "maxrss_kib": "KiB", "output_bytes": "bytes",
                      "*_mib": "MiB (1024*1024 bytes)"},
            "results": results,
            "overall": overall,
            "targets": {"default_mode": default_mode, "native_vs_memray": native},
            "skipped_workloads": skipped,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        log(f"wrote {args.json}")

    any_failed = any(not r.ok for w in raw.values() for runs in w.values() for r in runs)
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
