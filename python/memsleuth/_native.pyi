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

def built_for_python_hex() -> int:
    """``PY_VERSION_HEX`` of the interpreter this extension was compiled for."""

def cli_main(argv: list[str], python: str) -> int:
    """Run the memsleuth command line; ``python`` is the interpreter ``run`` launches."""
