"""The HTML report: written by `memsleuth run` and `memsleuth report`, one
self-contained page whose embedded data and behaviour in a real browser
(headless Chromium driven by tests/report/driver.js) are checked exactly."""

import json
import os
import re
import runpy
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import (
    SLACK,
    MiB,
    TESTS_DIR,
    assert_bytes_about,
    assert_one_line_error,
    chunk_layout,
    code_name,
    run_memsleuth,
    scenario,
)

DRIVER_DIR = TESTS_DIR / "report"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DATA_RE = re.compile(
    r'<script type="application/json" id="memsleuth-data">(.*?)</script>', re.S
)


def embedded_data(html: Path) -> dict:
    match = DATA_RE.search(html.read_text())
    assert match, f"no data element in {html}"
    return json.loads(match.group(1))


@pytest.fixture(scope="session")
def driver():
    """drive(report, *flags) -> what the browser saw, as a dict."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed; scripts/test.sh installs it (apt-get install chromium)", pytrace=False)
    if not shutil.which("node"):
        pytest.fail("node is not installed; scripts/test.sh installs it", pytrace=False)
    if not (DRIVER_DIR / "node_modules" / "puppeteer-core").is_dir():
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=DRIVER_DIR, check=True, capture_output=True,
        )

    def drive(report: Path, *flags) -> dict:
        proc = subprocess.run(
            ["node", str(DRIVER_DIR / "driver.js"), str(report), *flags],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "CHROMIUM": CHROMIUM, "HOME": str(report.parent)},
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    return drive


@pytest.fixture(scope="module")
def two_sites(profile):
    """report_two_sites.py with a heap snapshot at exit, and its report."""
    capture = profile("report_two_sites.py", options=("--snapshot-at", "exit"))
    report = capture.path.with_suffix(".html")
    assert report.is_file(), "memsleuth run --quiet wrote no report beside the capture"
    return capture, report


def test_run_says_where_the_report_is(tmp_path):
    result = run_memsleuth("run", "-o", "big.msl", scenario("big_alloc.py"), cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert (tmp_path / "big.html").is_file()
    assert "Report: big.html  (open it in a browser)" in result.err.splitlines()


def test_no_report_writes_none(tmp_path):
    result = run_memsleuth("run", "--no-report", "-o", "big.msl", scenario("big_alloc.py"), cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.msl"]
    assert "Report:" not in result.err


def test_report_failure_keeps_the_exit_code(tmp_path):
    # A directory where the report would go: writing it fails.
    (tmp_path / "c.html").mkdir()
    result = run_memsleuth("run", "--quiet", "-o", "c.msl", "-c", "import sys; sys.exit(3)", cwd=tmp_path)
    assert result.returncode == 3, result.describe()
    line = assert_one_line_error(result, prefix="memsleuth: warning: no HTML report was written:")
    assert "c.html" in line


def test_report_command_writes_where_asked(two_sites, tmp_path):
    capture, _ = two_sites
    out = tmp_path / "elsewhere.html"
    result = run_memsleuth("report", capture.path, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    assert result.err == f"memsleuth: wrote the report to {out}\n"
    assert embedded_data(out)["summary"]["peak_bytes"] == embedded_data(two_sites[1])["summary"]["peak_bytes"]


def test_report_of_a_missing_capture_is_one_sentence(tmp_path):
    result = run_memsleuth("report", "nope.msl", cwd=tmp_path)
    assert result.returncode == 2
    line = assert_one_line_error(result)
    assert line == "memsleuth: error: capture nope.msl does not exist; pass the path of a .msl file written by `memsleuth run`"


def test_page_is_self_contained(two_sites):
    html = two_sites[1].read_text()
    assert not re.search(r'<(script|link)[^>]+(src|href)=', html), "the page loads something from outside"
    assert "d3-flame-graph 5.0.0 (Apache-2.0)" in html
    assert "uplot 1.6.32 (MIT)" in html


def test_embedded_data_names_the_sites(two_sites):
    capture, report = two_sites
    data = embedded_data(report)
    script = str(capture.script)
    rows = data["tables"]["peak"]["line"]["rows"]
    big = next(r for r in rows if r["file"] == script and r["line"] == capture.line("big"))
    small = next(r for r in rows if r["file"] == script and r["line"] == capture.line("small"))
    assert (big["function"], small["function"]) == ("big", "small")
    assert_bytes_about(big, 6 * MiB)
    assert_bytes_about(small, 2 * MiB)
    # The flamegraph's stacks name the same line, with the caller above it.
    frames = data["frames"]
    stacks = data["flames"]["peak"]["stacks"]
    top = stacks[0]
    leaf = frames[top["f"][-1]]
    caller = frames[top["f"][-2]]
    assert (leaf["function"], leaf["line"], leaf["native"]) == ("big", capture.line("big"), False)
    assert (caller["function"], caller["line"]) == ("main", capture.line("call_big"))
    # The stack's bytes in its layer (3.13 puts a bytearray's buffer in
    # python-mem and the object in python-object; the row sums both).
    assert top["b"] == big["layers"][top["l"]]
    assert data["flames"]["peak"]["total_bytes"] == sum(s["b"] for s in stacks) + data["flames"]["peak"]["other_bytes"]
    # Checkpoints: the first one is before the blocks exist, or holds them.
    assert 1 <= len(data["checkpoints"]) <= data["caps"]["checkpoints"]
    assert [m["trigger"] for m in data["markers"]["snapshots"]] == ["exit"]
    # Every collection is marked (far fewer than the cap), as `memsleuth memory` counts them.
    assert len(data["markers"]["gc"]) == data["memory"]["gc"]["collections"]
    assert data["heap"]["last"]["snapshot"]["trigger"] == "exit"
    assert data["heap"]["diff"] is None


def test_browser_shows_zooms_searches_and_sorts(two_sites, driver):
    capture, report = two_sites
    small_name = f"small ({capture.script}:{capture.line('small')})"
    seen = driver(report, "--frame", small_name, "--search", "big (")
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    assert seen["section_errors"] == []
    assert any(f.startswith("Memory peaked at 8.0 MiB") and f"big ({capture.script}:{capture.line('big')})" in f
               for f in seen["findings"]), seen["findings"]
    # Zoom: the 2 MiB frame spans a quarter of the chart, then all of it.
    before, after = seen["flame_before"], seen["flame_zoomed"]
    width = before["chart_width"]
    assert before["frame"]["name"] == small_name
    assert 0.2 * width < before["frame"]["width"] < 0.3 * width, before
    assert after["zoomed"] == small_name
    assert after["frame"]["width"] == pytest.approx(width, abs=1)
    # Search: exactly the `big` frame is highlighted, and its share summed.
    assert seen["search"]["matches"] == 1
    assert seen["flame_search"]["highlighted"] == [f"big ({capture.script}:{capture.line('big')})"]
    assert 6 * MiB <= seen["search"]["bytes"] < 6 * MiB + 64 * 1024
    assert "(75." in seen["search"]["text"]
    # Table: largest first, then re-sorted by a click on the bytes column.
    desc = [int(r["bytes"]) for r in seen["table_bytes_desc"]]
    asc = [int(r["bytes"]) for r in seen["table_bytes_asc"]]
    assert desc == sorted(desc, reverse=True) and asc == sorted(asc)
    assert (seen["table_bytes_desc"][0]["function"], seen["table_bytes_desc"][0]["line"]) == ("big", str(capture.line("big")))
    assert asc[-1] == desc[0] and asc[0] < desc[0]
    # Heap: the snapshot's types are listed.
    assert len(seen["heap_types"]) > 0


def test_heap_diff_shows_what_grew(profile, driver):
    capture = profile("heap_diff.py")
    report = capture.path.with_suffix(".html")
    data = embedded_data(report)
    leak = next(t for t in data["heap"]["diff"]["types"] if t["type"].endswith("Leak"))
    assert leak["count_after"] - leak["count_before"] == 5000
    seen = driver(report)
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    row = next(r for r in seen["heap_diff"] if r[0].endswith("Leak"))
    assert (row[1], row[2]) == ("0", "5,000")


# --------------------------------------------------------------------------
# The timeline by layer and the dominator-tree explorer
# --------------------------------------------------------------------------

CACHE_N = 100_000
# CPython's shared small ints (-5..256 but the cache's keys are 0..256): the
# dict does not dominate those keys.
SMALL_INT_KEYS = 257
ARENA_LABEL = "pymalloc-arena (capacity, not in tracked)"
FREE_SPACE_LABEL = "pymalloc free space (in the arenas, not in tracked)"


def js_fixed(value: float, digits: int) -> str:
    """JavaScript's value.toFixed(digits): a tie rounds up, where Python's
    format rounds to even (37.25 is "37.3" on the page)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def js_bytes(n: int) -> str:
    """What the page's bytes() shows for n (web/src/util.js)."""
    value, unit = float(n), 0
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    while value >= 1024 and unit + 1 < len(units):
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{n} B"
    return f"{js_fixed(value, 0 if value >= 100 else 1)} {units[unit]}"


