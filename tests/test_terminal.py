"""Terminal output: colour only on a terminal and never with NO_COLOR, human
units by default and exact integers with --bytes."""

from __future__ import annotations

import os
import pty
import re
import subprocess

import pytest

from conftest import RUN_TIMEOUT, memsleuth_cmd, run_memsleuth

BOLD = "\x1b[1m"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def big(profile):
    return profile("big_alloc.py")


def run_on_terminal(args, cwd, env_extra: dict) -> str:
    """Runs memsleuth with a pseudo-terminal as stdout; returns what it wrote."""
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(env_extra)
    proc = subprocess.Popen(memsleuth_cmd(*args), cwd=cwd, stdout=secondary, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(timeout=RUN_TIMEOUT) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("command", [["summary"], ["table", "--by", "peak"]])
def test_colour_only_on_a_terminal_without_no_color(big, command):
    args = [command[0], big.path, *command[1:]]
    on_terminal = run_on_terminal(args, big.path.parent, {})
    assert BOLD in on_terminal
    assert BOLD not in run_on_terminal(args, big.path.parent, {"NO_COLOR": "1"})
    # An empty NO_COLOR does not count (no-color.org).
    assert BOLD in run_on_terminal(args, big.path.parent, {"NO_COLOR": ""})
    piped = run_memsleuth(*args, cwd=big.path.parent)
    assert piped.returncode == 0, piped.describe()
    assert not ANSI.search(piped.out)
    # Colour changes nothing else.
    assert ANSI.sub("", on_terminal).replace("\r\n", "\n") == piped.out


def test_bytes_are_exact_with_the_flag(big):
    peak = big.summary["peak_bytes"]
    human = run_memsleuth("summary", big.path, cwd=big.path.parent)
    exact = run_memsleuth("summary", big.path, "--bytes", cwd=big.path.parent)
    assert human.returncode == exact.returncode == 0, exact.describe()
    assert re.search(r"peak tracked memory  10\.\d MiB at", human.out), human.out
    assert f"peak tracked memory  {peak} B at" in exact.out, exact.out
    assert "MiB" not in exact.out and "KiB" not in exact.out

    table = run_memsleuth("table", big.path, "--by", "peak", "--bytes", cwd=big.path.parent)
    assert table.returncode == 0, table.describe()
    line = next(line for line in table.out.splitlines() if f":{big.line('big')})" in line)
    assert int(line.split()[0]) >= 10 * 1024 * 1024
