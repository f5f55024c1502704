"""What counts as a leak (test 2), and reallocation accounting (test 3)."""

from conftest import MiB, assert_bytes_about, frame, frame_of, single_site_at, sites_at


# Test 2 ---------------------------------------------------------------------


def test_kept_memory_is_a_leak_and_freed_memory_is_not(profile):
    cap = profile("kept_vs_freed.py")
    script, s = cap.script, cap.summary
    kept = single_site_at(s["leak_sites"], script, cap.line("kept"), "leak sites")
    assert kept["function"] == "<module>"
    assert_bytes_about(kept, 8 * MiB)
    assert kept["count"] == 1
    assert s["leaked_bytes"] >= 8 * MiB
    assert s["leak_count"] >= 1
    assert frame_of(s["leak_sites"][0]) == frame_of(kept)
    # The 4 MiB object was freed before exit: no leak site at its line, in the
    # summary or anywhere in the full leak table.
    assert sites_at(s["leak_sites"], script, cap.line("freed")) == []
    rows = cap.table("leaks", group="line", limit=100000)["rows"]
    assert [r for r in rows if r["file"] == str(script) and r["line"] == cap.line("freed")] == []
    assert [r for r in rows if r["file"] == str(script) and r["line"] == cap.line("kept")]


def test_freed_memory_still_counts_as_allocated(profile):
    cap = profile("kept_vs_freed.py")
    table = cap.table("allocated", group="line", limit=1000)
    freed = [r for r in table["rows"]
             if r["file"] == str(cap.script) and r["line"] == cap.line("freed")]
    assert len(freed) == 1, table["rows"][:20]
    assert freed[0]["function"] == "transient"
    assert_bytes_about(freed[0], 4 * MiB)
    kept = [r for r in table["rows"]
            if r["file"] == str(cap.script) and r["line"] == cap.line("kept")]
    assert len(kept) == 1 and kept[0]["bytes"] >= 8 * MiB, kept


def test_freed_allocation_was_at_its_own_stack(profile):
    # Grouped by stack, the row carries the allocating frame and its caller.
    cap = profile("kept_vs_freed.py")
    rows = cap.table("allocated", group="stack", limit=1000)["rows"]
    freed = [r for r in rows if r["file"] == str(cap.script) and r["line"] == cap.line("freed")]
    assert len(freed) == 1, rows[:20]
    assert [frame_of(f) for f in freed[0]["stack"][:2]] == [
        frame(cap.script, cap.line("freed"), "transient"),
        frame(cap.script, cap.line("call_transient"), "<module>"),
    ]


# Test 3 ---------------------------------------------------------------------


def test_realloc_counts_once_at_final_size(profile):
    cap = profile("realloc_grow.py")
    script, s = cap.script, cap.summary
    # Final length 6 MiB; bytearray over-allocates by up to ~1/8 when growing.
    iadd = single_site_at(s["leak_sites"], script, cap.line("grow_iadd"), "leak sites")
    assert iadd["function"] == "grow_iadd"
    assert 6 * MiB <= iadd["bytes"] < 7 * MiB, iadd["bytes"]
    assert iadd["count"] == 1
    extend = single_site_at(s["leak_sites"], script, cap.line("grow_extend"), "leak sites")
    assert extend["function"] == "grow_extend"
    assert 3 * MiB <= extend["bytes"] < 4 * MiB, extend["bytes"]
    assert extend["count"] == 1