def tree_label(node: dict) -> str:
    """A tree row's label as the page writes it (web/src/tree.js)."""
    if node.get("edge"):
        return f"{node['edge']} {node['name']}"
    if "path" in node:
        return f"{node['name']} ({' → '.join(node['path']) or 'reachable from no root'})"
    return node["name"]


@pytest.fixture(scope="module")
def cache_report(profile):
    """heap_cache.py with a snapshot at exit: its report's data, the path
    to its report, and `memsleuth heap --json` of the same capture."""
    capture = profile("heap_cache.py", options=("--snapshot-at", "exit"))
    result = run_memsleuth("heap", capture.path, "--json", cwd=capture.path.parent)
    assert result.returncode == 0, result.describe()
    report = capture.path.with_suffix(".html")
    return capture, report, embedded_data(report), json.loads(result.out)


def cache_chain(nodes: list) -> list:
    """The tree's nodes from the module `__main__` down to the CACHE dict.
    sys.modules holds the module; when a thread's frame reaches it too, the
    super-root is its dominator and its path names it instead."""
    def child(parent: int, test) -> int:
        found = [c for c in nodes[parent]["children"] if test(nodes[c])]
        assert len(found) == 1, [tree_label(nodes[c]) for c in nodes[parent]["children"]]
        return found[0]

    under_roots = [c for c in nodes[0]["children"]
                   if nodes[c].get("path") == ["sys.modules", "['__main__']"]]
    if under_roots:
        module = under_roots[0]
    else:
        sys_modules = child(0, lambda n: n["name"] == "sys.modules")
        module = child(sys_modules, lambda n: n.get("edge") == "['__main__']")
    assert nodes[module]["name"] == "module"
    module_dict = child(module, lambda n: (n.get("edge"), n["name"]) == (".__dict__", "dict"))
    cache = child(module_dict, lambda n: (n.get("edge"), n["name"]) == ("['CACHE']", "dict"))
    return [module, module_dict, cache]


