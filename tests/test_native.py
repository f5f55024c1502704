"""Native memory: the C heap and mmap of every library, each allocation in
exactly one layer (issue: native memory).

Expected sizes come from the scenarios themselves (they print them as JSON),
from numpy and sys.getsizeof, or from the C test library's source; never from
a previous run of memsleuth.
"""

import json
import re

import pytest

from conftest import (
    LAYERS_IN_TOTAL,
    NATIVE_DIR,
    assert_same_bytes,
    c_marker_line,
    frame,
    frame_of,
    in_total_layers,
    layer_totals,
    line_layers,
    rows_at,
    run_memsleuth,
    run_python,
    scenario,
)

# Layers in which the Python objects that a ctypes call or an mmap.mmap()
# creates at the calling line (its result, the mmap object, argument
# conversions) legitimately appear next to the native block under test.
PYTHON_OBJECT_LAYERS = ("python-object", "python-mem")


def without(layers: dict, *names) -> dict:
    return {k: v for k, v in layers.items() if k not in names}


def all_rows(cap, by: str, group: str = "line") -> list:
    return cap.table(by, group=group, limit=0)["rows"]


# Test 1: libc's allocator through ctypes ----------------------------------

KEPT_CTYPES = ["malloc", "calloc", "realloc", "reallocarray", "realloc_null", "aligned_alloc",
               "posix_memalign"]


@pytest.mark.parametrize("marker", KEPT_CTYPES)
def test_ctypes_libc_block_is_a_native_heap_leak_at_its_line(profile, marker):
    cap = profile("native_ctypes.py")
    size = cap.stdout_json[marker]
    layers = line_layers(all_rows(cap, "leaks"), cap.script, cap.line(marker))
    # Exactly the requested size, in native-heap only: glibc serving a large
    # request with its own mmap must not show up as an mmap layer too.
    assert without(layers, *PYTHON_OBJECT_LAYERS) == {"native-heap": size}, layers


@pytest.mark.parametrize("marker", ["realloc", "reallocarray"])
def test_realloc_moves_the_native_block_to_the_realloc_line(profile, marker):
    cap = profile("native_ctypes.py")
    sizes = cap.stdout_json
    start_line, grow_line = cap.line(f"{marker}_from"), cap.line(marker)
    leaks = all_rows(cap, "leaks")
    # The block first malloc'd at @..._from ended there when realloc moved it.
    assert "native-heap" not in line_layers(leaks, cap.script, start_line)
    allocated = all_rows(cap, "allocated")
    at_start = line_layers(allocated, cap.script, start_line)
    assert at_start.get("native-heap") == sizes[f"{marker}_from"], at_start
    at_grow = line_layers(allocated, cap.script, grow_line)
    assert at_grow.get("native-heap") == sizes[marker], at_grow


def test_freed_native_block_is_allocated_but_not_leaked(profile):
    cap = profile("native_ctypes.py")
    line = cap.line("freed_malloc")
    assert "native-heap" not in line_layers(all_rows(cap, "leaks"), cap.script, line)
    allocated = line_layers(all_rows(cap, "allocated"), cap.script, line)
    assert allocated.get("native-heap") == cap.stdout_json["freed_malloc"], allocated
    # free() itself allocates nothing natively.
    assert "native-heap" not in line_layers(all_rows(cap, "allocated"), cap.script, cap.line("free"))


def test_realloc_to_zero_frees_the_block(profile):
    cap = profile("native_ctypes.py")
    leaks = all_rows(cap, "leaks")
    for marker in ("realloc_to_zero_from", "realloc_to_zero"):
        assert "native-heap" not in line_layers(leaks, cap.script, cap.line(marker)), marker
    allocated = line_layers(all_rows(cap, "allocated"), cap.script, cap.line("realloc_to_zero_from"))
    assert allocated.get("native-heap") == cap.stdout_json["realloc_to_zero_from"], allocated


def test_collapsed_stacks_end_with_the_layer(profile):
    cap = profile("native_ctypes.py")
    sizes = cap.stdout_json
    stacks = cap.layered_stacks("leaks")
    for marker in ("malloc", "calloc"):
        own = ("<module>", str(cap.script), cap.line(marker))
        found = [(layer, b) for frames, layer, b in stacks if frames == [own]]
        assert ("native-heap", sizes[marker]) in found, (marker, own, found)
        # One collapsed line per (stack, layer).
        layers = [layer for layer, _ in found]
        assert len(layers) == len(set(layers)), found


