// Small DOM and formatting helpers shared by the report's sections.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// Binary units with three significant digits, as the terminal summary shows them.
export function bytes(n) {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit + 1 < UNITS.length) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${n} B`;
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${UNITS[unit]}`;
}

export function count(n) {
  return Number(n).toLocaleString("en-US");
}

export function percent(share) {
  return `${(share * 100).toFixed(1)}%`;
}

export function seconds(s) {
  return `${s.toFixed(s < 10 ? 3 : 1)} s`;
}

export function place(file, line, fn) {
  const where = line ? `${file}:${line}` : file;
  return fn ? `${fn} (${where})` : where;
}

export function note(text) {
  return el("p", { class: "note" }, text);
}

// A table from rows and column definitions {title, value(row), render(row),
// numeric, class}. `rowAttrs(row)` gives each row's attributes: the exact
// values scripts and tests read beside the rounded text.
export function simpleTable(columns, rows, attrs = {}, rowAttrs = () => ({})) {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { class: c.numeric ? "num" : "" }, c.title)))),
    el(
      "tbody",
      {},
      rows.map((row) =>
        el(
          "tr",
          rowAttrs(row),
          columns.map((c) => el("td", { class: c.numeric ? "num" : c.class || "" }, c.render ? c.render(row) : c.value(row))),
        ),
      ),
    ),
  );
}
