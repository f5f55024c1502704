"""Shared helpers for the memsleuth end-to-end suite.

Every test drives memsleuth the way a user would: ``python -m memsleuth ...``
in a subprocess, with the same interpreter that runs the tests. Scenario
scripts live in ``tests/scenarios``; the lines that matter in them carry a
marker comment (``# @name``) and tests look line numbers up by marker, never
by number.

Conventions:
- ``run_memsleuth(...)`` returns a :class:`Result` (bytes stdout/stderr, the
  return code, and the pid of the memsleuth process).
- ``profile(name, *args)`` (session fixture) profiles a scenario once per
  session with ``--quiet -o <capture>`` and returns a :class:`Capture`, whose
  ``summary``/``table()``/``stacks()`` call the reporting commands.
- Sites and frames are compared as plain dicts / tuples so that assertion
  failures show the whole object.
- Native memory: ``mstest_lib`` (session fixture) builds the C test library
  from ``tests/native``, whose lines carry ``// @name`` markers
  (:func:`c_marker_line`); ``line_layers`` and ``layer_totals`` read the
  per-layer numbers of a table row and of a summary.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The scenario scripts are programs to profile, not test modules.
collect_ignore = ["scenarios"]

TESTS_DIR = Path(__file__).resolve().parent
# Test modules do `from conftest import ...`; make that work whatever
# --import-mode pytest is configured with.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))
SCENARIOS = TESTS_DIR / "scenarios"

KiB = 1024
MiB = 1024 * 1024

# An allocation "of N bytes at a line" is allowed this much on top of N for the
# object header, argument temporaries and the like (never another big buffer).
SLACK = 64 * KiB

# A generous bound on any single memsleuth invocation; the suite as a whole is
# expected to take well under a minute.
RUN_TIMEOUT = 120

PY = sys.version_info


# --------------------------------------------------------------------------
# Scenario files and markers
# --------------------------------------------------------------------------

MARKER_RE = re.compile(r"#\s*@([A-Za-z0-9_]+)\s*$")


def scenario(name: str) -> Path:
    """Absolute, symlink-free path of a scenario file (as co_filename will hold it)."""
    path = SCENARIOS / name
    assert path.is_file(), f"missing scenario {path}"
    return path


@functools.lru_cache(maxsize=None)
def _markers(path: str) -> dict:
    found: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, start=1):
            m = MARKER_RE.search(text)
            if m:
                name = m.group(1)
                if name in found:
                    raise AssertionError(f"marker @{name} appears twice in {path}")
                found[name] = lineno
    return found


def marker_line(path, name: str) -> int:
    """The 1-based line number carrying ``# @name`` in ``path`` (exactly one)."""
    markers = _markers(str(path))
    if name not in markers:
        raise AssertionError(f"no marker @{name} in {path}")
    return markers[name]


# --------------------------------------------------------------------------
# Expected names that depend on the interpreter version
# --------------------------------------------------------------------------


def code_name(qualname: str) -> str:
    """The ``function`` memsleuth reports for a code object with this qualname:
    co_qualname on 3.11+, co_name (the last dotted component) before."""
    if PY >= (3, 11):
        return qualname
    return qualname.rsplit(".", 1)[-1]


def module_listcomp_name() -> str:
    """Function name of an allocation inside a module-level list comprehension:
    its own ``<listcomp>`` code object up to 3.11, inlined into ``<module>`` from
    3.12 (PEP 709)."""
    return "<module>" if PY >= (3, 12) else "<listcomp>"


# --------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------


@dataclass
class Result:
    args: list
    returncode: int
    stdout: bytes
    stderr: bytes
    pid: int

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def describe(self) -> str:
        return (
            f"command: {self.args}\nreturncode: {self.returncode}\n"
            f"--- stdout ---\n{self.out[-4000:]}\n--- stderr ---\n{self.err[-4000:]}"
        )


def memsleuth_cmd(*args) -> list:
    return [sys.executable, "-m", "memsleuth", *[str(a) for a in args]]


def run_process(cmd, *, cwd, stdin: bytes | None = None, timeout=RUN_TIMEOUT) -> Result:
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=str(cwd),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"timed out after {timeout}s: {cmd}\n--- stdout ---\n{out[-4000:]!r}\n"
            f"--- stderr ---\n{err[-4000:]!r}"
        )
    return Result([str(c) for c in cmd], proc.returncode, out, err, proc.pid)


def run_memsleuth(*args, cwd, stdin: bytes | None = None, timeout=RUN_TIMEOUT) -> Result:
    """``python -m memsleuth ARGS`` in ``cwd``."""
    return run_process(memsleuth_cmd(*args), cwd=cwd, stdin=stdin, timeout=timeout)