def test_dominator_tree_leads_to_the_cache_with_its_retained_size(cache_report):
    capture, _, data, heap = cache_report
    tree, caps = data["heap"]["tree"], data["caps"]
    nodes = tree["nodes"]
    assert (nodes[0]["name"], nodes[0]["shallow_bytes"]) == ("(roots)", 0)
    *_, cache = cache_chain(nodes)
    expected = next(r for r in heap["retainers"] if r["path"] == ["sys.modules", "['__main__']", ".CACHE"])
    assert (nodes[cache]["shallow_bytes"], nodes[cache]["retained_bytes"]) == (
        expected["shallow_bytes"], expected["retained_bytes"])
    # Its children: the records (the int keys retain less), at most the cap,
    # and every other entry counted with its bytes.
    records = next(t for t in heap["types"] if t["type"] == "__main__.Record")
    per_record = records["retained_bytes"] // CACHE_N
    kept = [nodes[c] for c in nodes[cache]["children"]]
    assert len(kept) == caps["tree_children"]
    assert [(n["name"], n["retained_bytes"]) for n in kept] == [("__main__.Record", per_record)] * len(kept)
    sites = {tuple(tree["sites"][n["site"]].values()) for n in kept}
    assert sites == {(str(capture.script), capture.line("record"), "fill")}
    assert nodes[cache]["other_children"] == CACHE_N + (CACHE_N - SMALL_INT_KEYS) - len(kept)


