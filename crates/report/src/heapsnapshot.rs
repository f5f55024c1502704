//! Chrome DevTools heap snapshots: a [`Snapshot`] written as the
//! `.heapsnapshot` JSON that V8 writes, so that Chrome DevTools (Memory tab →
//! Load), memlab and other tools built for JavaScript heaps can explore a
//! Python heap. `docs/heapsnapshot.md` is the user's side of this mapping.
//!
//! - Node 0, the super-root, is V8's synthetic root (id 1); the roots
//!   (`sys.modules`, threads' frames, "held by native code") are synthetic
//!   nodes under it, reached by `element` edges as V8's "(GC roots)" is.
//! - Objects are `object` nodes named by their Python type, except where V8
//!   has a kind DevTools gives its own category: `str` is a `string`, `int`,
//!   `float`, `complex` and `bool` are `number`s, `function` is a `closure`
//!   and `code` is `code`. `list` and `tuple` stay objects: DevTools files
//!   `array` nodes under "(array)", V8's internal backing stores, which would
//!   hide the Python type.
//! - `self_size` is the bytes the object occupies, as everywhere in memsleuth.
//! - Edges: `.attr` and `[key]` are `property` edges named `attr` and the
//!   key as written in Python (`'a'`, `42`); `[i]` is an `element` edge with
//!   index `i`; a reference Python does not name (`__class__`, `<key>`) is an
//!   `internal` edge. No edge is `shortcut`, and only the edges of objects no
//!   root reaches are `weak`: DevTools and memlab skip both kinds when they
//!   compute dominators, so their retained sizes are ours (see
//!   [`reachable`]).
//! - Ids are stable across the snapshots of one process: see [`ids`].
//! - Allocation stacks, when the run traced allocations, become V8's
//!   allocation trace: see [`trace`].
//!
//! Readers hold the node and edge arrays in 32-bit integers, so a size above
//! 4 GiB - 1 is written as 4 GiB - 1, and a graph whose arrays would not fit
//! is refused rather than written wrong.

mod ids;
mod json;
mod trace;

use std::io::{self, BufWriter, Write};

use memsleuth_analysis::heap::{HeapCapture, Label, NodeId, Snapshot};
use memsleuth_format::EdgeName;
use rustc_hash::FxHashMap;

use json::Json;
use trace::TraceTree;

/// Values per node in `nodes`, and per edge in `edges`.
const NODE_FIELDS: u64 = 7;
const EDGE_FIELDS: u64 = 3;

/// Indexes into `node_types[0]` of [`META`].
const NODE_STRING: u64 = 2;
const NODE_OBJECT: u64 = 3;
const NODE_CODE: u64 = 4;
const NODE_CLOSURE: u64 = 5;
const NODE_NUMBER: u64 = 7;
const NODE_SYNTHETIC: u64 = 9;

/// Indexes into `edge_types[0]` of [`META`].
const EDGE_ELEMENT: u64 = 1;
const EDGE_PROPERTY: u64 = 2;
const EDGE_INTERNAL: u64 = 3;
const EDGE_WEAK: u64 = 6;

/// The field layout, as V8 writes it (V8 12 / Chrome 120 and later).
const META: &str = concat!(
    r#"{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"#,
    r#""node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"#,
    r#""edge_fields":["type","name_or_index","to_node"],"#,
    r#""edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"#,
    r#""trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"#,
    r#""trace_node_fields":["id","function_info_index","count","size","children"],"#,
    r#""sample_fields":["timestamp_us","last_assigned_id"],"#,
    r#""location_fields":["object_index","script_id","line","column"]}"#
);

/// Writes `snapshot` as a `.heapsnapshot` document. `capture` gives the
/// allocation stacks of the objects whose origin is known. The output is
/// streamed: beside the snapshot, memory holds one id and one flag per node,
/// the strings table and the allocation tree, never the document.
pub fn write_heapsnapshot(
    snapshot: &Snapshot,
    capture: &HeapCapture,
    out: &mut impl Write,
) -> io::Result<()> {
    check_fits(snapshot)?;
    let trace = TraceTree::build(snapshot, &capture.symbols);
    let mut strings = Strings::new(snapshot);
    let mut json = Json::new(BufWriter::with_capacity(1 << 20, out));
    write_head(&mut json, snapshot, &trace)?;
    write_nodes(&mut json, snapshot, &trace, &mut strings)?;
    write_edges(&mut json, snapshot, &mut strings)?;
    write_trace(&mut json, &trace, &mut strings)?;
    json.raw(",\n\"samples\":[],\n\"locations\":[],\n\"strings\":[")?;
    for (i, s) in strings.list.iter().enumerate() {
        json.raw(if i == 0 { "" } else { ",\n" })?;
        json.string(s)?;
    }
    json.raw("]}\n")?;
    json.into_inner().flush()
}

