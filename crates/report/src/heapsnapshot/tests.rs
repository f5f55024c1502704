//! The export of a hand-built snapshot, read back as plain JSON.

use memsleuth_analysis::heap::{HeapCapture, Origin, Snapshot, SnapshotBuilder};
use memsleuth_analysis::{SiteKey, Symbols};
use memsleuth_format::{
    CodeDef, Domain, EdgeName, FrameDef, HeapEdge, HeapObjectDef, HeapRootDef, LineTableFormat,
    Metadata, Record, ThreadDef,
};
use serde_json::Value;

use super::ids::FIRST_ADDRESS_ID;
use super::*;

const A: u64 = 0x1000;
const B: u64 = 0x1010;
const C: u64 = 0x1020;
const D: u64 = 0x1030;
const E: u64 = 0x1040;
const F: u64 = 0x1050;
const G: u64 = 0x1060;

fn object(
    addr: u64,
    type_id: u32,
    size: u64,
    refcnt: u64,
    edges: &[(EdgeName, u64)],
) -> HeapObjectDef {
    HeapObjectDef {
        addr,
        preheader: 0,
        type_id,
        size,
        refcnt,
        gc_tracked: true,
        edges: edges
            .iter()
            .map(|&(name, target)| HeapEdge { name, target })
            .collect(),
    }
}

/// `sys.modules['a']` is a dict A holding B (`.b`), C (`[0]`) and E (`<key>`);
/// B and C both hold D (a diamond); E and F hold each other (a cycle) and E
/// itself; G is held only by C code. Nodes: 0 super-root, 1 `sys.modules`,
/// 2 "held by native code", then A..G as 3..9.
fn diamond_and_cycle(traced: bool) -> Snapshot {
    let mut b = SnapshotBuilder::new(1, 0, String::from("test"));
    for (id, name) in ["dict", "Node", "list", "str", "Cycle", "int"]
        .iter()
        .enumerate()
    {
        b.add_type(id as u32, name.to_string());
    }
    for (id, name) in ["'a'", "b", "<key>", "next", "é名\"q"].iter().enumerate() {
        b.add_name(id as u32, name.to_string());
    }
    b.add_root(HeapRootDef {
        label: String::from("sys.modules"),
        edges: vec![HeapEdge {
            name: EdgeName::Key(0),
            target: A,
        }],
    });
    let (attr, index, internal) = (EdgeName::Attr, EdgeName::Index, EdgeName::Internal);
    b.add_object(object(
        A,
        0,
        100,
        1,
        &[(attr(1), B), (index(0), C), (internal(2), E)],
    ));
    b.add_object(object(B, 1, 10, 1, &[(attr(4), D)]));
    b.add_object(object(C, 2, 20, 1, &[(index(0), D)]));
    b.add_object(object(D, 3, 1000, 2, &[]));
    b.add_object(object(E, 4, 7, 3, &[(attr(3), F), (internal(2), E)]));
    b.add_object(object(F, 4, 3, 1, &[(attr(3), E)]));
    b.add_object(object(G, 5, 5, 1, &[]));
    b.finish(|addr| {
        let site = |stack| SiteKey {
            stack,
            native: 0,
            layer: Domain::Object,
        };
        let origin = |serial, stack| {
            Some(Origin {
                serial,
                site: site(stack),
            })
        };
        match addr {
            _ if !traced => None,
            A => origin(10, 3),
            B => origin(11, 3),
            D => origin(12, 2),
            _ => None,
        }
    })
}

/// Thread 1 runs `<module>` (app.py:1), which calls `make` (app.py:5).
fn capture() -> HeapCapture {
    let mut symbols = Symbols::default();
    let code = |id, name: &str, first_line| {
        Record::Code(CodeDef {
            id,
            filename: String::from("app.py"),
            name: name.to_string(),
            first_line,
            linetable_format: LineTableFormat::Locations311,
            linetable: Vec::new(),
        })
    };
    let frame = |id, parent, code| {
        Record::Frame(FrameDef {
            id,
            parent,
            code,
            offset: 0,
            entry: false,
        })
    };
    for r in [
        Record::Thread(ThreadDef {
            root: 1,
            native_id: 7,
            is_main: true,
        }),
        code(10, "<module>", 1),
        code(11, "make", 5),
        frame(2, 1, 10),
        frame(3, 2, 11),
    ] {
        assert!(symbols.learn(&r));
    }
    HeapCapture {
        metadata: Metadata::default(),
        snapshots: Vec::new(),
        symbols,
        traced: true,
    }
}

