"""The Python API: track part of a program from its own code.

``memsleuth.Tracker`` starts and stops tracking around a block or a function,
through the same session code as ``memsleuth run`` (``_session``), so its
captures read the same. The queries (``current_bytes``, ``peak_bytes``,
``top_sites``) analyse the capture being written, in Rust and without the
GIL; nothing is kept in the process while tracking.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Callable, NamedTuple, TypeVar, cast

from memsleuth import _native, _session
from memsleuth._native import TrackerError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TrackerResult:
    """What ``Tracker.stop()`` wrote."""

    path: str
    """The capture: read it with ``memsleuth summary PATH`` and the other commands."""
    events: int
    """Allocation, reallocation and free events recorded."""
    bytes_written: int
    """Size of the capture file."""


class Site(NamedTuple):
    """One line and the tracked bytes live there (``top_sites``)."""

    file: str
    line: int
    function: str
    bytes: int
    blocks: int
    """Live blocks allocated at this line."""


class Tracker:
    """Records every allocation of this process into the capture ``path``
    while active: between ``start()`` and ``stop()``, inside a ``with``
    block, or during each call of a function it decorates.

    ``force`` overwrites an existing capture (else starting raises
    ``TrackerError``); ``native`` also records native stacks (as
    ``memsleuth run --native``); ``native_memory=False`` records CPython's
    allocators only (``--python-only``); ``sample_interval_ms`` is how often
    the timeline samples RSS.

    One capture can be written per process at a time: starting a second
    Tracker, or one under ``memsleuth run``, raises ``TrackerError``. A
    decorated function called twice writes ``path`` twice, so it needs
    ``force=True``. Stacks are the whole Python stack, the frames that
    called the ``with`` block included. "Still live at exit" in the
    capture means still live when ``stop()`` was called; unlike
    ``memsleuth run``, no ``gc.collect()`` runs first.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        force: bool = False,
        native: bool = False,
        native_memory: bool = True,
        sample_interval_ms: int = 10,
    ) -> None:
        if isinstance(sample_interval_ms, bool) or not isinstance(sample_interval_ms, int):
            raise TypeError(f"sample_interval_ms must be an int, not {sample_interval_ms!r}")
        if sample_interval_ms < 1:
            raise ValueError(f"sample_interval_ms must be at least 1, not {sample_interval_ms}")
        self.path = os.fspath(path)
        self.force = force
        self.native = native
        self.native_memory = native_memory
        self.sample_interval_ms = sample_interval_ms
        self.result: TrackerResult | None = None
        self._running = False
        self._pid = 0

    def start(self) -> Tracker:
        """Starts tracking; returns the Tracker."""
        _refuse_second_session(self)
        _session.start(
            self.path,
            _session.metadata("api", self.sample_interval_ms),
            owner="api",
            sample_interval_ms=self.sample_interval_ms,
            force=self.force,
            # No stack base: the frames outside the tracked block are the
            # program's own, and the tracker honours a base only among the
            # outermost frames anyway.
            stack_base=[],
            native_memory=self.native_memory,
            native_stacks=self.native,
        )
        self._running = True
        self._pid = os.getpid()
        return self

    def stop(self) -> TrackerResult:
        """Measures the memory managers, completes the capture and returns
        what was written."""
        if not self._running:
            raise TrackerError(f"this Tracker is not tracking (its capture is {self.path}); start it first")
        self._running = False
        if os.getpid() != self._pid:
            # A forked child leaving the block: the capture is its parent's
            # to complete; the child just stops taking part.
            _session.leave_inherited()
            self.result = TrackerResult(self.path, 0, 0)
            return self.result
        _session.record_memory_state("exit")
        events, written = _session.stop()
        self.result = TrackerResult(self.path, events, written)
        return self.result

    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # The block's exception, if any, propagates unchanged.
        self.stop()

    def __call__(self, func: F) -> F:
        """Decorates ``func``: each call runs with this Tracker active."""

        @functools.wraps(func)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return cast(F, tracked)

    def __repr__(self) -> str:
        state = "tracking" if self._running else "stopped"
        return f"memsleuth.Tracker({self.path!r}, {state})"


def _refuse_second_session(tracker: Tracker) -> None:
    """One capture per process: says which session is in the way."""
    if tracker._running:
        raise TrackerError(
            f"this Tracker is already tracking into {tracker.path}; stop it before starting it again"
        )
    owner, capture = _session.owner(), _session.capture()
    if owner == "run":
        raise TrackerError(
            f"this process is already tracked by `memsleuth run` (writing {capture}), and only one "
            "capture can be written per process; use memsleuth.snapshot() and the queries instead"
        )
    if owner == "api":
        raise TrackerError(
            f"another memsleuth.Tracker is already tracking this process (writing {capture}), and "
            "only one capture can be written per process; stop it first"
        )
    # Anything else (a session started through _native directly) gets the
    # tracker's own sentence from start_tracking.


def snapshot(trigger: str = "api") -> int:
    """Appends a heap snapshot of every live object to the capture being written.

    Returns the snapshot's id (1 for the first of a capture). ``trigger``
    is what the capture says took it. Raises ``TrackerError`` when no
    capture is being written (no active ``Tracker``, not under
    ``memsleuth run``).
    """
    snapshot_id, _objects = _native.take_snapshot(trigger)
    return snapshot_id


def _active_capture() -> str:
    capture = _session.capture()
    if capture is None:
        raise TrackerError(
            "no capture is being written by this process; start a memsleuth.Tracker, "
            "or run the program under `memsleuth run`, before asking what it holds"
        )
    return capture


def current_bytes() -> int:
    """Tracked bytes live now, in every layer the capture tracks.

    "Now" means as of the last chunk the writer flushed: at most ~100 ms
    ago (the writer flushes complete chunks at least that often). The
    answer comes from analysing the capture written so far, so each call
    costs time proportional to the capture's size; it runs in Rust without
    the GIL, and nothing it allocates is recorded. Raises ``TrackerError``
    when no capture is being written.
    """
    current, _peak, _sites = _native.live_stats(_active_capture(), 0)
    return current


def peak_bytes() -> int:
    """The most tracked bytes live at once since tracking started, as of
    the last chunk written (see ``current_bytes`` for what that costs)."""
    _current, peak, _sites = _native.live_stats(_active_capture(), 0)
    return peak


def top_sites(n: int = 10) -> list[Site]:
    """The ``n`` lines holding the most tracked bytes live now, largest
    first, as of the last chunk written (see ``current_bytes``). A line is
    the innermost Python frame of the allocating stack."""
    if n < 0:
        raise ValueError(f"n must be at least 0, not {n}")
    _current, _peak, sites = _native.live_stats(_active_capture(), n)
    return [Site(*row) for row in sites]