/// Refuses a graph whose offsets readers cannot hold in 32 bits.
fn check_fits(snapshot: &Snapshot) -> io::Result<()> {
    let limit = u64::from(u32::MAX);
    let nodes = snapshot.node_count() as u64;
    let edges = snapshot.edge_target.len() as u64;
    if nodes * NODE_FIELDS > limit || edges * EDGE_FIELDS > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot {} has {nodes} objects and {edges} references, more than a .heapsnapshot can hold (its readers index them in 32 bits)",
                snapshot.id
            ),
        ));
    }
    Ok(())
}

fn write_head<W: Write>(
    json: &mut Json<W>,
    snapshot: &Snapshot,
    trace: &TraceTree,
) -> io::Result<()> {
    json.raw("{\"snapshot\":{\"meta\":")?;
    json.raw(META)?;
    json.raw(",\"node_count\":")?;
    json.num(snapshot.node_count() as u64)?;
    json.raw(",\"edge_count\":")?;
    json.num(snapshot.edge_target.len() as u64)?;
    json.raw(",\"trace_function_count\":")?;
    json.num(trace.functions.len() as u64)?;
    json.raw("}")
}

/// One line per node: type, name, id, self_size, edge_count, trace_node_id,
/// detachedness (always 0, "unknown": it is about DOM nodes).
fn write_nodes<'a, W: Write>(
    json: &mut Json<W>,
    snapshot: &'a Snapshot,
    trace: &TraceTree,
    strings: &mut Strings<'a>,
) -> io::Result<()> {
    let ids = ids::node_ids(snapshot);
    let kinds: Vec<u64> = snapshot.types.iter().map(|t| node_type(t)).collect();
    json.raw(",\n\"nodes\":[")?;
    for (n, &id) in ids.iter().enumerate() {
        let (kind, name) = kind_and_name(snapshot, n as NodeId, &kinds, strings);
        let edges = snapshot.edge_start[n + 1] - snapshot.edge_start[n];
        json.raw(if n == 0 { "" } else { "\n," })?;
        json.nums(&[
            kind,
            name.into(),
            id.into(),
            snapshot.nodes.size[n].min(u32::MAX.into()),
            edges,
            trace.node_id(snapshot.nodes.origin[n]).into(),
            0,
        ])?;
    }
    json.raw("]")
}

/// A node's V8 type and the string index of its name: an object's Python
/// type (`kinds` has the V8 type of each), or a root's label.
fn kind_and_name<'a>(
    snapshot: &'a Snapshot,
    n: NodeId,
    kinds: &[u64],
    strings: &mut Strings<'a>,
) -> (u64, u32) {
    if !snapshot.is_object(n) {
        return (NODE_SYNTHETIC, strings.intern(snapshot.node_name(n)));
    }
    let type_id = snapshot.nodes.type_id[n as usize];
    let kind = kinds.get(type_id as usize).copied().unwrap_or(NODE_OBJECT);
    (kind, strings.type_name(type_id))
}

/// The V8 node type of an object of the Python type `name`.
fn node_type(name: &str) -> u64 {
    match name {
        "str" => NODE_STRING,
        "int" | "float" | "complex" | "bool" => NODE_NUMBER,
        "function" => NODE_CLOSURE,
        "code" => NODE_CODE,
        _ => NODE_OBJECT,
    }
}

/// One line per node's edges: type, name_or_index, to_node (the target's
/// offset in `nodes`, its index times [`NODE_FIELDS`]).
fn write_edges<'a, W: Write>(
    json: &mut Json<W>,
    snapshot: &'a Snapshot,
    strings: &mut Strings<'a>,
) -> io::Result<()> {
    let live = reachable(snapshot);
    json.raw(",\n\"edges\":[")?;
    let mut first = true;
    for (n, &live) in live.iter().enumerate() {
        for (i, (target, label)) in snapshot.edges(n as NodeId).enumerate() {
            let (kind, name) = edge_fields(label, strings);
            let kind = if live { kind } else { EDGE_WEAK };
            // A line per node's edges, as V8 lays them out.
            json.raw(match (first, i) {
                (true, _) => "",
                (false, 0) => "\n,",
                _ => ",",
            })?;
            first = false;
            json.nums(&[kind, name, u64::from(target) * NODE_FIELDS])?;
        }
    }
    json.raw("]")
}

