"""Growth detection over time: `memsleuth leaks CAPTURE [--json]`.

tests/scenarios/growth_wsgi.py serves REQUESTS requests; each leaks one
bytes object into a module-level list (@leak), fills a warm-up cache that
stops growing after the first ROUTES requests (@warmup), and frees a
scratch buffer (@temporary). Only the leak may be flagged, with exactly the
bytes it appended; the rule is docs/definitions.md's "Growth (memsleuth
leaks)", the document docs/json.md's `memsleuth leaks`.
"""

import importlib.util
import json
import sys

import pytest

from conftest import assert_one_line_error, run_memsleuth, scenario

SCRIPT = scenario("growth_wsgi.py")
WITH_SNAPSHOT = ("--snapshot-at", "exit")


def scenario_constants():
    """The scenario's module constants, read without serving (its loop runs
    only as __main__)."""
    spec = importlib.util.spec_from_file_location("growth_wsgi_constants", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = scenario_constants()
# The requested size of one bytes object of n bytes (header included):
# what the allocator was asked for, and so what memsleuth counts.
ENTRY_SIZE = sys.getsizeof(b"\0" * (W.BODY_BYTES + 1))
PAGE_SIZE = sys.getsizeof(bytes(W.PAGE_BYTES))


def leaks_json(capture) -> dict:
    result = run_memsleuth("leaks", capture.path, "--json", cwd=capture.path.parent)
    assert result.returncode == 0, result.describe()
    assert result.err == "", result.describe()
    return json.loads(result.out)


def at(sites: list, line: int) -> list:
    return [s for s in sites if s["file"] == str(SCRIPT) and s["line"] == line]


@pytest.fixture(scope="module")
def served(profile):
    return profile("growth_wsgi.py", options=WITH_SNAPSHOT)


@pytest.fixture(scope="module")
def doc(served):
    return leaks_json(served)


def test_the_leaking_line_is_flagged_first_with_the_bytes_it_appended(served, doc):
    assert doc["judged"] is True
    leak = doc["sites"][0]
    assert (leak["file"], leak["line"], leak["function"]) == (
        str(SCRIPT), served.line("leak"), "application"
    )
    assert leak["verdict"] == "growing"
    assert leak["growth_bytes"] == W.REQUESTS * ENTRY_SIZE
    assert leak["live_blocks"] == W.REQUESTS
    assert leak["series"][0] == 0 and leak["series"][-1] == leak["growth_bytes"]
    # A steady leak: confident, and still growing at the end. The series is
    # in wall-clock time, which a loaded machine stretches unevenly, so the
    # bounds leave room for that while staying far from a plateau's.
    assert leak["confidence"] >= 0.75, leak
    assert leak["spread"] >= 0.75, leak
    assert leak["final_ratio"] >= doc["rule"]["min_final_ratio"], leak
    # The trend is the run's growth over its length, within what start-up
    # and shutdown (no requests) and scheduling take off the serving time.
    average = leak["growth_bytes"] / doc["duration_s"] * 60
    assert average * 0.7 <= leak["trend_bytes_per_min"] <= average * 2.0, leak


def test_only_the_leak_is_flagged(served, doc):
    flagged = [(s["file"], s["line"]) for s in doc["sites"]]
    assert flagged == [(str(SCRIPT), served.line("leak"))], doc["sites"]


def test_the_warm_up_cache_levelled_off(served, doc):
    assert at(doc["sites"], served.line("warmup")) == []
    [warmup] = at(doc["dismissed"], served.line("warmup"))
    assert warmup["verdict"] == "plateau"
    assert warmup["growth_bytes"] == W.ROUTES * PAGE_SIZE
    assert warmup["final_ratio"] < 0.5, warmup


def test_the_freed_temporary_is_not_growth(served, doc):
    for listed in (doc["sites"], doc["dismissed"]):
        assert at(listed, served.line("temporary")) == []


def test_the_growing_line_names_its_stack(served, doc):
    [stack] = doc["sites"][0]["stacks"]
    assert stack["bytes"] == W.REQUESTS * ENTRY_SIZE and stack["blocks"] == W.REQUESTS
    assert [(f["line"], f["function"]) for f in stack["frames"]] == [
        (served.line("leak"), "application"),
        (served.line("call_application"), "serve"),
        (served.line("call_serve"), "<module>"),
    ]


def test_the_last_snapshot_says_what_keeps_the_growth_alive(doc):
    assert doc["has_snapshots"] is True
    assert doc["snapshot"]["trigger"] == "exit"
    [kept] = doc["sites"][0]["types"]
    assert (kept["type"], kept["count"]) == ("bytes", W.REQUESTS)
    assert kept["paths"][0]["path"] == ["sys.modules", "['__main__']", ".AUDIT_LOG", "[*]"]
    assert kept["paths"][0]["count"] == W.REQUESTS


LINE_SITE = {
    "type": "object",
    "required": [
        "file", "line", "function", "verdict", "trend_bytes_per_min", "r_squared",
        "spread", "final_ratio", "confidence", "growth_bytes", "live_blocks", "series",
        "stacks", "types",
    ],
    "additionalProperties": False,
    "properties": {
        "file": {"type": "string"},
        "line": {"type": "integer", "minimum": 0},
        "function": {"type": "string"},
        "verdict": {"enum": ["growing", "plateau", "unsteady"]},
        "trend_bytes_per_min": {"type": "number"},
        "r_squared": {"type": "number", "minimum": 0, "maximum": 1},
        "spread": {"type": "number", "minimum": 0, "maximum": 1},
        "final_ratio": {"type": "number"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "growth_bytes": {"type": "integer", "minimum": 0},
        "live_blocks": {"type": "integer", "minimum": 0},
        "series": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "stacks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["frames", "bytes", "blocks", "threads"],
                "additionalProperties": False,
                "properties": {
                    "frames": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["file", "line", "function"],
                            "properties": {
                                "file": {"type": "string"},
                                "line": {"type": "integer"},
                                "function": {"type": "string"},
                                "module": {"type": "string"},
                            },
                        },
                    },
                    "bytes": {"type": "integer"},
                    "blocks": {"type": "integer"},
                    "threads": {"type": "array", "items": {"type": "integer"}},
                },
            },
        },
        "types": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "count", "bytes", "paths"],
                "additionalProperties": False,
                "properties": {
                    "type": {"type": "string"},
                    "count": {"type": "integer"},
                    "bytes": {"type": "integer"},
                    "paths": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["path", "count", "bytes"],
                            "additionalProperties": False,
                            "properties": {
                                "path": {"type": "array", "items": {"type": "string"}},
                                "count": {"type": "integer"},
                                "bytes": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
    },
}