def test_layers_of_a_site_sum_to_its_bytes(profile):
    cap = profile("native_ctypes.py")
    for by in ("leaks", "allocated", "peak"):
        for row in all_rows(cap, by, group="stack"):
            assert row["layers"], row
            assert set(row["layers"]) <= set(LAYERS_IN_TOTAL), row
            assert sum(row["layers"].values()) == row["bytes"], row
    for row in all_rows(cap, "count"):
        assert sum(row["layers"].values()) == row["count"], row


def test_python_only_leaves_the_c_heap_and_mmap_out(profile):
    cap = profile("native_ctypes.py", options=("--python-only",))
    summary = cap.summary
    assert (summary["native_memory"], summary["native_stacks"]) == (False, False)
    assert not {"native-heap", "mmap"} & set(layer_totals(summary)), summary["layers"]
    # The Python objects of the same line are still there.
    layers = line_layers(all_rows(cap, "leaks"), cap.script, cap.line("malloc"))
    assert "native-heap" not in layers and layers, layers


# Test 2: numpy ----------------------------------------------------------------


def assert_numpy_buffer(layers: dict, nbytes: int, dims_block: int) -> None:
    """The array's data buffer lies whole in one layer: native-heap where
    numpy's default handler calls malloc, python-raw where it calls
    PyMem_RawMalloc (numpy 2.5 on CPython 3.12+). python-raw may also hold
    the dims/strides block, unless numpy's dimension cache had one to reuse."""
    native, raw = layers.get("native-heap", 0), layers.get("python-raw", 0)
    assert native in (0, nbytes), layers
    assert native + raw in (nbytes, nbytes + dims_block), layers


@pytest.mark.parametrize("marker", ["empty", "zeros"])
def test_numpy_data_buffer_is_in_one_layer_at_its_line(profile, marker):
    cap = profile("native_numpy.py")
    expected = cap.stdout_json[marker]
    assert expected["owns_data"]
    layers = line_layers(all_rows(cap, "leaks"), cap.script, cap.line(marker))
    # The data buffer exactly, the ndarray object exactly.
    assert_numpy_buffer(layers, expected["nbytes"], expected["dims_block"])
    assert layers.get("python-object") == expected["object_size"], layers
    assert set(layers) <= {"native-heap", "python-object", "python-raw"}, layers


def test_numpy_ones_data_is_under_the_calling_line(profile):
    # np.ones is Python code in numpy: the innermost Python frame of its data
    # buffer is numpy's, and this line is its caller.
    cap = profile("native_numpy.py")
    expected = cap.stdout_json["ones"]
    caller = frame(cap.script, cap.line("ones"), "<module>")
    rows = [r for r in all_rows(cap, "leaks", group="stack")
            if caller in [frame_of(f) for f in r["stack"]]]
    assert rows, "no leak site under the np.ones line"
    assert all(r["file"] != str(cap.script) for r in rows), rows  # allocated inside numpy
    total = {}
    for r in rows:
        for layer, value in r["layers"].items():
            total[layer] = total.get(layer, 0) + value
    assert_numpy_buffer(total, expected["nbytes"], expected["dims_block"])
    assert total.get("python-object") == expected["object_size"], total
    assert set(total) <= {"native-heap", "python-object", "python-raw"}, total


# Test 3: mmap -----------------------------------------------------------------


def test_open_anonymous_mmap_is_an_mmap_leak_at_its_line(profile):
    cap = profile("native_mmap.py")
    size = cap.stdout_json["size"]
    layers = line_layers(all_rows(cap, "leaks"), cap.script, cap.line("kept_open"))
    assert without(layers, *PYTHON_OBJECT_LAYERS) == {"mmap": size}, layers


def test_closed_mmap_is_allocated_but_not_leaked(profile):
    cap = profile("native_mmap.py")
    size = cap.stdout_json["size"]
    line = cap.line("closed")
    # The mmap object is still referenced (python-object); its range is not.
    assert "mmap" not in line_layers(all_rows(cap, "leaks"), cap.script, line)
    allocated = line_layers(all_rows(cap, "allocated"), cap.script, line)
    assert allocated.get("mmap") == size, allocated


