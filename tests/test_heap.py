"""Heap snapshots: what holds the memory, who keeps it alive, what grew.

Every scenario allocates objects whose sizes follow from CPython's layout
(docs/object-layout.md), so the tests check sizes exactly: an object's size
is its block as the allocator rounds it, pre-header included, plus the
buffers it owns alone (see `block` below). The numbers are worked out for
3.11, the first interpreter the product targets, and written so that they
hold wherever the layout they name is the same.
"""

from __future__ import annotations

import json
import sys

import pytest

from conftest import (
    PY,
    Capture,
    assert_one_line_error,
    module_listcomp_name,
    run_memsleuth,
    run_process,
)

# --------------------------------------------------------------------------
# Sizes, from the layout rules memsleuth documents
# --------------------------------------------------------------------------

# The collector's pre-header of a GC object: two pointers (PyGC_Head).
GC_HEAD = 16
# ob_refcnt and ob_type.
OBJECT_HEAD = 16
# -5..256 are preallocated: an int key below 257 is shared, not owned.
SMALL_INTS = 257


def block(n: int) -> int:
    """Bytes a request of n bytes really occupies: pymalloc's 16-byte size
    classes up to 512 bytes; glibc chunks ((n + 8) rounded up to 16) below
    128 KiB; whole pages with a 16-byte header from 128 KiB."""
    if n <= 512:
        return (n + 15) // 16 * 16
    if n < 128 * 1024:
        return (n + 8 + 15) // 16 * 16
    return (n + 16 + 4095) // 4096 * 4096


def slots_instance(nslots: int) -> int:
    """An instance of a class with only `__slots__` (no __dict__, no
    __weakref__): pre-header, object head, one pointer per slot."""
    return block(GC_HEAD + OBJECT_HEAD + 8 * nslots)


def instance_dict(nattrs: int) -> int:
    """What an instance's own __dict__ adds to it, as long as no one asked for
    it: nothing from 3.11 (the values live beside the class's shared keys,
    counted with the instance); before, a split dict: the dict object and
    its values array, sized for the shared keys' usable entries (5 for the
    first 8-slot table)."""
    if PY >= (3, 11):
        return 0
    assert nattrs <= 5
    return block(GC_HEAD + dict.__basicsize__) + block(8 * 5)


def bytes_object(n: int) -> int:
    """`bytes` of length n (not a GC object): header and n + 1 bytes."""
    return block(bytes.__basicsize__ + n)


def bytearray_object(n: int) -> int:
    """`bytearray(n)`: the object, and its buffer of n + 1 bytes (ob_alloc)."""
    return block(bytearray.__basicsize__) + block(n + 1)


def int_object(value: int) -> int:
    """An int below 2**30: one 30-bit digit."""
    assert 0 <= value < 2**30
    return block(int.__basicsize__ + int.__itemsize__)


def test_layout_rules_on_this_interpreter():
    # The rules above, pinned on 3.11 so that a wrong rule shows here first.
    if PY[:2] != (3, 11):
        pytest.skip("sizes pinned for 3.11")
    assert slots_instance(2) == 48  # 16 GC head + 32 basic size
    assert slots_instance(1) == 48  # 16 + 24, rounded up to 16
    assert bytes_object(100) == 144  # 33 + 100 = 133, rounded up to 16
    assert bytearray_object(3000) == 64 + 3024  # 56 -> 64; 3001 + 8 -> 3024
    assert bytearray_object(1_000_000) == 64 + 1_003_520  # 1000001 + 16, in pages
    assert int_object(99_999) == 32  # 24 + 4 = 28, rounded up to 16


# --------------------------------------------------------------------------
# Running `heap` and `diff`
# --------------------------------------------------------------------------


def heap_json(capture, *args) -> dict:
    """`memsleuth heap CAPTURE ARGS --json`, parsed; asserts success."""
    path = capture.path if isinstance(capture, Capture) else capture
    result = run_memsleuth("heap", path, *args, "--json", cwd=path.parent)
    assert result.returncode == 0, result.describe()
    data = json.loads(result.out)
    assert isinstance(data, dict), result.describe()
    return data


