#!/usr/bin/env python3
"""Heap snapshots at scale: memsleuth against guppy3 and objgraph.

For every size N (live objects of the program's own heap), the same heap is
built in separate processes, one per tool, so that every process's peak RSS
belongs to one tool:

* **memsleuth** -- ``memsleuth run -o CAPTURE --force -q heap.py --child
  memsleuth ...``: the program builds the heap and times
  ``memsleuth.snapshot()`` in-process; then ``memsleuth heap CAPTURE --json
  > /dev/null`` (dominators, retained sizes, paths, suspects) is timed as its
  own process, whose peak RSS is the analysis memory.
* **guppy3** -- plain ``python3``: ``hpy().heap()`` and rendering its table,
  then ``.byrcs`` (the heap classified by kind of referrer), the retained size
  of the registry (``hpy().iso(registry).domisize``) and the shortest path to
  one record (``hpy().iso(record).sp``).
* **objgraph** -- plain ``python3``: ``objgraph.most_common_types(limit=20)``
  and ``objgraph.find_backref_chain(record, objgraph.is_proper_module)``.

The heap: a module-level dict mapping a str key to instances of a class with
four attributes (a str -- also the key --, an int, a list, a bytes). A record
is 5 objects (6 before 3.11, where the instance's ``__dict__`` is an object of
its own); N counts them all. The interpreter's own objects (modules, code,
functions: ~40-100k) come on top; memsleuth's row says how many objects its
snapshot walked.

Every command is started by the spawn helper of ``run.py`` (a minimal
interpreter that takes the wall time and ``ru_maxrss`` from ``os.wait4``), so
peak RSS is the command's own. Inside each child, ``ru_maxrss`` is also read
after building the heap and after every step, which gives the heap's own
footprint and what each step added to the peak.

Usage::

    python3 benchmarks/heap.py --sizes 1000000,10000000 > heap.md
    python3 benchmarks/heap.py --quick                     # smoke run, 100k objects

Markdown goes to stdout, progress to stderr. Standard library only, plus the
tools measured (guppy3 and objgraph are in benchmarks/requirements.txt; a
tool that is missing is left out with a note).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
QUICK_SIZE = 100_000
DEFAULT_SIZES = "1000000,10000000"
TOOLS = ("memsleuth", "guppy3", "objgraph")

# The targets.
SNAPSHOT_1M_MAX_S = 1.0  # 1M live objects: snapshot in under 1 s in-process
TOTAL_10M_MAX_S = 15.0  # 10M: snapshot + `memsleuth heap` under 15 s
ANALYSIS_10M_MAX_MIB = 2048  # 10M: analysis memory under 2 GB

# What each tool can tell about the heap, independent of the numbers.
CAPABILITIES = {
    "memsleuth": {
        "retained": "yes: every object (dominator tree)",
        "paths": "yes: from roots (modules, thread frames)",
        "sites": "yes: file:line of each object's allocation",
    },
    "guppy3": {
        "retained": "one set per query (`domisize`, a full traversal each)",
        "paths": "yes: `.sp`, shortest paths from its root",
        "sites": "no",
    },
    "objgraph": {
        "retained": "no",
        "paths": "one chain per call, GC-tracked referrers only",
        "sites": "no",
    },
}

# ---------------------------------------------------------------------------
# The heap (built in the child processes)
# ---------------------------------------------------------------------------

TAGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta")


class Record:
    """A typical small object: a few attributes of everyday types."""

    def __init__(self, i: int):
        self.name = f"record-{i:09d}"  # str (also the registry's key)
        self.value = i * 1000 + 7919  # int (unique, beyond the small-int cache)
        self.tags = [TAGS[i % 8], TAGS[(i + 3) % 8]]  # list of shared strs
        self.payload = b"%09d" % i * (2 + i % 6)  # bytes, 18..63 bytes


# The heap lives here, so that every path to a record goes
# module __main__ -> its __dict__ -> REGISTRY -> record.
REGISTRY: "dict[str, Record] | None" = None


def objects_per_record() -> int:
    # The instance, its str, int, list and bytes; before 3.11 also the
    # instance's __dict__ (3.11+ keep the values beside the type's shared
    # keys until someone asks for __dict__).
    return 5 if sys.version_info >= (3, 11) else 6


def records_for(n_objects: int) -> int:
    return max(1, n_objects // objects_per_record())


def build_heap(records: int) -> "dict[str, Record]":
    reg = {}
    for i in range(records):
        r = Record(i)
        reg[r.name] = r
    return reg


def maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class ChildResult:
    """What a child measured; rewritten after every step so that a child
    killed by the timeout still leaves the steps it finished."""

    def __init__(self, path: str, tool: str, n_objects: int):
        self.path = path
        self.doc = {"tool": tool, "objects_target": n_objects, "records": records_for(n_objects),
                    "python": platform.python_version(), "steps": [], "notes": []}

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f)
        os.replace(tmp, self.path)

    def step(self, name: str, fn) -> object:
        """Times fn(); returns its value (None on failure)."""
        entry = {"name": name, "seconds": None, "maxrss_kib": None, "detail": None, "error": None}
        self.doc["steps"].append(entry)
        self.save()  # a step that never ends shows up as started
        value = None
        t0 = time.perf_counter()
        try:
            value = fn()
            entry["seconds"] = time.perf_counter() - t0
        except MemoryError:
            entry["error"] = f"MemoryError after {time.perf_counter() - t0:.1f} s"
        except Exception as e:  # report, do not stop the other steps
            entry["error"] = f"{type(e).__name__}: {e}"[:300]
        entry["maxrss_kib"] = maxrss_kib()
        self.save()
        return value


def child_main(tool: str, n_objects: int, result_path: str, mem_limit_gib: float) -> int:
    global REGISTRY
    res = ChildResult(result_path, tool, n_objects)
    if tool != "memsleuth" and mem_limit_gib > 0:
        # guppy3 and objgraph can need many times the heap; stop them with a
        # MemoryError rather than the kernel's OOM killer.
        limit = int(mem_limit_gib * 1024 ** 3)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # The tool's modules are imported before the heap is built, so they are
    # part of every heap alike and their import is not timed.
    if tool == "memsleuth":
        import memsleuth
        import memsleuth._native as native
    elif tool == "guppy3":
        from guppy import hpy
        hp = hpy()
    elif tool == "objgraph":
        import objgraph

    # Building millions of objects with the collector on runs dozens of full
    # collections; build with it off, then collect once so that every tool
    # sees the same, settled heap.
    gc.disable()
    t0 = time.perf_counter()
    REGISTRY = build_heap(res.doc["records"])
    res.doc["build_s"] = time.perf_counter() - t0
    gc.enable()
    gc.collect()
    res.doc["rss_after_build_kib"] = maxrss_kib()
    # One record in the middle, held only by this frame and the registry.
    record = REGISTRY[f"record-{res.doc['records'] // 2:09d}"]
    res.save()

    if tool == "memsleuth":
        take = getattr(native, "take_snapshot", None)

        def snapshot():
            if take is None:  # the public call, without the object count
                return memsleuth.snapshot(), None
            # memsleuth.snapshot() is this call, keeping only the id.
            return take("api")

        out = res.step("snapshot", snapshot)
        if out is not None:
            res.doc["objects_walked"] = out[1]
            res.doc["steps"][-1]["detail"] = (f"{out[1]:,} objects walked" if out[1] is not None
                                              else "object count not available")
    elif tool == "guppy3":
        def has_instance_dict():
            # On 3.11/3.12 guppy asks every instance for its dict pointer,
            # which creates the __dict__ that the interpreter had not needed.
            return any(isinstance(x, dict) for x in gc.get_referents(record))

        had_dict = has_instance_dict()
        h = res.step("hpy().heap()", hp.heap)
        if h is not None:
            if res.step("str(heap) (table by kind)", lambda: str(h)) is not None:
                # (len(h) would be the rows of the table)
                res.doc["steps"][-1]["detail"] = f"{h.count:,} objects"
            if not had_dict and has_instance_dict():
                # Count them (untimed): every Record whose referents now hold a dict.
                res.doc["instance_dicts_created"] = sum(
                    1 for r in REGISTRY.values()
                    if any(isinstance(x, dict) for x in gc.get_referents(r)))
            res.step(".byrcs (by referrers), rendered", lambda: str(h.byrcs))
            del h
            size = res.step("iso(registry).domisize", lambda: hp.iso(REGISTRY).domisize)
            if size is not None:
                res.doc["steps"][-1]["detail"] = f"{size / MIB:,.0f} MiB retained"
            path = res.step("iso(record).sp (path)", lambda: str(hp.iso(record).sp))
            if path:
                first = path.strip().splitlines()[0]  # "0: hpy().Root.i0_modules[...]..."
                res.doc["steps"][-1]["detail"] = f"`{first.split(': ', 1)[-1][:200]}`"
    elif tool == "objgraph":
        res.step("most_common_types(limit=20)", lambda: objgraph.most_common_types(limit=20))
        chain = res.step("find_backref_chain(record, is_proper_module)",
                         lambda: objgraph.find_backref_chain(record, objgraph.is_proper_module))
        if chain is not None:
            res.doc["steps"][-1]["detail"] = "chain: " + " -> ".join(
                type(x).__name__ for x in chain)
        res.doc["gc_tracked"] = len(gc.get_objects())
    res.save()
    return 0


# ---------------------------------------------------------------------------
# The parent: running the children and the analysis, the table
# ---------------------------------------------------------------------------


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def spawn(argv: list, cwd: str, scratch: str, timeout: float, stdout_path: str = os.devnull):
    """Runs argv under run.py's spawn helper; returns (wall_s, maxrss_kib, rc, stderr_tail, timed_out)."""
    from run import SPAWN_HELPER, child_env

    result_path = os.path.join(scratch, "spawn-result.txt")
    err_path = os.path.join(scratch, "stderr.txt")
    if os.path.exists(result_path):
        os.unlink(result_path)
    timed_out = False
    with open(stdout_path, "wb") as out, open(err_path, "wb") as err:
        helper = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", SPAWN_HELPER, result_path] + argv,
            cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True)
        try:
            helper.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(helper.pid, signal.SIGKILL)
            helper.wait()
        except BaseException:
            os.killpg(helper.pid, signal.SIGKILL)
            helper.wait()
            raise
    with open(err_path, "rb") as f:
        tail = f.read()[-3000:].decode("utf-8", "replace")
    try:
        with open(result_path) as f:
            wall, rss, rc = f.read().split()
        return float(wall), int(rss), int(rc), tail, timed_out
    except (OSError, ValueError):
        return None, 0, -9 if timed_out else -1, tail, timed_out


