"""`memsleuth export --format heapsnapshot`, read back by an independent
reader: memlab's parser (`tests/heapsnapshot/check.js`, installed by
`scripts/heapsnapshot-reader.sh`), which builds its own dominator tree.

memlab must find in the file what `memsleuth heap` reports about the same
snapshot: every type's count and bytes, and the same objects retaining the
most, with the same retained sizes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import Capture, run_memsleuth, run_process

REPO = Path(__file__).resolve().parent.parent
READER = REPO / "tests" / "heapsnapshot"
INSTALL = REPO / "scripts" / "heapsnapshot-reader.sh"
TOP = 5


@pytest.fixture(scope="session")
def reader() -> Path:
    """check.js, with memlab installed beside it."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed to read .heapsnapshot files; install Node.js 18 or later")
    result = run_process(["bash", INSTALL], cwd=REPO, timeout=600)
    assert result.returncode == 0, result.describe()
    return READER / "check.js"


def memlab_view(reader: Path, heapsnapshot: Path) -> dict:
    result = run_process(["node", reader, heapsnapshot, "--top", TOP], cwd=heapsnapshot.parent)
    assert result.returncode == 0, result.describe()
    return json.loads(result.out)


def export(capture: Capture) -> Path:
    out = capture.path.with_suffix(".heapsnapshot")
    result = run_memsleuth(
        "export", capture.path, "--format", "heapsnapshot", "-o", out,
        cwd=capture.path.parent,
    )
    assert result.returncode == 0, result.describe()
    return out


def heap_json(capture: Capture) -> dict:
    result = run_memsleuth("heap", capture.path, "--json", "--limit", "0", cwd=capture.path.parent)
    assert result.returncode == 0, result.describe()
    return json.loads(result.out)


@pytest.mark.parametrize("scenario", ["heap_cache.py", "heap_lru.py", "heap_closures.py"])
def test_memlab_reads_what_heap_reports(profile, reader, scenario):
    capture = profile(scenario, options=("--snapshot-at", "exit"))
    ours = heap_json(capture)
    theirs = memlab_view(reader, export(capture))

    # Every object once, under its type, with its size.
    expected = {t["type"]: {"count": t["count"], "self_size": t["shallow_bytes"]} for t in ours["types"]}
    assert theirs["classes"] == expected
    assert sum(c["count"] for c in theirs["classes"].values()) == ours["totals"]["objects"]

    # The objects retaining the most, as memlab's own dominator tree has it.
    retainers = [(r["type"], r["shallow_bytes"], r["retained_bytes"]) for r in ours["retainers"][:TOP]]
    largest = [(n["name"], n["self_size"], n["retained_size"]) for n in theirs["largest"]]
    assert largest == retainers