def test_dominator_tree_is_sorted_capped_and_counts_what_it_cut(cache_report):
    _, _, data, heap = cache_report
    tree, caps = data["heap"]["tree"], data["caps"]
    nodes = tree["nodes"]
    assert len(nodes) == caps["tree_nodes"]
    assert tree["cut_nodes"] == tree["tree_nodes"] - len(nodes) > 0
    # The whole tree: every object reachable from a root (all of them here).
    assert nodes[0]["retained_bytes"] == heap["totals"]["shallow_bytes"] - heap["totals"]["unreachable_bytes"]
    depth = {0: 0}
    cut_children = 0
    for i, node in enumerate(nodes):
        kids = [nodes[c] for c in node["children"]]
        retained = [k["retained_bytes"] for k in kids]
        assert retained == sorted(retained, reverse=True), i
        assert len(kids) <= caps["tree_children"]
        # What a node retains is itself and its children, kept or not.
        assert node["shallow_bytes"] + sum(retained) + node["other_bytes"] == node["retained_bytes"], i
        if node["other_children"] == 0:
            assert node["other_bytes"] == 0
        for c in node["children"]:
            assert c > i, "a node comes after its parent"
            depth[c] = depth[i] + 1
        cut_children += node["other_children"]
    assert sorted(depth) == list(range(len(nodes))), "every node has one parent"
    assert max(depth.values()) == caps["tree_depth"]
    # Each child cut is a subtree left out, of one node at least.
    assert cut_children <= tree["cut_nodes"]


def test_timeline_has_a_series_per_layer_in_use(cache_report):
    _, _, data, _ = cache_report
    t = data["timeline"]
    layers = {l["layer"]: l for l in t["layers"]}
    assert {"python-object", "pymalloc-arena"} <= set(layers)
    assert [l["layer"] for l in t["layers"] if not l["in_total"]] == ["pymalloc-arena"]
    for l in t["layers"]:
        assert len(l["bytes"]) == len(t["time_s"]) and max(l["bytes"]) > 0, l["layer"]
    # At every point the layers but the arenas add up to the tracked bytes.
    for i, tracked in enumerate(t["tracked_bytes"]):
        assert sum(l["bytes"][i] for l in t["layers"] if l["in_total"]) == tracked, i
    # The cache's objects live in pymalloc: by the end it holds most bytes.
    assert layers["python-object"]["bytes"][-1] > 20 * MiB
    # pymalloc's live blocks, at the same samples, are most of those bytes
    # (rounded up to their size classes; larger blocks are not pymalloc's).
    blocks = t["pymalloc_block_bytes"]
    assert len(blocks) == len(t["time_s"])
    assert blocks[-1] > 20 * MiB


