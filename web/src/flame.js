// Flamegraphs of the bytes live at the peak, leaked, allocated in all, and
// of temporaries (blocks freed before their thread allocated again):
// click to zoom, search (matches highlighted, their share summed), hover
// details, Python and native frames in different colours, and an inverted
// view that starts from the allocating lines (leaf sites).
import flamegraph from "d3-flame-graph";
import { select } from "d3-selection";
import { el, bytes, count, percent, note } from "./util.js";

const VIEWS = {
  peak: "Live at the peak",
  leaks: "Leaked (live when tracking stopped)",
  allocated: "All allocations",
  temporary: "Temporaries (freed before their thread allocated again)",
};

function node(name, frame) {
  return { name, frame, value: 0, count: 0, children: [], index: new Map() };
}

function child(parent, key, name, frame) {
  let c = parent.index.get(key);
  if (!c) {
    c = node(name, frame);
    parent.index.set(key, c);
    parent.children.push(c);
  }
  return c;
}

function label(f) {
  return f.native && !f.line ? `${f.function} (${f.file})` : `${f.function} (${f.file}:${f.line})`;
}

// The caller tree (outermost frame at the root, the layer as the leaf), or
// its inverse (the allocating frame at the root, callers above it).
export function buildTree(flame, frames, inverted) {
  const root = node("all", null);
  const add = (path, value, n) => {
    root.value += value;
    root.count += n;
    let at = root;
    for (const step of path) {
      at = child(at, step.key, step.name, step.frame);
      at.value += value;
      at.count += n;
    }
  };
  for (const s of flame.stacks) {
    const path = s.f.map((id) => ({ key: id, name: label(frames[id]), frame: frames[id] }));
    if (inverted) path.reverse();
    else path.push({ key: `[${s.l}]`, name: `[${s.l}]`, frame: null });
    add(path, s.b, s.n);
  }
  if (flame.other_bytes > 0) {
    add([{ key: "[other]", name: `[${flame.other_stacks} smaller stacks]`, frame: null }], flame.other_bytes, 0);
  }
  // The chart reads each node's value as its total, children included.
  const strip = (n) => {
    delete n.index;
    n.total = n.value;
    n.children.forEach(strip);
  };
  strip(root);
  return root;
}

function hue(name) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h;
}

function color(d) {
  if (d.highlight) return "#e600e6";
  const f = d.data.frame;
  const h = hue(d.data.name);
  if (!f) return "#c8c8c8";
  if (f.native) return `hsl(${200 + (h % 30)}, 55%, ${62 + (h % 12)}%)`;
  return `hsl(${15 + (h % 35)}, 85%, ${58 + (h % 12)}%)`;
}

function details(d, total) {
  const n = d.data;
  const f = n.frame;
  const share = total > 0 ? n.total / total : 0;
  const where = f ? (f.line ? `${f.file}:${f.line}` : f.file) : "";
  return `${f ? f.function : n.name}  ${where}  —  ${bytes(n.total)} in ${count(n.count)} blocks, ${percent(share)}${f && f.native ? "  (native frame)" : ""}`;
}

export function flamegraphs(root, data) {
  const state = { view: "peak", inverted: false, chart: null, term: "" };
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const search = el("input", { type: "search", id: "flame-search", placeholder: "search frames (function, file)" });
  const invert = el("input", { type: "checkbox", id: "flame-inverted" });
  const reset = el("button", { type: "button", id: "flame-reset" }, "Reset zoom");
  const info = el("div", { id: "flame-details", class: "details" }, "Hover a frame for details; click it to zoom.");
  const result = el("div", { id: "flame-search-result", class: "details" });
  const cut = el("div", { class: "cut" });
  const holder = el("div", { id: "flame-chart" });
  root.append(
    note("Python frames are warm colours, native (C, C++, Rust) frames blue; the last frame of a stack names the layer its bytes belong to. " +
      "Temporaries are allocator churn: blocks made and given back at once, many times, which cost time but never show in a peak."),
    tabs,
    el("div", { class: "controls" }, search, el("label", {}, invert, " inverted: start from the allocating lines"), reset),
    result,
    info,
    cut,
    holder,
  );

  const draw = () => {
    const flame = data.flames[state.view];
    holder.replaceChildren();
    holder.removeAttribute("data-zoomed");
    cut.replaceChildren(
      flame.other_stacks > 0
        ? note(`${count(flame.other_stacks)} smaller stacks (${bytes(flame.other_bytes)}) are merged into one frame; ${count(flame.stacks.length)} stacks are shown.`)
        : "",
    );
    if (flame.total_bytes === 0) {
      holder.append(note("Nothing to show: no bytes in this view."));
      state.chart = null;
      return;
    }
    const tree = buildTree(flame, data.frames, state.inverted);
    const total = tree.total;
    const chart = flamegraph()
      .width(Math.max(400, holder.clientWidth || root.clientWidth || 960))
      .cellHeight(18)
      .transitionDuration(250)
      .minFrameSize(1)
      .inverted(state.inverted)
      .sort(true)
      .setColorMapper(color)
      .setLabelHandler((d) => details(d, total))
      .setSearchMatch((d, term) => {
        if (!term) return false;
        return d.data.name.toLowerCase().includes(term.toLowerCase());
      })
      .setSearchHandler((found, sum, all) => {
        const matches = found.length;
        result.textContent = state.term
          ? `${count(matches)} frames match "${state.term}": ${bytes(sum)} of ${bytes(all)} (${percent(all ? sum / all : 0)})`
          : "";
        result.dataset.matches = String(matches);
        result.dataset.bytes = String(sum);
      })
      .setDetailsHandler(() => {})
      .onHover((d) => {
        info.textContent = details(d, total);
      })
      .onClick((d) => {
        holder.dataset.zoomed = d.data.name;
      });
    select(holder).datum(tree).call(chart);
    state.chart = chart;
    if (state.term) chart.search(state.term);
  };

  for (const [key, title] of Object.entries(VIEWS)) {
    const f = data.flames[key];
    tabs.append(
      el(
        "button",
        {
          type: "button",
          role: "tab",
          "data-view": key,
          class: key === state.view ? "active" : "",
          onclick: (e) => {
            state.view = key;
            tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b === e.currentTarget));
            draw();
          },
        },
        `${title} — ${bytes(f.total_bytes)}`,
      ),
    );
  }
  search.addEventListener("input", () => {
    state.term = search.value.trim();
    if (!state.chart) return;
    if (state.term) state.chart.search(state.term);
    else {
      state.chart.clear();
      result.textContent = "";
      result.dataset.matches = "0";
    }
  });
  invert.addEventListener("change", () => {
    state.inverted = invert.checked;
    draw();
  });
  reset.addEventListener("click", () => {
    if (state.chart) state.chart.resetZoom();
    holder.removeAttribute("data-zoomed");
  });
  draw();
}

