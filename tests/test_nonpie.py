"""Regression: profiling in a non-PIE interpreter whose executable takes the
address of malloc & co.

In such an executable (Debian's /usr/bin/python3.11 is one) the linker gives
`malloc` a canonical PLT entry: the executable exports `malloc` with the
address of its own PLT stub, and the dynamic linker binds every address
reference to `malloc`, in every library, to that stub, so that function
pointers compare equal. memsleuth patches the executable's GOT too, so once
that was done its own pass-through call to "malloc" went through the stub
back into its hook and recursed until the stack overflowed (SIGSEGV).

The suite reproduces that layout on any Linux x86_64 machine: it builds
tests/native/nonpie_python.c (a `Py_BytesMain` interpreter that stores the
addresses of malloc, free, calloc, realloc, mmap and dlopen) with
`-no-pie -fno-pic` against the shared libpython of the interpreter running the
tests, checks with readelf that the result has the canonical PLT entries, and
profiles tests/scenarios/native_nonpie.py in it.

Expected sizes come from the scenario (it prints them as JSON) and from
sys.getsizeof, never from a previous run of memsleuth.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import (
    NATIVE_DIR,
    RUN_TIMEOUT,
    Result,
    marker_line,
    scenario,
)

SOURCE = NATIVE_DIR / "nonpie_python.c"
SCENARIO = "native_nonpie.py"

# The functions whose addresses the C source takes. `mmap` is the plain
# symbol (the source reaches it despite Python.h's _FILE_OFFSET_BITS=64,
# which renames `mmap` to `mmap64` in C).
ADDRESS_TAKEN = ("malloc", "free", "calloc", "realloc", "mmap", "dlopen")

# Layers in which the Python objects a ctypes call or an mmap.mmap() creates
# at the calling line (its result, the mmap object) legitimately appear next
# to the native block under test.
PYTHON_OBJECT_LAYERS = ("python-object", "python-mem")

# What a crashed or aborted profiled program leaves on stderr.
CRASH_SIGNS = ("Segmentation fault", "SIGSEGV", "killed by signal", "Fatal Python error",
               "panicked", "Traceback")

# `summary --limit` large enough for every site (0 would list none).
ALL_SITES = 100_000


# --------------------------------------------------------------------------
# Running the non-PIE interpreter
# --------------------------------------------------------------------------


def memsleuth_pythonpath() -> str:
    """The directory holding the `memsleuth` package the tests use (found
    without importing it, so a rebuild in progress cannot break this)."""
    spec = importlib.util.find_spec("memsleuth")
    assert spec is not None and spec.origin, f"memsleuth is not importable by {sys.executable}"
    return str(Path(spec.origin).resolve().parent.parent)


def run_in(binary: Path, *args, cwd) -> Result:
    """``binary ARGS`` in ``cwd``, with memsleuth's package directory on
    PYTHONPATH (the embedded interpreter has the base installation's paths,
    not the test venv's)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (memsleuth_pythonpath(), env.get("PYTHONPATH")) if p)
    cmd = [str(binary), *[str(a) for a in args]]
    try:
        proc = subprocess.run(cmd, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"timed out after {RUN_TIMEOUT}s: {cmd}\n--- stdout ---\n{(e.stdout or b'')[-4000:]!r}\n"
            f"--- stderr ---\n{(e.stderr or b'')[-4000:]!r}")
    return Result(cmd, proc.returncode, proc.stdout, proc.stderr, -1)


def assert_clean_exit(result: Result) -> None:
    assert result.returncode == 0, result.describe()
    for sign in CRASH_SIGNS:
        assert sign not in result.err, f"{sign!r} on stderr\n{result.describe()}"


def build_command(out: Path) -> list:
    """The cc command line that builds SOURCE as a non-PIE executable linked
    against this interpreter's shared libpython."""
    cfg = sysconfig.get_config_var
    paths = sysconfig.get_paths()
    includes = dict.fromkeys([paths["include"], paths["platinclude"]])
    libdir, ldversion = cfg("LIBDIR"), cfg("LDVERSION")
    return [
        "cc", "-no-pie", "-fno-pic", "-O0", "-g",
        *[f"-I{d}" for d in includes],
        "-o", str(out), str(SOURCE),
        f"-L{libdir}", f"-lpython{ldversion}", f"-Wl,-rpath,{libdir}",
        *shlex.split(cfg("LIBS") or ""), *shlex.split(cfg("SYSLIBS") or ""),
    ]


@pytest.fixture(scope="module")
def nonpie_python(tmp_path_factory) -> Path:
    """tests/native/nonpie_python.c built as a non-PIE interpreter."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        pytest.fail(
            f"{sys.executable} has no shared libpython (Py_ENABLE_SHARED is false): this test "
            "embeds the interpreter in a non-PIE executable and needs a CPython built with "
            "--enable-shared (e.g. `PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install`)",
            pytrace=False)
    libdir = Path(sysconfig.get_config_var("LIBDIR"))
    ldlibrary = sysconfig.get_config_var("LDLIBRARY")
    assert (libdir / ldlibrary).exists(), (
        f"Py_ENABLE_SHARED is set but {libdir / ldlibrary} does not exist")
    for tool in ("cc", "readelf"):
        assert shutil.which(tool), f"{tool} is needed to build and check the non-PIE interpreter"
    out_dir = tmp_path_factory.mktemp("nonpie")
    out = out_dir / "nonpie_python"
    cmd = build_command(out)
    proc = subprocess.run(cmd, cwd=str(out_dir), capture_output=True, timeout=RUN_TIMEOUT)
    result = Result(cmd, proc.returncode, proc.stdout, proc.stderr, -1)
    assert result.returncode == 0 and out.is_file(), result.describe()
    return out


def dynamic_symbols(binary: Path) -> dict:
    """{name without version: (value, section index)} of the FUNC entries in
    the dynamic symbol table."""
    proc = subprocess.run(["readelf", "-W", "--dyn-syms", str(binary)], capture_output=True,
                          text=True, check=True)
    symbols = {}
    for line in proc.stdout.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name [(version index)]
        if len(fields) >= 8 and fields[0].endswith(":") and fields[3] == "FUNC":
            name = fields[7].split("@")[0]
            symbols[name] = (int(fields[1], 16), fields[6])
    return symbols


# --------------------------------------------------------------------------
# The binary really is the case under test
# --------------------------------------------------------------------------


def test_binary_is_a_non_pie_executable(nonpie_python):
    proc = subprocess.run(["readelf", "-h", str(nonpie_python)], capture_output=True, text=True,
                          check=True)
    m = re.search(r"^\s*Type:\s*(\S+)", proc.stdout, re.M)
    assert m and m.group(1) == "EXEC", proc.stdout


@pytest.mark.parametrize("name", ADDRESS_TAKEN)
def test_binary_has_a_canonical_plt_entry(nonpie_python, name):
    # An undefined function with a non-zero value in the executable's dynamic
    # symbol table: the address of its PLT stub, which the dynamic linker
    # hands out as the function's address to every object.
    symbols = dynamic_symbols(nonpie_python)
    assert name in symbols, f"{name} is not in the dynamic symbol table: {sorted(symbols)}"
    value, ndx = symbols[name]
    assert ndx == "UND" and value != 0, (name, hex(value), ndx)


def test_binary_runs_this_python(nonpie_python, tmp_path):
    result = run_in(nonpie_python, "-c", "import sys; print(sys.version)", cwd=tmp_path)
    assert_clean_exit(result)
    assert result.err == "", result.describe()
    assert result.out == sys.version + "\n", result.describe()


def test_dlsym_answers_the_executables_stub(nonpie_python, tmp_path):
    # What made the pass-through recurse: looked up by name, "malloc" is the
    # executable's PLT stub, not libc's malloc.
    code = ("import ctypes; print(ctypes.cast(ctypes.CDLL(None).malloc, ctypes.c_void_p).value)")
    result = run_in(nonpie_python, "-c", code, cwd=tmp_path)
    assert_clean_exit(result)
    stub, _ = dynamic_symbols(nonpie_python)["malloc"]
    assert int(result.out) == stub, (hex(int(result.out)), hex(stub))


# --------------------------------------------------------------------------
# Profiling in it
# --------------------------------------------------------------------------


class NonPieRun:
    def __init__(self, binary: Path, options: tuple, workdir: Path):
        self.script = scenario(SCENARIO)
        self.capture = workdir / "nonpie.msl"
        self.result = run_in(binary, "-m", "memsleuth", "run", *options, "-o", self.capture,
                             self.script, cwd=workdir)
        self.binary = binary
        self.workdir = workdir

    def line(self, marker: str) -> int:
        return marker_line(self.script, marker)

    @property
    def expected(self) -> dict:
        return json.loads(self.result.out)

    def summary(self) -> dict:
        result = run_in(self.binary, "-m", "memsleuth", "summary", self.capture, "--json",
                        "--limit", ALL_SITES, cwd=self.workdir)
        assert_clean_exit(result)
        data = json.loads(result.out)
        assert isinstance(data, dict), result.describe()
        return data


@pytest.fixture(scope="module")
def plain_run(nonpie_python, tmp_path_factory) -> NonPieRun:
    return NonPieRun(nonpie_python, (), tmp_path_factory.mktemp("nonpie_plain"))


@pytest.fixture(scope="module")
def native_run(nonpie_python, tmp_path_factory) -> NonPieRun:
    return NonPieRun(nonpie_python, ("--native",), tmp_path_factory.mktemp("nonpie_native"))


def leak_sites_at(summary: dict, file, line: int) -> list:
    return [s for s in summary["leak_sites"] if s["file"] == str(file) and s["line"] == line]


def layers_at(summary: dict, file, line: int) -> dict:
    """{layer: bytes still live at exit} of every stack whose site is file:line."""
    total: dict = {}
    for site in leak_sites_at(summary, file, line):
        for layer, value in site["layers"].items():
            total[layer] = total.get(layer, 0) + value
    return total


def without(layers: dict, *names) -> dict:
    return {k: v for k, v in layers.items() if k not in names}


@pytest.mark.parametrize("run", ["plain_run", "native_run"])
def test_profiled_program_exits_cleanly(request, nonpie_python, run):
    r = request.getfixturevalue(run)
    assert_clean_exit(r.result)
    assert r.capture.is_file(), r.result.describe()
    # It was the non-PIE interpreter that ran the program under the hooks.
    assert Path(r.expected["executable"]) == nonpie_python.resolve(), r.result.describe()


def test_summary_is_complete(plain_run):
    assert_clean_exit(plain_run.result)
    s = plain_run.summary()
    assert s["complete"] is True, s
    assert (s["native_memory"], s["native_stacks"]) == (True, False), s


def test_malloc_is_native_heap_at_its_line(plain_run):
    assert_clean_exit(plain_run.result)
    layers = layers_at(plain_run.summary(), plain_run.script, plain_run.line("malloc"))
    assert without(layers, *PYTHON_OBJECT_LAYERS) == {"native-heap": plain_run.expected["malloc"]}, layers


def test_bytes_object_is_python_object_at_its_line(plain_run):
    assert_clean_exit(plain_run.result)
    layers = layers_at(plain_run.summary(), plain_run.script, plain_run.line("bytes"))
    # Counted once, as the object: not again as the malloc behind it.
    assert layers == {"python-object": sys.getsizeof(bytes(plain_run.expected["bytes"]))}, layers


def test_mmap_is_mmap_at_its_line(plain_run):
    assert_clean_exit(plain_run.result)
    layers = layers_at(plain_run.summary(), plain_run.script, plain_run.line("mmap"))
    assert without(layers, *PYTHON_OBJECT_LAYERS) == {"mmap": plain_run.expected["mmap"]}, layers


def test_native_stack_of_the_malloc_starts_with_native_frames(native_run):
    assert_clean_exit(native_run.result)
    s = native_run.summary()
    assert (s["native_memory"], s["native_stacks"]) == (True, True), s
    line = native_run.line("malloc")
    sites = [x for x in leak_sites_at(s, native_run.script, line) if "native-heap" in x["layers"]]
    assert len(sites) == 1, sites
    (site,) = sites
    assert site["layers"]["native-heap"] == native_run.expected["malloc"], site
    stack = site["stack"]
    # Innermost first: native frames (ctypes, libffi) down to the program's
    # line, which is the outermost frame.
    caller = {"file": str(native_run.script), "line": line, "function": "<module>"}
    assert "module" in stack[0], stack
    assert {k: stack[-1].get(k) for k in caller} == caller and "module" not in stack[-1], stack
    assert all("module" in f for f in stack[:-1]), stack


def test_memsleuth_records_none_of_its_own_work(native_run):
    # In this interpreter memsleuth's own malloc calls reach its hooks too
    # (through the executable's PLT); none may show in the capture.
    assert_clean_exit(native_run.result)
    s = native_run.summary()
    own = [site for site in s["peak_sites"] + s["leak_sites"]
           if any("memsleuth_tracker" in f["function"] for f in site["stack"])]
    assert own == [], own