def test_partial_munmap_shrinks_the_mapping(profile):
    cap = profile("native_mmap.py")
    size = cap.stdout_json["size"]
    line = cap.line("halved")
    leaks = line_layers(all_rows(cap, "leaks"), cap.script, line)
    assert without(leaks, *PYTHON_OBJECT_LAYERS) == {"mmap": size}, leaks
    allocated = line_layers(all_rows(cap, "allocated"), cap.script, line)
    assert allocated.get("mmap") == 2 * size, allocated
    # Nothing is mapped at the munmap line itself.
    assert "mmap" not in line_layers(all_rows(cap, "allocated"), cap.script,
                                     cap.line("munmap_upper_half"))


def test_mremap_moves_the_mapping_to_the_resize_line(profile):
    # Like realloc: the range ends at its first line and the grown one starts
    # at the line that grew it, at its new size.
    cap = profile("native_mmap.py")
    size = cap.stdout_json["size"]
    leaks = all_rows(cap, "leaks")
    assert "mmap" not in line_layers(leaks, cap.script, cap.line("resized_from"))
    resized = line_layers(leaks, cap.script, cap.line("resize"))
    assert without(resized, *PYTHON_OBJECT_LAYERS) == {"mmap": 2 * size}, resized
    allocated = line_layers(all_rows(cap, "allocated"), cap.script, cap.line("resized_from"))
    assert allocated.get("mmap") == size, allocated


def test_mmap_layer_totals(profile):
    cap = profile("native_mmap.py")
    size = cap.stdout_json["size"]
    mmap_layer = layer_totals(cap.summary)["mmap"]
    assert mmap_layer["in_total"] is True
    # Still mapped at exit: the open mmap (1), the resized one (2) and the
    # lower half of the double-size one (1).
    assert mmap_layer["leaked_bytes"] == 4 * size, mmap_layer
    # Mapped in total, as for realloc: kept 1 + closed 1 + resized 1, then 2
    # by mremap + the double-size one 2; mremap counts as one allocation.
    assert mmap_layer["allocated_bytes"] == 7 * size, mmap_layer
    assert mmap_layer["allocations"] == 5, mmap_layer
    # Most at once: kept 1 + resized 2 + the whole double-size one 2.
    assert mmap_layer["max_bytes"] == 5 * size, mmap_layer


# Test 4: a thread created by C code, in a library loaded after start --------


def c_thread_capture(profile, mstest_lib, native: bool):
    options = ("--native",) if native else ()
    return profile("native_c_thread.py", str(mstest_lib), options=options)


def test_c_thread_allocation_has_no_python_frame_and_its_own_thread(profile, mstest_lib):
    cap = c_thread_capture(profile, mstest_lib, native=False)
    ids = cap.stdout_json
    assert ids["c_thread"] != ids["main"]
    rows = [r for r in all_rows(cap, "leaks", group="stack") if r["function"] == "[no Python frame]"]
    # The C thread is the only code in this program that allocates with no
    # Python frame, and it keeps exactly one block.
    assert len(rows) == 1, rows
    (row,) = rows
    assert (row["file"], row["line"]) == ("<native>", 0), row
    assert [frame_of(f) for f in row["stack"]] == [frame("<native>", 0, "[no Python frame]")]
    assert row["layers"] == {"native-heap": ids["thread_size"]}, row
    assert row["threads"] == [ids["c_thread"]], (row["threads"], ids)
    assert {"native_id": ids["c_thread"], "is_main": False} in cap.summary["threads"]


def test_c_function_allocation_is_at_the_calling_python_line(profile, mstest_lib):
    cap = c_thread_capture(profile, mstest_lib, native=False)
    ids = cap.stdout_json
    (row,) = rows_at(all_rows(cap, "leaks"), cap.script, cap.line("call_here"))
    assert without(row["layers"], *PYTHON_OBJECT_LAYERS) == {"native-heap": ids["here_size"]}, row
    assert row["threads"] == [ids["main"]], row


