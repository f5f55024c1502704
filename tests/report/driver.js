// Opens a memsleuth HTML report in the system's headless Chromium, acts on
// it as a person would, and prints what it saw as one JSON document on
// stdout for tests/test_report.py to assert on.
//
//   node driver.js REPORT.html [--frame TEXT] [--search TEXT] [--tree LABEL]... [--screenshots DIR]
//
// --frame: click the first flamegraph frame whose name contains TEXT and
// report whether it was zoomed to the full width. --search: type TEXT in the
// flamegraph search. --tree (repeated): in the dominator tree, click the row
// labelled LABEL among the children of the row the previous --tree opened
// (the first among those of the root), and report each row and what it
// showed. --screenshots: write one PNG per section into DIR.
// Every wait is on a selector or a condition, never on time.
"use strict";
const path = require("path");
const puppeteer = require("puppeteer-core");

function parse(argv) {
  const args = { report: null, frame: null, search: null, tree: [], screenshots: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--frame") args.frame = argv[++i];
    else if (a === "--search") args.search = argv[++i];
    else if (a === "--tree") args.tree.push(argv[++i]);
    else if (a === "--screenshots") args.screenshots = argv[++i];
    else args.report = a;
  }
  if (!args.report) throw new Error("usage: node driver.js REPORT.html [--frame TEXT] [--search TEXT] [--tree LABEL]... [--screenshots DIR]");
  return args;
}

const browserPath = () => process.env.CHROMIUM || "/usr/bin/chromium";

async function tableState(page) {
  return page.$$eval("#sites-table tbody tr", (rows) =>
    rows.map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.key, td.dataset.value]))),
  );
}

async function flameState(page, text) {
  return page.evaluate((text) => {
    const svg = document.querySelector("#flame-chart svg");
    const frames = [...document.querySelectorAll("#flame-chart g.frame")];
    const hit = text ? frames.find((g) => (g.getAttribute("name") || "").includes(text)) : null;
    return {
      chart_width: svg ? Number(svg.getAttribute("width")) : null,
      names: frames.map((g) => g.getAttribute("name")),
      frame: hit
        ? { name: hit.getAttribute("name"), width: Number(hit.querySelector("rect").getAttribute("width")) }
        : null,
      highlighted: frames.filter((g) => (g.querySelector("rect").getAttribute("fill") || "").toLowerCase() === "#e600e6").map((g) => g.getAttribute("name")),
    };
  }, text);
}

// The rows shown directly under the dominator-tree row of node `node`.
async function treeChildren(page, node) {
  return page.evaluate((node) => {
    const parent = document.querySelector(`#heap-tree tr[data-node='${node}']`);
    const depth = Number(parent.dataset.depth);
    const rows = [];
    for (let r = parent.nextElementSibling; r && Number(r.dataset.depth) > depth; r = r.nextElementSibling) {
      if (Number(r.dataset.depth) !== depth + 1) continue;
      rows.push({
        node: r.dataset.node == null ? null : Number(r.dataset.node),
        label: r.dataset.label || null,
        text: r.querySelector(".tree-label").textContent,
        retained: r.dataset.retained == null ? null : Number(r.dataset.retained),
        cells: [...r.children].map((c) => c.textContent),
      });
    }
    return rows;
  }, node);
}

// Clicks down the tree along `labels`; each step is the row clicked, with
// what it showed and the rows it opened.
async function walkTree(page, labels) {
  const steps = [];
  let node = 0;
  for (const label of labels) {
    const row = (await treeChildren(page, node)).find((r) => r.label === label);
    if (!row) {
      steps.push({ label, missing: true, siblings: (await treeChildren(page, node)).map((r) => r.label) });
      break;
    }
    const selector = `#heap-tree tr[data-node='${row.node}']`;
    await page.click(selector);
    await page.waitForSelector(`${selector}[aria-expanded='true']`);
    steps.push({ ...row, children: await treeChildren(page, row.node) });
    node = row.node;
  }
  return steps;
}

