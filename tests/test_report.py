"""The HTML report: written by `memsleuth run` and `memsleuth report`, one
self-contained page whose embedded data and behaviour in a real browser
(headless Chromium driven by tests/report/driver.js) are checked exactly."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (
    MiB,
    TESTS_DIR,
    assert_bytes_about,
    assert_one_line_error,
    run_memsleuth,
    scenario,
)

DRIVER_DIR = TESTS_DIR / "report"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DATA_RE = re.compile(
    r'<script type="application/json" id="memsleuth-data">(.*?)</script>', re.S
)


def embedded_data(html: Path) -> dict:
    match = DATA_RE.search(html.read_text())
    assert match, f"no data element in {html}"
    return json.loads(match.group(1))


@pytest.fixture(scope="session")
def driver():
    """drive(report, *flags) -> what the browser saw, as a dict."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed; scripts/test.sh installs it (apt-get install chromium)", pytrace=False)
    if not shutil.which("node"):
        pytest.fail("node is not installed; scripts/test.sh installs it", pytrace=False)
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=DRIVER_DIR, check=True, capture_output=True,
        )

    def drive(report: Path, *flags) -> dict:
        proc = subprocess.run(
            ["node", str(DRIVER_DIR / "driver.js"), str(report), *flags],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "CHROMIUM": CHROMIUM, "HOME": str(report.parent)},
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return drive


@pytest.fixture(scope="module")
def two_sites(profile):
    """report_two_sites.py with a heap snapshot at exit, and its report."""
    capture = profile("report_two_sites.py", options=("--snapshot-at", "exit"))
    report = capture.path.with_suffix(".html")
    assert report.is_file(), "memsleuth run --quiet wrote no report beside the capture"
    return capture, report