def test_browser_expands_the_tree_to_the_cache_and_shows_layers(cache_report, driver):
    _, report, data, heap = cache_report
    nodes = data["heap"]["tree"]["nodes"]
    chain = cache_chain(nodes)
    seen = driver(report, *[arg for c in chain for arg in ("--tree", tree_label(nodes[c]))])
    assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
    assert seen["section_errors"] == []
    # The root's rows are shown open, largest first.
    shown = [r["retained"] for r in seen["tree_root"] if r["retained"] is not None]
    assert shown == [nodes[c]["retained_bytes"] for c in nodes[0]["children"]]
    steps = seen["tree"]
    assert [s["label"] for s in steps] == [tree_label(nodes[c]) for c in chain], steps
    cache = steps[-1]
    retained = nodes[chain[-1]]["retained_bytes"]
    total = nodes[0]["retained_bytes"]
    assert cache["retained"] == retained
    # cells: object, allocated at, shallow, retained, share
    assert cache["cells"][3:] == [js_bytes(retained), f"{retained / total * 100:.1f}%"]
    records = [r for r in cache["children"] if r["label"] is not None]
    assert [r["label"] for r in records] == [tree_label(nodes[c]) for c in nodes[chain[-1]]["children"]]
    # Each record under the key the dict holds it by: `[12] __main__.Record`.
    assert all(re.fullmatch(r"\[\d+\] __main__\.Record", r["label"]) for r in records), records
    assert len(records) == data["caps"]["tree_children"]
    more = cache["children"][-1]
    other = nodes[chain[-1]]["other_children"]
    assert more["label"] is None
    assert more["text"] == f"{other:,} more, {js_bytes(nodes[chain[-1]]['other_bytes'])}"
    # The timeline: one line per layer in use, each with its value on hover.
    # pymalloc's free space comes last, drawn when there are arenas to hold it.
    expected = ["time", "tracked", "RSS"] + [
        l["layer"] if l["in_total"] else ARENA_LABEL for l in data["timeline"]["layers"]] + [FREE_SPACE_LABEL]
    legend = seen["timeline_legend"]
    assert [label for label, _ in legend] == expected
    assert all(re.fullmatch(r"[\d.]+ (B|KiB|MiB|GiB)", value) for _, value in legend[1:]), legend


def test_temporaries_have_a_flamegraph_and_a_table(profile):
    capture = profile("temporaries.py")
    data = embedded_data(capture.path.with_suffix(".html"))
    flame = data["flames"]["temporary"]
    top = flame["stacks"][0]
    leaf = data["frames"][top["f"][-1]]
    assert (leaf["function"], leaf["line"]) == ("churn", capture.line("temp"))
    assert (top["b"], top["n"]) == (5000 * 1001, 5000)
    row = data["tables"]["temporary"]["line"]["rows"][0]
    assert (row["function"], row["line"], row["count"]) == ("churn", capture.line("temp"), 5000)


# --------------------------------------------------------------------------
# The Memory manager and Recommendations sections, and the GC markers
# --------------------------------------------------------------------------

# Reads what the page shows of the memory sections in headless Chromium:
# rows with their exact values (data attributes) beside the text shown.
# Run with `node -e` in tests/report, where puppeteer-core is installed.
MEMORY_PAGE_JS = r"""
const puppeteer = require("puppeteer-core");
(async () => {
  const out = { console_errors: [], page_errors: [] };
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
    page.on("pageerror", (e) => out.page_errors.push(String(e)));
    await page.goto("file://" + process.argv[1], { waitUntil: "load" });
    await page.waitForSelector("body[data-ready='true']");
    Object.assign(out, await page.evaluate(() => {
      const all = (root, sel) => [...(typeof root === "string" ? document.querySelectorAll(root) : root.querySelectorAll(sel))];
      const text = (sel) => document.querySelector(sel)?.textContent ?? null;
      const rows = (sel) => all(`${sel} tbody tr`).map((tr) => ({ ...tr.dataset, cells: all(tr, "td").map((td) => td.textContent) }));
      return {
        section_errors: all("section .error").map((e) => e.textContent),
        findings: all(".findings li").map((li) => li.textContent),
        memory_text: document.querySelector("#memory-manager .body").innerText,
        not_measured: text("#not-measured"),
        empty_tables: all("#memory-manager table").filter((t) => t.querySelectorAll("tbody tr").length === 0).length,
        rss: Object.fromEntries(["exit", "peak"].map((m) => [m, document.querySelector(`#rss-${m}`) ? {
          parts: rows(`#rss-${m} table.rss-parts`),
          bar: all(`#rss-${m} .rss-bar .seg`).map((s) => s.dataset.key),
          verdict: text(`#rss-${m} .verdict`),
          heading: text(`#rss-${m} h4`),
        } : null])),
        pymalloc: ["peak", "exit"].filter((m) => document.querySelector(`#pymalloc-${m}`)),
        pymalloc_stats: rows("#pymalloc-stats").map((r) => r.cells),
        pinned: text("#pinned-arenas"),
        pinned_sites: rows("#pinned-sites"),
        gc_generations: rows("#gc-generations"),
        gc_freed: document.querySelector("#gc-freed") ? { text: text("#gc-freed"), bytes: document.querySelector("#gc-freed").dataset.bytes } : null,
        cycle_sites: rows("#gc-cycle-sites"),
        gc_ticks: all("#timeline-gc .gc-tick").map((t) => ({ count: Number(t.dataset.count), generation: Number(t.dataset.generation), title: t.title })),
        series: all("#timeline-chart .u-legend .u-series .u-label").map((l) => l.textContent),
        recommendations: all("#recommendations .recommendation").map((c) => ({
          kind: c.dataset.kind,
          saving: Number(c.dataset.saving),
          title: c.querySelector("h3").textContent,
          evidence: c.querySelector(".evidence").textContent,
          saving_text: c.querySelector(".saving").textContent,
          sites: all(c, ".rec-sites li").map((li) => li.textContent),
        })),
        recommendations_text: document.querySelector("#recommendations .body").innerText,
      };
    }));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
})().catch((e) => { process.stderr.write(String(e.stack || e) + "\n"); process.exit(1); });
"""


