"""The basics on the simplest program: one 10 MiB allocation two frames deep
(scenarios/big_alloc.py). Covers the summary JSON, the run-time summary on
stderr, --quiet, the default capture name, and collapsed stacks."""

import json
import re

import pytest

from conftest import (
    MiB,
    assert_bytes_about,
    assert_sorted_desc,
    check_site_shape,
    frame,
    frame_of,
    is_int,
    is_number,
    sites_at,
)


# Test 1 ---------------------------------------------------------------------


def test_big_allocation_is_the_top_peak_site(big_run):
    script, s = big_run.script, big_run.summary
    top = s["peak_sites"][0]
    assert frame_of(top) == frame(script, big_run.line("big"), "allocate_big")
    assert_bytes_about(top, 10 * MiB)
    stack = [frame_of(f) for f in top["stack"]]
    assert stack[0] == frame_of(top)
    assert stack[1] == frame(script, big_run.line("call_big"), "main")
    assert stack[2] == frame(script, big_run.line("call_main"), "<module>")


def test_big_allocation_thread_and_totals(big_run):
    script, s = big_run.script, big_run.summary
    ids = big_run.stdout_json
    top = s["peak_sites"][0]
    # Allocated on the main thread, whose native id the scenario printed.
    assert top["threads"] == [ids["tid"]]
    assert 10 * MiB <= s["peak_bytes"]
    assert top["bytes"] <= s["peak_bytes"]
    assert s["total_allocated_bytes"] >= 10 * MiB
    # Freed when main() returned: part of the peak, not a leak.
    assert sites_at(s["leak_sites"], script, big_run.line("big")) == []


@pytest.mark.parametrize(
    "name", ["big_alloc.py", "kept_vs_freed.py", "threads_peak.py", "frame_kinds.py"]
)
def test_summary_json_shape_and_invariants(profile, name):
    s = profile(name).summary
    for key in ("peak_bytes", "total_allocated_bytes", "allocation_count", "leaked_bytes",
                "leak_count", "lost_bytes"):
        assert is_int(s[key]) and s[key] >= 0, (key, s[key])
    for key in ("peak_time_s", "duration_s"):
        assert is_number(s[key]), (key, s[key])
    # A clean run: tracking ended cleanly and nothing was cut off.
    assert s["complete"] is True
    assert s["lost_bytes"] == 0
    assert s["duration_s"] > 0
    assert 0 <= s["peak_time_s"] <= s["duration_s"] + 1e-6
    assert s["allocation_count"] >= 1
    for key, total_key, count_key in (("peak_sites", "peak_bytes", None),
                                       ("leak_sites", "leaked_bytes", "leak_count")):
        sites = s[key]
        assert isinstance(sites, list)
        for site in sites:
            check_site_shape(site)
        assert_sorted_desc([site["bytes"] for site in sites], key)
        # Sites partition the live allocations (possibly truncated to the top ones).
        assert sum(site["bytes"] for site in sites) <= s[total_key]
        if count_key:
            assert sum(site["count"] for site in sites) <= s[count_key]
        # Same denominator within a list: shares follow bytes.
        assert_sorted_desc([site["share"] for site in sites], key + " shares")
        # Sites are grouped by full stack: no two sites share one.
        stacks = [tuple((f["file"], f["line"], f["function"]) for f in site["stack"])
                  for site in sites]
        assert len(set(stacks)) == len(stacks), f"{key}: the same stack appears twice"
    assert s["peak_sites"], "a program that allocated must have peak sites"


# Test 12 and the default capture name ------------------------------------------


def test_quiet_run_prints_nothing_on_stderr(profile):
    cap = profile("big_alloc.py")  # run with --quiet -o CAPTURE
    assert cap.result.stderr == b"", cap.result.describe()
    assert cap.result.returncode == 0


def test_summary_on_stderr_without_quiet(big_run):
    err = big_run.result.err
    assert "peak" in err.lower(), big_run.result.describe()
    assert big_run.path.name in err, big_run.result.describe()
    line = big_run.line("big")
    assert re.search(r"allocate_big \([^()\n]*big_alloc\.py:%d\)" % line, err), (
        f"expected `allocate_big (...big_alloc.py:{line})` on stderr\n{big_run.result.describe()}"
    )


def test_summary_does_not_go_to_stdout(big_run):
    # stdout carries exactly the program's own output: one JSON line.
    lines = big_run.result.out.splitlines()
    assert len(lines) == 1, big_run.result.describe()
    assert set(json.loads(lines[0])) == {"pid", "tid"}


def test_default_capture_name(big_run):
    m = re.fullmatch(r"memsleuth-big_alloc-(\d+)\.msl", big_run.path.name)
    assert m, big_run.path.name
    # <pid>: memsleuth's own or the profiled process's (the spec does not say which).
    assert int(m.group(1)) in {big_run.result.pid, big_run.stdout_json["pid"]}


# Test 11 --------------------------------------------------------------------


def test_stacks_at_peak(big_run):
    script = str(big_run.script)
    stacks = big_run.stacks("peak")  # parse_stacks checks every line's format
    assert stacks, "no stacks at peak"
    big = ("allocate_big", script, big_run.line("big"))
    ours = [(frames, n) for frames, n in stacks if frames[-1] == big]
    # One stack; one line per layer it holds (the object and, on some
    # versions, its buffer from another domain).
    assert len({tuple(frames) for frames, _ in ours}) == 1, [f[-1] for f, _ in stacks][:40]
    frames, n = ours[0][0], sum(n for _, n in ours)
    assert n >= 10 * MiB
    assert n < 10 * MiB + 64 * 1024
    # Outermost first: main calls allocate_big, the module calls main.
    assert frames[-2] == ("main", script, big_run.line("call_big"))
    assert frames[-3] == ("<module>", script, big_run.line("call_main"))


def test_stacks_at_leaks_and_all(profile):
    cap = profile("kept_vs_freed.py")
    script = str(cap.script)
    kept = ("<module>", script, cap.line("kept"))
    freed = ("transient", script, cap.line("freed"))

    leaks = cap.stacks("leaks")
    kept_rows = [n for frames, n in leaks if frames[-1] == kept]
    assert len(kept_rows) == 1, [f[-1] for f, _ in leaks][:40]
    assert 8 * MiB <= kept_rows[0] < 8 * MiB + 64 * 1024
    assert not [frames for frames, _ in leaks if frames[-1] == freed]

    everything = cap.stacks("all")
    freed_rows = [(frames, n) for frames, n in everything if frames[-1] == freed]
    assert len(freed_rows) == 1, freed_rows
    frames, n = freed_rows[0]
    assert 4 * MiB <= n < 4 * MiB + 64 * 1024
    assert frames[-2] == ("<module>", script, cap.line("call_transient"))
    kept_rows = [n for frames, n in everything if frames[-1] == kept]
    assert len(kept_rows) == 1 and kept_rows[0] >= 8 * MiB, kept_rows
