"""The same limit_leaks tests for memsleuth's and pytest-memray's plugins.

Both plugins read `@pytest.mark.limit_leaks(LIMIT)`; run them one at a time
(see README.md). Expected: only test_real_leak leaks.
"""

import functools
import sys

import pytest

LIMIT = "50 KB"
LEAKED = []


@pytest.mark.limit_leaks(LIMIT)
def test_real_leak():
    """Leaks: every call keeps 100 KB more in a module-level list."""
    LEAKED.append(bytearray(100 * 1024))


@functools.lru_cache(maxsize=None)
def lookup_table():
    return {i: str(i) * 8 for i in range(20000)}


@pytest.mark.limit_leaks(LIMIT)
def test_warm_up_cache():
    """Not a leak: the cache is filled on the first call and then constant."""
    assert lookup_table()[7] == "77777777"


@pytest.mark.limit_leaks(LIMIT)
def test_first_call_import_and_interned_names():
    """Not a leak: a module imported on first use, a regex compiled into
    re's cache, names interned by the interpreter: all made once."""
    import re

    import lazy_table  # first call only: builds a module-level table

    assert lazy_table.TABLE["key-7"] == 7

    assert re.compile(r"(?P<key>[a-z_]+)=(?P<value>\d+)").match("answer=42")
    namespace = {}
    exec("def generated(alpha_one, beta_two, gamma_three): return alpha_one", namespace)
    assert namespace["generated"](1, 2, 3) == 1


@pytest.mark.limit_leaks(LIMIT)
def test_freed_allocations():
    """Not a leak: everything allocated is freed before the test returns."""
    blocks = [bytearray(1024 * 1024) for _ in range(5)]
    assert sum(len(b) for b in blocks) == 5 * 1024 * 1024
    del blocks