@pytest.fixture(scope="session")
def memory_page(driver):
    """memory_page(report) -> what the browser shows of the memory sections.
    Needs what `driver` needs (Chromium, node, puppeteer-core)."""
    def read(report: Path) -> dict:
        proc = subprocess.run(
            ["node", "-e", MEMORY_PAGE_JS, str(report)],
            cwd=DRIVER_DIR, capture_output=True, text=True, timeout=120,
            env={**os.environ, "CHROMIUM": CHROMIUM, "HOME": str(report.parent)},
        )
        assert proc.returncode == 0, proc.stderr
        seen = json.loads(proc.stdout)
        assert seen["console_errors"] == [] and seen["page_errors"] == [], seen
        assert seen["section_errors"] == [], seen["section_errors"]
        return seen

    return read


def memory_json(capture: Path) -> dict:
    """`memsleuth memory CAPTURE --json`: the summary the page embeds."""
    result = run_memsleuth("memory", capture, "--json", cwd=capture.parent)
    assert result.returncode == 0, result.describe()
    return json.loads(result.out)


def signed_js_bytes(n: int) -> str:
    return f"-{js_bytes(-n)}" if n < 0 else js_bytes(n)


def site_text(site: dict) -> str:
    """A site as the memory sections write it (web/src/memory.js)."""
    return f"{site['file']}:{site['line']} ({site['function']})"


@pytest.fixture(scope="module")
def memory_report(profile, memory_page):
    """report_memory.py: the capture, its scenario's constants, `memsleuth
    memory --json`, the page's data and what the browser shows."""
    capture = profile("report_memory.py")
    report = capture.path.with_suffix(".html")
    constants = runpy.run_path(str(capture.script))  # not as __main__: defines only
    return capture, constants, memory_json(capture.path), embedded_data(report), memory_page(report)


def test_memory_section_shows_the_cycles_and_what_the_collector_freed(memory_report):
    capture, constants, memory, data, seen = memory_report
    assert data["memory"] == memory
    gc = memory["gc"]
    # The payloads are the largest thing the collector freed, at their line.
    top = gc["cycle_sites"][0]
    payloads = constants["CYCLES"] * constants["PAYLOAD"]
    assert (top["file"], top["line"], top["function"]) == (
        str(capture.script), capture.line("payload"), code_name("Holder.__init__"))
    assert payloads <= top["bytes"] < payloads + SLACK
    assert [(r["line"], r["bytes"], r["cells"][0]) for r in seen["cycle_sites"]] == [
        (str(s["line"]), str(s["bytes"]), site_text(s)) for s in gc["cycle_sites"]]
    assert seen["gc_freed"]["bytes"] == str(gc["freed_bytes"])
    assert seen["gc_freed"]["text"].startswith(f"{js_bytes(gc['freed_bytes'])} in {gc['freed_blocks']:,} blocks were freed only by the collector")
    # Collections by generation, as `memsleuth memory` counts them.
    assert [(r["generation"], r["collections"]) for r in seen["gc_generations"]] == [
        (str(g), str(n)) for g, n in enumerate(gc["collections_by_generation"])]


