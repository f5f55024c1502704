// Heap snapshots: the last complete snapshot's types with retained sizes,
// leak suspects, the biggest retainers with their paths from the roots, the
// detail of a selected type, the dominator tree to explore, and what grew
// between the first and the last.
import { el, bytes, count, percent, note, place, simpleTable } from "./util.js";
import { dominatorTree } from "./tree.js";

const path = (p) => (p.length ? p.join(" → ") : "(no path from a root)");

function typeDetail(d) {
  return el(
    "div",
    { class: "type-detail", "data-type": d.type },
    el("h4", {}, `${d.type}: ${count(d.count)} objects, ${bytes(d.shallow_bytes)} shallow, ${bytes(d.retained_bytes)} retained`),
    el("h5", {}, "Paths from the roots"),
    d.paths.length
      ? simpleTable(
          [
            { title: "path", value: (p) => path(p.path) },
            { title: "objects", numeric: true, value: (p) => count(p.count) },
            { title: "bytes", numeric: true, value: (p) => bytes(p.bytes) },
          ],
          d.paths,
        )
      : note("No path: the instances are reachable from no root."),
    el("h5", {}, "Allocated at"),
    d.sites.length
      ? simpleTable(
          [
            { title: "site", value: (s) => place(s.file, s.line, s.function) },
            { title: "objects", numeric: true, value: (s) => count(s.count) },
            { title: "bytes", numeric: true, value: (s) => bytes(s.bytes) },
          ],
          d.sites,
        )
      : note("Unknown: these objects were allocated before tracking started."),
    el("h5", {}, "Instances retaining the most"),
    simpleTable(
      [
        { title: "address", value: (o) => `0x${o.address.toString(16)}` },
        { title: "retained", numeric: true, value: (o) => bytes(o.retained_bytes) },
        { title: "path", value: (o) => path(o.path) },
      ],
      d.instances,
    ),
  );
}

export function heap(root, data) {
  const h = data.heap;
  if (!h) {
    root.append(note("This capture holds no heap snapshot. Take one with `memsleuth run --snapshot-at exit` (or --snapshot-on SIGUSR2, --snapshot-every 30s) to see types, retained sizes and paths from the roots here."));
    return;
  }
  const last = h.last;
  const t = last.totals;
  const details = new Map(h.details.map((d) => [d.type, d]));
  const detail = el("div", { id: "heap-detail" });
  const pick = (name) => {
    const d = details.get(name);
    detail.replaceChildren(d ? typeDetail(d) : note(`The detail of ${name} is not embedded: only the ${h.details.length} types retaining the most are (see \`memsleuth heap CAPTURE --type ${name}\`).`));
  };
  root.append(
    el("p", {}, `Snapshot ${last.snapshot.id} (${last.snapshot.trigger}, at ${last.snapshot.time_s.toFixed(2)} s): ${count(t.objects)} objects, ${bytes(t.shallow_bytes)}; reachable from the roots ${bytes(t.reachable_bytes)}, held only by native code ${bytes(t.native_only_bytes)}, unreachable ${bytes(t.unreachable_bytes)}.`),
    el("h3", {}, "Leak suspects"),
    last.suspects.length
      ? el(
          "ul",
          { class: "suspects" },
          last.suspects.map((s) => el("li", {}, `${count(s.count)} × ${s.type} retaining ${bytes(s.retained_bytes)} (${percent(s.share)})${s.holder ? `, held by ${s.holder}` : ""}: ${path(s.path)}`)),
        )
      : note("None: no type or object retains a large share of the heap."),
    el("h3", {}, "Types by retained size"),
    note("Click a type for its paths from the roots, allocation sites and largest instances."),
    el(
      "table",
      { id: "heap-types" },
      el("thead", {}, el("tr", {}, ["type", "objects", "shallow", "retained"].map((x, i) => el("th", { class: i ? "num" : "" }, x)))),
      el(
        "tbody",
        {},
        last.types.map((r) =>
          el(
            "tr",
            { class: "clickable", onclick: () => pick(r.type) },
            el("td", {}, r.type),
            el("td", { class: "num" }, count(r.count)),
            el("td", { class: "num" }, bytes(r.shallow_bytes)),
            el("td", { class: "num" }, bytes(r.retained_bytes)),
          ),
        ),
      ),
    ),
    detail,
    el("h3", {}, "Biggest retainers"),
    simpleTable(
      [
        { title: "type", value: (o) => o.type },
        { title: "retained", numeric: true, value: (o) => bytes(o.retained_bytes) },
        { title: "path from a root", value: (o) => path(o.path) },
      ],
      last.retainers,
    ),
    el("h3", {}, "What keeps the memory alive (dominator tree)"),
    dominatorTree(h.tree),
  );
  if (last.types.length) pick(last.types[0].type);
  root.append(el("h3", {}, "What grew between snapshots"));
  if (!h.diff) {
    root.append(note("One complete snapshot: a diff needs two (take more with --snapshot-every or --snapshot-on)."));
    return;
  }
  const d = h.diff;
  root.append(
    el("p", {}, `From snapshot ${h.diff_ids[0]} to ${h.diff_ids[1]}: ${count(d.new_objects)} new objects, ${bytes(d.new_bytes)}.`),
    simpleTable(
      [
        { title: "type", value: (r) => r.type },
        { title: "objects before", numeric: true, value: (r) => count(r.count_before) },
        { title: "objects after", numeric: true, value: (r) => count(r.count_after) },
        { title: "bytes before", numeric: true, value: (r) => bytes(r.bytes_before) },
        { title: "bytes after", numeric: true, value: (r) => bytes(r.bytes_after) },
      ],
      d.types,
      { id: "heap-diff" },
    ),
    el("h4", {}, "Where the new objects were allocated"),
    simpleTable(
      [
        { title: "site", value: (s) => place(s.file, s.line, s.function) },
        { title: "objects", numeric: true, value: (s) => count(s.count) },
        { title: "bytes", numeric: true, value: (s) => bytes(s.bytes) },
      ],
      d.sites,
    ),
    el("h4", {}, "What keeps them alive"),
    simpleTable(
      [
        { title: "path", value: (p) => path(p.path) },
        { title: "objects", numeric: true, value: (p) => count(p.objects) },
        { title: "bytes", numeric: true, value: (p) => bytes(p.bytes) },
      ],
      d.paths,
    ),
  );
}
