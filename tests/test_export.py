"""`memsleuth export --format pprof|speedscope|collapsed|json`, each read back
by a reader that is not memsleuth's: pprof by a decoder generated from the
official `profile.proto` (tests/pprof), speedscope checked against the
schema speedscope publishes (from its npm package), collapsed stacks and
JSON by their plain text.

The scenario allocates 10 MiB at a known line (big_alloc.py); every export
must show that allocation at that line, and its totals must be the
summary's: the peak, the leaks and everything allocated."""

from __future__ import annotations

import gzip
import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import MiB, assert_one_line_error, rows_at, run_memsleuth, run_process

REPO = Path(__file__).resolve().parent.parent
BIG = 10 * MiB


@pytest.fixture(scope="module")
def big(profile):
    return profile("big_alloc.py")


def export(capture, fmt: str, *args) -> Path:
    out = capture.path.parent / f"export-{fmt}-{'-'.join(args) or 'default'}"
    result = run_memsleuth("export", capture.path, "--format", fmt, "-o", out, *args, cwd=capture.path.parent)
    assert result.returncode == 0, result.describe()
    assert f"to {out}" in result.err, result.describe()
    return out


# --------------------------------------------------------------------------
# pprof
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def profile_pb2(tmp_path_factory):
    """The Python module protoc generates from the official profile.proto."""
    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("pprof_proto")
    proto_dir = REPO / "tests" / "pprof"
    status = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", str(proto_dir / "profile.proto")])
    assert status == 0, "protoc could not compile tests/pprof/profile.proto"
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("profile_pb2")
    finally:
        sys.path.remove(str(out))