def test_timeline_marks_each_collection(memory_report):
    _, constants, memory, data, seen = memory_report
    markers = data["markers"]
    assert len(markers["gc"]) == memory["gc"]["collections"] >= 1
    # Every marker is in one tick; the explicit gc.collect() (generation 2)
    # freed the payloads, and its tick says so.
    ticks = seen["gc_ticks"]
    assert sum(t["count"] for t in ticks) == len(markers["gc"])
    big = max(markers["gc"], key=lambda c: c["freed_bytes"])
    assert big["generation"] == 2
    assert big["freed_bytes"] >= constants["CYCLES"] * constants["PAYLOAD"]
    titles = [t["title"] for t in ticks if t["generation"] == 2]
    assert any(t.startswith("GC of generation 2 at ") and t.endswith(f" freed") and js_bytes(big["freed_bytes"]) in t
               for t in titles), titles
    # pymalloc's free space is drawn beside the layers.
    assert seen["series"][-1] == FREE_SPACE_LABEL


def test_rss_tables_show_the_accounts_of_memsleuth_memory(memory_report):
    _, _, memory, _, seen = memory_report
    for moment in ("exit", "peak"):
        account = memory[f"account_at_{moment}"]
        shown = seen["rss"][moment]
        assert [(r["key"], r["cells"][0], int(r["bytes"])) for r in shown["parts"]] == [
            (p["key"], p["label"], p["bytes"]) for p in account["parts"]], moment
        assert [r["cells"][1] for r in shown["parts"]] == [signed_js_bytes(p["bytes"]) for p in account["parts"]]
        assert shown["bar"] == [p["key"] for p in account["parts"] if p["bytes"] > 0]
    exit_, peak = memory["account_at_exit"], memory["account_at_peak"]
    rest = next(p["bytes"] for p in exit_["parts"] if p["key"] == "rest")
    if exit_["adds_up"]:
        expected = (f"The parts add up to the RSS within {js_bytes(exit_['tolerance'])} "
                    f"(what they leave unexplained: {signed_js_bytes(rest)}).")
    else:
        expected = (f"The parts do NOT add up: {signed_js_bytes(rest)} of the RSS is unexplained, more than the "
                    f"{js_bytes(exit_['tolerance'])} tolerance (memory mapped outside the tracked allocators, or before tracking).")
    assert seen["rss"]["exit"]["verdict"] == expected
    # The peak's account is an estimate, and says so instead of a verdict.
    assert seen["rss"]["peak"]["verdict"] is None
    assert seen["rss"]["peak"]["heading"] == f"At the peak: RSS {js_bytes(peak['rss'])} — an estimate"


def test_pinned_arenas_name_the_survivors_of_the_burst(memory_report):
    capture, constants, memory, _, seen = memory_report
    pinned = memory["pymalloc_at_exit"]["pinned"]
    assert pinned["arenas"] >= 1, "the burst's survivors should pin arenas"
    assert seen["pymalloc"] == ["peak", "exit"]
    assert seen["pinned"].startswith(
        f"Kept from the system by {pinned['live_blocks']:,} live block{'s' if pinned['live_blocks'] != 1 else ''} "
        f"({js_bytes(pinned['live_bytes'])}): {pinned['arenas']:,} arena{'s' if pinned['arenas'] != 1 else ''} "
        f"({js_bytes(pinned['arena_bytes'])}).")
    assert [(r["line"], r["bytes"], r["count"]) for r in seen["pinned_sites"]] == [
        (str(s["line"]), str(s["bytes"]), str(s["count"])) for s in memory["pinned_sites"]]
    assert memory["pinned_sites"][0]["line"] == capture.line("burst")
    # pymalloc's own figures: every arena, those of the start-up included.
    stats = memory["pymalloc_stats_at_exit"]
    figures = dict(seen["pymalloc_stats"])
    assert figures["Arenas now"] == f"{stats['arenas_current']:,} ({js_bytes(stats['arenas_current'] * stats['arena_size'])})"
    assert figures["Arenas at most (high-water mark)"] == f"{stats['arenas_highwater']:,}"


