"""memsleuth: a memory profiler and leak hunter for Python.

Run a program under it with ``memsleuth run app.py``; read the capture with
``memsleuth summary``, ``memsleuth table`` and ``memsleuth stacks``.
"""

from memsleuth._native import TrackerError

__all__ = ["TrackerError", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("memsleuth")
except Exception:  # not installed as a distribution, e.g. a source checkout
    __version__ = "0.0.0"
