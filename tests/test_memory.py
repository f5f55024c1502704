"""`memsleuth memory`: where the RSS goes, pymalloc's arenas, the garbage
collector, glibc's heap, and recommendations made only when the capture
proves them (docs/definitions.md)."""

from __future__ import annotations

import json

import pytest

from conftest import MiB, PY, assert_one_line_error, run_memsleuth

# Every scenario of this file, with the memsleuth run options it needs.
SCENARIOS = {
    "mem_pinned_arenas.py": (),
    "mem_cycles.py": (),
    "mem_list_sum.py": (),
    "mem_no_slots.py": ("--snapshot-at", "exit"),
    "mem_threads_native.py": ("--trim-probe",),
    "mem_prefork.py": (),
    "mem_caches.py": ("--snapshot-at", "exit"),
    "mem_garbage.py": (),
    "mem_clean.py": (),
}


def memory(cap) -> dict:
    result = run_memsleuth("memory", cap.path, "--json", cwd=cap.path.parent)
    assert result.returncode == 0, result.describe()
    return json.loads(result.out)


@pytest.fixture(scope="session")
def measured(profile):
    """memory(name) -> (Capture, the memory summary), profiled once per session."""
    cache: dict = {}

    def _measured(name: str, *args):
        if (name, args) not in cache:
            cap = profile(name, *args, options=("--no-report", *SCENARIOS[name]))
            cache[(name, args)] = (cap, memory(cap))
        return cache[(name, args)]

    return _measured


def kinds(summary: dict) -> list:
    return [r["kind"] for r in summary["recommendations"]]


def recommendation(summary: dict, kind: str) -> dict:
    (rec,) = [r for r in summary["recommendations"] if r["kind"] == kind]
    return rec


def at_line(cap, site: dict, marker: str) -> bool:
    return site["file"] == str(cap.script) and site["line"] == cap.line(marker)


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "mem_read_whole.py"])
def test_rss_adds_up_and_agrees_with_pymalloc(measured, name):
    cap, summary = measured(name)
    account = summary["account_at_exit"]
    assert account["moment"] == "exit" and not account["estimated"]
    parts = {p["key"]: p["bytes"] for p in account["parts"]}
    assert list(parts) == [
        "python-objects",
        "pymalloc-free",
        "native-in-use",
        "memsleuth",
        "glibc-free",
        "mappings",
        "files",
        "rest",
    ]
    assert sum(parts.values()) == account["rss"]
    assert abs(parts["rest"]) <= account["tolerance"], account
    assert account["adds_up"] is True
    assert parts["files"] > 0 and parts["python-objects"] > 0
    # The first two parts are pymalloc's own figures for all of its arenas.
    stats = summary["pymalloc_stats_at_exit"]
    assert parts["python-objects"] == stats["allocated_bytes"]
    assert parts["python-objects"] + parts["pymalloc-free"] == stats["arenas_current"] * stats["arena_size"]
    # The arenas the capture saw made are among those pymalloc counts, and
    # the others existed before tracking started.
    seen = summary["pymalloc_at_exit"]["arenas"] if summary["pymalloc_at_exit"] else 0
    assert seen <= stats["arenas_current"]
    # pymalloc's arena size is the one the capture recorded.
    if summary["pymalloc_at_exit"]:
        assert summary["pymalloc_at_exit"]["arena_size"] == stats["arena_size"]
        assert summary["pymalloc_at_exit"]["pool_size"] == stats["pool_size"]


def test_a_whole_file_read_is_a_recommendation_to_stream(measured, tmp_path_factory):
    data = tmp_path_factory.mktemp("read_whole") / "big.bin"
    with open(data, "wb") as f:
        f.truncate(200 * 1000 * 1000)
    SCENARIOS["mem_read_whole.py"] = ()
    cap, summary = measured("mem_read_whole.py", str(data))
    assert summary["account_at_exit"]["adds_up"] is True
    rec = recommendation(summary, "stream-file")
    (site,) = rec["sites"]
    assert at_line(cap, site, "read")
    assert rec["saving_bytes"] == site["bytes"] >= 200 * 1000 * 1000
    assert kinds(summary) == ["stream-file"]