def test_recommendations_are_shown_in_order_and_counted_in_the_findings(memory_report):
    _, _, memory, _, seen = memory_report
    recs = memory["recommendations"]
    assert "break-cycles" in [r["kind"] for r in recs]
    assert [(c["kind"], c["saving"], c["title"], c["evidence"], c["saving_text"], c["sites"]) for c in seen["recommendations"]] == [
        (r["kind"], r["saving_bytes"], f"{i + 1}. {r['title']}", r["evidence"], f"Expected saving: about {js_bytes(r['saving_bytes'])}.",
         [f"{site_text(s)}: {js_bytes(s['bytes'])} in {s['count']:,} block{'s' if s['count'] != 1 else ''}" for s in r["sites"]])
        for i, r in enumerate(recs)]
    counted = "1 recommendation" if len(recs) == 1 else f"{len(recs)} recommendations"
    assert seen["findings"][-1] == f"{counted} (see Recommendations)"


def test_clean_program_gets_no_recommendation(profile, memory_page):
    capture = profile("empty.py")
    assert memory_json(capture.path)["recommendations"] == []
    seen = memory_page(capture.path.with_suffix(".html"))
    assert seen["recommendations"] == []
    assert seen["recommendations_text"] == "No recommendation: nothing in this run calls for one."
    assert not any("recommendation" in f for f in seen["findings"]), seen["findings"]


def test_capture_without_the_exit_measurement_says_so(memory_report, memory_page, tmp_path):
    """The capture cut before its last chunk loses the measurement taken at
    exit: each part that needs it says so in a sentence, with no empty table."""
    capture = memory_report[0]
    data = capture.path.read_bytes()
    layout = chunk_layout(data)
    if layout is None:
        pytest.skip("capture does not have the chunk layout of crates/format")
    cut = tmp_path / "cut.msl"
    cut.write_bytes(data[: layout[-1][0]])
    memory = memory_json(cut)
    assert memory["measured"] is False and memory["account_at_exit"] is None
    report = tmp_path / "cut.html"
    result = run_memsleuth("report", cut, "-o", report, cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    seen = memory_page(report)
    assert seen["not_measured"].startswith("This capture holds no measurement of the memory managers at exit")
    assert seen["empty_tables"] == 0
    assert seen["rss"]["exit"] is None and seen["pymalloc_stats"] == []
    lines = seen["memory_text"].splitlines()
    for what in ("At exit", "pymalloc's own figures", "The collector's state at exit (thresholds, frozen objects, gc.garbage)", "glibc's heap"):
        assert f"{what}: not measured, as the capture holds no measurement of the process at exit." in lines, what


def test_trim_probe_result_is_shown(profile, memory_page, memory_report):
    capture = profile("report_memory.py", options=("--trim-probe",))
    native = memory_json(capture.path)["native_heap"]
    assert native["rss_after_trim"] is not None
    seen = memory_page(capture.path.with_suffix(".html"))
    expected = (f"malloc_trim(0) gave back {js_bytes(native['trim_gave_back'])}: "
                f"RSS {js_bytes(native['rss_at_exit'])} → {js_bytes(native['rss_after_trim'])}.")
    assert expected in seen["memory_text"].splitlines()
    # Without the probe, the page says how to get it instead.
    plain = memory_report[4]
    assert "Run with `memsleuth run --trim-probe` to measure what malloc_trim(0) would give back to the system." in plain["memory_text"].splitlines()
