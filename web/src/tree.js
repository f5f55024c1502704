// The dominator-tree explorer: the last snapshot's objects under what keeps
// them alive, largest retained size first. A click on a row shows or hides
// its children; the data holds a capped part of the tree, and each cut is
// shown as one "N more" row with the bytes it leaves out.
import { el, bytes, count, percent, note, place } from "./util.js";

const pathText = (path) => (path.length ? path.join(" → ") : "reachable from no root");

// What a row says, as its cells show it: the reference and the type, or the
// type and where it is reached from.
function label(node) {
  if (node.edge) return `${node.edge} ${node.name}`;
  return node.path ? `${node.name} (${pathText(node.path)})` : node.name;
}

function cell(cls, text) {
  return el("td", { class: cls }, text);
}

// The name cell, indented by depth, with the toggle a row with children has.
function nameCell(depth, toggle, node) {
  return el(
    "td",
    { class: "tree-label", style: `padding-left: ${0.5 + depth * 1.2}em` },
    el("span", { class: "tree-toggle" }, toggle),
    node.edge ? el("span", { class: "tree-edge" }, `${node.edge} `) : null,
    el("span", { class: "tree-name" }, node.name),
    !node.edge && node.path ? el("span", { class: "tree-path" }, ` (${pathText(node.path)})`) : null,
  );
}

function moreRow(node, depth) {
  return el(
    "tr",
    { class: "tree-more", "data-depth": String(depth) },
    el("td", { class: "tree-label", style: `padding-left: ${0.5 + depth * 1.2}em` }, `${count(node.other_children)} more, ${bytes(node.other_bytes)}`),
    cell("", "not embedded: see `memsleuth heap`"),
    cell("num", ""),
    cell("num", bytes(node.other_bytes)),
    cell("num", ""),
  );
}

export function dominatorTree(tree) {
  const total = tree.nodes[0].retained_bytes;
  const site = (node) => {
    const s = node.site == null ? null : tree.sites[node.site];
    return s ? place(s.file, s.line, s.function) : "";
  };
  const hasChildren = (node) => node.children.length > 0 || node.other_children > 0;

  function row(i, depth) {
    const node = tree.nodes[i];
    const open = hasChildren(node);
    const tr = el(
      "tr",
      {
        class: open ? "tree-row clickable" : "tree-row",
        "data-node": String(i),
        "data-depth": String(depth),
        "data-label": label(node),
        "data-retained": String(node.retained_bytes),
        "aria-expanded": open ? "false" : null,
      },
      nameCell(depth, open ? "▸" : "·", node),
      cell("tree-site", site(node)),
      cell("num", bytes(node.shallow_bytes)),
      cell("num tree-retained", bytes(node.retained_bytes)),
      cell("num tree-share", total > 0 ? percent(node.retained_bytes / total) : ""),
    );
    if (open) tr.addEventListener("click", () => toggle(tr));
    return tr;
  }

  function expand(tr) {
    const node = tree.nodes[Number(tr.dataset.node)];
    const depth = Number(tr.dataset.depth) + 1;
    const rows = node.children.map((c) => row(c, depth));
    if (node.other_children > 0) rows.push(moreRow(node, depth));
    tr.after(...rows);
    tr.setAttribute("aria-expanded", "true");
    tr.querySelector(".tree-toggle").textContent = "▾";
  }

  // The rows under a row are the ones after it that are deeper.
  function collapse(tr) {
    const depth = Number(tr.dataset.depth);
    while (tr.nextElementSibling && Number(tr.nextElementSibling.dataset.depth) > depth) tr.nextElementSibling.remove();
    tr.setAttribute("aria-expanded", "false");
    tr.querySelector(".tree-toggle").textContent = "▸";
  }

  function toggle(tr) {
    if (tr.getAttribute("aria-expanded") === "true") collapse(tr);
    else expand(tr);
  }

  const top = row(0, 0);
  const table = el(
    "table",
    { id: "heap-tree" },
    el("thead", {}, el("tr", {}, ["object", "allocated at", "shallow", "retained", "share"].map((x, i) => el("th", { class: i > 1 ? "num" : "" }, x)))),
    el("tbody", {}, top),
  );
  expand(top);
  return el(
    "div",
    {},
    note(
      "Each object is listed under its dominator: the object whose freeing would free it. Retained is what freeing the object would free; share is of the whole tree (every object reachable from a root). " +
        "Before the type is the reference by which the dominator holds it, when it holds it directly; otherwise its shortest path from a root follows in brackets. Click a row to show or hide what it retains.",
    ),
    table,
    tree.cut_nodes > 0
      ? note(`The tree has ${count(tree.tree_nodes)} nodes; ${count(tree.tree_nodes - tree.cut_nodes)} of them are embedded, the largest first (the rest are in the "more" rows).`)
      : null,
  );
}
