"""The live view (`memsleuth live`, `memsleuth run --live`), driven for real
in tmux: keys are sent with `send-keys`, the screen is read with
`capture-pane`, and every wait polls the screen or a file until a deadline.

The program is `scenarios/live_service.py`: one line keeps 20 MiB, another
grows steadily, and it runs until a release file named in its argv appears,
then exits with status 3. tmux is required (CI installs it)."""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (
    assert_one_line_error,
    load_summary,
    marker_line,
    memsleuth_cmd,
    run_memsleuth,
    scenario,
)

SERVICE = scenario("live_service.py")
KEEP = f"live_service.py:{marker_line(SERVICE, 'keep')}"
GROW = f"live_service.py:{marker_line(SERVICE, 'grow')}"
DEADLINE = 30.0
_sessions = itertools.count()


def wait_until(check, what: str, describe=lambda: "", timeout: float = DEADLINE):
    """Polls `check` until it returns something truthy; fails with `what` and
    `describe()` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}\n{describe()}")
        time.sleep(0.1)


class Tmux:
    """One tmux server of its own (a private socket), one session in it."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.socket = f"memsleuth-live-{os.getpid()}-{next(_sessions)}"
        self.session = "live"
        self.status_file = cwd / "status"

    def tmux(self, *args, check=True) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                                text=True, timeout=20)
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {args} failed: {result.stderr}")
        return result.stdout

    def start(self, command: list):
        """Runs `command` in a 120x40 terminal; its exit status goes to `status`."""
        shell = f"{shlex.join(str(c) for c in command)}; echo $? > {shlex.quote(str(self.status_file))}; sleep 600"
        self.tmux("new-session", "-d", "-s", self.session, "-x", "120", "-y", "40",
                  "-c", str(self.cwd), shell)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-t", self.session, check=False)

    def keys(self, *keys: str):
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, check, what: str) -> str:
        """Waits until `check(screen)` holds; returns that screen."""
        def look():
            text = self.screen()
            return text if check(text) else None
        return wait_until(look, what, lambda: f"--- screen ---\n{self.screen()}")

    def exit_status(self) -> int:
        text = wait_until(lambda: self.status_file.is_file() and self.status_file.read_text().strip(),
                          "the command to end", lambda: f"--- screen ---\n{self.screen()}",
                          timeout=60)
        return int(text)

    def close(self):
        self.tmux("kill-server", check=False)


