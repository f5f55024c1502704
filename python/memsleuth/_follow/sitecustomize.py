"""Starts tracking in a Python process whose ancestor runs under
``memsleuth run --follow-children`` (see ``memsleuth/_children.py``).

This directory is put first on ``PYTHONPATH`` only for such processes. It
takes itself off ``sys.path`` and then runs the ``sitecustomize`` the
process would have run without it, if there is one.
"""

import os
import sys


def _follow() -> None:
    try:
        from memsleuth import _children
    except ImportError:
        # Another interpreter, without memsleuth (or built for another
        # version): it runs untracked, as it would have.
        return
    _children.start_in_new_interpreter()


def _run_the_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    this = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401
    except ImportError as e:
        if e.name != "sitecustomize":
            raise
    finally:
        # The import system expects to find the module it is running.
        sys.modules.setdefault("sitecustomize", this)


_follow()
_run_the_next_sitecustomize()
