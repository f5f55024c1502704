// Entry point of the report's script: reads the data the Rust side embedded
// and fills each section. A section that fails says so in place, and the
// others still render.
import "uplot/dist/uPlot.min.css";
// The package does not export its stylesheet; import it by path.
import "../node_modules/d3-flame-graph/dist/d3-flamegraph.css";
import "./report.css";
import { overview } from "./overview.js";
import { timeline } from "./timeline.js";
import { flamegraphs } from "./flame.js";
import { tables } from "./tables.js";
import { heap } from "./heap.js";
import { memoryManager, recommendations } from "./memory.js";
import { el } from "./util.js";

// By the id of the section each fills (crates/report/assets/template.html).
const SECTIONS = { overview, timeline, flamegraphs, tables, heap, "memory-manager": memoryManager, recommendations };

function start() {
  const data = JSON.parse(document.getElementById("memsleuth-data").textContent);
  for (const [id, fill] of Object.entries(SECTIONS)) {
    const body = document.querySelector(`#${id} .body`);
    try {
      fill(body, data);
    } catch (e) {
      body.append(el("p", { class: "error" }, `This section could not be drawn: ${e.message}`));
      console.error(e);
    }
  }
  document.body.dataset.ready = "true";
}

start();
