// Memory manager and Recommendations: why the process is bigger than its
// objects (where the RSS goes, pymalloc's arenas, the garbage collector,
// glibc's heap) and what to change. Both read `data.memory`, the document
// `memsleuth memory --json` prints, and word things as its text does.
import { el, bytes, count, percent, seconds, note, simpleTable } from "./util.js";

// Parts of the RSS by key (crates/analysis/src/memory/accounting.rs): the
// Python parts green, the C heap purple, the rest grey.
const PART_COLOURS = {
  "python-objects": "#2ca02c",
  "pymalloc-free": "#98df8a",
  "native-in-use": "#9467bd",
  memsleuth: "#c5b0d5",
  "glibc-free": "#ff9896",
  mappings: "#17becf",
  files: "#c7c7c7",
  rest: "#7f7f7f",
};

// What a capture without the exit measurement cannot show, said once per part.
const notMeasured = (what) => note(`${what}: not measured, as the capture holds no measurement of the process at exit.`);

const plural = (n, word) => `${count(n)} ${word}${n === 1 ? "" : "s"}`;
const blocks = (n) => plural(n, "block");
const signedBytes = (n) => (n < 0 ? `-${bytes(-n)}` : bytes(n));
export const sitePlace = (s) => `${s.file}:${s.line} (${s.function})`;

// Durations of collections are milliseconds; seconds() would round them to 0.
export function duration(s) {
  if (s === 0) return "0 s";
  return s < 1 ? `${(s * 1000).toPrecision(3)} ms` : seconds(s);
}

function card(label, value, detail) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), detail ? el("div", { class: "detail" }, detail) : null);
}

// A table whose rows carry data attributes (exact values for scripts and
// tests, beside the rounded text): columns {title, value(row), numeric}.
function table(columns, rows, rowAttrs, attrs = {}) {
  return simpleTable(columns, rows, attrs, rowAttrs);
}

function siteTable(sites, attrs = {}) {
  return table(
    [
      { title: "allocated at", value: sitePlace, class: "site" },
      { title: "blocks", numeric: true, value: (s) => count(s.count) },
      { title: "bytes", numeric: true, value: (s) => bytes(s.bytes) },
    ],
    sites,
    (s) => ({ "data-file": s.file, "data-line": s.line, "data-bytes": s.bytes, "data-count": s.count }),
    { class: "compact sites", ...attrs },
  );
}

// ---------------------------------------------------------------- the RSS

// The parts as one bar scaled to the RSS, or to the positive parts when a
// negative rest makes them exceed it (a line then marks the RSS).
function rssBar(a) {
  const positive = a.parts.filter((p) => p.bytes > 0);
  const scale = Math.max(a.rss, positive.reduce((sum, p) => sum + p.bytes, 0)) || 1;
  const width = (n) => `${((n / scale) * 100).toFixed(3)}%`;
  return el(
    "div",
    { class: "rss-bar" },
    positive.map((p) =>
      el("div", {
        class: "seg",
        "data-key": p.key,
        style: `width:${width(p.bytes)};background:${PART_COLOURS[p.key] || "#bcbd22"}`,
        title: `${p.label}: ${bytes(p.bytes)} (${percent(p.bytes / (a.rss || 1))} of the RSS)`,
      }),
    ),
    scale > a.rss ? el("div", { class: "rss-line", style: `left:${width(a.rss)}`, title: `RSS: ${bytes(a.rss)}` }) : null,
  );
}

function partsTable(a) {
  return table(
    [
      { title: "part", class: "label", value: (p) => [el("span", { class: "swatch", style: `background:${PART_COLOURS[p.key] || "#bcbd22"}` }), p.label] },
      { title: "bytes", numeric: true, value: (p) => signedBytes(p.bytes) },
      { title: "of the RSS", numeric: true, value: (p) => percent(p.bytes / (a.rss || 1)) },
      { title: "source", value: (p) => p.source },
    ],
    a.parts,
    (p) => ({ "data-key": p.key, "data-bytes": p.bytes }),
    { class: "compact rss-parts" },
  );
}

// The measured account must add up; say whether it does, as the terminal does.
function verdict(a) {
  const rest = a.parts.find((p) => p.key === "rest")?.bytes ?? 0;
  return a.adds_up
    ? el("p", { class: "verdict ok" }, `The parts add up to the RSS within ${bytes(a.tolerance)} (what they leave unexplained: ${signedBytes(rest)}).`)
    : el(
        "p",
        { class: "verdict warn" },
        `The parts do NOT add up: ${signedBytes(rest)} of the RSS is unexplained, more than the ${bytes(a.tolerance)} tolerance ` +
          "(memory mapped outside the tracked allocators, or before tracking).",
      );
}

