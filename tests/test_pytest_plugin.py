"""The Python API (``memsleuth.Tracker``, the queries, ``snapshot``) and the
pytest plugin (``--memsleuth``, ``limit_memory``, ``limit_leaks``).

The API runs in a scenario script (``tests/scenarios/api_tracker.py``), in a
process of its own; the plugin runs in pytester's subprocesses, which load
it through its ``pytest11`` entry point as a user's pytest would.
"""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from conftest import MiB, SLACK, load_summary, marker_line, run_memsleuth, run_python, scenario

pytest_plugins = ["pytester"]

API = scenario("api_tracker.py")


def run_api(mode: str, tmp_path, capture: str = "api.msl") -> dict:
    result = run_python(API, mode, tmp_path / capture, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    # No warning either: the queries read a capture without its End record.
    assert result.err == "", result.describe()
    return json.loads(result.out.strip().splitlines()[-1])


def site_lines(sites: list[dict]) -> list[tuple[str, int]]:
    return [(s["file"], s["line"]) for s in sites]


# --------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------


def test_tracker_as_context_manager_records_the_block(tmp_path):
    out = run_api("context", tmp_path)
    assert out["path"].endswith("api.msl") and out["events"] > 0 and out["bytes"] > 0
    summary = load_summary(tmp_path / "api.msl")
    assert 8 * MiB <= summary["peak_bytes"] <= 8 * MiB + SLACK
    top = summary["peak_sites"][0]
    assert (top["file"], top["line"]) == (str(API), marker_line(API, "context_alloc"))
    # The frames outside the `with` block are the program's: they are kept.
    functions = [f["function"] for f in top["stack"]]
    assert "context" in functions and "<module>" in functions


def test_tracker_as_decorator_records_each_call(tmp_path):
    out = run_api("decorator", tmp_path)
    assert out == {"len": 6 * MiB, "name": "decorated_target"}
    summary = load_summary(tmp_path / "api.msl")
    top = summary["peak_sites"][0]
    assert (top["file"], top["line"]) == (str(API), marker_line(API, "decorated_alloc"))
    assert 6 * MiB <= top["bytes"] <= 6 * MiB + SLACK


def test_queries_while_tracking_see_the_block_and_leave_no_trace(tmp_path):
    out = run_api("queries", tmp_path)
    assert 20 * MiB <= out["current"] <= 20 * MiB + SLACK
    assert out["peak"] >= 20 * MiB
    assert site_lines(out["sites"])[0] == (str(API), marker_line(API, "query_alloc"))
    assert 20 * MiB <= out["sites"][0]["bytes"] <= 20 * MiB + SLACK
    assert out["after"] < MiB, "the freed block still counts"
    assert out["peak_after"] >= 20 * MiB
    # Analysing the capture 100 times allocated megabytes, in Rust; none of
    # it, nor the Python results, may be in the capture.
    summary = load_summary(tmp_path / "api.msl")
    assert summary["total_allocated_bytes"] < 20 * MiB + 512 * 1024, summary["total_allocated_bytes"]


def test_starting_twice_raises_tracker_error(tmp_path):
    refusals = run_api("twice", tmp_path)["refusals"]
    assert len(refusals) == 4, refusals
    same, other, stopped, query = refusals
    assert "already tracking into" in same and "stop it before starting it again" in same
    assert "another memsleuth.Tracker is already tracking this process" in other
    assert "not tracking" in stopped
    assert "no capture is being written" in query
    assert all("\n" not in r for r in refusals)
    assert not (tmp_path / "api.msl.second").exists()


def test_snapshot_in_a_tracker_makes_heap_work(tmp_path):
    out = run_api("snapshot", tmp_path)
    assert out == {"snapshot": 1, "records": 5000}
    result = run_memsleuth("heap", tmp_path / "api.msl", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert "Record" in result.out


def test_under_memsleuth_run_a_tracker_is_refused_and_queries_work(tmp_path):
    result = run_memsleuth(
        "run", "--quiet", "--no-report", "-o", tmp_path / "run.msl",
        API, "under-run", tmp_path / "api.msl", cwd=tmp_path,
    )
    assert result.returncode == 0, result.describe()
    out = json.loads(result.out.strip().splitlines()[-1])
    assert "already tracked by `memsleuth run`" in out["refusal"]
    assert out["current"] >= 12 * MiB
    assert not (tmp_path / "api.msl").exists()


# --------------------------------------------------------------------------
# The pytest plugin
# --------------------------------------------------------------------------


def run_suite(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=textwrap.dedent(source))
    # -p no:memray: pytest-memray registers the same marker names.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:memray", *args)


def line_of(pytester: pytest.Pytester, text: str) -> int:
    lines = (pytester.path / "test_it.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


LIMIT_MEMORY = """
    import pytest

    @pytest.mark.limit_memory("{limit}")
    def test_alloc():
        data = bytearray(10 * 1024 * 1024)  # the allocation
        assert len(data) == 10 * 1024 * 1024
"""


def test_limit_memory_passes_above_the_peak(pytester):
    result = run_suite(pytester, LIMIT_MEMORY.format(limit="20 MB"))
    result.assert_outcomes(passed=1)


def test_limit_memory_fails_below_the_peak_naming_the_line(pytester):
    result = run_suite(pytester, LIMIT_MEMORY.format(limit="5 MB"))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "peak tracked memory 10.0 MiB reached the limit of 5.0 MiB" in out, out
    line = line_of(pytester, "# the allocation")
    assert f"test_alloc ({pytester.path / 'test_it.py'}:{line})" in out, out


def test_limit_memory_with_a_bad_size_says_so_in_one_sentence(pytester):
    result = run_suite(pytester, LIMIT_MEMORY.format(limit="12 XB"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*limit_memory: cannot read '12 XB' as a size; write a number and a unit*"])
    assert "Traceback" not in result.stdout.str()


def test_limit_leaks_catches_a_real_leak(pytester):
    result = run_suite(
        pytester,
        """
        import pytest

        LEAKED = []

        @pytest.mark.limit_leaks("200 KB", iterations=5)
        def test_leak():
            LEAKED.append(bytearray(100 * 1024))  # the leak
        """,
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    line = line_of(pytester, "# the leak")
    assert "live memory kept growing by 400." in out, out
    assert f"{pytester.path / 'test_it.py'}:{line} (test_leak)" in out, out
    # A heap snapshot after the last iteration names what the line keeps, and who holds it.
    assert f"5 bytearray from test_it.py:{line}, held by sys.modules['test_it'].LEAKED[*]" in out, out


def test_limit_leaks_passes_a_warm_up_cache(pytester):
    result = run_suite(
        pytester,
        """
        import functools
        import pytest

        @functools.lru_cache(maxsize=None)
        def table():
            return [str(i) * 10 for i in range(20000)]

        @pytest.mark.limit_leaks("100 KB")
        def test_cache():
            assert len(table()) == 20000
            "".join(str(i) for i in range(1000))  # temporaries, freed
        """,
    )
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_memsleuth_flag_reports_the_biggest_allocators(pytester, tmp_path, workers):
    keep = tmp_path / "captures"
    result = run_suite(
        pytester,
        """
        def test_small():
            assert len(bytearray(1024)) == 1024

        def test_big():
            data = bytearray(30 * 1024 * 1024)  # the big one
            assert data
        """,
        "--memsleuth",
        f"--memsleuth-dir={keep}",
        # Under pytest-xdist the workers run the tests and the controller,
        # which reports, gets their peaks through the test reports.
        *workers,
    )
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    lines = out.splitlines()
    start = lines.index(next(l for l in lines if "memsleuth: tests by peak tracked memory" in l))
    assert "30.0 MiB  test_it.py::test_big" in lines[start + 1], out
    line = line_of(pytester, "# the big one")
    assert f"top site: test_big ({pytester.path / 'test_it.py'}:{line})" in lines[start + 2], out
    assert "test_it.py::test_small" in lines[start + 3], out
    assert len(list(keep.glob("*.msl"))) == 2


def test_without_flag_or_marker_the_plugin_does_nothing(pytester):
    result = run_suite(
        pytester,
        """
        import gc

        def test_untouched():
            # No session: the collector callback is installed only while tracking.
            assert not any("memsleuth" in repr(c) or "gc_callback" in repr(c) for c in gc.callbacks)
        """,
    )
    result.assert_outcomes(passed=1)
    # Listed among the plugins, and otherwise silent.
    assert "memsleuth:" not in result.stdout.str()


def test_under_memsleuth_run_the_plugin_steps_aside(pytester, tmp_path):
    pytester.makepyfile(
        test_it=textwrap.dedent(
            """
            import pytest

            @pytest.mark.limit_memory("1 MB")
            def test_alloc():
                assert len(bytearray(4 * 1024 * 1024))
            """
        )
    )
    result = pytester.run(
        sys.executable, "-m", "memsleuth", "run", "--quiet", "--no-report", "-o", str(tmp_path / "run.msl"),
        "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:memray", "--memsleuth", "test_it.py",
    )
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*memsleuth: this test process is already tracked by `memsleuth run`*"])
