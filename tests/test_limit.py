"""`memsleuth run --limit SIZE`: a program whose RSS reaches the limit is
stopped with its capture complete, its report written, exit status 99 and
one sentence saying why."""

from __future__ import annotations

import json

from conftest import MiB, assert_one_line_error, marker_line, run_memsleuth, scenario

LIMIT = 200 * MiB


def test_a_runaway_program_is_stopped_at_its_limit(tmp_path):
    capture = tmp_path / "runaway.msl"
    script = scenario("limit_runaway.py")
    result = run_memsleuth("run", "-q", "--limit", "200MB", "-o", capture, script, cwd=tmp_path)
    assert result.returncode == 99, result.describe()
    # Stopped, not finished: neither its last line nor its exit handlers ran.
    assert result.out == ""
    (line,) = [l for l in result.err.splitlines() if l.startswith("memsleuth: stopped")]
    assert "past --limit 200 MiB; the capture and the report are complete (exit status 99)" in line
    assert (tmp_path / "runaway.html").is_file()
    summary = json.loads(run_memsleuth("summary", capture, "--json", cwd=tmp_path).out)
    assert summary["complete"] is True
    stop = summary["limit_stop"]
    assert stop["limit_bytes"] == LIMIT <= stop["rss_bytes"]
    # The capture holds everything up to the stop: the buffers kept at the
    # growing line, most of the RSS, and no more than a few ticks' growth beyond it.
    (site,) = [s for s in summary["peak_sites"] if s["stack"][0]["line"] == marker_line(script, "grow")]
    assert LIMIT - 40 * MiB <= site["bytes"] <= LIMIT + 100 * MiB


def test_a_program_under_its_limit_is_untouched(tmp_path):
    capture = tmp_path / "quiet.msl"
    code = "import sys; x = bytearray(10 * 1024 * 1024); sys.exit(99)"
    result = run_memsleuth("run", "-q", "--no-report", "--limit", "2GB", "-o", capture, "-c", code, cwd=tmp_path)
    # The program's own 99 passes through, with no word about a limit.
    assert result.returncode == 99, result.describe()
    assert "memsleuth: stopped" not in result.err


def test_a_limit_that_is_not_a_size_is_one_sentence(tmp_path):
    result = run_memsleuth("run", "--limit", "12XB", "-c", "pass", cwd=tmp_path)
    assert result.returncode == 2
    assert "12XB is not a size; write it like 2GB, 512MB or 1.5GiB" in assert_one_line_error(result, prefix=None)