def test_arenas_pinned_by_one_object_in_64(measured):
    cap, summary = measured("mem_pinned_arenas.py")
    peak, exit_ = summary["pymalloc_at_peak"], summary["pymalloc_at_exit"]
    # 2M objects fill over 200 MiB of arenas, nearly full. Each is two or
    # three blocks: the object, its int (ints up to 256 are cached), and
    # before 3.13 its attribute storage, which 3.13 keeps inside the object.
    blocks_each = 2 if PY >= (3, 13) else 3
    assert peak["arena_bytes"] >= 200 * MiB and peak["fragmentation"] < 0.05
    assert peak["live_blocks"] >= blocks_each * 2_000_000 - 257 - peak["blocks_in_untracked_arenas"]
    # Freeing 63 in 64 returns none of them.
    assert exit_["arenas"] == peak["arenas"]
    assert exit_["fragmentation"] > 0.95
    pinned = exit_["pinned"]
    # All are pinned but, at most, the few that also hold the program's other objects.
    assert pinned["arenas"] >= exit_["arenas"] - 2
    assert pinned["arena_bytes"] >= exit_["arena_bytes"] - 2 * exit_["arena_size"]
    # The pinning blocks are the survivors, 31,250 objects, allocated where
    # the objects were made; before 3.11 their dicts come from the first
    # attribute set in __init__.
    sites = summary["pinned_sites"]
    survivors = 2_000_000 // 64
    (made,) = [s for s in sites if at_line(cap, s, "fill")]
    if PY >= (3, 11):
        assert made == sites[0]
        assert blocks_each - 1 <= made["count"] / survivors <= blocks_each
    else:
        (dicts,) = [s for s in sites if at_line(cap, s, "attr")]
        assert made["count"] + dicts["count"] >= 2 * survivors
        assert {made["line"], dicts["line"]} == {sites[0]["line"], sites[1]["line"]}
    assert pinned["live_blocks"] == sum(s["count"] for s in sites)
    rec = recommendation(summary, "pymalloc-fragmentation")
    assert rec["sites"][0]["line"] == sites[0]["line"]
    assert rec["saving_bytes"] == pinned["arena_bytes"] - pinned["live_bytes"]


def test_cycles_freed_only_by_the_collector(measured):
    cap, summary = measured("mem_cycles.py")
    gc = summary["gc"]
    # 40 self-referencing Nodes, each holding a 1,000,000-byte bytearray:
    # its object and its buffer (one byte more, for the terminating NUL).
    payload = gc["cycle_sites"][0]
    assert at_line(cap, payload, "payload")
    each = 1_000_001 + 56
    if PY >= (3, 11):
        assert (payload["bytes"], payload["count"]) == (40 * each, 80)
    else:
        # Before 3.11 the first attribute set at that line also makes the
        # instance's dict, which the cycle holds too.
        assert payload["bytes"] > 40 * each and payload["count"] > 80
    # The collection the program asked for freed them all at once.
    assert gc["largest_collection_bytes"] >= payload["bytes"]
    assert gc["collections_by_generation"][2] >= 2  # the program's, and the one at exit
    assert gc["enabled"] is False
    rec = recommendation(summary, "break-cycles")
    assert at_line(cap, rec["sites"][0], "payload")
    assert kinds(summary) == ["break-cycles"]


def test_a_list_built_only_to_be_summed(measured):
    cap, summary = measured("mem_list_sum.py")
    rec = recommendation(summary, "generator")
    (site,) = rec["sites"]
    assert at_line(cap, site, "listcomp")
    # Three million ints (those above 256 each a block) and the list's array.
    assert site["count"] >= 3_000_000 - 300
    assert rec["saving_bytes"] == site["bytes"] > 3_000_000 * 32
    assert kinds(summary) == ["generator"]


def test_threads_holding_free_native_memory(measured):
    cap, summary = measured("mem_threads_native.py")
    native = summary["native_heap"]
    # Four threads each filled an arena of their own with 20,000 2 KiB blocks
    # and freed 63 in 64: about 155 MiB free, yet held.
    assert native["at_exit"]["arenas"] >= 3
    assert native["at_exit"]["free_bytes"] >= 120 * MiB
    # --trim-probe: malloc_trim gave most of it back.
    assert native["trim_gave_back"] >= 100 * MiB
    assert native["rss_after_trim"] == native["rss_at_exit"] - native["trim_gave_back"]
    rec = recommendation(summary, "malloc-arenas")
    assert rec["saving_bytes"] == native["trim_gave_back"]
    assert kinds(summary) == ["malloc-arenas"]