def read_child(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def native_build() -> str:
    """Which build of memsleuth's extension is installed: release, debug or unknown.

    In a source checkout, the installed extension is a copy of
    target/{release,debug}/lib_native.so; compare with both.
    """
    try:
        out = subprocess.run([sys.executable, "-c",
                              "import memsleuth._native as n; print(n.__file__)"],
                             capture_output=True, text=True, timeout=60)
        path = out.stdout.strip()
        size = os.path.getsize(path)
    except (OSError, subprocess.SubprocessError):
        return "not installed"

    def digest(p):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    mine = None
    for profile in ("release", "debug"):
        candidate = HERE.parent / "target" / profile / "lib_native.so"
        if candidate.is_file() and candidate.stat().st_size == size:
            mine = mine or digest(path)
            if digest(candidate) == mine:
                return f"{profile} ({size / MIB:.0f} MiB, same as target/{profile})"
    return f"unknown ({size / MIB:.0f} MiB; not a copy of target/release or target/debug)"


def dist_version(name: str) -> "str | None":
    try:
        from importlib import metadata

        return metadata.version(name)
    except Exception:
        return None


def measure_size(n: int, tools: "list[str]", args, scratch: str) -> dict:
    """All tools on a heap of n objects."""
    from run import find_executable

    out: dict = {"objects": n, "records": records_for(n), "tools": {}}
    script = str(Path(__file__).resolve())
    for tool in tools:
        work = tempfile.mkdtemp(prefix=f"{tool}-{n}-", dir=scratch)
        result_path = os.path.join(work, "result.json")
        child_args = ["--child", tool, "--objects", str(n), "--result", result_path,
                      "--mem-limit-gib", str(args.mem_limit_gib)]
        entry: dict = {}
        if tool == "memsleuth":
            exe = find_executable("memsleuth")
            capture = os.path.join(work, "heap.msl")
            argv = [exe, "run", "-o", capture, "--force", "-q", script] + child_args
        else:
            argv = [sys.executable, script] + child_args
        log(f"  {n:>11,} {tool:<9} building and measuring ...")
        wall, rss, rc, tail, timed_out = spawn(argv, work, scratch, args.timeout)
        entry.update(child=read_child(result_path), wall_s=wall, maxrss_kib=rss, returncode=rc,
                     timed_out=timed_out, stderr_tail=tail if rc != 0 else "")
        if tool == "memsleuth":
            entry["capture_bytes"] = os.path.getsize(capture) if os.path.exists(capture) else None
            snap = next((s for s in entry["child"].get("steps", []) if s["name"] == "snapshot"),
                        None)
            if rc == 0 and snap and snap.get("seconds") is not None:
                log(f"  {n:>11,} {tool:<9} memsleuth heap --json ...")
                hw, hrss, hrc, htail, hto = spawn([exe, "heap", capture, "--json"], work, scratch,
                                                  args.timeout)
                entry["heap"] = {"wall_s": hw, "maxrss_kib": hrss, "returncode": hrc,
                                 "timed_out": hto, "stderr_tail": htail if hrc != 0 else ""}
        shutil.rmtree(work, ignore_errors=True)
        out["tools"][tool] = entry
        for s in entry["child"].get("steps", []):
            log(f"  {n:>11,} {tool:<9} {s['name']:<45} "
                f"{fmt_s(s)} {fmt_mib(s.get('maxrss_kib'))} MiB peak so far"
                + (f"  [{s['detail']}]" if s.get("detail") else ""))
        if "heap" in entry:
            h = entry["heap"]
            log(f"  {n:>11,} {tool:<9} {'memsleuth heap --json':<45} "
                f"{fmt_run(h)} {fmt_mib(h['maxrss_kib'])} MiB peak")
        if rc != 0:
            why = "timed out" if timed_out else f"exit status {rc}"
            log(f"  {n:>11,} {tool:<9} FAILED ({why}); stderr tail:")
            log("      " + "\n      ".join(tail.strip().splitlines()[-6:]))
    return out


def fmt_mib(kib) -> str:
    return "-" if not kib else f"{kib / 1024:,.0f}"


def fmt_s(step: dict) -> str:
    if step.get("seconds") is not None:
        return f"{step['seconds']:.2f}"
    return step.get("error") or "did not finish"


def fmt_run(run: dict) -> str:
    if run.get("timed_out"):
        return "timed out"
    if run.get("returncode") != 0:
        last = (run.get("stderr_tail") or "").strip().splitlines()[-1:] or ["?"]
        return f"failed (exit {run.get('returncode')}: {last[0][:120]})"
    return f"{run['wall_s']:.2f}"


def table(results: "list[dict]", timeout: float) -> "list[str]":
    lines = ["| objects | tool | operation | seconds | peak RSS so far (MiB) | heap alone (MiB) | note |",
             "|---:|---|---|---:|---:|---:|---|"]
    for size in results:
        n = size["objects"]
        for tool, e in size["tools"].items():
            child = e["child"]
            heap_alone = fmt_mib(child.get("rss_after_build_kib"))
            steps = child.get("steps", [])
            if not steps and e["returncode"] != 0:
                why = "timed out" if e["timed_out"] else f"failed, exit {e['returncode']}"
                lines.append(f"| {n:,} | {tool} | building the heap | - | {fmt_mib(e['maxrss_kib'])} "
                             f"| {heap_alone} | {why} |")
                continue
            for s in steps:
                secs = fmt_s(s)
                if s.get("seconds") is None and s.get("error") is None:
                    secs = (f"> {timeout:.0f} (timed out)" if e["timed_out"]
                            else f"killed (exit {e['returncode']})")
                note = s.get("detail") or ""
                name = f"`{s['name']}`"
                if tool == "memsleuth" and s["name"] == "snapshot":
                    name = "`memsleuth.snapshot()` in-process"
                peak = fmt_mib(s.get("maxrss_kib"))
                lines.append(f"| {n:,} | {tool} | {name} | {secs} | {peak} | {heap_alone} | {note} |")
            if tool == "guppy3" and child.get("instance_dicts_created"):
                lines.append(f"| {n:,} | guppy3 | (side effect) | | | | `heap()` created the "
                             f"`__dict__` of {child['instance_dicts_created']:,} of the "
                             f"{child['records']:,} records |")
            if tool == "memsleuth":
                h = e.get("heap")
                if h is None:
                    continue
                cap = e.get("capture_bytes")
                notes = [f"capture {cap / MIB:,.0f} MiB" if cap else ""]
                secs = fmt_run(h)
                if h.get("returncode") != 0 and not h.get("timed_out"):
                    secs = f"failed (exit {h['returncode']})"
                    last = (h.get("stderr_tail") or "").strip().splitlines()[-1:]
                    notes += [x[:160].replace("`", "'").replace("|", "/") for x in last]
                lines.append(f"| {n:,} | memsleuth | `memsleuth heap --json` (own process) "
                             f"| {secs} | {fmt_mib(h['maxrss_kib'])} | - | "
                             f"{'; '.join(x for x in notes if x)} |")
                snap = next((s for s in steps if s["name"] == "snapshot"), {})
                if snap.get("seconds") is not None and h.get("returncode") == 0:
                    lines.append(f"| {n:,} | memsleuth | snapshot + `heap` | "
                                 f"{snap['seconds'] + h['wall_s']:.2f} | | | |")
    return lines


def capability_table(tools: "list[str]") -> "list[str]":
    lines = ["| tool | retained sizes | paths to objects | allocation sites |", "|---|---|---|---|"]
    for t in tools:
        c = CAPABILITIES[t]
        lines.append(f"| {t} | {c['retained']} | {c['paths']} | {c['sites']} |")
    return lines


def targets(results: "list[dict]") -> "list[str]":
    def find(n):
        return next((r for r in results if r["objects"] == n and "memsleuth" in r["tools"]), None)

    lines = []
    r1 = find(1_000_000)
    snap1 = None
    if r1:
        snap1 = next((s for s in r1["tools"]["memsleuth"]["child"].get("steps", [])
                      if s["name"] == "snapshot"), {}).get("seconds")
    if snap1 is None:
        lines.append(f"1. **1M objects, snapshot < {SNAPSHOT_1M_MAX_S:g} s in-process: not measured** "
                     "(needs `--sizes` with 1000000 and memsleuth).")
    else:
        ok = "PASS" if snap1 < SNAPSHOT_1M_MAX_S else "MISS"
        lines.append(f"1. **1M objects, snapshot < {SNAPSHOT_1M_MAX_S:g} s in-process: {ok}** "
                     f"({snap1:.2f} s).")
    r10 = find(10_000_000)
    e = r10["tools"]["memsleuth"] if r10 else None
    snap10 = h = None
    if e:
        snap10 = next((s for s in e["child"].get("steps", []) if s["name"] == "snapshot"),
                      {}).get("seconds")
        h = e.get("heap")
    if snap10 is None or not h or h.get("returncode") != 0:
        lines.append(f"2. **10M objects, snapshot + `memsleuth heap` < {TOTAL_10M_MAX_S:g} s, analysis "
                     f"memory < {ANALYSIS_10M_MAX_MIB / 1024:g} GiB: not measured** (needs `--sizes` "
                     "with 10000000, and a build with `memsleuth heap`).")
    else:
        total = snap10 + h["wall_s"]
        mib = h["maxrss_kib"] / 1024
        ok_t = "PASS" if total < TOTAL_10M_MAX_S else "MISS"
        ok_m = "PASS" if mib < ANALYSIS_10M_MAX_MIB else "MISS"
        lines.append(f"2. **10M objects, snapshot + `memsleuth heap` < {TOTAL_10M_MAX_S:g} s: {ok_t}** "
                     f"({snap10:.2f} + {h['wall_s']:.2f} = {total:.2f} s); **analysis memory < "
                     f"{ANALYSIS_10M_MAX_MIB / 1024:g} GiB: {ok_m}** ({mib:,.0f} MiB peak RSS of "
                     "`memsleuth heap`).")
    return lines


def meminfo_gib() -> "float | None":
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Heap snapshots at scale: memsleuth vs guppy3 vs objgraph on the same heaps.")
    p.add_argument("--sizes", default=DEFAULT_SIZES,
                   help=f"comma-separated numbers of live objects (default: {DEFAULT_SIZES})")
    p.add_argument("--quick", action="store_true",
                   help=f"smoke run: one heap of {QUICK_SIZE:,} objects (overrides --sizes)")
    p.add_argument("--tools", default=",".join(TOOLS),
                   help=f"comma-separated subset of {','.join(TOOLS)} (default: all)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="seconds before a process is killed; its unfinished steps are reported "
                        "as timed out (default: 600)")
    p.add_argument("--mem-limit-gib", type=float, default=16.0,
                   help="address-space limit for the guppy3 and objgraph processes, which then "
                        "fail with MemoryError instead of meeting the OOM killer; 0 for none "
                        "(default: 16)")
    p.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    p.add_argument("--scratch", metavar="DIR",
                   help="where captures are written (default: system temp dir); deleted after use")
    # internal: one tool's process
    p.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    p.add_argument("--objects", type=int, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return p, args
    try:
        args.size_list = ([QUICK_SIZE] if args.quick
                          else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()])
    except ValueError:
        p.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1:
        p.error("--sizes needs at least one positive number")
    args.tool_list = []
    for t in (t.strip() for t in args.tools.split(",")):
        if t and t not in TOOLS:
            p.error(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
        if t and t not in args.tool_list:
            args.tool_list.append(t)
    return p, args


def main(argv=None) -> int:
    _parser, args = parse_args(argv)
    if args.child:
        return child_main(args.child, args.objects, args.result, args.mem_limit_gib)

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.path.insert(0, str(HERE))  # run.py's spawn helper
    from run import find_executable

    notes = []
    tools = []
    for t in args.tool_list:
        if t == "memsleuth" and not find_executable("memsleuth"):
            notes.append("memsleuth: not installed (no `memsleuth` next to this interpreter or "
                         "on PATH); left out")
        elif t != "memsleuth" and not dist_version(t):
            notes.append(f"{t}: not installed (pip install -r benchmarks/requirements.txt); left out")
        else:
            tools.append(t)
    build = native_build() if "memsleuth" in tools else "-"
    versions = {t: dist_version(t) or "?" for t in tools}
    log(f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPUs, "
        f"{meminfo_gib() or 0:.0f} GiB; memsleuth extension: {build}")
    if build.startswith("debug"):
        log("warning: memsleuth is a debug build; its numbers are not the product's")

    scratch = tempfile.mkdtemp(prefix="memsleuth-heap-bench-", dir=args.scratch)
    results = []
    try:
        for n in args.size_list:
            results.append(measure_size(n, tools, args, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    cmd = "python3 benchmarks/heap.py " + ("--quick" if args.quick else f"--sizes {args.sizes}")
    print(f"## Heap snapshots at scale (Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{meminfo_gib() or 0:.0f} GiB)\n")
    print(f"```sh\n{cmd}\n```\n")
    print("Versions: " + ", ".join(f"{t} {v}" for t, v in versions.items())
          + f"; memsleuth extension build: {build}.\n")
    print("\n".join(table(results, args.timeout)))
    print("\n### What each tool answers\n")
    print("\n".join(capability_table(tools)))
    print("\n### Targets\n")
    print("\n".join(targets(results)))
    failed = []
    for r in results:
        for t, e in r["tools"].items():
            if e["returncode"] != 0:
                why = "timed out" if e["timed_out"] else f"exit status {e['returncode']}"
                failed.append(f"{r['objects']:,} objects, {t}: the measuring process failed ({why})")
            h = e.get("heap") or {}
            if h and h.get("returncode") != 0:
                why = "timed out" if h.get("timed_out") else f"exit status {h['returncode']}"
                failed.append(f"{r['objects']:,} objects, `memsleuth heap` failed ({why})")
    if notes or failed:
        print("\n### Notes\n")
        for note in notes:
            print(f"- {note}")
        for f in failed:
            print(f"- {f}; the progress log on stderr has its stderr")

    if args.json:
        doc = {"generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
               "command": cmd, "python": sys.executable,
               "python_version": platform.python_version(), "platform": platform.platform(),
               "cpu_count": os.cpu_count(), "mem_total_gib": meminfo_gib(),
               "memsleuth_build": build, "versions": versions, "timeout_s": args.timeout,
               "units": {"*_s": "seconds", "*_kib": "KiB", "*_bytes": "bytes"},
               "results": results}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        log(f"wrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