function rssAccount(a) {
  const negative = a.parts.some((p) => p.bytes < 0);
  return el(
    "div",
    { class: "rss-account", id: `rss-${a.moment}`, "data-rss": a.rss },
    el("h4", {}, a.estimated ? `At the peak: RSS ${bytes(a.rss)} — an estimate` : `At exit: RSS ${bytes(a.rss)}, measured`),
    a.estimated
      ? note(
          "Estimated, not measured: the allocators were not asked at the peak, so these parts come from the capture's own figures " +
            "at the timeline sample nearest the peak, and the last part holds everything they do not cover.",
        )
      : null,
    rssBar(a),
    partsTable(a),
    negative ? note("A negative part means the others come to more than the RSS: an allocator counts pages it never touched, which are not resident.") : null,
    a.estimated ? null : verdict(a),
  );
}

function rssSection(m) {
  return [
    el("h3", {}, "Where the RSS goes"),
    m.account_at_exit ? rssAccount(m.account_at_exit) : notMeasured("At exit"),
    m.account_at_peak ? rssAccount(m.account_at_peak) : note("At the peak: no estimate, as the capture holds no timeline sample."),
  ];
}

// ---------------------------------------------------------------- pymalloc

// Blocks used and free in one size class, as a bar: pools of a class that
// are mostly free are where fragmentation is.
function classBar(c) {
  const all = c.blocks_in_use + c.blocks_free || 1;
  return el(
    "span",
    { class: "class-bar", title: `${count(c.blocks_in_use)} blocks used, ${count(c.blocks_free)} free` },
    el("span", { class: "used", style: `width:${((c.blocks_in_use / all) * 100).toFixed(1)}%` }),
  );
}

function classTable(classes) {
  return el(
    "details",
    // A few classes fit on the screen: show them; a long list waits for a click.
    { class: "size-classes", open: classes.length <= 12 },
    el("summary", {}, `${count(classes.length)} size classes`),
    table(
      [
        { title: "class", numeric: true, value: (c) => `${c.size} B` },
        { title: "pools", numeric: true, value: (c) => count(c.pools) },
        { title: "blocks used", numeric: true, value: (c) => count(c.blocks_in_use) },
        { title: "blocks free", numeric: true, value: (c) => count(c.blocks_free) },
        { title: "used", value: classBar },
      ],
      classes,
      (c) => ({ "data-size": c.size }),
      { class: "compact classes" },
    ),
  );
}

function pymallocPicture(moment, p) {
  return el(
    "div",
    { class: "pymalloc-picture", id: `pymalloc-${moment}`, "data-arenas": p.arenas },
    el("h4", {}, `${moment === "peak" ? "At the peak" : "At exit"}: ${plural(p.arenas, "arena")}, ${percent(p.fragmentation)} fragmented`),
    el(
      "div",
      { class: "cards small" },
      card("Arenas", bytes(p.arena_bytes), `${count(p.arenas)} of ${bytes(p.arena_size)}`),
      card("Fragmentation", percent(p.fragmentation), "of the arenas hold no live block"),
      card("Live blocks", bytes(p.live_bytes), blocks(p.live_blocks)),
      card("Free blocks", bytes(p.free_block_bytes), "in pools in use"),
      card("Free pools", bytes(p.free_pool_bytes), `${count(p.free_pools)} of ${count(p.free_pools + p.used_pools)}`),
      card("Overhead", bytes(p.overhead_bytes), "pool headers, alignment"),
    ),
    p.blocks_in_untracked_arenas > 0
      ? note(`${count(p.blocks_in_untracked_arenas)} live blocks sit in arenas made before tracking started, which this picture does not cover.`)
      : null,
    classTable(p.classes),
  );
}

