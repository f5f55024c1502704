// Overview: what ran, how long, the peak and when, leaks, and the findings.
import { el, bytes, count, seconds, simpleTable } from "./util.js";

function card(label, value, detail) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value" }, value), detail ? el("div", { class: "detail" }, detail) : null);
}

// The recommendations are listed in their own section; the findings point there.
function adviceFinding(recs) {
  if (recs.length === 0) return null;
  const n = recs.length === 1 ? "1 recommendation" : `${count(recs.length)} recommendations`;
  return el("li", { class: "advice" }, `${n} (see `, el("a", { href: "#recommendations" }, "Recommendations"), ")");
}

export function overview(root, data) {
  const s = data.summary;
  root.append(
    el("p", { class: "program" }, el("code", {}, s.program.join(" ")), ` — Python ${s.python_version}, pid ${s.pid}, capture `, el("code", {}, s.capture)),
    el(
      "div",
      { class: "cards" },
      card("Duration", seconds(s.duration_s)),
      card("Peak", bytes(s.peak_bytes), `at ${seconds(s.peak_time_s)}`),
      card("Leaked", bytes(s.leaked_bytes), `${count(s.leak_count)} blocks live at exit`),
      card("Allocated", bytes(s.total_allocated_bytes), `${count(s.allocation_count)} allocations`),
      card("Threads", count(s.threads.length)),
      card("Heap snapshots", count(s.snapshots)),
    ),
    el("h3", {}, "Findings"),
    el("ul", { class: "findings" }, data.findings.map((f) => el("li", {}, f)), adviceFinding(data.memory.recommendations)),
    el("h3", {}, "Memory by layer"),
    simpleTable(
      [
        { title: "layer", value: (l) => l.layer + (l.in_total ? "" : " (not in the totals)") },
        { title: "at peak", numeric: true, value: (l) => bytes(l.at_peak_bytes) },
        { title: "max", numeric: true, value: (l) => bytes(l.max_bytes) },
        { title: "leaked", numeric: true, value: (l) => bytes(l.leaked_bytes) },
        { title: "allocated", numeric: true, value: (l) => bytes(l.allocated_bytes) },
        { title: "allocations", numeric: true, value: (l) => count(l.allocations) },
      ],
      s.layers,
    ),
  );
}
