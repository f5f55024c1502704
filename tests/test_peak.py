"""Peak attribution: a helper called from two places (test 4) and four
threads (test 5)."""

from conftest import MiB, SLACK, assert_bytes_about, frame, frame_of, single_site_at, sites_at


# Test 4 ---------------------------------------------------------------------


def test_peak_inside_helper_is_attributed_to_the_second_caller(profile):
    cap = profile("peak_helper.py")
    script, s = cap.script, cap.summary
    top = s["peak_sites"][0]
    assert frame_of(top) == frame(script, cap.line("make"), "make")
    assert frame_of(top["stack"][1]) == frame(script, cap.line("call_two"), "phase_two")
    assert_bytes_about(top, 7 * MiB)
    # The spec's bound is `peak_bytes < 10 MiB + 2 MiB`: the 3 MiB and 7 MiB
    # blocks were never live together. What else is live at the peak is the
    # interpreter's baseline, which depends on the environment (site-packages
    # .pth files alone can import ~3 MiB worth of modules), so the bound is
    # taken relative to the peak of a program that does nothing. The wrong
    # answer (3 + 7 MiB live together) exceeds it by about 2 MiB.
    baseline = profile("empty.py").summary["peak_bytes"]
    assert 7 * MiB <= s["peak_bytes"] < 7 * MiB + baseline + 1 * MiB, (s["peak_bytes"], baseline)
    # The 3 MiB block from phase_one was freed before the 7 MiB one existed.
    for site in sites_at(s["peak_sites"], script, cap.line("make")):
        if site["stack"][1]["function"] == "phase_one":
            assert site["bytes"] < 1 * MiB, site


def test_helper_allocations_are_grouped_by_full_stack(profile):
    cap = profile("peak_helper.py")
    script = str(cap.script)
    rows = cap.table("allocated", group="stack", limit=1000)["rows"]
    make = [r for r in rows if r["file"] == script and r["line"] == cap.line("make")]
    by_caller = {r["stack"][1]["function"]: r for r in make}
    assert set(by_caller) == {"phase_one", "phase_two"}, make
    assert len(make) == 2
    assert by_caller["phase_one"]["stack"][1]["line"] == cap.line("call_one")
    assert_bytes_about(by_caller["phase_one"], 3 * MiB)
    assert by_caller["phase_two"]["stack"][1]["line"] == cap.line("call_two")
    assert_bytes_about(by_caller["phase_two"], 7 * MiB)
    # Grouped by line, both calls fall together.
    lines = cap.table("allocated", group="line", limit=1000)["rows"]
    make_line = [r for r in lines if r["file"] == script and r["line"] == cap.line("make")]
    assert len(make_line) == 1, lines[:20]
    assert_bytes_about(make_line[0], 10 * MiB, 2 * SLACK)


# Test 5 ---------------------------------------------------------------------


def test_four_threads_each_own_their_peak_site(profile):
    cap = profile("threads_peak.py")
    script, s = cap.script, cap.summary
    ids = cap.stdout_json  # {"main": native id, "workers": [native ids of threads 0..3]}
    workers = ids["workers"]
    assert len(set(workers)) == 4 and ids["main"] not in workers, ids
    seen = []
    for i in range(4):
        site = single_site_at(s["peak_sites"], script, cap.line(f"t{i}"), "peak sites")
        assert site["function"] == "worker"
        assert_bytes_about(site, (i + 1) * MiB)
        assert len(site["threads"]) == 1, site["threads"]
        assert site["threads"] == [workers[i]], (i, site["threads"], ids)
        seen.append(site["threads"][0])
    assert len(set(seen)) == 4
    assert ids["main"] not in seen
    assert 10 * MiB <= s["peak_bytes"]
