"""memsleuth: a memory profiler and leak hunter for Python.

Run a program under it with ``memsleuth run app.py``; read the capture with
``memsleuth summary``, ``memsleuth table`` and ``memsleuth stacks``.
"""

from memsleuth import _native
from memsleuth._native import TrackerError

__all__ = ["TrackerError", "__version__", "snapshot"]


def snapshot() -> int:
    """Append a heap snapshot of every live object to the capture being written.

    Returns the snapshot's id (1 for the first of a capture). Raises
    ``TrackerError`` when no capture is being written, e.g. outside
    ``memsleuth run``.
    """
    snapshot_id, _objects = _native.take_snapshot("api")
    return snapshot_id

try:
    from importlib.metadata import version as _version

    __version__ = _version("memsleuth")
except Exception:  # not installed as a distribution, e.g. a source checkout
    __version__ = "0.0.0"