/// Which nodes a path from the super-root reaches. The others are garbage
/// the collector has not freed yet (a cycle nothing else holds), and their
/// references keep nothing alive: memsleuth's dominators start from the
/// super-root and never see them. DevTools and memlab instead hang every
/// unreachable node under the root and would count its references, so that
/// a garbage cycle pointing at a live object would take that object out of
/// its real dominator's retained size. As `weak` edges they count for
/// nothing there either, and each garbage object retains its own size, as in
/// memsleuth.
fn reachable(snapshot: &Snapshot) -> Vec<bool> {
    let mut seen = vec![false; snapshot.node_count()];
    let mut queue: Vec<NodeId> = vec![0];
    seen[0] = true;
    while let Some(n) = queue.pop() {
        for (target, _) in snapshot.edges(n) {
            if !seen[target as usize] {
                seen[target as usize] = true;
                queue.push(target);
            }
        }
    }
    seen
}

fn edge_fields(label: Label, strings: &mut Strings<'_>) -> (u64, u64) {
    match label.name() {
        EdgeName::Attr(id) | EdgeName::Key(id) => (EDGE_PROPERTY, strings.edge_name(id).into()),
        EdgeName::Index(i) => (EDGE_ELEMENT, i.min(u32::MAX.into())),
        EdgeName::Internal(id) => (EDGE_INTERNAL, strings.edge_name(id).into()),
    }
}

/// `trace_function_infos` and `trace_tree`, empty when no stack is known.
fn write_trace<'a, W: Write>(
    json: &mut Json<W>,
    trace: &'a TraceTree,
    strings: &mut Strings<'a>,
) -> io::Result<()> {
    json.raw(",\n\"trace_function_infos\":[")?;
    for (i, f) in trace.functions.iter().enumerate() {
        json.raw(if i == 0 { "" } else { "\n," })?;
        let (name, script) = (strings.intern(&f.name), strings.intern(&f.script));
        json.nums(&[
            i as u64,
            name.into(),
            script.into(),
            f.script_id.into(),
            f.line.into(),
            0,
        ])?;
    }
    json.raw("],\n\"trace_tree\":[")?;
    if !trace.is_empty() {
        write_trace_tree(json, trace)?;
    }
    json.raw("]")
}

/// The tree as V8 nests it: a node is `id,function_info_index,count,size,[children]`,
/// its children's fields one after the other inside the brackets. Written
/// with an explicit stack: a deep recursion in Python is a deep tree here.
fn write_trace_tree<W: Write>(json: &mut Json<W>, trace: &TraceTree) -> io::Result<()> {
    let open = |json: &mut Json<W>, n: u32| {
        let node = &trace.nodes[n as usize];
        json.nums(&[
            u64::from(n) + 1,
            node.function.into(),
            node.count,
            node.size,
        ])?;
        json.raw(",[")
    };
    open(json, 0)?;
    // (node, children written so far)
    let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
    while let Some((n, next)) = stack.last_mut() {
        match trace.nodes[*n as usize].children.get(*next) {
            Some(&child) => {
                json.raw(if *next == 0 { "" } else { "," })?;
                *next += 1;
                open(json, child)?;
                stack.push((child, 0));
            }
            None => {
                json.raw("]")?;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// The `strings` table, filled as nodes, edges and frames name things: each
/// distinct string once, since DevTools groups objects by name index.
struct Strings<'a> {
    snapshot: &'a Snapshot,
    index: FxHashMap<&'a str, u32>,
    list: Vec<&'a str>,
    /// String index by type id and by edge name id, [`UNSET`] until used.
    types: Vec<u32>,
    names: Vec<u32>,
}

const UNSET: u32 = u32::MAX;

impl<'a> Strings<'a> {
    fn new(snapshot: &'a Snapshot) -> Self {
        Strings {
            snapshot,
            index: FxHashMap::default(),
            list: Vec::new(),
            types: vec![UNSET; snapshot.types.len()],
            names: vec![UNSET; snapshot.names.len()],
        }
    }

    fn intern(&mut self, s: &'a str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(s);
        self.index.insert(s, i);
        i
    }

    fn type_name(&mut self, type_id: u32) -> u32 {
        self.cached(Table::Types, type_id)
    }

    fn edge_name(&mut self, name_id: u32) -> u32 {
        self.cached(Table::Names, name_id)
    }

    /// The string index of entry `id` of a snapshot table, interned once.
    fn cached(&mut self, table: Table, id: u32) -> u32 {
        let snapshot: &'a Snapshot = self.snapshot;
        let (texts, cache) = match table {
            Table::Types => (&snapshot.types, &self.types),
            Table::Names => (&snapshot.names, &self.names),
        };
        if let Some(&i) = cache.get(id as usize).filter(|&&i| i != UNSET) {
            return i;
        }
        let text = texts.get(id as usize).map_or("?", String::as_str);
        let i = self.intern(text);
        let cache = match table {
            Table::Types => &mut self.types,
            Table::Names => &mut self.names,
        };
        if let Some(slot) = cache.get_mut(id as usize) {
            *slot = i;
        }
        i
    }
}

#[derive(Clone, Copy)]
enum Table {
    Types,
    Names,
}

#[cfg(test)]
mod tests;