def test_many_instances_without_slots(measured):
    cap, summary = measured("mem_no_slots.py")
    rec = recommendation(summary, "slots")
    assert rec["title"] == "Give __main__.Point `__slots__`"
    assert rec["evidence"].startswith("300000 instances take ")
    # The same saving for each instance: its dict storage against three slots.
    assert rec["saving_bytes"] % 300_000 == 0 and rec["saving_bytes"] >= 300_000 * 16
    assert at_line(cap, rec["sites"][0], "points")
    assert rec["sites"][0]["count"] == 300_000
    assert kinds(summary) == ["slots"]


def test_caches_that_only_grow(measured):
    cap, summary = measured("mem_caches.py")
    caches = [r for r in summary["recommendations"] if r["kind"] == "bound-cache"]
    # The unbounded lru_cache and the module-level dict; not the bounded cache.
    titles = sorted(r["title"] for r in caches)
    assert titles == [
        "Bound __main__.CACHE (module-level dict)",
        "Bound __main__.render (lru_cache without maxsize)",
    ]
    for rec in caches:
        assert "It holds 60000 entries" in rec["evidence"]
        assert rec["sites"][0]["count"] == 60_000
    by_title = {r["title"]: r for r in caches}
    assert at_line(cap, by_title["Bound __main__.CACHE (module-level dict)"]["sites"][0], "remember")
    assert at_line(cap, by_title["Bound __main__.render (lru_cache without maxsize)"]["sites"][0], "render")
    assert kinds(summary) == ["bound-cache", "bound-cache"]


def test_forking_without_gc_freeze(measured):
    cap, summary = measured("mem_prefork.py")
    assert len(summary["forks"]) == 3
    assert all(f["python_object_bytes"] >= 32 * MiB for f in summary["forks"])
    rec = recommendation(summary, "gc-freeze")
    assert rec["saving_bytes"] == summary["forks"][-1]["python_object_bytes"]


def test_gc_garbage_is_named_with_its_sites(measured):
    cap, summary = measured("mem_garbage.py")
    (leaky,) = [g for g in summary["gc"]["garbage"] if g["type_name"] == "__main__.Leaky"]
    assert leaky["count"] == 25
    (site,) = leaky["sites"]
    assert at_line(cap, site, "leaky")
    assert site["count"] == 25


def test_a_clean_program_gets_no_recommendation(measured):
    cap, summary = measured("mem_clean.py")
    assert summary["recommendations"] == []
    result = run_memsleuth("memory", cap.path, cwd=cap.path.parent)
    assert result.returncode == 0, result.describe()
    assert "Recommendations: none; nothing in this run calls for one" in result.out
    assert "The parts add up to the RSS within" in result.out


def test_gc_time_is_measured(measured):
    cap, summary = measured("mem_pinned_arenas.py")
    gc = summary["gc"]
    # 2M container objects trigger a collection every threshold-0 of them.
    assert sum(gc["collections_by_generation"]) >= 0.8 * 2_000_000 / gc["thresholds"][0]
    assert 0 < gc["seconds"] < gc["seconds"] / gc["share_of_run"]
    assert sum(gc["seconds_by_generation"]) == pytest.approx(gc["seconds"])


def test_memory_of_a_missing_capture_is_one_sentence(tmp_path):
    result = run_memsleuth("memory", tmp_path / "nope.msl", cwd=tmp_path)
    assert result.returncode != 0
    assert "nope.msl" in assert_one_line_error(result)


def test_a_run_that_skips_the_exit_handlers_is_explained(tmp_path):
    capture = tmp_path / "quick.msl"
    # os._exit skips atexit, so memsleuth never measures the process at exit.
    result = run_memsleuth(
        "run", "-q", "--no-report", "-o", capture, "-c", "import os; x = [0] * 100; os._exit(0)", cwd=tmp_path
    )
    assert result.returncode == 0, result.describe()
    result = run_memsleuth("memory", capture, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    summary = json.loads(result.out)
    assert summary["measured"] is False
    assert summary["account_at_exit"] is None and summary["native_heap"] is None
    text = run_memsleuth("memory", capture, cwd=tmp_path).out
    assert text.startswith("This capture has no measurement of the memory managers at exit")