def run_python(*args, cwd, stdin: bytes | None = None, timeout=RUN_TIMEOUT) -> Result:
    """Plain ``python ARGS`` in ``cwd``: the reference behaviour."""
    return run_process([sys.executable, *args], cwd=cwd, stdin=stdin, timeout=timeout)


def assert_one_line_error(result: Result, prefix: str | None = "memsleuth: error:") -> str:
    """stderr is exactly one line (optionally starting with ``prefix``), with
    no Python traceback and no Rust panic. Returns that line."""
    err = result.err
    assert "Traceback" not in err, result.describe()
    assert "panicked" not in err, result.describe()
    lines = err.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr\n{result.describe()}"
    line = lines[0]
    if prefix is not None:
        assert line.startswith(prefix), result.describe()
    return line


# --------------------------------------------------------------------------
# Reading captures
# --------------------------------------------------------------------------


def load_summary(capture, cwd=None) -> dict:
    """``memsleuth summary CAPTURE --json`` parsed; asserts success and that
    stdout holds exactly one JSON object."""
    capture = Path(capture)
    result = run_memsleuth("summary", capture, "--json", cwd=cwd or capture.parent)
    assert result.returncode == 0, result.describe()
    try:
        data = json.loads(result.out)
    except ValueError as e:  # pragma: no cover - failure path
        raise AssertionError(f"summary --json is not one JSON document ({e})\n{result.describe()}")
    assert isinstance(data, dict), result.describe()
    return data


def load_table(capture, by: str, group: str | None = None, limit: int | None = None) -> dict:
    capture = Path(capture)
    args = ["table", capture, "--by", by]
    if group is not None:
        args += ["--group", group]
    if limit is not None:
        args += ["--limit", str(limit)]
    args.append("--json")
    result = run_memsleuth(*args, cwd=capture.parent)
    assert result.returncode == 0, result.describe()
    data = json.loads(result.out)
    assert isinstance(data, dict), result.describe()
    return data


STACK_LINE_RE = re.compile(r"^(?P<stack>\S.*) (?P<bytes>\d+)$")
FRAME_RE = re.compile(r"^(?P<function>.+) \((?P<file>.+):(?P<line>\d+)\)$")


LAYERS = ("python-raw", "python-mem", "python-object", "native-heap", "mmap")


def parse_stacks_with_layers(text: str) -> list:
    """Collapsed stacks -> list of (frames outermost first, layer, bytes); each
    frame is a (function, file, line) tuple, and every line ends with its
    layer as a `[layer]` pseudo-frame. Asserts every line is well formed."""
    parsed = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        m = STACK_LINE_RE.match(raw)
        assert m, f"malformed collapsed-stack line: {raw!r}"
        *parts, layer = m.group("stack").split(";")
        assert layer.startswith("[") and layer[1:-1] in LAYERS, f"no layer at the end of {raw!r}"
        frames = []
        for part in parts:
            fm = FRAME_RE.match(part)
            assert fm, f"malformed frame {part!r} in line {raw!r}"
            frames.append((fm.group("function"), fm.group("file"), int(fm.group("line"))))
        parsed.append((frames, layer[1:-1], int(m.group("bytes"))))
    return parsed


def parse_stacks(text: str) -> list:
    """Collapsed stacks -> list of (frames outermost first, bytes), one entry
    per line (a stack with memory in two layers has two lines)."""
    return [(frames, n) for frames, _, n in parse_stacks_with_layers(text)]


def load_stacks(capture, at: str) -> list:
    capture = Path(capture)
    result = run_memsleuth("stacks", capture, "--at", at, cwd=capture.parent)
    assert result.returncode == 0, result.describe()
    return parse_stacks(result.out)


def frame(file, line: int, function: str) -> dict:
    return {"file": str(file), "line": int(line), "function": function}


def frame_of(obj: dict) -> dict:
    """The {file, line, function} part of a site or frame object."""
    return {"file": obj["file"], "line": obj["line"], "function": obj["function"]}


def sites_at(sites: list, file, line: int) -> list:
    """All sites (any stack) whose own frame is at file:line."""
    return [s for s in sites if s["file"] == str(file) and s["line"] == line]


def single_site_at(sites: list, file, line: int, what: str = "sites") -> dict:
    found = sites_at(sites, file, line)
    assert len(found) == 1, (
        f"expected exactly one of the {what} at {file}:{line}, found {len(found)}: "
        f"{json.dumps(found, indent=1)[:3000]}\nall {what} (file, line, function, bytes): "
        f"{[(s['file'], s['line'], s['function'], s['bytes']) for s in sites][:40]}"
    )
    return found[0]


