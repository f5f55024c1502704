"""`memsleuth run --follow-children`: every process of the program writes a
capture named with its pid into one directory, and `summary` and `report`
given that directory show them per process.

Each worker of `children_pool.py` keeps exactly one 3,000,000-byte
bytearray from its initializer (`sys.getsizeof` counts its object and
buffer: 3,000,057 bytes in 2 blocks), so every worker's capture must hold
exactly that at the initializer's line when it ends.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import assert_one_line_error, load_table, marker_line, run_memsleuth, run_python, scenario

KEPT_BYTES = sys.getsizeof(bytearray(3_000_000))
WORKERS = 3


def follow(tmp_path, script, *args):
    out = tmp_path / "run"
    result = run_memsleuth(
        "run", "-q", "--no-report", "--follow-children", "-o", out, scenario(script), *args, cwd=tmp_path
    )
    return out, result


def processes(directory) -> list[dict]:
    result = run_memsleuth("summary", directory, "--json", cwd=directory)
    assert result.returncode == 0, result.describe()
    return json.loads(result.out)["processes"]


def line_bytes(capture, script, marker) -> tuple[int, int]:
    """Bytes and blocks live at the end of `capture` at the marked line."""
    line = marker_line(scenario(script), marker)
    rows = load_table(capture, "leaks", "line")["rows"]
    hits = [r for r in rows if r["file"] == str(scenario(script)) and r["line"] == line]
    return (hits[0]["bytes"], hits[0]["count"]) if hits else (0, 0)


def the_program(found: list[dict]) -> dict:
    (main,) = [p for p in found if p["parent_pid"] is None]
    return main


def assert_named_by_pid(directory, found: list[dict], stem: str):
    names = sorted(p.name for p in directory.glob("*.msl"))
    assert names == sorted(f"{stem}-{p['pid']}.msl" for p in found)


def pool_workers(found: list[dict], started_by: str) -> list[dict]:
    return [p for p in found if p["started_by"] == started_by and p["summary"]["peak_bytes"] >= KEPT_BYTES]


def assert_each_worker_kept_its_buffer(workers: list[dict]):
    for w in workers:
        assert w["complete"], w
        assert line_bytes(w["capture"], "children_pool.py", "kept") == (KEPT_BYTES, 2), w["pid"]


def test_a_spawn_pool_gives_one_capture_per_worker(tmp_path):
    out, result = follow(tmp_path, "children_pool.py", "spawn")
    assert result.returncode == 0, result.describe()
    assert result.out == "30000000\n"
    assert "Error" not in result.err and "Traceback" not in result.err, result.describe()
    found = processes(out)
    main = the_program(found)
    # Spawned workers are new interpreters started by the program; so is the
    # resource tracker, which holds no 3 MB buffer.
    workers = [p for p in found if "--multiprocessing-fork" in p["argv"]]
    assert len(workers) == WORKERS, found
    assert all(w["parent_pid"] == main["pid"] and w["started_by"] == "exec" for w in workers)
    assert_each_worker_kept_its_buffer(workers)
    assert_named_by_pid(out, found, "children_pool")
    # The workers did all the tasks: 6 temporaries of 5,000,000 bytes between them.
    task_line = marker_line(scenario("children_pool.py"), "task")
    allocated = 0
    for w in workers:
        rows = load_table(w["capture"], "allocated", "line")["rows"]
        allocated += sum(r["count"] for r in rows if r["line"] == task_line and r["bytes"] >= 5_000_000)
    assert allocated in (6, 12)  # one or two blocks per task, whatever the version


def run_forking_pool(tmp_path, method: str):
    """Runs the pool with a forking start method; returns the directory,
    every process and the program's own, and the workers."""
    out, result = follow(tmp_path, "children_pool.py", method)
    assert result.returncode == 0, result.describe()
    found = processes(out)
    workers = pool_workers(found, "fork")
    assert len(workers) == WORKERS, found
    return out, found, the_program(found), workers


