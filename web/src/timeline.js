// Timeline: RSS, tracked memory, each layer's live bytes and pymalloc's
// free space over time, with the peak and heap snapshots marked by lines
// and garbage collections by ticks along the time axis; a click picks the
// nearest checkpoint and lists what was live then.
import uPlot from "uplot";
import { el, bytes, count, seconds, note, place, simpleTable } from "./util.js";
import { duration } from "./memory.js";

const MARKS = {
  peak: "#d62728",
  snapshot: "#2ca02c",
};

function markerLines(data) {
  const m = data.markers;
  return [
    { kind: "peak", time: m.peak_time_s, label: "peak" },
    ...m.snapshots.map((s) => ({ kind: "snapshot", time: s.time_s, label: `snapshot ${s.id} (${s.trigger})` })),
  ];
}

// Collections closer than this many pixels share one tick, so thousands of
// them stay one readable row; the tick's tooltip sums them.
const GC_TICK_PX = 4;

// The collections shown in the x range, grouped by the pixel stretch they
// fall in at the current zoom, each group placed at its first collection.
function gcGroups(u, gc) {
  const groups = new Map();
  const { min, max } = u.scales.x;
  for (const c of gc) {
    if (c.time_s < min || c.time_s > max) continue;
    const x = u.valToPos(c.time_s, "x");
    const slot = Math.floor(x / GC_TICK_PX);
    if (!groups.has(slot)) groups.set(slot, { x, items: [] });
    groups.get(slot).items.push(c);
  }
  return [...groups.values()];
}

function gcTitle(items) {
  const sum = (f) => items.reduce((n, c) => n + f(c), 0);
  const what = `${duration(sum((c) => c.duration_s))}, ${count(sum((c) => c.collected))} objects collected, ${bytes(sum((c) => c.freed_bytes))} freed`;
  if (items.length === 1) return `GC of generation ${items[0].generation} at ${seconds(items[0].time_s)}: ${what}`;
  const byGen = [0, 1, 2].map((g) => items.filter((c) => c.generation === g).length);
  const last = items[items.length - 1];
  return `${count(items.length)} GCs from ${seconds(items[0].time_s)} to ${seconds(last.time_s)} (generations 0/1/2: ${byGen.join("/")}): ${what}`;
}

// One tick per group, its colour and height by the oldest generation
// collected in it (a generation-2 collection is the expensive one).
function drawGcTicks(strip, gc) {
  return (u) => {
    strip.replaceChildren(
      ...gcGroups(u, gc).map((g) => {
        const generation = Math.max(...g.items.map((c) => c.generation));
        return el("div", {
          class: `gc-tick gen${generation}`,
          style: `left:${g.x.toFixed(1)}px`,
          title: gcTitle(g.items),
          "data-count": g.items.length,
          "data-generation": generation,
        });
      }),
    );
  };
}

function gcLegend(strip, data) {
  const gc = data.markers.gc;
  const total = data.memory.gc.collections;
  const box = el("input", { type: "checkbox", checked: true, onchange: () => (strip.hidden = !box.checked) });
  return el(
    "label",
    { class: "mark gc" },
    box,
    total > gc.length ? ` ${count(total)} garbage collections (the ${count(gc.length)} longest marked), generation ` : ` ${count(gc.length)} garbage collections, generation `,
    [0, 1, 2].map((g) => el("span", { class: `gc-key gen${g}`, title: `generation ${g}` }, String(g))),
  );
}

// pymalloc's free space: what its arenas hold beyond the live blocks
// (rounded to their size class). Blocks can sit in arenas made before
// tracking, which the arena layer does not count: hence the floor at 0.
function freeSpace(t) {
  const arena = t.layers.find((l) => l.layer === "pymalloc-arena");
  if (!arena || !t.pymalloc_block_bytes) return null;
  return arena.bytes.map((a, i) => Math.max(0, a - t.pymalloc_block_bytes[i]));
}

const FREE_SPACE_SERIES = {
  label: "pymalloc free space (in the arenas, not in tracked)",
  stroke: "#bcbd22",
  dash: [2, 3],
  width: 1.5,
  value: (u, v) => (v == null ? "" : bytes(v)),
};