LEAKS_SCHEMA = {
    "type": "object",
    "required": [
        "capture", "duration_s", "times_s", "rule", "judged", "snapshot", "has_snapshots",
        "sites", "dismissed",
    ],
    "additionalProperties": False,
    "properties": {
        "capture": {"type": "string"},
        "duration_s": {"type": "number", "minimum": 0},
        "times_s": {"type": "array", "items": {"type": "number", "minimum": 0}},
        "rule": {
            "type": "object",
            "required": [
                "checkpoints", "min_checkpoints", "share_of_peak", "floor_bytes",
                "ceiling_bytes", "segments", "min_final_ratio", "min_confidence",
                "min_growth_bytes",
            ],
            "additionalProperties": False,
            "properties": {
                "checkpoints": {"type": "integer"},
                "min_checkpoints": {"type": "integer"},
                "share_of_peak": {"type": "number"},
                "floor_bytes": {"type": "integer"},
                "ceiling_bytes": {"type": "integer"},
                "segments": {"type": "integer"},
                "min_final_ratio": {"type": "number"},
                "min_confidence": {"type": "number"},
                "min_growth_bytes": {"type": "integer"},
            },
        },
        "judged": {"type": "boolean"},
        "snapshot": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["id", "trigger", "time_s"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "integer"},
                        "trigger": {"type": "string"},
                        "time_s": {"type": "number"},
                    },
                },
            ]
        },
        "has_snapshots": {"type": "boolean"},
        "sites": {"type": "array", "items": LINE_SITE},
        "dismissed": {"type": "array", "items": LINE_SITE},
    },
}