def read_pprof(profile_pb2, path: Path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    p = profile_pb2.Profile()
    p.ParseFromString(data)
    return p


def pprof_samples(p) -> list:
    """Each sample as (frames leaf first as "function file:line", values by
    sample type name, labels)."""
    s = list(p.string_table)
    functions = {f.id: f for f in p.function}
    locations = {loc.id: loc for loc in p.location}
    types = [s[t.type] for t in p.sample_type]

    def frame(location_id):
        (line,) = locations[location_id].line
        fn = functions[line.function_id]
        return f"{s[fn.name]} {s[fn.filename]}:{line.line}"

    return [
        (
            [frame(i) for i in sample.location_id],
            dict(zip(types, sample.value)),
            {s[label.key]: s[label.str] for label in sample.label},
        )
        for sample in p.sample
    ]


def test_pprof_is_a_go_heap_profile_with_the_summary_totals(big, profile_pb2):
    p = read_pprof(profile_pb2, export(big, "pprof"))
    s = list(p.string_table)
    assert s[0] == ""
    assert [(s[t.type], s[t.unit]) for t in p.sample_type] == [
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ]
    assert s[p.default_sample_type] == "inuse_space"
    assert (s[p.period_type.type], s[p.period_type.unit], p.period) == ("space", "bytes", 1)
    assert p.time_nanos > 0

    samples = pprof_samples(p)
    summary = big.summary
    total = lambda key: sum(values[key] for _, values, _ in samples)  # noqa: E731
    assert total("inuse_space") == summary["peak_bytes"]
    assert total("alloc_space") == summary["total_allocated_bytes"]
    assert total("alloc_objects") == summary["allocation_count"]

    # The 10 MiB bytearray, leaf first: allocate_big at its line, main, <module>.
    script = str(big.script)
    leaf = f"allocate_big {script}:{big.line('big')}"
    at_big = [(frames, values, labels) for frames, values, labels in samples if frames[0] == leaf]
    assert len(at_big) >= 1, [frames[:1] for frames, _, _ in samples][:20]
    frames, values, labels = max(at_big, key=lambda s: s[1]["inuse_space"])
    assert frames[:3] == [
        leaf,
        f"main {script}:{big.line('call_big')}",
        f"<module> {script}:{big.line('call_main')}",
    ]
    assert BIG <= values["inuse_space"] <= BIG + 64 * 1024
    assert values["inuse_objects"] >= 1
    # The layer the buffer's bytes are in, as `table` has it (python-object
    # until 3.12, python-mem from 3.13).
    (row,) = rows_at(big.table("peak", "line")["rows"], big.script, big.line("big"))
    assert labels == {"layer": max(row["layers"], key=row["layers"].get)}


def test_pprof_in_use_at_exit_is_the_leaks(big, profile_pb2):
    p = read_pprof(profile_pb2, export(big, "pprof", "--at", "leaks"))
    samples = pprof_samples(p)
    assert sum(v["inuse_space"] for _, v, _ in samples) == big.summary["leaked_bytes"]
    # The buffer was freed before exit: in use at the peak, not at exit.
    leaf = f"allocate_big {big.script}:{big.line('big')}"
    assert all(v["inuse_space"] < BIG for f, v, _ in samples if f[0] == leaf)
    assert any(v["alloc_space"] >= BIG for f, v, _ in samples if f[0] == leaf)


def test_pprof_refuses_at_all(big):
    result = run_memsleuth("export", big.path, "--format", "pprof", "--at", "all", "-o", big.path.parent / "x.pb.gz",
                           cwd=big.path.parent)
    line = assert_one_line_error(result)
    assert "--at all does not apply to pprof" in line
    assert result.returncode == 2


# --------------------------------------------------------------------------
# speedscope
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def speedscope_schema() -> dict:
    """The file format schema of the speedscope release pinned in
    tests/speedscope/package-lock.json."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to fetch speedscope's published schema; install Node.js 18 or later")
    here = REPO / "tests" / "speedscope"
    schema = here / "node_modules" / "speedscope" / "dist" / "release" / "file-format-schema.json"
    if not schema.is_file():
        result = run_process(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=here, timeout=600)
        assert result.returncode == 0, result.describe()
    return json.loads(schema.read_text())


def test_speedscope_file_matches_the_published_schema(big, speedscope_schema):
    import jsonschema

    doc = json.loads(export(big, "speedscope").read_text())
    jsonschema.validate(doc, speedscope_schema)

    peak, leaks, allocated = doc["profiles"]
    summary = big.summary
    assert "live at the peak" in peak["name"]
    assert leaks["name"].endswith("leaked at exit")
    assert allocated["name"].endswith("allocated")
    assert (peak["unit"], peak["type"]) == ("bytes", "sampled")
    assert sum(peak["weights"]) == peak["endValue"] == summary["peak_bytes"]
    assert sum(leaks["weights"]) == summary["leaked_bytes"]
    assert sum(allocated["weights"]) == summary["total_allocated_bytes"]

    frames = doc["shared"]["frames"]
    names = lambda stack: [(frames[i]["name"], frames[i].get("line")) for i in stack]  # noqa: E731
    stacks = [(names(stack), w) for stack, w in zip(peak["samples"], peak["weights"])]
    big_stacks = [(n, w) for n, w in stacks if ("allocate_big", big.line("big")) in n]
    assert big_stacks, stacks[:10]
    stack, weight = max(big_stacks, key=lambda s: s[1])
    # Outermost first, ending in the layer.
    assert stack[-3:-1] == [("main", big.line("call_big")), ("allocate_big", big.line("big"))]
    assert stack[-1][0].startswith("[") and stack[-1][1] is None
    assert BIG <= weight <= BIG + 64 * 1024


# --------------------------------------------------------------------------
# collapsed stacks and JSON
# --------------------------------------------------------------------------


def test_collapsed_export_is_what_stacks_prints(big):
    for at in ("peak", "leaks", "all"):
        text = export(big, "collapsed", "--at", at).read_text()
        printed = run_memsleuth("stacks", big.path, "--at", at, cwd=big.path.parent)
        assert printed.returncode == 0, printed.describe()
        assert text == printed.out
    lines = export(big, "collapsed").read_text().splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == big.summary["peak_bytes"]


def test_json_export_is_the_summary_with_every_site(big):
    doc = json.loads(export(big, "json").read_text())
    printed = run_memsleuth("summary", big.path, "--json", "--limit", "1000000", cwd=big.path.parent)
    assert printed.returncode == 0, printed.describe()
    assert doc == json.loads(printed.out)
    assert doc["peak_bytes"] == big.summary["peak_bytes"]


def test_default_output_is_beside_the_capture(big, tmp_path):
    capture = tmp_path / "app.msl"
    shutil.copy(big.path, capture)
    for fmt, name in [("pprof", "app.pb.gz"), ("speedscope", "app.speedscope.json"),
                      ("collapsed", "app.collapsed"), ("json", "app.json")]:
        result = run_memsleuth("export", capture, "--format", fmt, cwd=tmp_path)
        assert result.returncode == 0, result.describe()
        assert (tmp_path / name).is_file(), (fmt, sorted(p.name for p in tmp_path.iterdir()))
