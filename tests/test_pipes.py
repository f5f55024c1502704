"""A reader that stops early is not an error: `memsleuth stacks CAPTURE | head`."""

import subprocess

from conftest import memsleuth_cmd


def test_stacks_into_a_closed_pipe_ends_quietly(profile):
    capture = profile("many_stacks.py")
    proc = subprocess.Popen(
        memsleuth_cmd("stacks", capture.path, "--at", "all"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    # Like `head -n 1`: stop reading. The output is several pipe buffers long,
    # so memsleuth is still writing and gets EPIPE.
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert first.rstrip().rsplit(b" ", 1)[1].isdigit()
    assert err == b""


def test_stacks_output_is_larger_than_a_pipe_buffer(profile):
    capture = profile("many_stacks.py")
    result = subprocess.run(memsleuth_cmd("stacks", capture.path, "--at", "all"), capture_output=True)
    assert result.returncode == 0
    assert len(result.stdout) > 4 * 65536
    # One line per stack and layer: count the distinct stacks.
    stacks = {line.rsplit(b";", 1)[0] for line in result.stdout.splitlines() if b"<generated-" in line}
    assert len(stacks) == 4000