def test_json_follows_the_documented_schema(served, doc):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(doc, LEAKS_SCHEMA)
    assert doc["capture"] == str(served.path)
    rule = doc["rule"]
    assert (rule["checkpoints"], rule["segments"]) == (64, 8)
    assert (rule["min_final_ratio"], rule["min_confidence"]) == (0.5, 0.5)
    # 1% of the peak, within [64 KiB, 1 MiB]: the peak here is a few MiB.
    assert rule["min_growth_bytes"] == 64 * 1024
    times = doc["times_s"]
    assert times[0] == 0.0 and times[-1] == doc["duration_s"]
    assert times == sorted(times) and len(set(times)) == len(times)
    # ~150 timeline samples: most of the 64 checkpoints find one (the exit
    # snapshot pauses sampling at the very end).
    assert rule["min_checkpoints"] <= 48 <= len(times) <= 64, times
    for site in doc["sites"] + doc["dismissed"]:
        assert len(site["series"]) == len(times), site
        assert site["growth_bytes"] >= rule["min_growth_bytes"], site
    growing = [s["trend_bytes_per_min"] for s in doc["sites"]]
    assert growing == sorted(growing, reverse=True)
    assert all(s["stacks"] == [] and s["types"] == [] for s in doc["dismissed"])


def test_text_shows_the_trend_the_stack_and_the_retainer(served):
    result = run_memsleuth("leaks", served.path, cwd=served.path.parent)
    assert result.returncode == 0, result.describe()
    out = result.out
    assert "Growing lines, fastest first:" in out, out
    leak = f"application ({SCRIPT}:{served.line('leak')})"
    assert f"1. {leak}" in out, out
    assert "/min" in out and "confidence" in out, out
    assert f"serve ({SCRIPT}:{served.line('call_application')})" in out, out
    assert "sys.modules['__main__'].AUDIT_LOG[*]" in out, out
    not_flagged = out.split("Grew as much, but not flagged:")[1]
    assert f"growth_wsgi.py:{served.line('warmup')})" in not_flagged, out
    assert "levelled off" in not_flagged, out
    assert f":{served.line('temporary')})" not in out, out


def test_without_snapshots_the_sites_still_come_with_their_stacks(profile):
    bare = profile("growth_wsgi.py")
    doc = leaks_json(bare)
    assert (doc["snapshot"], doc["has_snapshots"]) == (None, False)
    leak = doc["sites"][0]
    assert leak["line"] == bare.line("leak") and leak["types"] == []
    assert leak["growth_bytes"] == W.REQUESTS * ENTRY_SIZE
    text = run_memsleuth("leaks", bare.path, cwd=bare.path.parent)
    assert text.returncode == 0, text.describe()
    assert "--snapshot-every 30s" in text.out, text.out


def test_a_run_too_short_to_judge_says_so(profile):
    short = profile("empty.py")
    doc = leaks_json(short)
    assert doc["judged"] is False
    assert doc["sites"] == [] and doc["dismissed"] == []
    text = run_memsleuth("leaks", short.path, cwd=short.path.parent)
    assert text.returncode == 0, text.describe()
    assert "too short to judge" in text.out, text.out


@pytest.mark.parametrize("kind", ["missing", "directory", "foreign"])
def test_a_bad_capture_gives_one_error_sentence(tmp_path, kind):
    target = tmp_path / f"{kind}.msl"
    if kind == "directory":
        target.mkdir()
    elif kind == "foreign":
        target.write_text("This is a text file, not a memsleuth capture.\n" * 50)
    result = run_memsleuth("leaks", target, "--json", cwd=tmp_path)
    assert result.returncode == 2, result.describe()
    line = assert_one_line_error(result)
    assert str(target) in line, line
    assert result.stdout == b"", result.describe()