// The timeline legend after pointing at the middle of the chart: each
// series' label and the value it shows there.
async function timelineLegend(page) {
  const over = await page.$("#timeline-chart .u-over");
  if (!over) return null;
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#timeline-chart .u-legend .u-series .u-value")].every((v) => v.textContent !== "" && v.textContent !== "--"),
  );
  return page.$$eval("#timeline-chart .u-legend .u-series", (rows) =>
    rows.map((r) => [r.querySelector(".u-label").textContent, r.querySelector(".u-value").textContent]),
  );
}

async function main() {
  const args = parse(process.argv.slice(2));
  const out = { console_errors: [], page_errors: [] };
  const browser = await puppeteer.launch({
    executablePath: browserPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    page.on("console", (m) => {
      if (m.type() === "error") out.console_errors.push(m.text());
    });
    page.on("pageerror", (e) => out.page_errors.push(String(e)));
    page.on("request", (r) => {
      if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) out.page_errors.push(`network request: ${r.url()}`);
    });
    const started = Date.now();
    await page.goto(`file://${path.resolve(args.report)}`, { waitUntil: "load" });
    await page.waitForSelector("body[data-ready='true']");
    out.ready_ms = Date.now() - started;

    out.title = await page.title();
    out.findings = await page.$$eval(".findings li", (li) => li.map((x) => x.textContent));
    out.section_errors = await page.$$eval("section .error", (e) => e.map((x) => x.textContent));
    out.timeline_live = await page.$$eval("#timeline-live .live-sites tbody tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    out.heap_types = await page.$$eval("#heap-types tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
    out.heap_diff = await page.$$eval("#heap-diff tbody tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));

    out.timeline_legend = await timelineLegend(page);
    out.tree_root = (await page.$("#heap-tree")) ? await treeChildren(page, 0) : null;
    if (args.tree.length) out.tree = await walkTree(page, args.tree);

    out.flame_before = await flameState(page, args.frame);
    if (args.frame && out.flame_before.frame) {
      const name = out.flame_before.frame.name;
      await page.$$eval("#flame-chart g.frame", (gs, name) => {
        gs.find((g) => g.getAttribute("name") === name).dispatchEvent(new MouseEvent("click", { bubbles: true }));
      }, name);
      await page.waitForFunction((name) => document.querySelector("#flame-chart").dataset.zoomed === name, {}, name);
      // The zoom animates: wait until the frame spans the chart.
      await page.waitForFunction(
        (name) => {
          const g = [...document.querySelectorAll("#flame-chart g.frame")].find((x) => x.getAttribute("name") === name);
          const w = Number(document.querySelector("#flame-chart svg").getAttribute("width"));
          return g && Math.abs(Number(g.querySelector("rect").getAttribute("width")) - w) < 1;
        },
        { timeout: 5000 },
        name,
      ).catch(() => {});
      out.flame_zoomed = await flameState(page, args.frame);
      out.flame_zoomed.zoomed = await page.$eval("#flame-chart", (e) => e.dataset.zoomed || null);
      await page.click("#flame-reset");
    }
    if (args.search) {
      await page.type("#flame-search", args.search);
      await page.waitForFunction(() => Number(document.querySelector("#flame-search-result").dataset.matches || 0) > 0, { timeout: 5000 }).catch(() => {});
      out.search = await page.$eval("#flame-search-result", (e) => ({ text: e.textContent, matches: Number(e.dataset.matches || 0), bytes: Number(e.dataset.bytes || 0) }));
      out.flame_search = await flameState(page, null);
    }

    out.table_initial = await tableState(page);
    await page.click("#sites-table th[data-key='bytes']");
    await page.waitForSelector("#sites-table th[data-key='bytes'].desc");
    out.table_bytes_desc = await tableState(page);
    await page.click("#sites-table th[data-key='bytes']");
    await page.waitForSelector("#sites-table th[data-key='bytes'].asc");
    out.table_bytes_asc = await tableState(page);

    if (args.screenshots) {
      for (const id of ["overview", "timeline", "flamegraphs", "tables", "heap", "memory-manager"]) {
        const section = await page.$(`#${id}`);
        await section.screenshot({ path: path.join(args.screenshots, `${id}.png`) });
      }
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`driver failed: ${e.stack || e}\n`);
  process.exit(1);
});
