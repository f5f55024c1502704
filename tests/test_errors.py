"""Bad inputs give one clean error line (test 10)."""

import shutil

import pytest

from conftest import (
    assert_one_line_error,
    chunk_layout,
    load_summary,
    run_memsleuth,
    scenario,
)


def corrupt_copy(src, dst) -> int:
    """Copies ``src`` to ``dst`` with one byte in the middle inverted; returns
    its offset. With the format crate's layout known, the byte is the chunk
    payload byte nearest the middle (every chunk is checksummed, so damage
    there is always detectable, whereas damage to a length field can look
    like a file cut short)."""
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    offset = middle
    layout = chunk_layout(bytes(data))
    if layout is not None:
        candidates = [
            min(max(middle, payload), end - 1)
            for _, payload, end in layout
            if end > payload
        ]
        offset = min(candidates, key=lambda o: abs(o - middle))
    data[offset] ^= 0xFF
    dst.write_bytes(bytes(data))
    return offset


@pytest.mark.parametrize("kind", ["corrupted", "foreign", "empty", "missing"])
def test_bad_capture_gives_one_error_line(big_run, tmp_path, kind):
    target = tmp_path / f"{kind}.msl"
    if kind == "corrupted":
        corrupt_copy(big_run.path, target)
    elif kind == "foreign":
        target.write_text("This is a text file, not a memsleuth capture.\n" * 50)
    elif kind == "empty":
        target.write_bytes(b"")
    result = run_memsleuth("summary", target, "--json", cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    assert_one_line_error(result)
    assert result.stdout == b"", result.describe()


def test_undamaged_copy_reads(big_run, tmp_path):
    # Control for the corruption case: the same file, copied intact, reads.
    target = tmp_path / "intact.msl"
    shutil.copyfile(big_run.path, target)
    assert load_summary(target)["complete"] is True


def test_missing_script(tmp_path):
    result = run_memsleuth("run", tmp_path / "missing_script.py", cwd=tmp_path)
    assert result.returncode != 0, result.describe()
    line = assert_one_line_error(result, prefix=None)
    assert "missing_script.py" in line


def test_existing_capture_is_not_overwritten_without_force(tmp_path):
    script = scenario("marker_writer.py")
    existing = tmp_path / "existing.msl"
    original = b"precious: not to be overwritten\n"
    existing.write_bytes(original)
    ran = tmp_path / "ran.marker"

    refused = run_memsleuth("run", "-o", existing, script, ran, cwd=tmp_path)
    assert refused.returncode != 0, refused.describe()
    line = assert_one_line_error(refused, prefix=None)
    assert existing.name in line and "--force" in line, line
    assert existing.read_bytes() == original
    assert not ran.exists(), "the program ran although the capture was refused"

    forced = run_memsleuth("run", "--quiet", "--force", "-o", existing, script, ran, cwd=tmp_path)
    assert forced.returncode == 0, forced.describe()
    assert ran.read_text() == "ran\n"
    assert existing.read_bytes() != original
    assert load_summary(existing)["complete"] is True