def test_native_stacks_flag(profile, mstest_lib):
    plain = c_thread_capture(profile, mstest_lib, native=False).summary
    native = c_thread_capture(profile, mstest_lib, native=True).summary
    assert (plain["native_memory"], plain["native_stacks"]) == (True, False)
    assert (native["native_memory"], native["native_stacks"]) == (True, True)


def native_frame(function: str, marker: str) -> dict:
    source = NATIVE_DIR / "mstest.c"
    return {"file": str(source), "line": c_marker_line(source, marker), "function": function,
            "module": "libmstest.so"}


def test_native_stack_names_the_c_thread_routine(profile, mstest_lib):
    cap = c_thread_capture(profile, mstest_lib, native=True)
    ids = cap.stdout_json
    rows = [r for r in all_rows(cap, "leaks", group="stack")
            if any(f["function"] == "mstest_thread_routine" for f in r["stack"])]
    assert len(rows) == 1, rows
    (row,) = rows
    assert row["layers"] == {"native-heap": ids["thread_size"]}, row
    assert row["threads"] == [ids["c_thread"]], row
    # Innermost first: the routine that called malloc (no frames of the
    # tracker's own hooks), at the malloc line of the C source.
    assert row["stack"][0] == native_frame("mstest_thread_routine", "thread_malloc"), row["stack"]
    # The thread never ran Python code: every frame is native, under the
    # `[no Python frame]` pseudo-frame that tables by line group it by.
    *native, outermost = row["stack"]
    assert all("module" in f for f in native), row["stack"]
    assert outermost == {"file": "<native>", "line": 0, "function": "[no Python frame]"}, row["stack"]


def test_native_stack_merges_c_and_python_frames(profile, mstest_lib):
    cap = c_thread_capture(profile, mstest_lib, native=True)
    ids = cap.stdout_json
    caller = frame(cap.script, cap.line("call_here"), "<module>")
    rows = [r for r in all_rows(cap, "leaks", group="stack")
            if any(f["function"] == "mstest_alloc_here" for f in r["stack"])]
    assert len(rows) == 1, rows
    (row,) = rows
    assert row["layers"] == {"native-heap": ids["here_size"]}, row
    # The site is still the innermost Python frame.
    assert frame_of(row) == caller, row
    stack = row["stack"]
    assert stack[0] == native_frame("mstest_alloc_here", "caller_malloc"), stack
    # The Python frames, in order, are exactly those of the plain run.
    python_frames = [frame_of(f) for f in stack if "module" not in f]
    assert python_frames == [caller], stack
    # ctypes' native frames sit between the C function and its Python caller.
    python_index = [frame_of(f) for f in stack].index(caller)
    assert python_index > 1, stack
    assert all("module" in f for f in stack[:python_index]), stack


def test_native_stack_has_no_frames_outside_the_program(profile, mstest_lib):
    # Like the launcher's Python frames, the interpreter's native frames
    # outside the program's <module> frame are left out.
    cap = c_thread_capture(profile, mstest_lib, native=True)
    caller = frame(cap.script, cap.line("call_here"), "<module>")
    (row,) = rows_at(all_rows(cap, "leaks", group="stack"), cap.script, cap.line("call_here"))
    assert frame_of(row["stack"][-1]) == caller, row["stack"][-3:]


def test_native_stacks_keep_grouping_by_python_line(profile, mstest_lib):
    # Grouping by line uses the innermost *Python* frame, so --native changes
    # no line-grouped row: the C thread's block stays under [no Python frame]
    # and the C function's under its Python caller.
    cap = c_thread_capture(profile, mstest_lib, native=True)
    ids = cap.stdout_json
    rows = all_rows(cap, "leaks")
    assert line_layers(rows, "<native>", 0) == {"native-heap": ids["thread_size"]}, [
        (r["file"], r["line"], r["function"], r["layers"]) for r in rows[:5]]
    assert rows_at(rows, "<native>", 0)[0]["function"] == "[no Python frame]"
    here = line_layers(rows, cap.script, cap.line("call_here"))
    assert without(here, *PYTHON_OBJECT_LAYERS) == {"native-heap": ids["here_size"]}, here
    assert [r for r in rows if r["file"] == str(NATIVE_DIR / "mstest.c")] == []


