#!/usr/bin/env node
// Reads a .heapsnapshot with memlab's parser, an implementation of the V8
// format independent of memsleuth's, and prints what memlab makes of it as
// JSON on stdout:
//
//   {
//     "node_count": N, "edge_count": E,
//     "objects": {"<id>": {"name", "type", "self_size", "retained_size",
//                          "dominator_id", "stack": ["function file:line", ...]}
//                 or null when no node has that id},
//     "classes": {"<name>": {"count", "self_size"}},  (nodes of size > 0)
//     "largest": [{"id", "name", "self_size", "retained_size"}, ...]
//   }
//
// "largest" lists the N objects (nodes that are not synthetic) that retain
// the most, most first, when --top N is given; [] otherwise.
//
// "stack" lists the allocation stack outermost first, read from
// trace_function_infos and trace_tree by this script (memlab does not
// interpret them); [] when the node has no trace_node_id.
//
// Usage: node check.js FILE.heapsnapshot [--top N] [ID ...]
'use strict';

const fs = require('fs');
const {config, utils, analysis} = require('@memlab/core');

function usage() {
  process.stderr.write('usage: node check.js FILE.heapsnapshot [--top N] [ID ...]\n');
  process.exit(2);
}

// Trace node id → its frames, outermost first.
function traceStacks(raw) {
  const meta = raw.snapshot.meta;
  const strings = raw.strings;
  const infoFields = meta.trace_function_info_fields;
  const nodeFields = meta.trace_node_fields;
  const infos = raw.trace_function_infos || [];
  const frame = index => {
    const at = index * infoFields.length;
    const name = strings[infos[at + infoFields.indexOf('name')]];
    const script = strings[infos[at + infoFields.indexOf('script_name')]];
    const line = infos[at + infoFields.indexOf('line')];
    return `${name} ${script}:${line}`;
  };
  const stacks = new Map();
  const walk = (array, offset, path) => {
    const id = array[offset + nodeFields.indexOf('id')];
    const fn = array[offset + nodeFields.indexOf('function_info_index')];
    // The root's pseudo-frame "(root)" is no frame of the program.
    const here = path === null ? [] : path.concat([frame(fn)]);
    stacks.set(id, here);
    const children = array[offset + nodeFields.indexOf('children')];
    for (let i = 0; i < children.length; i += nodeFields.length) {
      walk(children, i, here);
    }
  };
  const tree = raw.trace_tree || [];
  if (tree.length > 0) {
    walk(tree, 0, null);
  }
  return stacks;
}

function describe(node, stacks) {
  const dominator = node.dominatorNode;
  return {
    name: node.name,
    type: node.type,
    self_size: node.self_size,
    retained_size: node.retainedSize,
    dominator_id: dominator ? dominator.id : null,
    stack: stacks.get(node.trace_node_id) || [],
  };
}

async function main() {
  const [file, ...rest] = process.argv.slice(2);
  let top = 0;
  const at = rest.indexOf('--top');
  if (at >= 0) {
    top = Number(rest[at + 1]);
    rest.splice(at, 2);
  }
  const ids = rest;
  if (!file || !(top >= 0) || ids.some(id => !/^\d+$/.test(id))) {
    usage();
  }
  if (!fs.existsSync(file)) {
    process.stderr.write(`check.js: ${file} does not exist\n`);
    process.exit(2);
  }
  // memlab prints progress on stdout, where our JSON goes; muted, it also
  // ends the process on a parse error without a word, so say it here.
  config.muteConsole = true;
  let done = false;
  process.on('exit', code => {
    if (!done && code !== 0) {
      process.stderr.write(`check.js: memlab could not parse ${file}\n`);
    }
  });
  const snapshot = await utils.getSnapshotFromFile(file, {buildNodeIdIndex: true});
  // Shortest paths, dominators and retained sizes, as memlab's analyses do.
  analysis.preparePathFinder(snapshot);
  const stacks = traceStacks(snapshot.snapshot);

  const objects = {};
  for (const id of ids) {
    const node = snapshot.getNodeById(Number(id));
    objects[id] = node ? describe(node, stacks) : null;
  }
  const classes = {};
  snapshot.nodes.forEach(node => {
    if (node.self_size === 0) {
      return;
    }
    const entry = classes[node.name] || (classes[node.name] = {count: 0, self_size: 0});
    entry.count += 1;
    entry.self_size += node.self_size;
  });
  const largest = [];
  if (top > 0) {
    snapshot.nodes.forEach(node => {
      if (node.type !== 'synthetic') {
        largest.push(node);
      }
    });
    largest.sort((a, b) => b.retainedSize - a.retainedSize);
    largest.length = Math.min(largest.length, top);
  }
  const result = {
    node_count: snapshot.nodes.length,
    edge_count: snapshot.edges.length,
    objects,
    classes,
    largest: largest.map(node => ({
      id: node.id,
      name: node.name,
      self_size: node.self_size,
      retained_size: node.retainedSize,
    })),
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
  done = true;
}

main().catch(e => {
  process.stderr.write(`check.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