def top_row(screen: str) -> str:
    """The first row under the sites table's header, '' when there is none."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("LIVE") and "SITE" in line:
            return lines[i + 1] if i + 1 < len(lines) else ""
    return ""


def footer(screen: str) -> str:
    return next((l for l in reversed(screen.splitlines()) if l.startswith("q quit")), "")


@pytest.fixture
def service(tmp_path):
    """(cwd, release file); releases the program whatever the test did."""
    release = tmp_path / "release"
    yield tmp_path, release
    release.touch()


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(tmp_path)
    yield session
    session.close()


def start_live_run(tmux: Tmux, cwd: Path, release: Path) -> Path:
    capture = cwd / "svc.msl"
    tmux.start(memsleuth_cmd("run", "--live", "-o", capture, SERVICE, release))
    return capture


def test_run_live_shows_the_line_holding_20_mib_on_top(tmux, service):
    cwd, release = service
    start_live_run(tmux, cwd, release)
    screen = tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
    assert "20.0 MiB" in top_row(screen), screen
    assert "s sort: live bytes" in footer(screen), screen
    assert "live_service.py" in screen.splitlines()[0], screen
    assert "running" in screen.splitlines()[0], screen
    assert "output svc.out   capture svc.msl" in screen, screen


def test_the_view_closes_when_its_terminal_hangs_up(tmux, service):
    # A dropped SSH connection or a killed tmux server: the view must end
    # by itself, not spin on a terminal that is gone.
    cwd, release = service
    capture = start_live_run(tmux, cwd, release)
    tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
    tmux.close()
    pattern = f"run --live -o {capture}"
    wait_until(
        lambda: subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 1,
        "memsleuth run --live to end after the hang-up",
        lambda: subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout,
    )


def start_plain_run(cwd: Path, release: Path) -> tuple:
    """`memsleuth run -o plain.msl` on the service, its output in run.out;
    returns (process, capture) once the program has made its 20 MiB."""
    capture = cwd / "plain.msl"
    log = cwd / "run.out"
    with open(log, "wb") as out:
        run = subprocess.Popen(memsleuth_cmd("run", "-q", "-o", capture, SERVICE, release),
                               cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    wait_until(lambda: "live_service started" in log.read_text(), "the service to start",
               lambda: log.read_text())
    return run, capture


def test_the_sort_key_puts_the_growing_line_on_top(tmux, service):
    # Growth is measured from the view's first frame, so the view opens on a
    # capture that already holds the 20 MiB: only the growing line grows.
    cwd, release = service
    run, capture = start_plain_run(cwd, release)
    try:
        tmux.start(memsleuth_cmd("live", capture))
        tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
        tmux.keys("s")
        screen = tmux.wait_for(lambda s: GROW in top_row(s) and "sort: growth" in footer(s),
                               f"{GROW} on top, sorted by growth")
        assert "+" in top_row(screen), screen
        assert "sorted by growth" in screen, screen
        tmux.keys("s")
        tmux.wait_for(lambda s: "sort: blocks" in footer(s), "the sort to move on to blocks")
        tmux.keys("q")
        assert tmux.exit_status() == 0, tmux.screen()
    finally:
        release.touch()
        assert run.wait(timeout=60) == 3


def test_quitting_leaves_the_program_running_and_its_status_passes_through(tmux, service):
    cwd, release = service
    capture = start_live_run(tmux, cwd, release)
    tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "keeps running" in s, "the keeps-running line")
    assert f"tracked into {capture}" in screen, screen
    size = capture.stat().st_size
    wait_until(lambda: capture.stat().st_size > size, "the capture to keep growing")
    assert not tmux.status_file.exists(), "memsleuth run ended when the view closed"
    release.touch()
    assert tmux.exit_status() == 3, tmux.screen()
    summary = load_summary(capture)
    assert summary["complete"], summary
    out = (cwd / "svc.out").read_text()
    assert "live_service started" in out and "released" in out, out


def test_the_view_says_when_the_program_ends_and_the_summary_follows_on_quit(tmux, service):
    cwd, release = service
    start_live_run(tmux, cwd, release)
    tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
    release.touch()
    tmux.wait_for(lambda s: "finished: exit status 3" in s, "the view to say the program ended")
    tmux.keys("q")
    assert tmux.exit_status() == 3, tmux.screen()
    screen = tmux.screen()
    assert "program's output is in" in screen, screen


def test_live_follows_the_capture_of_a_running_program(tmux, service):
    cwd, release = service
    run, capture = start_plain_run(cwd, release)
    try:
        tmux.start(memsleuth_cmd("live", "--wait", capture))
        screen = tmux.wait_for(lambda s: KEEP in top_row(s), f"{KEEP} as the top site")
        assert "running" in screen.splitlines()[0], screen
        size = capture.stat().st_size
        tmux.keys("q")
        assert tmux.exit_status() == 0, tmux.screen()
        wait_until(lambda: capture.stat().st_size > size, "the capture to keep growing")
    finally:
        release.touch()
        assert run.wait(timeout=60) == 3
    assert load_summary(capture)["complete"]


def test_live_on_a_finished_capture_shows_the_final_state(tmux, service):
    cwd, release = service
    release.touch()
    capture = cwd / "done.msl"
    result = run_memsleuth("run", "-q", "--no-report", "-o", capture, SERVICE, release, cwd=cwd)
    assert result.returncode == 3, result.describe()
    tmux.start(memsleuth_cmd("live", capture))
    screen = tmux.wait_for(lambda s: "finished" in s.splitlines()[0] if s else False,
                           "the view to say the program finished")
    assert KEEP in top_row(screen), screen
    tmux.keys("Escape")
    assert tmux.exit_status() == 0, tmux.screen()


# --------------------------------------------------------------------------
# Bad input: one line, status 2, never a panic
# --------------------------------------------------------------------------


def test_live_on_a_missing_capture_is_one_line(tmp_path):
    result = run_memsleuth("live", "missing.msl", cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert "missing.msl does not exist" in line and "--wait" in line, line


def test_live_on_a_file_that_is_not_a_capture_is_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("this is not a capture, it is a note\n")
    result = run_memsleuth("live", "notes.txt", cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert "not a memsleuth capture" in assert_one_line_error(result)


def test_live_without_a_terminal_says_it_needs_one(tmp_path):
    capture = tmp_path / "c.msl"
    made = run_memsleuth("run", "-q", "--no-report", "-o", capture, scenario("empty.py"), cwd=tmp_path)
    assert made.returncode == 0, made.describe()
    result = run_memsleuth("live", capture, cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert "needs a terminal" in line and "memsleuth summary" in line, line


def test_run_live_without_a_terminal_does_not_start_the_program(tmp_path):
    release = tmp_path / "release"
    result = run_memsleuth("run", "--live", "-o", tmp_path / "x.msl", SERVICE, release, cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert "needs a terminal" in assert_one_line_error(result)
    assert not (tmp_path / "x.msl").exists()


def test_a_file_that_is_not_a_capture_in_a_terminal_restores_it_and_says_why(tmux, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("")
    tmux.start(memsleuth_cmd("live", notes))
    tmux.wait_for(lambda s: "waiting" in s or "no new data" in s or "memsleuth live" in s,
                  "the view on an empty file")
    notes.write_text("this is not a capture, it is a note\n")
    assert tmux.exit_status() == 2, tmux.screen()
    screen = tmux.screen()
    assert "memsleuth: error: cannot read capture" in screen, screen
    assert "not a memsleuth capture" in screen, screen
    assert "panicked" not in screen
