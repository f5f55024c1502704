"""Following the processes a tracked program starts (``memsleuth run --follow-children``).

Every process of the program writes a capture of its own, named with its pid,
into one directory:

- A **forked** child (``os.fork``, ``multiprocessing``'s fork start method,
  the workers a forkserver forks) keeps the tracker it inherited: the
  tracker stops recording at the fork (see ``crates/tracker/src/fork.rs``),
  and the hook registered here starts the child's own capture, which begins
  at the fork.
- A **new interpreter** (``multiprocessing``'s spawn start method, the
  forkserver itself, ``subprocess`` running Python) finds the plan in the
  environment (``MEMSLEUTH_FOLLOW_CHILDREN``) and is started by the
  ``sitecustomize`` module this package puts first on ``PYTHONPATH``.

A process that leaves with ``os._exit`` (every forked ``multiprocessing``
worker does) or replaces itself with ``os.exec*`` skips the exit handlers,
so in every followed process those first complete the capture.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import NoReturn

from memsleuth import _native, _session

ENV = "MEMSLEUTH_FOLLOW_CHILDREN"
# The directory holding this package's sitecustomize.py.
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_follow")


@dataclass
class Plan:
    """What every followed process needs to start its capture."""

    directory: str
    stem: str
    target_kind: str
    interval_ms: int
    force: bool
    native_memory: bool
    native_stacks: bool
    rss_limit: int | None

    def capture(self, pid: int) -> str:
        return os.path.join(self.directory, f"{self.stem}-{pid}.msl")

    def unused_capture(self, pid: int) -> str:
        """A new interpreter's capture: a process that replaced itself with
        ``os.exec*`` keeps its pid, and its first capture stays as it was."""
        path, n = self.capture(pid), 1
        while os.path.exists(path):
            n += 1
            path = os.path.join(self.directory, f"{self.stem}-{pid}-{n}.msl")
        return path


def follow(plan: Plan) -> None:
    """In the process ``memsleuth run`` started, before tracking: hands the
    plan to every descendant."""
    os.environ[ENV] = json.dumps(asdict(plan))
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = SITE_DIR if not path else SITE_DIR + os.pathsep + path
    _watch_forks(plan)
    _complete_capture_on_os_exit()


def _watch_forks(plan: Plan) -> None:
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(plan))


def _after_fork_in_child(plan: Plan) -> None:
    if not _session.parent_was_tracking():
        return
    pid = os.getpid()
    metadata = _session.metadata(
        plan.target_kind, plan.interval_ms, parent_pid=os.getppid(), started_by="fork"
    )
    try:
        _native.restart_after_fork(plan.capture(pid), metadata)
    except _native.TrackerError as e:
        _session.forget_capture()
        sys.stderr.write(f"memsleuth: warning: not following process {pid}: {e}\n")
        return
    _session.adopt_capture(plan.capture(pid), owner="run")
    _complete_capture_on_os_exit()


def start_in_new_interpreter() -> None:
    """Called by ``_follow/sitecustomize.py`` when an interpreter starts:
    tracks it when it descends from a followed program."""
    spec = os.environ.get(ENV)
    if not spec or _native.is_tracking():
        return
    plan = Plan(**json.loads(spec))
    pid = os.getpid()
    metadata = _session.metadata(
        plan.target_kind, plan.interval_ms, parent_pid=os.getppid(), started_by="exec"
    )
    try:
        _session.start(
            plan.unused_capture(pid),
            metadata,
            owner="run",
            sample_interval_ms=plan.interval_ms,
            force=plan.force,
            stack_base=[start_in_new_interpreter.__code__],
            native_memory=plan.native_memory,
            native_stacks=plan.native_stacks,
            rss_limit=plan.rss_limit,
        )
    except _native.TrackerError as e:
        sys.stderr.write(f"memsleuth: warning: not following process {pid}: {e}\n")
        return
    # Registered before the program's own handlers, so it runs after them.
    atexit.register(_stop)
    _watch_forks(plan)
    _complete_capture_on_os_exit()


def _stop() -> None:
    if not _native.is_tracking():
        return
    gc.collect()
    _session.record_memory_state("exit")
    try:
        _session.stop()
    except _native.TrackerError as e:
        sys.stderr.write(f"memsleuth: error: {e}\n")


_real_os_exit = os._exit
_real_execv = os.execv
_real_execve = os.execve


def _complete_capture_on_os_exit() -> None:
    """Makes the ways out that skip the exit handlers complete the capture
    first. ``os.execl``, ``execvp`` and the rest go through ``os.execv`` or
    ``os.execve``, which they look up when called."""
    os._exit = _exit_after_capture
    os.execv = _execv_after_capture  # type: ignore[assignment]
    os.execve = _execve_after_capture  # type: ignore[assignment]


def _complete_capture() -> None:
    if _native.is_tracking():
        try:
            _session.record_memory_state("exit")
            _session.stop()
        except BaseException:
            pass


def _exit_after_capture(status: int) -> NoReturn:
    """``os._exit``: the capture is completed first, then the process ends
    exactly as ``os._exit`` would end it."""
    _complete_capture()
    _real_os_exit(status)


def _execv_after_capture(path, argv):  # type: ignore[no-untyped-def]
    """``os.execv``: the capture is completed first; the new program, if it
    is Python, writes a capture of its own. If the exec fails, the process
    goes on untracked."""
    _complete_capture()
    _real_execv(path, argv)


def _execve_after_capture(path, argv, env):  # type: ignore[no-untyped-def]
    """``os.execve``, as ``os.execv``."""
    _complete_capture()
    _real_execve(path, argv, env)