function pymallocStats(s) {
  const overhead = s.pool_header_bytes + s.quantization_bytes + s.alignment_bytes;
  const rows = [
    ["Arenas now", `${count(s.arenas_current)} (${bytes(s.arenas_current * s.arena_size)})`],
    ["Arenas at most (high-water mark)", count(s.arenas_highwater)],
    ["Arenas made, returned", `${count(s.arenas_allocated_total)}, ${count(s.arenas_reclaimed)}`],
    ["Allocated (live blocks)", bytes(s.allocated_bytes)],
    ["Available (free blocks in pools in use)", bytes(s.available_bytes)],
    ["Unused pools", `${count(s.unused_pools)} (${bytes(s.unused_pools * s.pool_size)})`],
    ["Overhead", `${bytes(overhead)} (pool headers ${bytes(s.pool_header_bytes)}, rounding to size classes ${bytes(s.quantization_bytes)}, alignment ${bytes(s.alignment_bytes)})`],
  ];
  return [
    note("From pymalloc itself: these cover every arena, those made before tracking started (the interpreter's start-up) included, which the pictures above do not."),
    table([{ title: "figure", value: (r) => r[0] }, { title: "value", value: (r) => r[1] }], rows, () => ({}), { class: "compact", id: "pymalloc-stats" }),
  ];
}

function pinnedArenas(m) {
  const pin = m.pymalloc_at_exit?.pinned;
  if (!pin) return null;
  if (pin.arenas === 0) return note("No arena was pinned at exit: none was kept from the system by a few live blocks.");
  return [
    el("h4", {}, "Pinned arenas at exit"),
    el(
      "p",
      { id: "pinned-arenas" },
      `Kept from the system by ${plural(pin.live_blocks, "live block")} (${bytes(pin.live_bytes)}): ${plural(pin.arenas, "arena")} (${bytes(pin.arena_bytes)}). ` +
        "An arena goes back only when every block in it is free.",
    ),
    m.pinned_sites.length ? siteTable(m.pinned_sites, { id: "pinned-sites" }) : note("The pinning blocks were allocated before tracking started."),
  ];
}

function pymallocSection(m) {
  const pictures = [
    ["peak", m.pymalloc_at_peak],
    ["exit", m.pymalloc_at_exit],
  ].filter(([, p]) => p);
  let stats;
  if (m.pymalloc_stats_at_exit) stats = pymallocStats(m.pymalloc_stats_at_exit);
  else if (m.measured) stats = note("Not reported: this interpreter does not use pymalloc (PYTHONMALLOC=malloc, or a debug build).");
  else stats = notMeasured("pymalloc's own figures");
  return [
    el("h3", {}, "pymalloc"),
    note("From the capture: the arenas made while tracking, block by block."),
    pictures.length
      ? el("div", { class: "memory-pair" }, pictures.map(([moment, p]) => pymallocPicture(moment, p)))
      : note("No pymalloc arena was made while tracking, so the capture has no picture of the arenas."),
    pinnedArenas(m),
    el("h4", {}, "pymalloc's own figures at exit"),
    stats,
  ];
}

// ---------------------------------------------------------------- the collector

function gcRuns(g) {
  return [
    el(
      "p",
      {},
      `${count(g.collections)} collections took ${duration(g.seconds)} (${percent(g.share_of_run)} of the run); ` +
        `they collected ${count(g.collected)} objects, and found ${count(g.uncollectable)} uncollectable.`,
    ),
    table(
      [
        { title: "generation", value: (r) => String(r.generation) },
        { title: "collections", numeric: true, value: (r) => count(r.collections) },
        { title: "time", numeric: true, value: (r) => duration(r.seconds) },
      ],
      [0, 1, 2].map((i) => ({ generation: i, collections: g.collections_by_generation[i], seconds: g.seconds_by_generation[i] })),
      (r) => ({ "data-generation": r.generation, "data-collections": r.collections }),
      { class: "compact narrow", id: "gc-generations" },
    ),
  ];
}

function cycles(g) {
  if (g.freed_blocks === 0) return note("No block was freed only by the collector: reference counting freed everything.");
  return [
    el(
      "p",
      { id: "gc-freed", "data-bytes": g.freed_bytes },
      `${bytes(g.freed_bytes)} in ${blocks(g.freed_blocks)} were freed only by the collector: they were in reference cycles, ` +
        `which reference counting cannot free, and waited for a collection (the largest freed ${bytes(g.largest_collection_bytes)} at once).`,
    ),
    g.cycle_sites.length ? siteTable(g.cycle_sites, { id: "gc-cycle-sites" }) : null,
  ];
}