def assert_bytes_about(site: dict, size: int, slack: int = SLACK) -> None:
    assert size <= site["bytes"] < size + slack, (
        f"expected {size} <= bytes < {size + slack} at {site['file']}:{site['line']}, "
        f"got {site['bytes']}"
    )


class Capture:
    """A capture produced by profiling one scenario, plus lazily read reports."""

    def __init__(self, path: Path, script: Path, result: Result):
        self.path = path
        self.script = script
        self.result = result

    def line(self, marker: str) -> int:
        return marker_line(self.script, marker)

    @functools.cached_property
    def summary(self) -> dict:
        return load_summary(self.path)

    def table(self, by: str, group: str | None = None, limit: int | None = None) -> dict:
        return load_table(self.path, by, group, limit)

    def stacks(self, at: str) -> list:
        return load_stacks(self.path, at)

    def layered_stacks(self, at: str) -> list:
        """Collapsed stacks with their layers; see parse_stacks_with_layers."""
        return load_layered_stacks(self.path, at)

    @property
    def stdout_json(self):
        return json.loads(self.result.out)


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def memsleuth_installed():
    """Fail every test with one clear message when memsleuth is not importable
    by the interpreter running the tests (it runs memsleuth too)."""
    if importlib.util.find_spec("memsleuth") is None:
        pytest.fail(
            f"memsleuth is not importable by {sys.executable}; install it first "
            "(e.g. `maturin develop`)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def profile(tmp_path_factory):
    """profile(scenario_name, *args, stdin=None, options=()) -> Capture, cached
    per session.

    Runs ``memsleuth run --quiet OPTIONS -o CAPTURE scenario args`` in a fresh
    directory and asserts the program exited 0. ``options`` are extra
    ``memsleuth run`` flags, e.g. ``("--native",)``; none by default."""
    cache: dict = {}

    def _profile(name: str, *args, stdin: bytes | None = None, options: tuple = ()) -> Capture:
        key = (name, args, stdin, tuple(options))
        if key not in cache:
            script = scenario(name)
            workdir = tmp_path_factory.mktemp(Path(name).stem)
            capture = workdir / f"{Path(name).stem}.msl"
            result = run_memsleuth(
                "run", "--quiet", *options, "-o", capture, script, *args, cwd=workdir, stdin=stdin
            )
            assert result.returncode == 0, result.describe()
            assert capture.is_file(), f"no capture written at {capture}\n{result.describe()}"
            cache[key] = Capture(capture, script, result)
        return cache[key]

    return _profile


@pytest.fixture(scope="session")
def big_run(tmp_path_factory) -> Capture:
    """big_alloc.py profiled with no options at all (default capture name in the
    cwd, summary on stderr)."""
    script = scenario("big_alloc.py")
    workdir = tmp_path_factory.mktemp("big_default")
    result = run_memsleuth("run", script, cwd=workdir)
    assert result.returncode == 0, result.describe()
    captures = sorted(workdir.glob("*.msl"))
    assert len(captures) == 1, f"expected one capture in {workdir}, found {captures}\n{result.describe()}"
    return Capture(captures[0], script, result)


# --------------------------------------------------------------------------
# Shape checks shared by several tests
# --------------------------------------------------------------------------


def is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_frame_shape(fr: dict) -> None:
    assert isinstance(fr, dict), fr
    assert isinstance(fr["file"], str) and fr["file"], fr
    assert is_int(fr["line"]), fr
    assert isinstance(fr["function"], str) and fr["function"], fr


def check_site_shape(site: dict) -> None:
    check_frame_shape(site)
    assert is_int(site["bytes"]) and site["bytes"] >= 0, site
    assert is_int(site["count"]) and site["count"] >= 1, site
    assert is_number(site["share"]) and 0.0 <= site["share"] <= 1.0, site
    assert isinstance(site["threads"], list) and site["threads"], site
    assert all(is_int(t) for t in site["threads"]), site
    assert isinstance(site["stack"], list) and site["stack"], site
    for fr in site["stack"]:
        check_frame_shape(fr)
    assert frame_of(site["stack"][0]) == frame_of(site), site


def assert_sorted_desc(values: list, what: str) -> None:
    assert values == sorted(values, reverse=True), f"{what} not sorted descending: {values[:50]}"


# --------------------------------------------------------------------------
# The capture file layout (crates/format): used only to aim damage precisely
# --------------------------------------------------------------------------

CAPTURE_MAGIC = b"MSLEUTH\0"
CHUNK_MAGIC = b"MSCK"
CHUNK_HEADER_LEN = 20


def chunk_layout(data: bytes):
    """[(chunk_start, payload_start, chunk_end), ...] for a capture laid out as
    crates/format writes it (16-byte fixed header, JSON metadata, CRC-32, then
    chunks of a 20-byte header plus stored payload). None if ``data`` does not
    parse that way, so callers can fall back to layout-free behaviour."""
    if len(data) < 16 or data[:8] != CAPTURE_MAGIC:
        return None
    pos = 16 + int.from_bytes(data[12:16], "little") + 4
    chunks = []
    while pos < len(data):
        if pos + CHUNK_HEADER_LEN > len(data) or data[pos : pos + 4] != CHUNK_MAGIC:
            return None
        stored = int.from_bytes(data[pos + 8 : pos + 12], "little")
        end = pos + CHUNK_HEADER_LEN + stored
        if end > len(data):
            return None
        chunks.append((pos, pos + CHUNK_HEADER_LEN, end))
        pos = end
    return chunks if chunks else None


def assert_same_bytes(actual: bytes, expected: bytes, what: str) -> None:
    """Byte-for-byte equality with a readable message for long outputs."""
    if actual == expected:
        return
    n = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b), min(len(actual), len(expected)))
    raise AssertionError(
        f"{what} differs: lengths {len(actual)} (memsleuth) vs {len(expected)} (python); "
        f"first difference at byte {n}:\n  memsleuth: {actual[max(0, n - 80) : n + 80]!r}\n"
        f"  python:    {expected[max(0, n - 80) : n + 80]!r}"
    )


