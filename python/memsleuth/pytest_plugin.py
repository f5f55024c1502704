"""memsleuth's pytest plugin (the ``memsleuth`` entry in ``pytest11``).

Off unless asked for: without ``--memsleuth`` and without one of its
markers on a test, it only registers its options and markers; nothing is
tracked and no test is wrapped.

- ``pytest --memsleuth`` tracks the call phase of every test into a capture
  of its own and reports the tests that allocated the most.
- ``@pytest.mark.limit_memory("24 MB")`` fails a test whose peak tracked
  memory reaches the limit.
- ``@pytest.mark.limit_leaks("1 MB", iterations=5, warmup=1)`` runs the
  test body ``iterations`` times under one capture and fails when the live
  memory at the end of the iterations after the warm-up keeps growing, by
  more than the limit in total.

Only one capture can be written per process: under ``memsleuth run`` (or
inside a test's own ``memsleuth.Tracker``) the plugin steps aside.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generator

import pytest

from memsleuth import Tracker, _native, _session

if TYPE_CHECKING:
    from _pytest.config import Config
    from _pytest.config.argparsing import Parser
    from _pytest.python import Function
    from _pytest.reports import TestReport
    from _pytest.terminal import TerminalReporter

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*$")

# How many tests the end-of-session report lists, and stacks a failure shows.
_REPORT_TESTS = 5
_FAILURE_STACKS = 3
_STACK_FRAMES = 8
# The test report's user property that carries a tracked test's peak.
_PEAK_PROPERTY = "memsleuth_peak"
# Growing lines, and types per line, named in a limit_leaks failure.
_TYPE_LINES = 5
_TYPES_PER_LINE = 3
# How long an iteration's checkpoint waits for the writer to flush it.
_FLUSH_TIMEOUT_S = 5.0
_MARKERS = ("limit_memory", "limit_leaks")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class LimitError(ValueError):
    """A marker's argument that cannot be used; the message is one sentence."""


def parse_size(value: object, what: str) -> int:
    """Bytes from ``"24 MB"``, ``"512KiB"`` or an int; units are powers of 1024."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise LimitError(
            f"{what}: cannot read {value!r} as a size; write a number and a unit, "
            "such as '24 MB' (B, KB, MB, GB, TB, also KiB, MiB...; powers of 1024)"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: float) -> str:
    """Binary units, as memsleuth's tables print them."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def pytest_addoption(parser: Parser) -> None:
    group = parser.getgroup("memsleuth", "memory tracking with memsleuth")
    group.addoption(
        "--memsleuth",
        action="store_true",
        default=False,
        help="track each test's memory with memsleuth and report the tests that allocate the most",
    )
    group.addoption(
        "--memsleuth-dir",
        metavar="DIR",
        default=None,
        help="keep each tracked test's capture in DIR (default: a temporary directory, removed at the end)",
    )


def pytest_configure(config: Config) -> None:
    config.addinivalue_line(
        "markers",
        "limit_memory(limit): fail when the test's peak tracked memory reaches limit, e.g. '24 MB' (memsleuth)",
    )
    config.addinivalue_line(
        "markers",
        "limit_leaks(limit, iterations=5, warmup=1): run the test body `iterations` times and fail when "
        "live memory keeps growing by more than limit after the warm-up iterations (memsleuth)",
    )
    config.pluginmanager.register(MemsleuthPlugin(config), "memsleuth-plugin")


@dataclass
class PeakRecord:
    nodeid: str
    peak: int
    site: str


@dataclass
class Checkpoint:
    """The live memory at the end of one iteration of a limit_leaks test."""

    total: int
    by_line: dict[tuple[str, int, str], int] = field(default_factory=dict)