def test_run_says_where_the_report_is(tmp_path):
    result = run_memsleuth("run", "-o", "big.msl", scenario("big_alloc.py"), cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert (tmp_path / "big.html").is_file()
    assert "Report: big.html  (open it in a browser)" in result.err.splitlines()


def test_no_report_writes_none(tmp_path):
    result = run_memsleuth("run", "--no-report", "-o", "big.msl", scenario("big_alloc.py"), cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.msl"]
    assert "Report:" not in result.err


def test_report_failure_keeps_the_exit_code(tmp_path):
    # A directory where the report would go: writing it fails.
    (tmp_path / "c.html").mkdir()
    result = run_memsleuth("run", "--quiet", "-o", "c.msl", "-c", "import sys; sys.exit(3)", cwd=tmp_path)
    assert result.returncode == 3, result.describe()
    line = assert_one_line_error(result, prefix="memsleuth: warning: no HTML report was written:")
    assert "c.html" in line


def test_report_command_writes_where_asked(two_sites, tmp_path):
    capture, _ = two_sites
    out = tmp_path / "elsewhere.html"
    result = run_memsleuth("report", capture.path, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.err == f"memsleuth: wrote the report to {out}\n"
    assert embedded_data(out)["summary"]["peak_bytes"] == embedded_data(two_sites[1])["summary"]["peak_bytes"]


def test_report_of_a_missing_capture_is_one_sentence(tmp_path):
    result = run_memsleuth("report", "nope.msl", cwd=tmp_path)
    assert result.returncode == 2
    line = assert_one_line_error(result)
    assert line == "memsleuth: error: capture nope.msl does not exist; pass the path of a .msl file written by `memsleuth run`"


def test_page_is_self_contained(two_sites):
    html = two_sites[1].read_text()
    assert not re.search(r'<(script|link)[^>]+(src|href)=', html), "the page loads something from outside"
    assert "d3-flame-graph 5.0.0 (Apache-2.0)" in html
    assert "uplot 1.6.32 (MIT)" in html


def test_embedded_data_names_the_sites(two_sites):
    capture, report = two_sites
    data = embedded_data(report)
    script = str(capture.script)
    rows = data["tables"]["peak"]["line"]["rows"]
    big = next(r for r in rows if r["file"] == script and r["line"] == capture.line("big"))
    small = next(r for r in rows if r["file"] == script and r["line"] == capture.line("small"))
    assert (big["function"], small["function"]) == ("big", "small")
    assert_bytes_about(big, 6 * MiB)
    assert_bytes_about(small, 2 * MiB)
    # The flamegraph's stacks name the same line, with the caller above it.
    frames = data["frames"]
    stacks = data["flames"]["peak"]["stacks"]
    top = stacks[0]
    leaf = frames[top["f"][-1]]
    caller = frames[top["f"][-2]]
    assert (leaf["function"], leaf["line"], leaf["native"]) == ("big", capture.line("big"), False)
    assert (caller["function"], caller["line"]) == ("main", capture.line("call_big"))
    assert top["b"] == big["bytes"]
    assert data["flames"]["peak"]["total_bytes"] == sum(s["b"] for s in stacks) + data["flames"]["peak"]["other_bytes"]
    # Checkpoints: the first one is before the blocks exist, or holds them.
    assert 1 <= len(data["checkpoints"]) <= data["caps"]["checkpoints"]
    assert [m["trigger"] for m in data["markers"]["snapshots"]] == ["exit"]
    assert data["markers"]["gc"] == []
    assert data["heap"]["last"]["snapshot"]["trigger"] == "exit"
    assert data["heap"]["diff"] is None


def test_browser_shows_zooms_searches_and_sorts(two_sites, driver):
    capture, report = two_sites
    small_name = f"small ({capture.script}:{capture.line('small')})"
    seen = driver(report, "--frame", small_name, "--search", "big (")
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    assert seen["section_errors"] == []
    assert any(f.startswith("Memory peaked at 8.0 MiB") and f"big ({capture.script}:{capture.line('big')})" in f
               for f in seen["findings"]), seen["findings"]
    # Zoom: the 2 MiB frame spans a quarter of the chart, then all of it.
    before, after = seen["flame_before"], seen["flame_zoomed"]
    width = before["chart_width"]
    assert before["frame"]["name"] == small_name
    assert 0.2 * width < before["frame"]["width"] < 0.3 * width, before
    assert after["zoomed"] == small_name
    assert after["frame"]["width"] == pytest.approx(width, abs=1)
    # Search: exactly the `big` frame is highlighted, and its share summed.
    assert seen["search"]["matches"] == 1
    assert seen["flame_search"]["highlighted"] == [f"big ({capture.script}:{capture.line('big')})"]
    assert 6 * MiB <= seen["search"]["bytes"] < 6 * MiB + 64 * 1024
    assert "(75." in seen["search"]["text"]
    # Table: largest first, then re-sorted by a click on the bytes column.
    desc = [int(r["bytes"]) for r in seen["table_bytes_desc"]]
    asc = [int(r["bytes"]) for r in seen["table_bytes_asc"]]
    assert desc == sorted(desc, reverse=True) and asc == sorted(asc)
    assert (seen["table_bytes_desc"][0]["function"], seen["table_bytes_desc"][0]["line"]) == ("big", str(capture.line("big")))
    assert asc[-1] == desc[0] and asc[0] < desc[0]
    # Heap: the snapshot's types are listed.
    assert len(seen["heap_types"]) > 0


def test_heap_diff_shows_what_grew(profile, driver):
    capture = profile("heap_diff.py")
    report = capture.path.with_suffix(".html")
    data = embedded_data(report)
    leak = next(t for t in data["heap"]["diff"]["types"] if t["type"].endswith("Leak"))
    assert leak["count_after"] - leak["count_before"] == 5000
    seen = driver(report)
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    row = next(r for r in seen["heap_diff"] if r[0].endswith("Leak"))
    assert (row[1], row[2]) == ("0", "5,000")
