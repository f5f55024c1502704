"""Temporaries (docs/definitions.md): blocks freed before the thread that
allocated them allocated anything else, ranked by `memsleuth table --by
temporary`."""

from __future__ import annotations

from conftest import rows_at, run_memsleuth

N = 5000


def test_temporaries_are_counted_at_their_line(profile):
    cap = profile("temporaries.py")
    rows = cap.table("temporary", "line", 0)["rows"]
    (churn,) = rows_at(rows, cap.script, cap.line("temp"))
    # Exactly the buffers: 1,001 bytes each; not the objects around them.
    assert churn["count"] == N
    assert churn["bytes"] == N * 1001
    assert churn["function"] == "churn"
    # It is the biggest churn of the program.
    assert rows[0] == churn
    # Blocks that stay alive are never temporaries.
    assert rows_at(rows, cap.script, cap.line("kept")) == []


def test_temporaries_in_the_terminal(profile):
    cap = profile("temporaries.py")
    result = run_memsleuth("table", cap.path, "--by", "temporary", "--limit", "1", cwd=cap.path.parent)
    assert result.returncode == 0, result.describe()
    lines = result.out.splitlines()
    assert lines[0] == "Sites by number of temporaries (blocks freed before their thread allocated again), grouped by line:"
    # bytes (a number and its unit), share, count, layer, site
    fields = lines[2].split()
    assert fields[3] == "5,000", lines[2]
    # The path is shortened from the left to fit 100 columns.
    assert fields[-1].endswith(f"/temporaries.py:{cap.line('temp')})") and fields[-2] == "churn", lines[2]
