"""What every tracking session does around the tracker, whoever starts it.

``memsleuth run`` (``_runner.py``) and the Python API (``memsleuth.Tracker``)
both start and stop tracking through here, so that their captures hold the
same memory-manager data: each collection marked through ``gc.callbacks``,
and what pymalloc, glibc and the kernel say when tracking starts and ends.

Nothing here may allocate in the program's name between ``start_tracking``
and ``stop_tracking`` beyond what the native calls keep out of the capture
themselves: the runner's stack base hides its own frames, but not these
functions' (see ARCHITECTURE.md, "The runner").
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
from types import CodeType

from memsleuth import __version__, _native

# The capture this process is writing, as an absolute path (the program may
# change directory while tracked); None when not tracking. The queries
# (``memsleuth.current_bytes()`` and co.) read it.
_capture: str | None = None
# Who started the session: "run" (the runner) or "api" (a Tracker).
_owner: str | None = None
# Whether the fork hook is registered; it cannot be unregistered, and does
# nothing while no capture is being written.
_forks_watched = False


def _watch_forks() -> None:
    global _forks_watched
    if not _forks_watched:
        os.register_at_fork(after_in_parent=_native.note_fork)
        _forks_watched = True


def metadata(
    target_kind: str,
    sample_interval_ms: int,
    *,
    parent_pid: int | None = None,
    started_by: str = "",
) -> str:
    """The capture header's metadata, as JSON: who ran what, where and when;
    for a followed child, its parent and how it began (``fork`` or ``exec``)."""
    return json.dumps(
        {
            "parent_pid": parent_pid,
            "started_by": started_by,
            "memsleuth_version": __version__,
            "python_version": platform.python_version(),
            "python_executable": sys.executable,
            "argv": list(sys.argv),
            "target_kind": target_kind,
            "pid": os.getpid(),
            "start_time_unix_ns": time.time_ns(),
            "sample_interval_ms": sample_interval_ms,
            "platform": platform.platform(),
        }
    )


def start(
    path: str,
    metadata_json: str,
    *,
    owner: str,
    sample_interval_ms: int = 10,
    force: bool = False,
    stack_base: list[CodeType] | None = None,
    native_memory: bool = True,
    native_stacks: bool = False,
    rss_limit: int | None = None,
) -> None:
    """Starts tracking into ``path`` and measures the memory managers.

    Raises ``TrackerError`` when tracking cannot start; the process is then
    left as it was.
    """
    global _capture, _owner
    # Made before tracking starts: the session keeps it until tracking
    # stops, so made after it would show as a leak of this module.
    absolute = os.path.abspath(path)
    # Installed before tracking starts, so that installing them is not in the capture.
    _watch_forks()
    gc.callbacks.append(_native.gc_callback)
    try:
        _native.start_tracking(
            path,
            metadata_json,
            sample_interval_ms,
            force,
            stack_base=stack_base,
            native_memory=native_memory,
            native_stacks=native_stacks,
            rss_limit=rss_limit,
        )
    except BaseException:
        gc.callbacks.remove(_native.gc_callback)
        raise
    # Called inline, not through record_memory_state(): on 3.9 and 3.10 a
    # call allocates a frame object, which would land in the capture.
    try:
        _native.record_memory_state("start")
    except _native.TrackerError as e:
        _warn_no_measurement("start", e)
    _capture = absolute
    _owner = owner


def record_memory_state(label: str) -> None:
    """Measures the memory managers into the capture; a failure is reported, never raised."""
    try:
        _native.record_memory_state(label)
    except _native.TrackerError as e:
        _warn_no_measurement(label, e)


def stop() -> tuple[int, int]:
    """Completes the capture; returns (events, bytes written).

    The collector callback is removed even when completing fails (the
    ``TrackerError`` is raised after).
    """
    try:
        return _native.stop_tracking()
    finally:
        forget_capture()


def adopt_capture(path: str, *, owner: str) -> None:
    """Names the capture a forked child now writes (see ``_children.py``)."""
    global _capture, _owner
    _capture = os.path.abspath(path)
    _owner = owner


def leave_inherited() -> None:
    """In a forked child that writes no capture: lets go of the parent's
    session it inherited (the tracker takes its hooks out) and forgets it."""
    try:
        _native.stop_tracking()
    except _native.TrackerError:
        pass  # the usual answer: the session is not this process's
    forget_capture()


def forget_capture() -> None:
    """Nothing is being written any more: after stopping, or in a forked
    child that writes no capture."""
    global _capture, _owner
    _capture = None
    _owner = None
    if _native.gc_callback in gc.callbacks:
        gc.callbacks.remove(_native.gc_callback)


def parent_was_tracking() -> bool:
    """In a forked child: whether the parent was writing a capture when it
    forked (the child writes none until it starts its own)."""
    return _capture is not None


def capture() -> str | None:
    """The capture being written by this process, or None."""
    return _capture if _native.is_tracking() else None


def owner() -> str | None:
    """Who started the session being written: "run", "api", or None."""
    return _owner if _native.is_tracking() else None


def _warn_no_measurement(label: str, e: Exception) -> None:
    sys.stderr.write(f"memsleuth: warning: no memory measurement ({label}): {e}\n")