def heap_type(capture, name: str, *args) -> dict:
    """`memsleuth heap CAPTURE --type NAME --json`: the type's part (count,
    bytes, biggest instances, sites, path patterns)."""
    return heap_json(capture, "--type", name, *args)["type"]


def diff_json(*args, cwd) -> dict:
    result = run_memsleuth("diff", *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.describe()
    data = json.loads(result.out)
    assert isinstance(data, dict), result.describe()
    return data


def suspect_of(heap: dict, type_name: str) -> dict:
    found = [s for s in heap["suspects"] if s["type"] == type_name]
    assert len(found) == 1, (
        f"expected one suspect of type {type_name}:\n{json.dumps(heap['suspects'], indent=1)[:4000]}"
    )
    return found[0]


def site(file, line: int, function: str, nbytes: int, count: int) -> dict:
    return {"file": str(file), "line": line, "function": function, "bytes": nbytes, "count": count}


def main_path(*steps) -> list:
    """A path from the profiled script's module: sys.modules['__main__']..."""
    return ["sys.modules", "['__main__']", *steps]


NATIVE = "held by native code"


# --------------------------------------------------------------------------
# 1. A module-level cache dict
# --------------------------------------------------------------------------

CACHE_N = 100_000
PAYLOAD = 100


@pytest.fixture(scope="module")
def cache_run(profile):
    cap = profile("heap_cache.py", options=("--snapshot-at", "exit"))
    return cap, heap_json(cap)


def test_cache_dict_suspect_counts_and_sizes_exactly(cache_run):
    cap, heap = cache_run
    record_size = slots_instance(2)
    payload_size = bytes_object(PAYLOAD)

    rows = [t for t in heap["types"] if t["type"] == "__main__.Record"]
    assert len(rows) == 1, [t["type"] for t in heap["types"]]
    records = rows[0]
    assert records["count"] == CACHE_N
    assert records["shallow_bytes"] == CACHE_N * record_size
    # Each record retains itself and its own payload; the int keys are the
    # dict's (shared with the records' `key` slots).
    assert records["retained_bytes"] == CACHE_N * (record_size + payload_size)

    suspect = suspect_of(heap, "__main__.Record")
    assert heap["suspects"][0] == suspect, "the cache is not the biggest suspect"
    assert suspect["path"] == main_path(".CACHE")
    assert suspect["count"] == CACHE_N
    per_record = records["shallow_bytes"] // records["count"]
    assert suspect["retained_bytes"] == CACHE_N * (per_record + payload_size)
    assert suspect["sites"] == [
        site(cap.script, cap.line("record"), "fill", CACHE_N * record_size, CACHE_N)
    ]


def test_cache_dict_in_the_terminal_report(cache_run):
    cap, _ = cache_run
    result = run_memsleuth("heap", cap.path, cwd=cap.path.parent)
    assert result.returncode == 0, result.describe()
    assert result.err == "", result.describe()
    text = result.out
    assert "Leak suspects:" in text
    assert "held by one dict at\n       sys.modules['__main__'].CACHE\n" in text, text
    assert f"heap_cache.py:{cap.line('record')})" in text, text


def test_cache_dict_retains_its_tables_keys_records_and_payloads(cache_run):
    cap, heap = cache_run
    rows = [r for r in heap["retainers"] if r["path"] == main_path(".CACHE")]
    assert len(rows) == 1, json.dumps(heap["retainers"], indent=1)[:4000]
    cache = rows[0]
    assert cache["type"] == "dict"
    owned_keys = CACHE_N - SMALL_INTS
    assert cache["retained_bytes"] == (
        cache["shallow_bytes"]
        + CACHE_N * (slots_instance(2) + bytes_object(PAYLOAD))
        + owned_keys * int_object(CACHE_N - 1)
    )
    if PY[:2] in ((3, 11), (3, 12)):
        # 100,000 int keys: 2**18 slots of 4-byte indices and 174,762 usable
        # 24-byte entries behind a 32-byte header, in one block of whole
        # pages; the dict object itself is 48 bytes plus the GC head.
        tables = 32 + 2**18 * 4 + (2**18 * 2 // 3) * 24
        assert cache["shallow_bytes"] == block(GC_HEAD + dict.__basicsize__) + block(tables)


# --------------------------------------------------------------------------
# 2. A class-level list
# --------------------------------------------------------------------------

REGISTRY_N = 50_000


def test_class_level_list_suspect(profile):
    cap = profile("heap_registry.py", options=("--snapshot-at", "exit"))
    heap = heap_json(cap)
    entry_size = slots_instance(1)
    suspect = suspect_of(heap, "__main__.Entry")
    # The list in Registry.__dict__['items'], written as Python reaches it:
    # sys.modules['__main__'].Registry.items.
    assert suspect["path"] == main_path(".Registry", ".items")
    assert suspect["holder"] == "list"
    assert suspect["count"] == REGISTRY_N
    # Each entry retains itself and its own int (1000 + i).
    assert suspect["retained_bytes"] == REGISTRY_N * (entry_size + int_object(1000 + REGISTRY_N))
    assert suspect["sites"] == [
        site(cap.script, cap.line("entry"), "register", REGISTRY_N * entry_size, REGISTRY_N)
    ]


# --------------------------------------------------------------------------
# 3. Closures capturing buffers
# --------------------------------------------------------------------------

CLOSURES_N = 20
CLOSURE_BUFFER = 1_000_000


def closure_sizes() -> tuple:
    """(a function, its one-cell closure tuple, the cell)."""
    cell_type = type((lambda x: (lambda: x))(0).__closure__[0])
    function = block(GC_HEAD + type(closure_sizes).__basicsize__)
    closure = block(GC_HEAD + tuple.__basicsize__ + 8)
    cell = block(GC_HEAD + cell_type.__basicsize__)
    return function, closure, cell


def test_closures_retain_their_captured_buffers(profile):
    cap = profile("heap_closures.py", options=("--snapshot-at", "exit"))
    heap = heap_json(cap)
    function, closure, cell = closure_sizes()
    buffer = bytearray_object(CLOSURE_BUFFER)
    suspect = suspect_of(heap, "function")
    assert suspect["path"] == main_path(".HANDLERS")
    assert suspect["count"] == CLOSURES_N
    assert suspect["retained_bytes"] == CLOSURES_N * (function + closure + cell + buffer)
    # The lambdas are made in make's frame, at their line.
    assert suspect["sites"] == [
        site(cap.script, cap.line("closure"), "make", CLOSURES_N * function, CLOSURES_N)
    ]


def test_closure_buffers_are_reached_through_the_cells(profile):
    cap = profile("heap_closures.py", options=("--snapshot-at", "exit"))
    detail = heap_type(cap, "bytearray", "--limit", "0")
    buffer = bytearray_object(CLOSURE_BUFFER)
    big = [i for i in detail["instances"] if i["shallow_bytes"] == buffer]
    assert len(big) == CLOSURES_N, json.dumps(detail["instances"], indent=1)[:3000]
    assert sorted(tuple(i["path"]) for i in big) == sorted(
        tuple(main_path(".HANDLERS", f"[{k}]", ".__closure__", "[0]", ".cell_contents"))
        for k in range(CLOSURES_N)
    )
    assert all(i["retained_bytes"] == buffer for i in big)
    assert {"path": main_path(".HANDLERS", "[*]", ".__closure__", "[*]", ".cell_contents"),
            "count": CLOSURES_N, "bytes": CLOSURES_N * buffer} in detail["paths"]
    assert site(cap.script, cap.line("buffer"), "make", CLOSURES_N * buffer, CLOSURES_N) in detail["sites"]


# --------------------------------------------------------------------------
# 4. lru_cache on a method keeps the instances alive
# --------------------------------------------------------------------------

LRU_N = 200


def test_lru_cache_keeps_instances_alive(profile):
    cap = profile("heap_lru.py", options=("--snapshot-at", "exit"))
    detail = heap_type(cap, "Model")
    assert detail["type"] == "__main__.Model"
    assert detail["count"] == LRU_N
    per_model = detail["shallow_bytes"] // LRU_N
    assert detail["shallow_bytes"] == LRU_N * per_model
    # Each model retains its own 10,000-byte weights; `n` is a small int.
    assert detail["retained_bytes"] == LRU_N * (per_model + instance_dict(2) + bytearray_object(10_000))
    # Model.score is the lru_cache wrapper; its cache (a dict the wrapper
    # holds by an unnamed reference, hence [0]) has the argument tuples
    # (self, 3) as keys, whose item 0 is the model.
    assert detail["paths"] == [
        {"path": main_path(".Model", ".score", "[*]", "<key>", "[*]"),
         "count": LRU_N, "bytes": LRU_N * per_model}
    ]
    assert detail["instances"]
    # The cache is the wrapper's first unnamed reference, its second on 3.9,
    # whose lru_cache traverses the wrapped function first.
    cache = "[1]" if PY < (3, 10) else "[0]"
    for instance in detail["instances"]:
        assert instance["path"] == main_path(".Model", ".score", cache, "<key>", "[0]"), instance
    assert detail["sites"] == [site(cap.script, cap.line("model"), "use", LRU_N * per_model, LRU_N)]


def test_a_materialized_dict_adds_its_object_and_nothing_else(profile):
    heap = heap_json(profile("heap_dicts.py", options=("--snapshot-at", "exit")), "--limit", "0")
    rows = {t["type"]: t for t in heap["types"]}
    hidden, shown = rows["__main__.Hidden"], rows["__main__.Shown"]
    assert hidden["count"] == shown["count"] == 1000
    # The values (inline, or split beside the shared keys) are counted once,
    # with whichever of the instance and its dict holds them.
    dict_object = block(GC_HEAD + dict.__basicsize__)
    extra = dict_object if PY >= (3, 11) else 0  # before 3.11 every instance has its dict
    assert shown["retained_bytes"] == hidden["retained_bytes"] + 1000 * extra


# --------------------------------------------------------------------------
# 5. Reference cycles: one held by a global, one garbage
# --------------------------------------------------------------------------


def test_cycle_held_by_a_global_is_retained_by_its_holder(profile):
    cap = profile("heap_cycles.py")
    node, holder = slots_instance(2), slots_instance(1)
    payloads = bytearray_object(3000) + bytearray_object(5000)
    holders = heap_type(cap, "__main__.Holder")
    assert holders["count"] == 1
    assert holders["retained_bytes"] == holder + 2 * node + payloads
    assert [i["path"] for i in holders["instances"]] == [main_path(".HOLDER")]
    nodes = heap_type(cap, "__main__.Node")
    assert nodes["count"] == 2
    # One node dominates the other: the type retains the pair once.
    assert nodes["retained_bytes"] == 2 * node + payloads
    assert [i["path"] for i in nodes["instances"]] == [main_path(".HOLDER", ".pair")]


def test_garbage_cycle_is_unreachable_not_native(profile):
    cap = profile("heap_cycles.py")
    doc = heap_json(cap, "--type", "__main__.Garbage")
    garbage = doc["type"]
    assert garbage["count"] == 2
    # gc.collect() ran just before the collector was disabled: the pair, and
    # the payloads only they reach, are the only garbage.
    totals = doc["totals"]
    assert totals["unreachable_objects"] == 4
    assert totals["unreachable_bytes"] == (
        2 * slots_instance(2) + bytearray_object(7000) + bytearray_object(9000)
    )
    # Every reference to the pair comes from the pair: nothing puts it under
    # native code, and no root reaches it, so neither has a path.
    assert [i["path"] for i in garbage["instances"]] == [[], []]
    assert garbage["sites"] == [
        site(cap.script, cap.line("garbage"), "garbage_cycle", 2 * slots_instance(2), 2)
    ]


def test_unreachable_path_pattern_is_the_empty_path(profile):
    # docs/json.md: "An unreachable object's path is `[]`"; the path
    # patterns of `--type` are paths too, and the instances say `[]`.
    cap = profile("heap_cycles.py")
    garbage = heap_type(cap, "__main__.Garbage")
    assert garbage["paths"] == [{"path": [], "count": 2, "bytes": 2 * slots_instance(2)}]


# --------------------------------------------------------------------------
# 6. An object only C code holds
# --------------------------------------------------------------------------


def test_object_held_only_by_native_code(profile):
    cap = profile("heap_native.py", options=("--snapshot-at", "exit"))
    orphan, payload = slots_instance(1), bytearray_object(4_000_000)
    detail = heap_type(cap, "__main__.Orphan")
    assert detail["count"] == 1
    assert detail["retained_bytes"] == orphan + payload
    assert [i["path"] for i in detail["instances"]] == [[NATIVE, "<__main__.Orphan>"]]
    assert detail["sites"] == [site(cap.script, cap.line("orphan"), "orphan", orphan, 1)]
    heap = heap_json(cap)
    suspect = suspect_of(heap, "bytearray")
    assert suspect["path"] == [NATIVE, "<__main__.Orphan>", ".payload"]
    assert suspect["count"] == 1
    assert suspect["retained_bytes"] == payload
    assert heap["totals"]["native_only_bytes"] >= orphan + payload


# --------------------------------------------------------------------------
# 7. A snapshot while other threads allocate
# --------------------------------------------------------------------------


def test_snapshot_while_threads_allocate(profile):
    cap = profile("heap_threads.py")
    snapshot_id, before, after, running = map(int, cap.result.out.split())
    assert snapshot_id == 1
    assert running == 4, "the threads were no longer running when the snapshot was taken"
    doc = heap_json(cap, "--type", "__main__.Item")
    assert [(s["id"], s["trigger"], s["complete"]) for s in doc["snapshots"]] == [(1, "api", True)]
    items = doc["type"]["count"]
    # Taken with the GIL held: every item appended before is there, and at
    # most one per thread beyond those appended after (made, not yet appended).
    assert before <= items <= after + 4, (before, items, after)
    assert doc["type"]["shallow_bytes"] == items * slots_instance(1)


# --------------------------------------------------------------------------
# 8. diff
# --------------------------------------------------------------------------

LEAK_N = 5000


def test_diff_names_the_growing_type_and_its_line(profile):
    cap = profile("heap_diff.py")
    assert cap.result.out.split() == ["1", "2"]
    diff = diff_json(cap.path, cwd=cap.path.parent)
    assert (diff["before"]["snapshot"]["id"], diff["after"]["snapshot"]["id"]) == (1, 2)
    assert diff["matched_by"] == "allocation"
    leak = slots_instance(1)
    assert diff["types"][0] == {
        "type": "__main__.Leak",
        "count_before": 0,
        "count_after": LEAK_N,
        "bytes_before": 0,
        "bytes_after": LEAK_N * leak,
    }
    assert diff["new_objects"] == LEAK_N
    assert diff["sites"] == [site(cap.script, cap.line("leak"), "leak", LEAK_N * leak, LEAK_N)]
    assert diff["paths"][0] == {
        "path": main_path(".LEAKS", "[*]"),
        "count": LEAK_N,
        "objects": LEAK_N,
        "bytes": LEAK_N * leak,
    }


# --------------------------------------------------------------------------
# 9. Snapshots on a signal and at an interval
# --------------------------------------------------------------------------


def test_snapshot_on_signal(profile):
    cap = profile("heap_signal.py", options=("--snapshot-on", "SIGUSR2"))
    assert cap.result.out == "100\n"
    heap = heap_json(cap)
    assert [(s["id"], s["trigger"], s["complete"]) for s in heap["snapshots"]] == [
        (1, "signal SIGUSR2", True)
    ]
    assert heap["snapshot"] == heap["snapshots"][0]
    assert cap.summary["snapshots"] == 1


def test_snapshot_every_interval(profile):
    cap = profile("heap_busy.py", options=("--snapshot-every", "100ms"))
    heap = heap_json(cap)
    snapshots = heap["snapshots"]
    assert len(snapshots) >= 1
    assert [s["id"] for s in snapshots] == list(range(1, len(snapshots) + 1))
    assert all(s["trigger"] == "every 100ms" and s["complete"] for s in snapshots), snapshots
    assert heap["snapshot"] == snapshots[-1]
    assert cap.summary["snapshots"] == len(snapshots)


# --------------------------------------------------------------------------
# 10. Bad input
# --------------------------------------------------------------------------


def test_heap_on_capture_without_snapshots(profile):
    cap = profile("empty.py")
    result = run_memsleuth("heap", cap.path, "--json", cwd=cap.path.parent)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert cap.path.name in line and "--snapshot-at exit" in line, line
    assert result.stdout == b""


def test_heap_missing_snapshot_number(profile):
    cap = profile("heap_signal.py", options=("--snapshot-on", "SIGUSR2"))
    result = run_memsleuth("heap", cap.path, "--snapshot", "9", "--json", cwd=cap.path.parent)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert "no snapshot 9" in line and line.endswith("its snapshots are 1"), line
    assert result.stdout == b""


def test_diff_needs_two_snapshots(profile):
    cap = profile("heap_signal.py", options=("--snapshot-on", "SIGUSR2"))
    result = run_memsleuth("diff", cap.path, "--json", cwd=cap.path.parent)
    assert result.returncode == 2, result.describe()
    assert cap.path.name in assert_one_line_error(result)
    assert result.stdout == b""


def test_diff_refuses_captures_of_two_processes(profile):
    one = profile("heap_twice.py")
    other = profile("heap_diff.py")
    result = run_memsleuth("diff", one.path, other.path, "--json", cwd=one.path.parent)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert one.path.name in line and other.path.name in line and "different processes" in line, line
    assert result.stdout == b""


def test_unknown_type_suggests_the_close_one(profile):
    cap = profile("heap_cycles.py")
    result = run_memsleuth("heap", cap.path, "--type", "Holdr", cwd=cap.path.parent)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert "Holdr" in line and "__main__.Holder" in line, line


def test_snapshot_outside_tracking_raises(tmp_path):
    code = (
        "import memsleuth\n"
        "try:\n"
        "    memsleuth.snapshot()\n"
        "except memsleuth.TrackerError as e:\n"
        "    print('TrackerError:', e)\n"
    )
    result = run_process([sys.executable, "-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.err == ""
    out = result.out.strip()
    assert out.startswith("TrackerError: "), out
    assert "\n" not in out
    assert "snapshot" in out and "memsleuth run" in out, out


# --------------------------------------------------------------------------
# 11. Taking a snapshot does not change the heap
# --------------------------------------------------------------------------


def test_back_to_back_snapshots_see_the_same_heap(profile):
    cap = profile("heap_twice.py")
    assert cap.summary["snapshots"] == 2
    for n in ("1", "2"):
        assert heap_type(cap, "__main__.Plain", "--snapshot", n)["count"] == 1000
    # No instance __dict__ materialised: as many dicts as before.
    dicts = [heap_type(cap, "dict", "--snapshot", n, "--limit", "1") for n in ("1", "2")]
    assert dicts[0]["count"] == dicts[1]["count"]
    assert dicts[0]["shallow_bytes"] == dicts[1]["shallow_bytes"]
    # And nothing else changed either.
    diff = diff_json(cap.path, "--limit", "0", cwd=cap.path.parent)
    assert (diff["before"]["snapshot"]["id"], diff["after"]["snapshot"]["id"]) == (1, 2)
    assert diff["types"] == []  # the types whose count or bytes changed
    assert diff["new_objects"] == 0


# --------------------------------------------------------------------------
# 12. What code objects hold
# --------------------------------------------------------------------------


def test_constants_of_code_objects_are_in_the_snapshot(profile):
    # A code object is not a GC object and has no tp_traverse: the walk must
    # name what it holds (co_consts, co_names...) or its constants are lost.
    cap = profile("heap_code_const.py", options=("--snapshot-at", "exit"))
    detail = heap_type(cap, "str")
    constant = block(40 + 30_000 + 1)  # a compact ASCII str: 40-byte header
    found = [i for i in detail["instances"] if i["shallow_bytes"] == constant]
    assert len(found) == 1, (
        "the 30,000-character constant of spelled.__code__ is not in the snapshot; "
        f"biggest str instances: {json.dumps(detail['instances'][:3], indent=1)}"
    )
    assert found[0]["path"][:4] == main_path(".spelled", ".__code__"), found[0]