fn export(snapshot: &Snapshot) -> Vec<u8> {
    let mut out = Vec::new();
    write_heapsnapshot(snapshot, &capture(), &mut out).unwrap();
    out
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn numbers(doc: &Value, field: &str) -> Vec<u64> {
    doc[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

fn strings(doc: &Value) -> Vec<String> {
    doc["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Node `n`'s fields.
fn node(doc: &Value, n: usize) -> Vec<u64> {
    numbers(doc, "nodes")[n * 7..n * 7 + 7].to_vec()
}

fn node_type(doc: &Value, n: usize) -> String {
    let t = node(doc, n)[0] as usize;
    doc["snapshot"]["meta"]["node_types"][0][t]
        .as_str()
        .unwrap()
        .to_string()
}

fn node_name(doc: &Value, n: usize) -> String {
    strings(doc)[node(doc, n)[1] as usize].clone()
}

/// Node `n`'s edges as (type, name or index, target node).
fn edges_of(doc: &Value, n: usize) -> Vec<(String, String, u64)> {
    let nodes = numbers(doc, "nodes");
    let edges = numbers(doc, "edges");
    let strings = strings(doc);
    let first: u64 = (0..n).map(|i| nodes[i * 7 + 4]).sum();
    let count = nodes[n * 7 + 4];
    (first..first + count)
        .map(|e| {
            let e = e as usize * 3;
            let kind = doc["snapshot"]["meta"]["edge_types"][0][edges[e] as usize]
                .as_str()
                .unwrap()
                .to_string();
            let name = match kind.as_str() {
                "element" | "hidden" => edges[e + 1].to_string(),
                _ => strings[edges[e + 1] as usize].clone(),
            };
            (kind, name, edges[e + 2] / 7)
        })
        .collect()
}

#[test]
fn meta_declares_what_the_arrays_hold() {
    let doc = parse(&export(&diamond_and_cycle(true)));
    let meta = &doc["snapshot"]["meta"];
    let fields = |f: &str| meta[f].as_array().unwrap().len();
    assert_eq!(fields("node_fields") as u64, NODE_FIELDS);
    assert_eq!(fields("edge_fields") as u64, EDGE_FIELDS);
    assert_eq!(fields("node_types"), fields("node_fields"));
    assert_eq!(fields("edge_types"), fields("edge_fields"));
    assert_eq!(fields("trace_function_info_fields"), 6);
    assert_eq!(fields("trace_node_fields"), 5);
    let types = &meta["node_types"][0];
    for (i, t) in [
        (NODE_STRING, "string"),
        (NODE_OBJECT, "object"),
        (NODE_CODE, "code"),
        (NODE_CLOSURE, "closure"),
        (NODE_NUMBER, "number"),
        (NODE_SYNTHETIC, "synthetic"),
    ] {
        assert_eq!(types[i as usize], t);
    }
    let edge_types = &meta["edge_types"][0];
    assert_eq!(edge_types[EDGE_ELEMENT as usize], "element");
    assert_eq!(edge_types[EDGE_PROPERTY as usize], "property");
    assert_eq!(edge_types[EDGE_INTERNAL as usize], "internal");
}

#[test]
fn counts_and_offsets_are_consistent() {
    let snapshot = diamond_and_cycle(true);
    let doc = parse(&export(&snapshot));
    let (nodes, edges) = (numbers(&doc, "nodes"), numbers(&doc, "edges"));
    assert_eq!(doc["snapshot"]["node_count"], 10);
    assert_eq!(nodes.len(), 10 * 7);
    // 2 super-root, 1 sys.modules, 1 native root (G), 3 + 1 + 1 + 2 + 1 objects.
    assert_eq!(doc["snapshot"]["edge_count"], 12);
    assert_eq!(edges.len(), 12 * 3);
    let declared: u64 = nodes.chunks(7).map(|n| n[4]).sum();
    assert_eq!(declared, 12);
    for e in edges.chunks(3) {
        assert_eq!(e[2] % 7, 0, "to_node is a node's offset");
        assert!(e[2] < nodes.len() as u64);
    }
    let strings = strings(&doc);
    for n in nodes.chunks(7) {
        assert!((n[1] as usize) < strings.len());
    }
    let mut unique = strings.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), strings.len(), "each string once");
}

#[test]
fn nodes_are_named_and_typed_for_devtools() {
    let doc = parse(&export(&diamond_and_cycle(true)));
    assert_eq!(
        (node_type(&doc, 0), node_name(&doc, 0)),
        ("synthetic".into(), "(roots)".into())
    );
    assert_eq!(
        (node_type(&doc, 1), node_name(&doc, 1)),
        ("synthetic".into(), "sys.modules".into())
    );
    assert_eq!(node_name(&doc, 2), "held by native code");
    assert_eq!(
        (node_type(&doc, 3), node_name(&doc, 3)),
        ("object".into(), "dict".into())
    );
    assert_eq!(
        (node_type(&doc, 5), node_name(&doc, 5)),
        ("object".into(), "list".into())
    );
    assert_eq!(
        (node_type(&doc, 6), node_name(&doc, 6)),
        ("string".into(), "str".into())
    );
    assert_eq!(
        (node_type(&doc, 9), node_name(&doc, 9)),
        ("number".into(), "int".into())
    );
    let sizes: Vec<u64> = (0..10).map(|n| node(&doc, n)[3]).collect();
    assert_eq!(sizes, [0, 0, 0, 100, 10, 20, 1000, 7, 3, 5]);
}

#[test]
fn edges_keep_their_python_names() {
    let doc = parse(&export(&diamond_and_cycle(true)));
    let e = |kind: &str, name: &str, to| (kind.to_string(), name.to_string(), to);
    assert_eq!(
        edges_of(&doc, 0),
        [e("element", "0", 1), e("element", "1", 2)]
    );
    assert_eq!(edges_of(&doc, 1), [e("property", "'a'", 3)]);
    assert_eq!(edges_of(&doc, 2), [e("element", "0", 9)]);
    assert_eq!(
        edges_of(&doc, 3),
        [
            e("property", "b", 4),
            e("element", "0", 5),
            e("internal", "<key>", 7)
        ]
    );
    assert_eq!(edges_of(&doc, 4), [e("property", "é名\"q", 6)]);
    assert_eq!(
        edges_of(&doc, 7),
        [e("property", "next", 8), e("internal", "<key>", 7)]
    );
    let types = doc["snapshot"]["meta"]["edge_types"][0].clone();
    for edge in numbers(&doc, "edges").chunks(3) {
        assert_ne!(
            types[edge[0] as usize], "weak",
            "would change retained sizes"
        );
        assert_ne!(
            types[edge[0] as usize], "shortcut",
            "would change retained sizes"
        );
    }
}

#[test]
fn the_references_of_garbage_are_weak() {
    let doc = parse(&export(&random_graph(7, 60)));
    let live = reachable(&random_graph(7, 60));
    assert!(live.iter().any(|&l| !l), "the graph holds garbage");
    for (n, &live) in live.iter().enumerate() {
        for (kind, _, _) in edges_of(&doc, n) {
            assert_eq!(kind == "weak", !live, "node {n}");
        }
    }
}

#[test]
fn ids_follow_serials_then_addresses_and_are_unique() {
    let doc = parse(&export(&diamond_and_cycle(true)));
    let ids: Vec<u64> = (0..10).map(|n| node(&doc, n)[2]).collect();
    assert_eq!(&ids[..5], [1, 2, 4, 21, 23]);
    assert_eq!(ids[6], 25);
    for &n in &[5, 7, 8, 9] {
        assert_eq!(ids[n] % 2, 0);
        assert!(ids[n] >= u64::from(FIRST_ADDRESS_ID));
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    // The same object at the same address keeps its id without a trace.
    let untraced = parse(&export(&diamond_and_cycle(false)));
    assert_eq!(node(&untraced, 5)[2], ids[5]);
}

#[test]
fn allocation_stacks_become_the_trace_tree() {
    let doc = parse(&export(&diamond_and_cycle(true)));
    assert_eq!(doc["snapshot"]["trace_function_count"], 3);
    let strings = strings(&doc);
    let infos = numbers(&doc, "trace_function_infos");
    let described: Vec<(String, String, u64)> = infos
        .chunks(6)
        .map(|f| {
            (
                strings[f[1] as usize].clone(),
                strings[f[2] as usize].clone(),
                f[4],
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            ("(root)".into(), "".into(), 0),
            ("<module>".into(), "app.py".into(), 1),
            ("make".into(), "app.py".into(), 5),
        ]
    );
    // root → <module> (D, 1000 bytes) → make (A and B, 110 bytes).
    let tree: Value = serde_json::from_str("[1,0,0,0,[2,1,1,1000,[3,2,2,110,[]]]]").unwrap();
    assert_eq!(doc["trace_tree"], tree);
    let trace_ids: Vec<u64> = (0..10).map(|n| node(&doc, n)[5]).collect();
    assert_eq!(trace_ids, [0, 0, 0, 3, 3, 0, 2, 0, 0, 0]);
}

#[test]
fn without_a_trace_there_are_no_stacks() {
    let doc = parse(&export(&diamond_and_cycle(false)));
    assert_eq!(doc["snapshot"]["trace_function_count"], 0);
    assert_eq!(doc["trace_function_infos"], Value::Array(vec![]));
    assert_eq!(doc["trace_tree"], Value::Array(vec![]));
    assert!((0..10).all(|n| node(&doc, n)[5] == 0));
}

#[test]
fn the_document_is_ascii_with_arrays_in_v8_order() {
    let bytes = export(&diamond_and_cycle(true));
    assert!(bytes.is_ascii());
    let text = String::from_utf8(bytes).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    let order = [
        "snapshot",
        "nodes",
        "edges",
        "trace_function_infos",
        "trace_tree",
        "samples",
        "locations",
        "strings",
    ];
    assert!(
        order.windows(2).all(|k| at(k[0]) < at(k[1])),
        "memlab reads by position"
    );
}

/// A graph of `count` objects with random references: some held by
/// `sys.modules`, some by C code, some by nothing (garbage, which may point
/// at live objects).
fn random_graph(seed: u64, count: u64) -> Snapshot {
    let mut state = seed;
    let mut random = move |below: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % below
    };
    let addr = |i: u64| 0x10_0000 + 16 * i;
    let mut b = SnapshotBuilder::new(1, 0, String::from("random"));
    for (id, name) in ["dict", "list", "str", "Thing"].iter().enumerate() {
        b.add_type(id as u32, name.to_string());
    }
    b.add_name(0, String::from("x"));
    let roots = (0..5).map(|_| HeapEdge {
        name: EdgeName::Attr(0),
        target: addr(random(count)),
    });
    b.add_root(HeapRootDef {
        label: String::from("sys.modules"),
        edges: roots.collect(),
    });
    let edges: Vec<Vec<u64>> = (0..count)
        .map(|_| (0..random(4)).map(|_| random(count)).collect())
        .collect();
    let mut in_refs = vec![0u64; count as usize];
    for &t in edges.iter().flatten() {
        in_refs[t as usize] += 1;
    }
    for (i, targets) in edges.iter().enumerate() {
        let held_by_c = u64::from(random(12) == 0);
        let edges: Vec<(EdgeName, u64)> = targets
            .iter()
            .enumerate()
            .map(|(k, &t)| (EdgeName::Index(k as u64), addr(t)))
            .collect();
        let size = 16 + random(1000);
        // Roots' references count too; an object they reach is live anyway.
        let refcnt = in_refs[i] + held_by_c + 5;
        let refcnt = if random(5) == 0 { in_refs[i] } else { refcnt };
        b.add_object(object(addr(i as u64), (i % 4) as u32, size, refcnt, &edges));
    }
    b.finish(|a| {
        let i = (a - 0x10_0000) / 16;
        (i % 2 == 0).then_some(Origin {
            serial: i + 1,
            site: SiteKey {
                stack: 2 + (i % 3 == 0) as u32,
                native: 0,
                layer: Domain::Object,
            },
        })
    })
}

/// Retained sizes by definition: what no longer is reachable from the
/// super-root once a node is gone. Unreachable nodes retain their own size.
fn retained_by_definition(snapshot: &Snapshot) -> Vec<u64> {
    let reach = |without: Option<usize>| {
        let mut seen = vec![false; snapshot.node_count()];
        let mut queue = vec![0u32];
        seen[0] = true;
        while let Some(n) = queue.pop() {
            for (t, _) in snapshot.edges(n) {
                if !seen[t as usize] && Some(t as usize) != without {
                    seen[t as usize] = true;
                    queue.push(t);
                }
            }
        }
        seen
    };
    let all = reach(None);
    (0..snapshot.node_count())
        .map(|d| {
            if !all[d] {
                return snapshot.nodes.size[d];
            }
            let rest = if d == 0 {
                vec![false; all.len()]
            } else {
                reach(Some(d))
            };
            (0..all.len())
                .filter(|&n| all[n] && !rest[n])
                .map(|n| snapshot.nodes.size[n])
                .sum()
        })
        .collect()
}

/// Writes the fixtures into `$MEMSLEUTH_HEAPSNAPSHOT_DIR`, for the memlab
/// reader in `tests/heapsnapshot` (see `docs/heapsnapshot.md`).
#[test]
fn write_fixtures_for_the_memlab_reader() {
    let Some(dir) = std::env::var_os("MEMSLEUTH_HEAPSNAPSHOT_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("diamond.heapsnapshot"),
        export(&diamond_and_cycle(true)),
    )
    .unwrap();
    std::fs::write(
        dir.join("diamond-untraced.heapsnapshot"),
        export(&diamond_and_cycle(false)),
    )
    .unwrap();
    // A random graph and, by node id, the retained sizes memlab must find.
    let graph = random_graph(42, 400);
    let doc = parse(&export(&graph));
    std::fs::write(dir.join("random.heapsnapshot"), export(&graph)).unwrap();
    let expected: serde_json::Map<String, Value> = retained_by_definition(&graph)
        .iter()
        .enumerate()
        .map(|(n, &size)| (node(&doc, n)[2].to_string(), Value::from(size)))
        .collect();
    std::fs::write(
        dir.join("random.expected.json"),
        Value::Object(expected).to_string(),
    )
    .unwrap();
}
