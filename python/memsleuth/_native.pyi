"""Type stubs for the Rust extension module ``memsleuth._native``."""

from types import CodeType

class TrackerError(Exception):
    """Tracking could not start or stop (capture exists, disk full, already tracking)."""

def start_tracking(
    path: str,
    metadata_json: str,
    sample_interval_ms: int = 10,
    force: bool = False,
    stack_base: list[CodeType] | None = None,
    native_memory: bool = True,
    native_stacks: bool = False,
    rss_limit: int | None = None,
) -> None:
    """Wrap CPython's allocators and start writing a capture at ``path``.

    Frames of the ``stack_base`` code objects, and every frame outside them,
    are left out of stacks: they belong to the launcher, not the program.
    ``native_memory`` also records the C heap and mmap; ``native_stacks``
    records each allocation's native stack too (and implies ``native_memory``).
    Once the process's RSS reaches ``rss_limit`` bytes, the capture is
    completed and the process ends with status 99 (``memsleuth run --limit``).
    """

def stop_tracking() -> tuple[int, int]:
    """Restore the allocators, finish the capture; returns (events, bytes written)."""

def is_tracking() -> bool: ...
def take_snapshot(trigger: str = "api") -> tuple[int, int]:
    """Append a heap snapshot to the capture; returns (snapshot id, objects).

    Raises ``TrackerError`` when no capture is being written.
    """

def gc_callback(phase: str, info: dict[str, int]) -> None:
    """Marks a collection's start and end in the capture; installed in ``gc.callbacks``."""

def record_memory_state(label: str) -> None:
    """Append what pymalloc, glibc, the kernel and the collector say about
    memory now, without recording the allocations the measuring makes.

    Raises ``TrackerError`` when not tracking.
    """

def trim_native_heap() -> bool:
    """``malloc_trim(0)``; true when the C library returned memory."""

def note_fork() -> None:
    """Marks a fork in the capture; called in the parent after ``os.fork()``."""

def restart_after_fork(path: str, metadata_json: str) -> None:
    """In a child forked while tracking: starts the child's own capture at
    ``path`` with the parent's options. Raises ``TrackerError`` when it
    cannot; the child then runs untracked."""

def built_for_python_hex() -> int:
    """``PY_VERSION_HEX`` of the interpreter this extension was compiled for."""

def cli_main(argv: list[str], python: str) -> int:
    """Run the memsleuth command line; ``python`` is the interpreter ``run`` launches."""

def live_stats(
    path: str, top: int = 10
) -> tuple[int, int, list[tuple[str, int, str, int, int]]]:
    """Analyse the capture at ``path`` as written so far (every complete
    chunk; no End record needed): (live tracked bytes, peak tracked bytes,
    the ``top`` lines by live bytes as (file, line, function, bytes, blocks)).

    Runs without the GIL; neither the analysis nor the objects returned are
    recorded in the capture being written. Raises ``TrackerError`` when the
    file cannot be read as a capture.
    """

def top_stacks(
    path: str, at: str = "peak", top: int = 5
) -> list[tuple[int, int, list[tuple[str, int, str]]]]:
    """The ``top`` stacks by bytes live ``at`` the peak (``"peak"``) or at the
    end of what was written so far (``"live"``): (bytes, blocks, frames
    innermost first as (file, line, function)). Like ``live_stats``.
    """