# Test 5: every byte in exactly one layer --------------------------------------


def test_python_objects_over_512_bytes_are_python_object_only(profile):
    cap = profile("native_layers.py")
    exp = cap.stdout_json
    rows = all_rows(cap, "leaks")
    small = line_layers(rows, cap.script, cap.line("small_objects"))
    assert in_total_layers(small) == {"python-object": exp["n"] * exp["small_size"]}, small
    # pymalloc hands these to the raw allocator, i.e. to malloc: neither
    # python-raw nor native-heap may count them again.
    big = line_layers(rows, cap.script, cap.line("big_bytes"))
    assert in_total_layers(big) == {"python-object": exp["n"] * exp["big_size"]}, big


def test_numpy_data_is_in_one_layer_only(profile):
    cap = profile("native_layers.py")
    exp = cap.stdout_json
    layers = line_layers(all_rows(cap, "leaks"), cap.script, cap.line("numpy_data"))
    dims_block = 2 * exp["array_ndim"] * exp["intp_size"]
    assert_numpy_buffer(layers, exp["array_nbytes"], dims_block)
    assert layers.get("python-object") == exp["array_object"], layers
    assert set(layers) <= {"native-heap", "python-object", "python-raw"}, layers


@pytest.mark.parametrize("name", ["native_layers.py", "native_ctypes.py", "native_mmap.py"])
def test_totals_are_the_sums_of_the_in_total_layers(profile, name):
    s = profile(name).summary
    layers = layer_totals(s)
    assert s["native_memory"] is True and s["native_stacks"] is False
    for name_, layer in layers.items():
        assert name_ in LAYERS_IN_TOTAL, layer
        assert layer["in_total"] is LAYERS_IN_TOTAL[name_], layer
        assert layer["max_bytes"] >= max(layer["at_peak_bytes"], layer["leaked_bytes"]), layer
        assert layer["allocated_bytes"] >= layer["max_bytes"], layer
        assert layer["allocations"] >= 1, layer
    counted = [l for l in layers.values() if l["in_total"]]
    assert s["leaked_bytes"] == sum(l["leaked_bytes"] for l in counted)
    assert s["peak_bytes"] == sum(l["at_peak_bytes"] for l in counted)
    assert s["total_allocated_bytes"] == sum(l["allocated_bytes"] for l in counted)


@pytest.mark.parametrize("by,field", [("leaks", "leaked_bytes"), ("peak", "at_peak_bytes"),
                                      ("allocated", "allocated_bytes")])
def test_table_rows_add_up_to_the_layer_totals(profile, by, field):
    cap = profile("native_layers.py")
    layers = layer_totals(cap.summary)
    per_layer: dict = {}
    for row in all_rows(cap, by):
        for layer, value in row["layers"].items():
            per_layer[layer] = per_layer.get(layer, 0) + value
    expected = {name: l[field] for name, l in layers.items() if l["in_total"] and l[field]}
    assert per_layer == expected


# Test 6: child processes ---------------------------------------------------------


@pytest.mark.parametrize("options", [(), ("--native",)], ids=["default", "native"])
def test_child_processes_run_and_exit_code_passes_through(tmp_path, options):
    script = scenario("native_subprocess.py")
    plain = run_python(script, cwd=tmp_path)
    prof = run_memsleuth("run", "--quiet", *options, "-o", tmp_path / "cap.msl", script, cwd=tmp_path)
    assert plain.returncode == 7, plain.describe()
    assert prof.returncode == 7, prof.describe()
    assert prof.out.splitlines()[:2] == ["shell-ok", "child-ok"], prof.describe()
    report = json.loads(prof.out.splitlines()[2])
    assert report == {"shell": 0, "child": 0, "piped": 0, "piped_out": "piped-ok\n"}
    assert_same_bytes(prof.stdout, plain.stdout, "stdout")
    assert_same_bytes(prof.stderr, plain.stderr, "stderr")
    summary_result = run_memsleuth("summary", tmp_path / "cap.msl", "--json", cwd=tmp_path)
    assert summary_result.returncode == 0, summary_result.describe()
    assert json.loads(summary_result.out)["complete"] is True


# Test 7: pymalloc arenas ----------------------------------------------------------