def test_a_fork_pool_gives_one_capture_per_worker(tmp_path):
    out, found, main, workers = run_forking_pool(tmp_path, "fork")
    assert all(w["parent_pid"] == main["pid"] for w in workers)
    # Forked workers leave with os._exit; their captures are complete anyway.
    assert_each_worker_kept_its_buffer(workers)
    assert len(found) == WORKERS + 1
    assert_named_by_pid(out, found, "children_pool")


def test_a_forkserver_pool_gives_one_capture_per_worker(tmp_path):
    _out, found, main, workers = run_forking_pool(tmp_path, "forkserver")
    # The workers are forked by the fork server, which the program started.
    (server_pid,) = {w["parent_pid"] for w in workers}
    (server,) = [p for p in found if p["pid"] == server_pid]
    assert server["parent_pid"] == main["pid"] and server["started_by"] == "exec"
    assert all(w["depth"] == 2 for w in workers)
    assert_each_worker_kept_its_buffer(workers)


def test_subprocesses_and_forks_are_followed_and_statuses_pass_through(tmp_path):
    out, result = follow(tmp_path, "children_mixed.py")
    assert result.returncode == 5, result.describe()
    assert result.out == "subprocess exit 4\n"
    found = processes(out)
    main = the_program(found)
    (execd,) = [p for p in found if p["started_by"] == "exec"]
    (forked,) = [p for p in found if p["started_by"] == "fork"]
    assert execd["parent_pid"] == forked["parent_pid"] == main["pid"]
    assert all(p["complete"] for p in found)
    # The subprocess's own line, and the fork child's: its capture begins at
    # the fork, so the parent's buffer is not in it.
    rows = load_table(execd["capture"], "leaks", "line")["rows"]
    assert [r["bytes"] for r in rows if r["file"] == "<string>" and r["line"] == 1] == [
        sys.getsizeof(bytearray(7_000_000))
    ]
    assert line_bytes(forked["capture"], "children_mixed.py", "forked") == (
        sys.getsizeof(bytearray(4_000_000)),
        2,
    )
    assert line_bytes(forked["capture"], "children_mixed.py", "parent") == (0, 0)
    # The program's line also grows its module's dict as it binds the name.
    kept = sys.getsizeof(bytearray(2_000_000))
    assert kept <= line_bytes(main["capture"], "children_mixed.py", "parent")[0] < kept + 1024


def test_the_end_of_run_summary_lists_the_processes(tmp_path):
    out = tmp_path / "run"
    result = run_memsleuth(
        "run", "--no-report", "--follow-children", "-o", out, scenario("children_mixed.py"), cwd=tmp_path
    )
    assert result.returncode == 5, result.describe()
    assert re.search(r"^Processes: 3 captures in ", result.err, re.M), result.describe()
    assert re.search(r"^  \d+ +started by \d+ ", result.err, re.M), result.describe()
    assert re.search(r"^  \d+ +forked from \d+ ", result.err, re.M), result.describe()


def test_report_over_a_directory_writes_every_report_and_an_index(tmp_path):
    out, result = follow(tmp_path, "children_mixed.py")
    assert result.returncode == 5, result.describe()
    report = run_memsleuth("report", out, cwd=tmp_path)
    assert report.returncode == 0, report.describe()
    index = (out / "index.html").read_text()
    for capture in out.glob("*.msl"):
        assert capture.with_suffix(".html").is_file()
        pid = capture.stem.rsplit("-", 1)[1]
        assert f'<a href="{capture.with_suffix(".html").name}">{pid}</a>' in index


def test_a_plain_fork_without_following_is_untracked_and_quiet(tmp_path):
    capture = tmp_path / "one.msl"
    result = run_memsleuth("run", "-q", "--no-report", "-o", capture, scenario("children_mixed.py"), cwd=tmp_path)
    assert result.returncode == 5, result.describe()
    # The forked child ends normally, running the exit handlers it inherited;
    # completing the parent's capture is not its job, and it says nothing.
    assert "panicked" not in result.err and "Traceback" not in result.err, result.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.msl"]
    assert line_bytes(capture, "children_mixed.py", "forked") == (0, 0)