function collectorState(m) {
  const g = m.gc;
  if (!m.measured) return notMeasured("The collector's state at exit (thresholds, frozen objects, gc.garbage)");
  return [
    el(
      "p",
      { id: "gc-state", "data-frozen": g.frozen },
      `At exit the collector was ${g.enabled ? "enabled" : "disabled (gc.disable())"}, with thresholds ${g.thresholds.join(", ") || "unknown"}; ` +
        `${count(g.frozen)} objects were frozen (gc.freeze(): the collector no longer visits them).`,
    ),
    g.garbage.length
      ? g.garbage.map((group) =>
          el(
            "div",
            { class: "garbage", "data-type": group.type_name, "data-count": group.count },
            el("h4", {}, `gc.garbage holds ${count(group.count)} ${group.type_name} objects`),
            group.sites.length ? siteTable(group.sites) : note("Where they were allocated is unknown: before tracking started."),
          ),
        )
      : note("gc.garbage was empty at exit."),
  ];
}

function gcSection(m) {
  const g = m.gc;
  return [
    el("h3", {}, "Garbage collector"),
    g.collections ? gcRuns(g) : note("No garbage collection ran while tracking."),
    cycles(g),
    collectorState(m),
  ];
}

// ---------------------------------------------------------------- glibc

function trimProbe(n) {
  if (n.rss_after_trim == null) return note("Run with `memsleuth run --trim-probe` to measure what malloc_trim(0) would give back to the system.");
  return el(
    "p",
    { id: "trim-probe", "data-gave-back": n.trim_gave_back },
    `malloc_trim(0) gave back ${bytes(n.trim_gave_back)}: RSS ${bytes(n.rss_at_exit)} → ${bytes(n.rss_after_trim)}.`,
  );
}

function nativeSection(m) {
  const n = m.native_heap;
  const head = el("h3", {}, "C heap (glibc) at exit");
  if (!n) return [head, m.measured ? note("Not measured: the C library is not glibc.") : notMeasured("glibc's heap")];
  const h = n.at_exit;
  return [
    head,
    el(
      "div",
      { class: "cards small", id: "native-heap" },
      card("In use", bytes(h.in_use_bytes + h.mmap_bytes), `${bytes(h.mmap_bytes)} in ${count(h.mmap_chunks)} mmap'd chunks`),
      card("Free but not returned", bytes(h.free_bytes), `${bytes(h.releasable_bytes)} at the top of the main heap`),
      card("malloc arenas", count(h.arenas)),
      card("Threads", count(n.threads)),
    ),
    trimProbe(n),
  ];
}

function forks(m) {
  if (!m.forks.length) return null;
  return [
    el("h3", {}, "Forks"),
    el("ul", {}, m.forks.map((f) => el("li", {}, `At ${seconds(f.time_s)}: ${bytes(f.python_object_bytes)} of Python objects shared with the child until the collector's visits copy them.`))),
  ];
}

export function memoryManager(root, data) {
  const m = data.memory;
  root.append(
    ...[
      m.measured
        ? null
        : el(
            "p",
            { class: "warn", id: "not-measured" },
            "This capture holds no measurement of the memory managers at exit (the program did not end through memsleuth's exit handler, " +
              "or the capture predates them): what comes from that measurement is missing below, and the rest comes from the capture's events.",
          ),
      rssSection(m),
      pymallocSection(m),
      gcSection(m),
      nativeSection(m),
      forks(m),
    ]
      .flat(Infinity)
      .filter(Boolean),
  );
}

// ---------------------------------------------------------------- advice

function recommendationCard(r, i) {
  return el(
    "div",
    { class: "recommendation", "data-kind": r.kind, "data-saving": r.saving_bytes },
    el("h3", {}, `${i + 1}. ${r.title}`),
    el("p", { class: "evidence" }, r.evidence),
    el("p", { class: "saving" }, `Expected saving: about ${bytes(r.saving_bytes)}.`),
    r.sites.length
      ? el(
          "ul",
          { class: "rec-sites" },
          r.sites.map((s) =>
            el("li", { "data-file": s.file, "data-line": s.line, "data-bytes": s.bytes }, el("code", {}, sitePlace(s)), `: ${bytes(s.bytes)} in ${blocks(s.count)}`),
          ),
        )
      : null,
  );
}

export function recommendations(root, data) {
  const recs = data.memory.recommendations;
  if (recs.length === 0) {
    root.append(el("p", { class: "no-recommendation" }, "No recommendation: nothing in this run calls for one."));
    return;
  }
  root.append(
    note("Each is made only when the capture proves it, with the numbers and the lines it is about; the largest expected saving comes first."),
    ...recs.map(recommendationCard),
  );
}
