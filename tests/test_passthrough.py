"""The profiled program behaves exactly as under plain python (test 8)."""

import json
import os
import shutil

import pytest

from conftest import (
    assert_same_bytes,
    marker_line,
    run_memsleuth,
    run_python,
    scenario,
)

STDIN = b"first line of stdin\nsecond \x00\xff line\n" + b"x" * 100_000 + b"\n"
ARGS = ["a", "b c"]


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_script_io_argv_and_exit_code_pass_through(tmp_path, how):
    if how == "absolute":
        script = scenario("passthrough.py")
        arg0 = str(script)
    else:
        script = tmp_path / "passthrough.py"
        shutil.copyfile(scenario("passthrough.py"), script)
        arg0 = "passthrough.py"
    plain = run_python(arg0, *ARGS, cwd=tmp_path, stdin=STDIN)
    prof = run_memsleuth("run", "--quiet", "-o", tmp_path / "cap.msl", arg0, *ARGS,
                         cwd=tmp_path, stdin=STDIN)
    assert plain.returncode == 3, plain.describe()
    assert prof.returncode == 3, prof.describe()
    assert_same_bytes(prof.stdout, plain.stdout, "stdout")
    assert_same_bytes(prof.stderr, plain.stderr, "stderr")
    report = json.loads(prof.out.splitlines()[1])
    assert report["argv"] == [arg0, *ARGS]
    assert report["name"] == "__main__"
    assert os.path.samefile(report["path0"], script.parent)
    if how == "absolute":
        assert report["path0"] == str(script.parent)
    assert report["cwd"] == os.path.realpath(tmp_path)
    assert report["stdin_len"] == len(STDIN)
    assert STDIN in prof.stdout
    assert (tmp_path / "cap.msl").is_file()


def _traceback(err: str):
    """(File lines, last line) of the traceback in ``err``."""
    lines = err.splitlines()
    assert "Traceback (most recent call last):" in lines, err
    start = lines.index("Traceback (most recent call last):")
    return [l for l in lines[start:] if l.startswith('  File "')], lines[-1]


def test_uncaught_exception(tmp_path):
    script = scenario("raises.py")
    plain = run_python(script, cwd=tmp_path)
    prof = run_memsleuth("run", "--quiet", "-o", tmp_path / "cap.msl", script, cwd=tmp_path)
    assert plain.returncode == 1, plain.describe()
    assert prof.returncode == 1, prof.describe()
    assert_same_bytes(prof.stdout, plain.stdout, "stdout")
    expected_files = [
        f'  File "{script}", line {marker_line(script, "call_main")}, in <module>',
        f'  File "{script}", line {marker_line(script, "call_fail")}, in main',
        f'  File "{script}", line {marker_line(script, "raise")}, in fail',
    ]
    assert _traceback(plain.err) == (expected_files, "ValueError: boom"), plain.err
    assert _traceback(prof.err) == (expected_files, "ValueError: boom"), prof.err
    # No profiler or runpy frames (ignoring the scenario path itself, in case
    # the checkout lives under a directory called memsleuth).
    for line in prof.err.replace(str(script), "<script>").splitlines():
        assert "memsleuth" not in line and "runpy" not in line, prof.err


def test_dash_m(tmp_path):
    module_file = tmp_path / "msl_argv_probe.py"
    shutil.copyfile(scenario("argv_report.py"), module_file)
    plain = run_python("-m", "msl_argv_probe", *ARGS, cwd=tmp_path)
    prof = run_memsleuth("run", "--quiet", "-o", tmp_path / "cap.msl", "-m", "msl_argv_probe",
                         *ARGS, cwd=tmp_path)
    assert plain.returncode == 0, plain.describe()
    assert prof.returncode == 0, prof.describe()
    assert_same_bytes(prof.stdout, plain.stdout, "stdout")
    assert prof.stderr == b"", prof.describe()
    report = json.loads(prof.out)
    assert report["name"] == "__main__"
    assert report["argv"][1:] == ARGS
    assert os.path.isabs(report["argv"][0]) and os.path.samefile(report["argv"][0], module_file)


def test_dash_c(tmp_path):
    code = "import json, sys; print(json.dumps({'argv': sys.argv, 'name': __name__}))"
    plain = run_python("-c", code, *ARGS, cwd=tmp_path)
    prof = run_memsleuth("run", "--quiet", "-o", tmp_path / "cap.msl", "-c", code, *ARGS,
                         cwd=tmp_path)
    assert plain.returncode == 0, plain.describe()
    assert prof.returncode == 0, prof.describe()
    assert_same_bytes(prof.stdout, plain.stdout, "stdout")
    assert prof.stderr == b"", prof.describe()
    assert json.loads(prof.out) == {"argv": ["-c", *ARGS], "name": "__main__"}


def test_dash_c_exit_code(tmp_path):
    prof = run_memsleuth("run", "--quiet", "-o", tmp_path / "cap.msl", "-c",
                         "import sys; sys.exit(7)", cwd=tmp_path)
    assert prof.returncode == 7, prof.describe()
