"""`memsleuth table`: measures, groupings, ordering, --limit, JSON shape."""

import json

import pytest

from conftest import (
    MiB,
    assert_bytes_about,
    assert_sorted_desc,
    frame_of,
    is_int,
    is_number,
    run_memsleuth,
)


def check_rows(table: dict, by: str, group: str) -> list:
    assert table["by"] == by
    assert table["group"] == group
    rows = table["rows"]
    assert isinstance(rows, list) and rows
    for r in rows:
        assert isinstance(r["file"], str) and r["file"], r
        assert is_int(r["bytes"]) and r["bytes"] >= 0, r
        assert is_int(r["count"]) and r["count"] >= 0, r
        assert is_number(r["share"]) and 0.0 <= r["share"] <= 1.0, r
        if group in ("stack", "line"):
            assert is_int(r["line"]), r
        else:
            assert r["line"] is None, r
        if group == "file":
            assert r["function"] is None, r
        else:
            assert isinstance(r["function"], str) and r["function"], r
        if group == "stack":
            assert isinstance(r["stack"], list) and r["stack"], r
            assert frame_of(r["stack"][0]) == frame_of(r), r
        else:
            assert "stack" not in r, r
    key = "count" if by == "count" else "bytes"
    assert_sorted_desc([r[key] for r in rows], f"rows of --by {by}")
    return rows


@pytest.mark.parametrize("by", ["peak", "leaks", "allocated", "count"])
@pytest.mark.parametrize("group", ["stack", "line", "function", "file"])
def test_table_shape_and_order(profile, by, group):
    cap = profile("kept_vs_freed.py")
    check_rows(cap.table(by, group=group, limit=1000), by, group)


def test_table_without_group_option(profile):
    # The default grouping is not specified; whatever it is, it is reported
    # and the rows are shaped accordingly.
    cap = profile("kept_vs_freed.py")
    table = cap.table("leaks")
    assert table["group"] in ("stack", "line", "function", "file")
    check_rows(table, "leaks", table["group"])


def test_table_limit(profile):
    cap = profile("kept_vs_freed.py")
    rows = check_rows(cap.table("allocated", group="line", limit=2), "allocated", "line")
    assert len(rows) == 2
    top = check_rows(cap.table("leaks", group="line", limit=1), "leaks", "line")
    assert len(top) == 1
    assert (top[0]["file"], top[0]["line"]) == (str(cap.script), cap.line("kept"))
    assert_bytes_about(top[0], 8 * MiB)


def test_table_groupings_aggregate(profile):
    cap = profile("kept_vs_freed.py")
    script = str(cap.script)
    by_function = check_rows(cap.table("peak", group="function", limit=1000), "peak", "function")
    module = [r for r in by_function if r["file"] == script and r["function"] == "<module>"]
    assert len(module) == 1 and module[0]["bytes"] >= 8 * MiB, module
    by_file = check_rows(cap.table("allocated", group="file", limit=1000), "allocated", "file")
    ours = [r for r in by_file if r["file"] == script]
    assert len(ours) == 1, by_file[:20]
    assert ours[0]["bytes"] >= 12 * MiB  # 4 MiB freed + 8 MiB kept, both allocated here


def test_table_by_count(profile):
    cap = profile("kept_vs_freed.py")
    rows = check_rows(cap.table("count", group="line", limit=1000), "count", "line")
    kept = [r for r in rows if r["file"] == str(cap.script) and r["line"] == cap.line("kept")]
    assert len(kept) == 1 and kept[0]["count"] >= 1, kept


def test_table_readable_without_json(profile):
    cap = profile("kept_vs_freed.py")
    result = run_memsleuth("table", cap.path, "--by", "leaks", "--group", "line", cwd=cap.path.parent)
    assert result.returncode == 0, result.describe()
    assert result.out.strip(), result.describe()
    with pytest.raises(ValueError):
        json.loads(result.out)
    assert cap.script.name in result.out, result.describe()