def test_pymalloc_arenas_are_a_layer_outside_the_totals(profile):
    s = profile("native_arenas.py").summary
    layers = layer_totals(s)
    arena = layers["pymalloc-arena"]
    assert arena["in_total"] is False, arena
    assert arena["at_peak_bytes"] > 0, arena
    counted = [l for l in layers.values() if l["in_total"]]
    assert s["peak_bytes"] == sum(l["at_peak_bytes"] for l in counted)
    assert s["leaked_bytes"] == sum(l["leaked_bytes"] for l in counted)
    assert s["total_allocated_bytes"] == sum(l["allocated_bytes"] for l in counted)


def interpreter_arenas(tmp_path) -> dict:
    """pymalloc's arena size, and how many arenas it holds once memsleuth's
    runner is imported, from CPython's own statistics in an unprofiled
    interpreter (sys._debugmallocstats prints nothing once memsleuth has
    wrapped the allocators)."""
    result = run_python("-c", "import sys, memsleuth._runner; sys._debugmallocstats()",
                        cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    m = re.search(r"^([\d,]+) arenas \* ([\d,]+) bytes/arena", result.err, re.M)
    assert m, result.describe()
    count, size = (int(g.replace(",", "")) for g in m.groups())
    return {"size": size, "live": count}


def test_pymalloc_arenas_are_whole_arenas(profile, tmp_path):
    arena = layer_totals(profile("native_arenas.py").summary)["pymalloc-arena"]
    size = interpreter_arenas(tmp_path)["size"]
    for field in ("at_peak_bytes", "max_bytes", "leaked_bytes", "allocated_bytes"):
        assert arena[field] % size == 0, (field, arena, size)
    assert arena["allocated_bytes"] == arena["allocations"] * size, (arena, size)


def test_pymalloc_arenas_hold_the_small_objects(profile, tmp_path):
    # Every object made at @small_objects is under 512 bytes, so it sits in a
    # pymalloc arena. Only the arenas that existed before tracking started
    # (as many as an interpreter that imported the runner has) may hold some
    # of them without being in the layer.
    cap = profile("native_arenas.py")
    arena = layer_totals(cap.summary)["pymalloc-arena"]
    before = interpreter_arenas(tmp_path)
    at_peak = line_layers(all_rows(cap, "peak"), cap.script, cap.line("small_objects"))
    objects = at_peak["python-object"]
    assert objects > 0, at_peak
    assert arena["at_peak_bytes"] >= objects - before["live"] * before["size"], (arena, objects, before)


def test_small_objects_are_in_python_object_not_arena_sites(profile):
    # Arenas have no site: the objects in them do.
    cap = profile("native_arenas.py")
    rows = all_rows(cap, "leaks")
    assert all("pymalloc-arena" not in r["layers"] for r in rows), [
        r for r in rows if "pymalloc-arena" in r["layers"]][:3]
    layers = line_layers(rows, cap.script, cap.line("small_objects"))
    assert list(layers) == ["python-object"], layers


# The tracker's own threads --------------------------------------------------------

# The tracker's own threads run alongside the program, and whether one of
# them allocates after the hooks are in place can depend on timing: profile a
# few times so that the tracker's own allocations showing up is caught.
OWN_THREAD_RUNS = 8


def test_tracker_threads_are_not_profiled(tmp_path):
    script = scenario("native_idle.py")
    for attempt in range(OWN_THREAD_RUNS):
        capture = tmp_path / f"idle{attempt}.msl"
        result = run_memsleuth("run", "--quiet", "-o", capture, script, cwd=tmp_path)
        assert result.returncode == 0, result.describe()
        ids = json.loads(result.out)
        summary_result = run_memsleuth("summary", capture, "--json", "--limit", "1000", cwd=tmp_path)
        s = json.loads(summary_result.out)
        assert s["threads"] == [{"native_id": ids["main"], "is_main": True}], (
            f"attempt {attempt}: threads {s['threads']}; the process's threads: {ids['tasks']}")
        no_frame = [x for x in s["leak_sites"] + s["peak_sites"] if x["function"] == "[no Python frame]"]
        assert no_frame == [], f"attempt {attempt}: {no_frame}; the process's threads: {ids['tasks']}"
