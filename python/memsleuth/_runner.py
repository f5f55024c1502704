"""Runs the profiled program inside the process ``memsleuth run`` starts.

The parent (the Rust CLI) launches ``python -c <boot> <runner args> -- <target>``.
This module makes the process look exactly as it would under plain
``python <target>`` — ``sys.argv``, ``sys.path[0]``, a fresh ``__main__`` —
starts tracking, runs the target, and stops tracking as the very last exit
handler, after the program's own handlers and non-daemon threads are done.
"""

from __future__ import annotations

import _thread
import atexit
import builtins
import gc
import os
import runpy
import signal
import sys
import types
from dataclasses import dataclass, field
from typing import NoReturn

from memsleuth import _children, _native, _session


@dataclass
class Target:
    kind: str  # "script", "module" or "code"
    name: str
    args: list[str] = field(default_factory=list)


@dataclass
class RunnerOptions:
    capture: str | None
    capture_prefix: str
    force: bool
    interval_ms: int
    target: Target
    native_stacks: bool = False
    native_memory: bool = True
    snapshot_at_exit: bool = False
    snapshot_on: str | None = None
    snapshot_every_ms: int | None = None
    trim_probe: bool = False
    rss_limit: int | None = None
    # --follow-children: every process's capture goes into this directory
    # (or into the prefix followed by this process's pid), named after `stem`.
    follow_dir: str | None = None
    follow_dir_prefix: str | None = None
    stem: str = "program"

    def follows_children(self) -> bool:
        return self.follow_dir is not None or self.follow_dir_prefix is not None


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"memsleuth: error: {message}\n")
    sys.exit(2)


def parse_args(argv: list[str]) -> RunnerOptions:
    """Parses the private protocol between the CLI and this runner."""
    capture, prefix, force, interval_ms, kind = None, "memsleuth-", False, 10, "script"
    native_stacks, native_memory, at_exit, trim_probe = False, True, False, False
    snapshot_on: str | None = None
    snapshot_every_ms: int | None = None
    trim_probe: bool = False
    rss_limit: int | None = None
    follow: dict[str, str] = {}
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag = argv[i]
        if flag in ("--force", "--native", "--python-only", "--snapshot-at-exit", "--trim-probe"):
            force = force or flag == "--force"
            native_stacks = native_stacks or flag == "--native"
            native_memory = native_memory and flag != "--python-only"
            at_exit = at_exit or flag == "--snapshot-at-exit"
            trim_probe = trim_probe or flag == "--trim-probe"
            i += 1
            continue
        if i + 1 >= len(argv):
            _fail(f"internal runner flag {flag} has no value")
        value = argv[i + 1]
        if flag == "--capture":
            capture = value
        elif flag == "--capture-prefix":
            prefix = value
        elif flag == "--interval-ms":
            interval_ms = int(value)
        elif flag == "--kind":
            kind = value
        elif flag == "--snapshot-on":
            snapshot_on = value
        elif flag == "--snapshot-every-ms":
            snapshot_every_ms = int(value)
        elif flag == "--limit-bytes":
            rss_limit = int(value)
        elif flag in ("--follow-dir", "--follow-dir-prefix", "--stem"):
            follow[flag[2:].replace("-", "_")] = value
        else:
            _fail(f"unknown internal runner flag {flag}")
        i += 2
    rest = argv[i + 1 :]
    if not rest:
        _fail("the runner needs a target after --")
    target = Target(kind, rest[0], rest[1:])
    return RunnerOptions(
        capture,
        prefix,
        force,
        interval_ms,
        target,
        native_stacks,
        native_memory,
        at_exit,
        snapshot_on,
        snapshot_every_ms,
        trim_probe,
        rss_limit,
        **follow,  # type: ignore[arg-type]
    )


def _fresh_main(file: str | None) -> types.ModuleType:
    """A new ``__main__`` module, as the interpreter makes for a script."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    if file is not None:
        main.__file__ = file
    main.__spec__ = None
    sys.modules["__main__"] = main
    return main


def _prepare(target: Target) -> None:
    """Sets ``sys.argv`` and ``sys.path[0]`` as plain ``python`` would."""
    if target.kind == "script":
        sys.argv = [target.name, *target.args]
        sys.path[0] = os.path.dirname(os.path.realpath(target.name))
    elif target.kind == "module":
        # runpy replaces argv[0] with the module's file, as `python -m` does.
        sys.argv = ["-m", *target.args]
        sys.path[0] = os.getcwd()
    else:
        sys.argv = ["-c", *target.args]
        sys.path[0] = ""


@dataclass
class Program:
    """What to execute: compiled code and its ``__main__`` namespace, or a
    module for runpy to run as ``__main__``."""

    code: types.CodeType | None = None
    namespace: dict[str, object] | None = None
    module: str | None = None


def _load(target: Target) -> Program:
    """Does everything plain ``python`` does before the program's first line,
    so that tracking can start as late as possible: the capture should hold
    the program's allocations, not ours."""
    if target.kind == "module":
        _fresh_main(None)
        return Program(module=target.name)
    if target.kind == "script":
        path = os.path.abspath(target.name)
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec", dont_inherit=True)
        return Program(code=code, namespace=_fresh_main(path).__dict__)
    code = compile(target.name, "<string>", "exec", dont_inherit=True)
    return Program(code=code, namespace=_fresh_main(None).__dict__)