# --------------------------------------------------------------------------
# Native memory: layers, C markers, a test library built by the suite
# --------------------------------------------------------------------------

NATIVE_DIR = TESTS_DIR / "native"

# Every layer memsleuth reports, and whether it counts towards peak/leak
# totals: pymalloc's arenas hold objects already counted in python-object and
# python-mem, so they are shown but not added.
LAYERS_IN_TOTAL = {
    "python-object": True,
    "python-mem": True,
    "python-raw": True,
    "native-heap": True,
    "mmap": True,
    "pymalloc-arena": False,
}

C_MARKER_RE = re.compile(r"//\s*@([A-Za-z0-9_]+)\s*$")


def c_marker_line(path, name: str) -> int:
    """The 1-based line carrying ``// @name`` in a C source (exactly one)."""
    found = []
    with open(path, encoding="utf-8") as f:
        for lineno, text in enumerate(f, start=1):
            m = C_MARKER_RE.search(text)
            if m and m.group(1) == name:
                found.append(lineno)
    assert len(found) == 1, f"expected one marker // @{name} in {path}, found lines {found}"
    return found[0]


def build_shared_library(source, out_dir, name: str) -> Path:
    """Compiles one C source into ``out_dir/name`` with debug info and no
    optimisation, so that native frames and their lines are the source's."""
    out = Path(out_dir) / name
    cmd = ["cc", "-shared", "-fPIC", "-g", "-O0", "-pthread", "-o", out, source]
    result = run_process(cmd, cwd=out_dir)
    assert result.returncode == 0 and out.is_file(), result.describe()
    return out


@pytest.fixture(scope="session")
def mstest_lib(tmp_path_factory) -> Path:
    """tests/native/mstest.c built as libmstest.so in a fresh directory."""
    out_dir = tmp_path_factory.mktemp("native_lib")
    return build_shared_library(NATIVE_DIR / "mstest.c", out_dir, "libmstest.so")


def layer_totals(summary: dict) -> dict:
    """summary["layers"] as {layer name: that layer's object}; asserts that no
    layer is listed twice."""
    names = [l["layer"] for l in summary["layers"]]
    assert len(names) == len(set(names)), f"a layer is listed twice: {names}"
    return {l["layer"]: l for l in summary["layers"]}


def in_total_layers(layers: dict) -> dict:
    """{layer: value} without the layers that are not part of the totals."""
    return {k: v for k, v in layers.items() if LAYERS_IN_TOTAL.get(k, True)}


def rows_at(rows: list, file, line: int) -> list:
    """Sites or table rows whose own frame is at file:line."""
    return [r for r in rows if r["file"] == str(file) and r["line"] == line]


def line_layers(rows: list, file, line: int) -> dict:
    """{layer: value} of the one line-grouped row at file:line; {} if there is
    no such row (nothing of that measure was allocated there)."""
    found = rows_at(rows, file, line)
    assert len(found) <= 1, f"several rows at {file}:{line}: {found}"
    return dict(found[0]["layers"]) if found else {}


def load_layered_stacks(capture, at: str) -> list:
    """``memsleuth stacks CAPTURE --at AT`` as (frames outermost first, layer,
    bytes) per line; see :func:`parse_stacks_with_layers`."""
    capture = Path(capture)
    result = run_memsleuth("stacks", capture, "--at", at, cwd=capture.parent)
    assert result.returncode == 0, result.describe()
    return parse_stacks_with_layers(result.out)
