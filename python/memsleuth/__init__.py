"""memsleuth: a memory profiler and leak hunter for Python.

Run a program under it with ``memsleuth run app.py``; read the capture with
``memsleuth summary``, ``memsleuth table`` and ``memsleuth stacks``. Track
part of a program from its own code with ``memsleuth.Tracker``.
"""

try:
    from importlib.metadata import version as _version

    __version__ = _version("memsleuth")
except Exception:  # not installed as a distribution, e.g. a source checkout
    __version__ = "0.0.0"

# Imported after __version__, which the session's capture metadata names.
from memsleuth._native import TrackerError
from memsleuth._tracker import (
    Site,
    Tracker,
    TrackerResult,
    current_bytes,
    peak_bytes,
    snapshot,
    top_sites,
)

__all__ = [
    "Site",
    "Tracker",
    "TrackerError",
    "TrackerResult",
    "__version__",
    "current_bytes",
    "peak_bytes",
    "snapshot",
    "top_sites",
]