def test_the_programs_own_sitecustomize_still_runs(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("MARK = 'user sitecustomize ran'\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    code = (
        "import subprocess, sys\n"
        "cmd = 'import sitecustomize; print(sitecustomize.MARK)'\n"
        "subprocess.run([sys.executable, '-c', cmd], check=True)\n"
    )
    out = tmp_path / "run"
    result = run_memsleuth("run", "-q", "--no-report", "--follow-children", "-o", out, "-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.out == "user sitecustomize ran\n"
    assert len(processes(out)) == 2


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d.write_text("x"), "is a file; with --follow-children, -o names the directory"),
        (lambda d: (d.mkdir(), (d / "old-1.msl").write_bytes(b"")), "already holds captures; pass --force"),
    ],
)
def test_a_bad_output_directory_is_refused(tmp_path, make, message):
    out = tmp_path / "out"
    make(out)
    result = run_memsleuth("run", "--follow-children", "-o", out, "-c", "pass", cwd=tmp_path)
    assert result.returncode == 2
    assert message in assert_one_line_error(result)


def test_summary_of_a_directory_without_captures_is_one_sentence(tmp_path):
    result = run_memsleuth("summary", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    assert "holds no captures (.msl files)" in assert_one_line_error(result)


def test_a_child_forked_inside_a_tracker_block_leaves_it_quietly(tmp_path):
    capture = tmp_path / "api.msl"
    code = (
        "import os, sys, memsleuth\n"
        f"with memsleuth.Tracker({str(capture)!r}):\n"
        "    kept = bytearray(1_000_000)\n"
        "    pid = os.fork()\n"
        "if pid == 0:\n"
        "    sys.exit(0)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('child status', status)\n"
    )
    result = run_python("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.out == "child status 0\n"
    # 3.12+ warn about forking a process with threads (memsleuth's writer);
    # nothing else may be said.
    said = [l for l in result.err.splitlines() if "DeprecationWarning" not in l and not l.startswith("  ")]
    assert said == [], result.describe()
    summary = json.loads(run_memsleuth("summary", capture, "--json", cwd=tmp_path).out)
    assert summary["complete"] is True


def test_a_process_that_execs_python_gets_a_second_capture(tmp_path):
    out, result = follow(tmp_path, "children_exec.py")
    assert result.returncode == 0, result.describe()
    found = processes(out)
    assert len(found) == 2 and found[0]["pid"] == found[1]["pid"]
    before, after = found
    # The exec completed the first capture; the new program wrote its own.
    assert before["complete"] and after["complete"]
    assert line_bytes(before["capture"], "children_exec.py", "before_exec")[0] >= sys.getsizeof(bytearray(1_000_000))
    assert line_bytes(after["capture"], "children_exec.py", "after_exec")[0] >= sys.getsizeof(bytearray(2_000_000))
    pid = before["pid"]
    assert sorted(p.name for p in out.glob("*.msl")) == [f"children_exec-{pid}-2.msl", f"children_exec-{pid}.msl"]


def test_the_tree_is_printed_before_memsleuth_dies_of_the_programs_signal(tmp_path):
    out = tmp_path / "run"
    code = "import os, signal\nkept = bytearray(1_000_000)\nos.kill(os.getpid(), signal.SIGTERM)\n"
    result = run_memsleuth("run", "--no-report", "--follow-children", "-o", out, "-c", code, cwd=tmp_path)
    # memsleuth dies of the signal that ended the program, after saying so
    # and after listing the processes.
    assert result.returncode == -15, result.describe()
    assert "memsleuth: the program was killed by signal 15 (SIGTERM)" in result.err
    assert re.search(r"^Processes: 1 captures in ", result.err, re.M), result.describe()