class MemsleuthPlugin:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.track_all: bool = bool(config.getoption("memsleuth"))
        self.keep_dir: str | None = config.getoption("memsleuth_dir")
        self._dir: str | None = None
        self.results: list[PeakRecord] = []
        self.stepped_aside: str | None = None
        # pytest-memray reads the same marker names; with --memray it is in charge.
        if config.getoption("memray", default=False):
            self.stepped_aside = "pytest-memray is active (--memray), so memsleuth does not track"

    # -- where captures go -------------------------------------------------

    def capture_path(self, nodeid: str) -> str:
        if self._dir is None:
            if self.keep_dir is not None:
                os.makedirs(self.keep_dir, exist_ok=True)
                self._dir = self.keep_dir
            else:
                self._dir = tempfile.mkdtemp(prefix="memsleuth-pytest-")
        # Readable, and unique: two ids can differ only in the characters replaced.
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")[-120:]
        digest = hashlib.sha1(nodeid.encode()).hexdigest()[:8]
        return os.path.join(self._dir, f"{name}-{digest}.msl")

    def pytest_unconfigure(self, config: Config) -> None:
        if self._dir is not None and self.keep_dir is None:
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- tracking a test ---------------------------------------------------

    def _in_the_way(self) -> str | None:
        """Why no capture can be started in this process, said once."""
        if self.stepped_aside is None:
            owner = _session.owner()
            if owner == "run":
                self.stepped_aside = (
                    "this test process is already tracked by `memsleuth run`, and only one "
                    "capture can be written per process, so the plugin does nothing"
                )
        return self.stepped_aside

    @pytest.hookimpl(hookwrapper=True)
    def pytest_pyfunc_call(self, pyfuncitem: Function) -> Generator[None, None, None]:
        markers = [m for m in pyfuncitem.iter_markers() if m.name in _MARKERS]
        if (not markers and not self.track_all) or self._in_the_way() is not None:
            yield
            return
        func = pyfuncitem.obj
        if inspect.iscoroutinefunction(func):
            # Wrapping would hide it from the async plugins that run it.
            yield
            return
        pyfuncitem.obj = self._wrap(pyfuncitem, func, markers)
        try:
            yield
        finally:
            pyfuncitem.obj = func

    def _wrap(self, item: Function, func: Callable[..., Any], markers: list[Any]) -> Callable[..., Any]:
        leaks = next((m for m in markers if m.name == "limit_leaks"), None)
        memory = next((m for m in markers if m.name == "limit_memory"), None)

        @functools.wraps(func)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            if _session.capture() is not None:
                # A Tracker the test started elsewhere is writing: leave it be.
                return func(*args, **kwargs)
            try:
                memory_limit = None if memory is None else _limit(memory, "limit_memory")
                leak_rule = None if leaks is None else _leak_rule(leaks)
                bad_marker = None
            except LimitError as e:
                bad_marker = str(e)
            if bad_marker is not None:  # failed outside the except: one message, no chained traceback
                pytest.fail(bad_marker, pytrace=False)
            path = self.capture_path(item.nodeid)
            verdict = None
            if leak_rule is not None:
                result, verdict = _run_iterations(path, func, args, kwargs, leak_rule)
            else:
                result = _run_once(path, func, args, kwargs)
            self._judge(item, path, memory_limit, leak_rule, verdict)
            return result

        return tracked

    def _judge(
        self,
        item: Function,
        path: str,
        memory_limit: int | None,
        leak_rule: LeakRule | None,
        verdict: LeakVerdict | None,
    ) -> None:
        _current, peak, _sites = _native.live_stats(path, 0)
        stacks = _native.top_stacks(path, "peak", _FAILURE_STACKS)
        # Carried by the test's report, so that under pytest-xdist the
        # controller, which runs no test, gets every worker's peaks.
        site = _site_label(stacks[0][2]) if stacks else "-"
        item.user_properties.append((_PEAK_PROPERTY, {"peak": peak, "site": site}))
        if memory_limit is not None and peak >= memory_limit:
            pytest.fail(
                f"memsleuth: peak tracked memory {format_size(peak)} reached the limit of "
                f"{format_size(memory_limit)}\n" + _describe_stacks("Top stacks at the peak", stacks),
                pytrace=False,
            )
        if leak_rule is not None and verdict is not None:
            growing = {(f, ln) for f, ln, _fn, _g, _s in verdict.sites}
            live = [s for s in _native.top_stacks(path, "live", 200) if _innermost(s[2]) in growing]
            pytest.fail(
                verdict.message(leak_rule)
                + _describe_types(path, verdict)
                + "\n"
                + _describe_stacks("Stacks holding the growth", live[:_FAILURE_STACKS]),
                pytrace=False,
            )

    # -- the report --------------------------------------------------------

    def pytest_runtest_logreport(self, report: TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == _PEAK_PROPERTY and isinstance(value, dict):
                self.results.append(PeakRecord(report.nodeid, int(value["peak"]), str(value["site"])))

    def pytest_report_header(self, config: Config) -> list[str]:
        if not self.track_all:
            return []
        reason = self._in_the_way()
        return [f"memsleuth: {reason}"] if reason else ["memsleuth: tracking each test's memory"]

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        if not self.track_all or not self.results:
            return
        tr = terminalreporter
        tr.write_sep("=", "memsleuth: tests by peak tracked memory")
        for r in sorted(self.results, key=lambda r: -r.peak)[:_REPORT_TESTS]:
            tr.write_line(f"{format_size(r.peak):>12}  {r.nodeid}")
            tr.write_line(f"{'':>12}  top site: {r.site}")
        if self.keep_dir is not None:
            tr.write_line(f"captures in {self.keep_dir} (memsleuth summary CAPTURE)")


def _limit(marker: Any, name: str) -> int:
    if len(marker.args) != 1:
        raise LimitError(f"{name} takes one limit, such as {name}('24 MB')")
    return parse_size(marker.args[0], name)


@dataclass(frozen=True)
class LeakRule:
    limit: int
    iterations: int
    warmup: int


def _leak_rule(marker: Any) -> LeakRule:
    limit = _limit(marker, "limit_leaks")
    unknown = set(marker.kwargs) - {"iterations", "warmup"}
    if unknown:
        raise LimitError(f"limit_leaks has no option {sorted(unknown)[0]!r}; it takes iterations and warmup")
    iterations = marker.kwargs.get("iterations", 5)
    warmup = marker.kwargs.get("warmup", 1)
    for key, value, least in (("iterations", iterations, 2), ("warmup", warmup, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise LimitError(f"limit_leaks: {key} must be a whole number of at least {least}, not {value!r}")
    if iterations < warmup + 2:
        raise LimitError(
            f"limit_leaks: iterations ({iterations}) must exceed warmup ({warmup}) by at least 2, "
            "so that growth is seen over more than one iteration"
        )
    return LeakRule(limit, iterations, warmup)


def _start(path: str) -> Tracker:
    return Tracker(path, force=True).start()


def _run_once(path: str, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    tracker = _start(path)
    try:
        return func(*args, **kwargs)
    finally:
        tracker.stop()


def _run_iterations(
    path: str, func: Callable[..., Any], args: Any, kwargs: Any, rule: LeakRule
) -> tuple[Any, LeakVerdict | None]:
    """Runs the body `rule.iterations` times; returns its last result and
    the verdict on the growth across the iterations."""
    tracker = _start(path)
    checkpoints: list[Checkpoint] = []
    result = None
    try:
        for i in range(rule.iterations):
            result = func(*args, **kwargs)
            checkpoints.append(_checkpoint(path, i + 1))
        verdict = judge_leaks(checkpoints, rule)
        if verdict is not None:
            # Only a failing test pays for a heap snapshot: it names the
            # types the growing lines keep, and who holds them.
            _native.take_snapshot("limit_leaks")
    finally:
        tracker.stop()
    return result, verdict


def _checkpoint(path: str, iteration: int) -> Checkpoint:
    """The live memory by line now, exactly at this point of the capture."""
    # Garbage cycles are not growth; the runner collects before counting leaks too.
    gc.collect()
    # The measurement is appended after every event so far (a drained
    # batch), under the writer's lock: any flush that ends after it returns
    # writes it, and everything before it, to the file. So once the file
    # grows past its size now, the capture holds this moment.
    _session.record_memory_state(f"iteration {iteration}")
    size = os.path.getsize(path)
    deadline = time.monotonic() + _FLUSH_TIMEOUT_S
    while os.path.getsize(path) == size and time.monotonic() < deadline:
        time.sleep(0.005)
    total, _peak, sites = _native.live_stats(path, 1_000_000)
    by_line = {(f, ln, fn): b for f, ln, fn, b, _n in sites if not f.startswith(_PACKAGE_DIR)}
    return Checkpoint(total, by_line)


@dataclass(frozen=True)
class LeakVerdict:
    growth: int
    steps: int
    # (file, line, function, growth, bytes at each checkpoint from the baseline)
    sites: list[tuple[str, int, str, int, list[int]]]

    def message(self, rule: LeakRule) -> str:
        lines = [
            f"memsleuth: live memory kept growing by {format_size(self.growth)} over the {self.steps} "
            f"iterations after {rule.warmup} warm-up iteration(s) (limit {format_size(rule.limit)})",
            "Growing lines (live bytes at the end of each iteration, from the last warm-up one):",
        ]
        for f, ln, fn, g, series in self.sites[:10]:
            seen = " → ".join(format_size(b) for b in series)
            lines.append(f"  {'+' + format_size(g):>12}  {f}:{ln} ({fn}): {seen}")
        return "\n".join(lines)


def judge_leaks(checkpoints: list[Checkpoint], rule: LeakRule) -> LeakVerdict | None:
    """Fails a test whose lines keep growing after the warm-up.

    A line keeps growing when its live bytes at the last iteration exceed
    those at the end of the warm-up and rose in at least half of the
    iterations in between: a cache filled during the warm-up, or an object
    made once (an interned string, a first import), stays flat and is never
    counted; a one-off resize rises once. The growth of such lines, summed,
    must exceed the limit.
    """
    series = checkpoints[rule.warmup - 1 :]
    steps = len(series) - 1
    lines = set().union(*(c.by_line for c in series))
    growing: list[tuple[str, int, str, int, list[int]]] = []
    for key in lines:
        values = [c.by_line.get(key, 0) for c in series]
        growth = values[-1] - values[0]
        rises = sum(1 for a, b in zip(values, values[1:]) if b > a)
        if growth > 0 and 2 * rises >= steps:
            growing.append((key[0], key[1], key[2], growth, values))
    total = sum(g[3] for g in growing)
    if total <= rule.limit:
        return None
    growing.sort(key=lambda g: -g[3])
    return LeakVerdict(total, steps, growing)


def _describe_types(path: str, verdict: LeakVerdict) -> str:
    """The types the growing lines' objects have in the snapshot taken
    after the last iteration, and the path that holds most of each."""
    shown = verdict.sites[:_TYPE_LINES]
    try:
        found = _native.retained_types(path, [(f, ln, fn) for f, ln, fn, _g, _s in shown])
    except _native.TrackerError as e:
        return f"\n(no types: {e})"
    out = []
    for (f, ln, _fn, _g, _s), types in zip(shown, found):
        for name, count, nbytes, held_by in types[:_TYPES_PER_LINE]:
            where = f", held by {held_by}" if held_by else ""
            out.append(f"  {format_size(nbytes):>12}  {count:,} {name} from {os.path.basename(f)}:{ln}{where}")
    if not out:
        return ""
    return "\nLive objects from those lines after the last iteration, by type:\n" + "\n".join(out)


def _innermost(frames: list[tuple[str, int, str]]) -> tuple[str, int]:
    return (frames[0][0], frames[0][1]) if frames else ("", 0)


def _site_label(frames: list[tuple[str, int, str]]) -> str:
    if not frames:
        return "-"
    f, ln, fn = frames[0]
    return f"{fn} ({f}:{ln})"


def _describe_stacks(title: str, stacks: list[tuple[int, int, list[tuple[str, int, str]]]]) -> str:
    """Stacks innermost first, cut where the plugin called the test."""
    out = [f"{title}:"]
    for nbytes, count, frames in stacks:
        out.append(f"  {format_size(nbytes)} in {count} block(s), allocated at:")
        shown = 0
        for f, ln, fn in frames:
            if f.startswith(_PACKAGE_DIR) or shown == _STACK_FRAMES:
                break
            out.append(f"      {fn} ({f}:{ln})")
            shown += 1
    return "\n".join(out)