function drawMarkers(marks) {
  return (u) => {
    const ctx = u.ctx;
    ctx.save();
    for (const m of marks) {
      const x = Math.round(u.valToPos(m.time, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      ctx.strokeStyle = MARKS[m.kind];
      ctx.lineWidth = m.kind === "peak" ? 2 : 1;
      ctx.setLineDash(m.kind === "peak" ? [] : [4, 3]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    }
    ctx.restore();
  };
}

// One colour per layer, by name; pymalloc's arenas are drawn dashed and
// grey: they are capacity the objects' bytes already count, not more use.
const LAYER_COLOURS = {
  "python-raw": "#8c564b",
  "python-mem": "#e377c2",
  "python-object": "#2ca02c",
  "native-heap": "#9467bd",
  mmap: "#17becf",
};

function layerSeries(layer) {
  const arena = !layer.in_total;
  return {
    label: arena ? `${layer.layer} (capacity, not in tracked)` : layer.layer,
    stroke: arena ? "#7f7f7f" : LAYER_COLOURS[layer.layer] || "#bcbd22",
    dash: arena ? [6, 4] : undefined,
    width: 1,
    value: (u, v) => (v == null ? "" : bytes(v)),
  };
}

function nearest(checkpoints, time) {
  let best = 0;
  for (let i = 1; i < checkpoints.length; i++) {
    if (Math.abs(checkpoints[i].time_s - time) < Math.abs(checkpoints[best].time_s - time)) best = i;
  }
  return best;
}

function liveTable(cp) {
  return el(
    "div",
    { class: "checkpoint", "data-time": String(cp.time_s) },
    el("p", {}, `At ${seconds(cp.time_s)}: ${bytes(cp.tracked_bytes)} tracked, largest lines by live bytes:`),
    simpleTable(
      [
        { title: "site", value: (s) => place(s.file, s.line, s.function) },
        { title: "live", numeric: true, value: (s) => bytes(s.bytes) },
        { title: "blocks", numeric: true, value: (s) => count(s.count) },
      ],
      cp.sites,
      { class: "live-sites" },
    ),
    cp.other_sites > 0 ? note(`${count(cp.other_sites)} smaller lines (${bytes(cp.other_bytes)}) are not listed.`) : null,
  );
}

export function timeline(root, data) {
  const t = data.timeline;
  if (t.time_s.length === 0) {
    root.append(note("The capture holds no timeline sample: the program ended before the first one."));
    return;
  }
  const marks = markerLines(data);
  const free = freeSpace(t);
  const chart = el("div", { id: "timeline-chart" });
  const live = el("div", { id: "timeline-live" });
  const picker = el("div", { class: "checkpoints" });
  root.append(
    note(
      "Tracked memory is what the program's allocations hold (all layers but pymalloc arenas); RSS is what the OS counts for the process. " +
        "The thin lines are the live bytes of each layer (layers that never held anything are left out); their sum is the tracked line, " +
        "except pymalloc-arena, dashed grey: the arenas are capacity the python-object blocks live in, already counted there. " +
        (free ? "The dotted olive line is pymalloc's free space: arena bytes that hold no live block. " : "") +
        "Click a name in the legend to hide or show its line. Red line: the peak; green dashed: heap snapshots; " +
        "ticks along the time axis: garbage collections, taller and darker for older generations (point at one for its details). " +
        "Click the chart to see what was live at the nearest checkpoint.",
    ),
    chart,
    t.samples > t.time_s.length ? note(`${count(t.samples)} samples were thinned to ${count(t.time_s.length)}, keeping the highest tracked value of each stretch.`) : "",
    el("h3", {}, "What was live"),
    picker,
    live,
  );
  const cps = data.checkpoints;
  const select = (i) => {
    picker.querySelectorAll("button").forEach((b, j) => b.classList.toggle("active", j === i));
    live.replaceChildren(liveTable(cps[i]));
  };
  cps.forEach((cp, i) => picker.append(el("button", { type: "button", onclick: () => select(i) }, seconds(cp.time_s))));
  if (cps.length === 0) live.append(note("No checkpoint: the capture holds no timeline sample."));
  const gcStrip = el("div", { class: "gc-ticks", id: "timeline-gc" });
  const width = Math.max(400, root.clientWidth - 20);
  const opts = {
    width,
    height: 320,
    scales: { x: { time: false } },
    axes: [
      { label: "seconds", values: (u, vals) => vals.map((v) => `${+v.toPrecision(4)}`) },
      { values: (u, vals) => vals.map((v) => bytes(v)), size: 80 },
    ],
    series: [
      { label: "time", value: (u, v) => (v == null ? "" : seconds(v)) },
      { label: "tracked", stroke: "#1f77b4", fill: "rgba(31,119,180,0.1)", value: (u, v) => (v == null ? "" : bytes(v)) },
      { label: "RSS", stroke: "#ff7f0e", value: (u, v) => (v == null ? "" : bytes(v)) },
      ...t.layers.map(layerSeries),
      ...(free ? [FREE_SPACE_SERIES] : []),
    ],
    hooks: {
      // The ticks live in the plot's overlay, which exists from init on.
      init: [(u) => u.over.append(gcStrip)],
      draw: [drawMarkers(marks), drawGcTicks(gcStrip, data.markers.gc)],
    },
  };
  const columns = [t.time_s, t.tracked_bytes, t.rss_bytes, ...t.layers.map((l) => l.bytes), ...(free ? [free] : [])];
  const plot = new uPlot(opts, columns, chart);
  plot.over.addEventListener("click", () => {
    if (cps.length === 0 || plot.cursor.left == null || plot.cursor.left < 0) return;
    select(nearest(cps, plot.posToVal(plot.cursor.left, "x")));
  });
  chart.append(
    el(
      "div",
      { class: "legend-marks" },
      marks.map((m) => el("span", { class: `mark ${m.kind}` }, `${m.label} at ${seconds(m.time)}`)),
      data.markers.gc.length ? gcLegend(gcStrip, data) : null,
    ),
  );
  if (cps.length > 0) select(nearest(cps, data.markers.peak_time_s));
}
