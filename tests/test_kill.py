"""A profiled program killed by SIGKILL (test 9) or interrupted by Ctrl-C, and
captures cut short."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import (
    MiB,
    assert_bytes_about,
    chunk_layout,
    load_summary,
    marker_line,
    memsleuth_cmd,
    run_memsleuth,
    scenario,
    single_site_at,
)

READY_DEADLINE_S = 60  # generous: covers interpreter start-up on a loaded machine
FLUSH_DEADLINE_S = 10


def read_line(stream, deadline: float) -> bytes:
    """One line from a pipe, byte by byte (so nothing after it is consumed),
    failing at ``deadline`` rather than hanging if the line never comes."""
    fd, buf = stream.fileno(), b""
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no complete line before the deadline; got {buf!r}"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 1)
            assert chunk, f"end of output before a complete line; got {buf!r}"
            buf += chunk
    return buf


def ppid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return int(re.search(r"^PPid:\s+(\d+)$", f.read(), re.M).group(1))


def profiled_children(parent: int, needle: str) -> list:
    """Children of ``parent`` whose command line mentions ``needle``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == parent:
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            if needle.encode() in cmdline and ppid_of(pid) == parent:
                found.append(pid)
        except (OSError, AttributeError):
            continue  # exited meanwhile, or not ours to read
    return found


def hold_site_shows(capture, script, line) -> bool:
    """Whether a summary of the (live) capture already has the 20 MiB site."""
    result = run_memsleuth("summary", capture, "--json", cwd=capture.parent)
    if result.returncode != 0:
        return False  # e.g. nothing flushed yet
    summary = json.loads(result.out)
    return any(
        s["file"] == str(script) and s["line"] == line and s["bytes"] >= 20 * MiB
        for s in summary["peak_sites"]
    )