def _run(program: Program) -> None:
    """The outermost frame of the program. It, and every frame outside it,
    is left out of recorded stacks (the tracker's ``stack_base``)."""
    if program.module is not None:
        runpy._run_module_as_main(program.module, alter_argv=True)  # type: ignore[attr-defined]
    else:
        exec(program.code, program.namespace)


def _metadata(options: RunnerOptions) -> str:
    return _session.metadata(options.target.kind, options.interval_ms)


def _snapshot(trigger: str) -> None:
    """Appends a heap snapshot; a failure is reported, never raised into the program."""
    try:
        _native.take_snapshot(trigger)
    except _native.TrackerError as e:
        sys.stderr.write(f"memsleuth: warning: no heap snapshot ({trigger}): {e}\n")


class _Snapshots:
    """The snapshots asked for on the command line, other than at exit."""

    def __init__(self, options: RunnerOptions) -> None:
        self.at_exit = options.snapshot_at_exit
        self._stop_timer: _thread.LockType | None = None
        if options.snapshot_on is not None:
            self._on_signal(options.snapshot_on)
        if options.snapshot_every_ms is not None:
            self._every(options.snapshot_every_ms)

    def _on_signal(self, name: str) -> None:
        trigger = f"signal {name}"
        # The handler runs in the main thread between two bytecodes, where
        # every object is in a consistent state.
        signal.signal(getattr(signal, name), lambda _sig, _frame: _snapshot(trigger))

    def _every(self, ms: int) -> None:
        trigger = f"every {_duration(ms)}"
        stop = _thread.allocate_lock()
        stop.acquire()
        self._stop_timer = stop

        def loop() -> None:
            # Waiting on a lock releases the GIL; the walk takes it back.
            while not stop.acquire(timeout=ms / 1000):
                if not _native.is_tracking():
                    return
                _snapshot(trigger)

        # A bare thread, not a `threading.Thread`: the program's
        # `threading.enumerate()` must not list it.
        _thread.start_new_thread(loop, ())

    def finish(self) -> None:
        if self._stop_timer is not None:
            self._stop_timer.release()
        if self.at_exit:
            _snapshot("exit")


def _duration(ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


_snapshots: _Snapshots | None = None
_trim_probe = False


def _measure_at_exit() -> None:
    _session.record_memory_state("exit")
    if _trim_probe:
        _native.trim_native_heap()
        _session.record_memory_state("after-trim")


def _stop() -> None:
    """The last exit handler: collect cycles, take the exit snapshot, then
    close the capture."""
    if not _native.is_tracking():
        return
    gc.collect()
    _measure_at_exit()
    if _snapshots is not None:
        _snapshots.finish()
    try:
        _session.stop()  # also removes the collector callback
    except _native.TrackerError as e:
        sys.stderr.write(f"memsleuth: error: {e}\n")


def _user_traceback(tb: types.TracebackType | None) -> types.TracebackType | None:
    """Drops this module's frames from the top of a traceback."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _die_by_sigint() -> NoReturn:
    """Ends the process the way CPython does after an unhandled Ctrl-C."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    sys.exit(130)


def _check_interpreter() -> None:
    built = _native.built_for_python_hex() >> 16
    running = sys.hexversion >> 16
    if built != running:
        _fail(
            f"this memsleuth was built for Python {built >> 8}.{built & 0xFF} but runs under "
            f"{running >> 8}.{running & 0xFF}; reinstall it with this interpreter (pip install .)"
        )


def _follow_children(options: RunnerOptions) -> str:
    """Hands the plan to every process the program will start; returns
    this process's capture, in the directory they all share."""
    directory = options.follow_dir or f"{options.follow_dir_prefix}{os.getpid()}"
    directory = os.path.abspath(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        _fail(f"cannot create the capture directory {directory}: {e.strerror}")
    plan = _children.Plan(
        directory=directory,
        stem=options.stem,
        target_kind=options.target.kind,
        interval_ms=options.interval_ms,
        force=options.force,
        native_memory=options.native_memory,
        native_stacks=options.native_stacks,
        rss_limit=options.rss_limit,
    )
    _children.follow(plan)
    return plan.capture(os.getpid())


def main() -> None:
    _check_interpreter()
    options = parse_args(sys.argv[1:])
    target = options.target
    if target.kind == "script" and not os.path.isfile(target.name):
        _fail(f"cannot run {target.name}: no such file")
    _prepare(target)
    program = _load(target)
    capture = options.capture or f"{options.capture_prefix}{os.getpid()}.msl"
    if options.follows_children():
        capture = _follow_children(options)
    try:
        # Also installs the fork hook and the collector callback, and records
        # the "start" measurement.
        _session.start(
            capture,
            _metadata(options),
            owner="run",
            sample_interval_ms=options.interval_ms,
            force=options.force,
            stack_base=[_run.__code__, _stop.__code__, main.__code__],
            native_memory=options.native_memory,
            native_stacks=options.native_stacks,
            rss_limit=options.rss_limit,
        )
    except _native.TrackerError as e:
        _fail(str(e))
    global _snapshots, _trim_probe
    _snapshots = _Snapshots(options)
    _trim_probe = options.trim_probe
    # Registered before the program runs, so it runs after every handler the program registers.
    atexit.register(_stop)
    try:
        _run(program)
    except SystemExit:
        raise
    except BaseException as e:  # the program's uncaught exception: report it as python would
        tb = _user_traceback(e.__traceback__)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        if isinstance(e, KeyboardInterrupt):
            _die_by_sigint()
        sys.exit(1)
