// Site tables: by peak, leaks, allocated bytes, allocation count or temporaries, grouped
// by line, function or file; sortable by any column and filterable.
import { el, bytes, count, percent } from "./util.js";

const MEASURES = {
  peak: "Live at the peak",
  leaks: "Leaked",
  allocated: "Allocated",
  count: "Allocations",
  temporary: "Temporaries",
};
const GROUPS = { line: "line", function: "function", file: "file" };

const COLUMNS = [
  { key: "function", title: "function", text: (r) => r.function ?? "", sort: (r) => r.function ?? "" },
  { key: "file", title: "file", text: (r) => r.file, sort: (r) => r.file },
  { key: "line", title: "line", numeric: true, text: (r) => (r.line ?? "") === "" ? "" : String(r.line), sort: (r) => r.line ?? 0 },
  { key: "bytes", title: "bytes", numeric: true, text: (r) => bytes(r.bytes), sort: (r) => r.bytes },
  { key: "count", title: "blocks", numeric: true, text: (r) => count(r.count), sort: (r) => r.count },
  { key: "share", title: "share", numeric: true, text: (r) => percent(r.share), sort: (r) => r.share },
  { key: "layers", title: "layers", text: (r) => Object.keys(r.layers).join(", "), sort: (r) => Object.keys(r.layers).join(",") },
];

function options(map, selected) {
  return Object.entries(map).map(([value, title]) => el("option", { value, selected: value === selected }, title));
}

export function tables(root, data) {
  const state = { measure: "peak", group: "line", sortKey: null, descending: true, filter: "" };
  const measure = el("select", { id: "table-measure" }, options(MEASURES, state.measure));
  const group = el("select", { id: "table-group" }, options(GROUPS, state.group));
  const filter = el("input", { type: "search", id: "table-filter", placeholder: "filter by function or file" });
  const status = el("p", { class: "note", id: "table-status" });
  const table = el("table", { id: "sites-table", class: "sortable" });
  root.append(
    el("div", { class: "controls" }, el("label", {}, "measure ", measure), el("label", {}, "grouped by ", group), filter),
    status,
    table,
  );

  const render = () => {
    const t = data.tables[state.measure][state.group];
    const needle = state.filter.toLowerCase();
    let rows = t.rows.filter((r) => !needle || `${r.function ?? ""} ${r.file}`.toLowerCase().includes(needle));
    const col = COLUMNS.find((c) => c.key === state.sortKey);
    if (col) {
      const sign = state.descending ? -1 : 1;
      rows = rows.slice().sort((a, b) => {
        const x = col.sort(a);
        const y = col.sort(b);
        return x < y ? -sign : x > y ? sign : 0;
      });
    }
    const visible = COLUMNS.filter((c) => !(c.key === "line" && state.group !== "line") && !(c.key === "function" && state.group === "file"));
    table.replaceChildren(
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          visible.map((c) =>
            el(
              "th",
              {
                class: `${c.numeric ? "num" : ""} ${c.key === state.sortKey ? (state.descending ? "desc" : "asc") : ""}`,
                "data-key": c.key,
                onclick: () => {
                  state.descending = state.sortKey === c.key ? !state.descending : !!c.numeric;
                  state.sortKey = c.key;
                  render();
                },
              },
              c.title,
            ),
          ),
        ),
      ),
      el("tbody", {}, rows.map((r) => el("tr", {}, visible.map((c) => el("td", { class: c.numeric ? "num" : "", "data-key": c.key, "data-value": String(c.sort(r)) }, c.text(r)))))),
    );
    const cut = t.total_rows > t.rows.length ? ` (the ${count(t.rows.length)} largest of ${count(t.total_rows)} sites are embedded)` : "";
    status.textContent = `${count(rows.length)} sites shown${cut}. Click a column title to sort.`;
  };
  measure.addEventListener("change", () => {
    state.measure = measure.value;
    render();
  });
  group.addEventListener("change", () => {
    state.group = group.value;
    render();
  });
  filter.addEventListener("input", () => {
    state.filter = filter.value.trim();
    render();
  });
  render();
}