def test_sigkill_of_profiled_process(tmp_path):
    script = scenario("killed.py")
    hold = marker_line(script, "hold")
    capture = tmp_path / "killed.msl"
    proc = subprocess.Popen(
        memsleuth_cmd("run", "-o", capture, script),
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # 1. The program holds its 20 MiB and says so.
        assert read_line(proc.stdout, time.monotonic() + READY_DEADLINE_S) == b"ready\n"

        # 2. Wait for a *condition*, not a duration: the tracker flushes its
        #    capture periodically (~100 ms), and we want the 20 MiB allocation
        #    on disk before the kill. Poll the live capture with `summary`
        #    until the site is there; the short pause only paces the polling,
        #    and the deadline only turns a hang into a failure.
        deadline = time.monotonic() + FLUSH_DEADLINE_S
        while not hold_site_shows(capture, script, hold):
            assert time.monotonic() < deadline, (
                f"the 20 MiB allocation never reached {capture} "
                f"({capture.stat().st_size if capture.exists() else 'no file'} bytes)"
            )
            time.sleep(0.05)

        # 3. Kill the profiled process itself, not memsleuth.
        children = profiled_children(proc.pid, str(script))
        assert len(children) == 1, (
            f"expected one child of memsleuth (pid {proc.pid}) running {script}, found {children}"
        )
        os.kill(children[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    err_text = err.decode("utf-8", "replace")
    assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), (proc.returncode, err_text)
    assert any("killed by signal" in l and "SIGKILL" in l for l in err_text.splitlines()), err_text
    assert "Traceback" not in err_text and "panicked" not in err_text, err_text
    assert out == b"", out  # "ready" was the program's only output and we consumed it

    summary = load_summary(capture)
    assert summary["complete"] is False
    assert isinstance(summary["lost_bytes"], int) and summary["lost_bytes"] >= 0
    site = single_site_at(summary["peak_sites"], script, hold, "peak sites")
    assert site["function"] == "<module>"
    assert_bytes_about(site, 20 * MiB)
    assert summary["peak_bytes"] >= 20 * MiB


def test_capture_cut_short_still_reads(big_run, tmp_path):
    """A file ending inside its last chunk (what a kill mid-write leaves) reads
    back: incomplete, with the partial bytes counted as lost."""
    data = big_run.path.read_bytes()
    cut = tmp_path / "cut.msl"
    cut.write_bytes(data[:-1])
    summary = load_summary(cut)
    assert summary["complete"] is False
    assert summary["lost_bytes"] > 0
    layout = chunk_layout(data)
    if layout is not None:  # the format crate's layout: the exact count is known
        last_start = layout[-1][0]
        assert summary["lost_bytes"] == len(data) - 1 - last_start


def test_capture_with_only_complete_chunks_reads(big_run, tmp_path):
    """Cut exactly at a chunk boundary before the end: nothing partial is
    lost, but the end-of-tracking record is missing."""
    data = big_run.path.read_bytes()
    layout = chunk_layout(data)
    if layout is None:
        pytest.skip("capture does not have the chunk layout of crates/format")
    cut = tmp_path / "boundary.msl"
    cut.write_bytes(data[: layout[-1][0]])
    summary = load_summary(cut)
    assert summary["complete"] is False
    assert summary["lost_bytes"] == 0


# System calls `time.sleep` waits in, across the supported Pythons (x86_64).
SLEEP_SYSCALLS = {"23", "35", "230", "270"}  # select, nanosleep, clock_nanosleep, pselect6


def wait_until_sleeping(pid: int, deadline: float) -> None:
    """Waits until ``pid`` is blocked in one of the sleep system calls."""
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/syscall") as f:
            if f.read().split(" ", 1)[0] in SLEEP_SYSCALLS:
                return
        time.sleep(0.001)  # polling a condition, not waiting for one to happen by itself
    raise AssertionError(f"process {pid} never went to sleep")


def interrupt_when_ready(cmd, tmp_path, script, *, whole_group: bool):
    """Runs ``cmd``, waits for its "ready" line, then sends SIGINT as a
    terminal's Ctrl-C does: to every process of the job. Returns the exit
    status and stderr."""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # As a shell starts a foreground job: with Ctrl-C's default action,
        # even when this suite was itself started in the background, where
        # SIGINT is ignored and Python would then install no handler for it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert read_line(proc.stdout, time.monotonic() + READY_DEADLINE_S) == b"ready\n"
        targets = [proc.pid]
        if whole_group:
            targets += profiled_children(proc.pid, str(script))
            assert len(targets) == 2, f"expected memsleuth and its program, found {targets}"
        # "ready" is printed just before the sleep: interrupt only once the
        # program is in it, or the traceback may point at the print.
        wait_until_sleeping(targets[-1], time.monotonic() + READY_DEADLINE_S)
        for pid in targets:
            os.kill(pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err.decode("utf-8", "replace")


def traceback_part(stderr: str) -> list:
    """The traceback's lines, up to its final KeyboardInterrupt line."""
    lines = stderr.splitlines()
    end = lines.index("KeyboardInterrupt")
    start = lines.index("Traceback (most recent call last):")
    return lines[start : end + 1]


def test_ctrl_c_interrupts_the_program_as_under_python(tmp_path):
    script = scenario("interrupted.py")
    capture = tmp_path / "interrupted.msl"
    plain_status, plain_err = interrupt_when_ready(
        [sys.executable, script], tmp_path, script, whole_group=False
    )
    status, err = interrupt_when_ready(
        memsleuth_cmd("run", "-o", capture, script), tmp_path, script, whole_group=True
    )
    # Python dies of the SIGINT it could not handle; memsleuth does the same.
    assert plain_status == -signal.SIGINT, plain_err
    assert status == -signal.SIGINT, err
    assert traceback_part(err) == traceback_part(plain_err)
    assert f"line {marker_line(script, 'sleep')}, in <module>" in err
    assert "memsleuth: the program was killed by signal 2 (SIGINT)" in err.splitlines()
    # The runner closed the capture on its way out, so it is complete.
    summary = load_summary(capture, cwd=tmp_path)
    assert summary["complete"] is True
    held = single_site_at(summary["leak_sites"], script, marker_line(script, "held"), "leak sites")
    assert_bytes_about(held, 3 * MiB)
