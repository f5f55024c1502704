//! Heap analysis on hand-built snapshots whose every number is known.

use super::test_heap::{symbols, TestHeap, E};
use super::*;
use crate::symbols::Symbols;

fn node(s: &Snapshot, addr: u64) -> NodeId {
    (0..s.node_count() as NodeId)
        .find(|&n| s.is_object(n) && s.nodes.addr[n as usize] == addr)
        .expect("no object at that address")
}

const MODULE: u64 = 0x100;
const GLOBALS: u64 = 0x200;
const CACHE: u64 = 0x300;
const HELPER: u64 = 0x400;
const ENTRY: u64 = 0x1000;
const PAYLOAD: u64 = 0x2000;
const LOCAL: u64 = 0x500;
const ITEM: u64 = 0x600;
const NATIVE: u64 = 0x700;
const CYCLE: u64 = 0x800;

/// `__main__` keeps ten entries in a module-level dict `CACHE`, each with a
/// 10,000-byte payload; a thread's frame has a local list; C code holds a
/// bytes object; two lists refer only to each other.
fn cache_heap() -> TestHeap {
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'__main__'"), MODULE)]);
    h.root("thread 1 main (app.py:3)", &[(E::Attr("local"), LOCAL)]);
    h.object(MODULE, "module", 56, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(
        GLOBALS,
        "dict",
        1000,
        &[(E::Key("'CACHE'"), CACHE), (E::Key("'helper'"), HELPER)],
    );
    h.object(
        HELPER,
        "function",
        100,
        &[(E::Internal("__globals__"), GLOBALS)],
    );
    let entries: Vec<(E, u64)> = (0..10)
        .map(|i| (E::Key(KEYS[i]), ENTRY + i as u64))
        .collect();
    h.object(CACHE, "dict", 5000, &entries);
    for i in 0..10 {
        h.object(
            ENTRY + i,
            "__main__.Entry",
            48,
            &[(E::Attr("payload"), PAYLOAD + i)],
        );
        h.object(PAYLOAD + i, "bytes", 10_000, &[]);
        h.allocated(ENTRY + i, 10 + i, 7);
        h.allocated(PAYLOAD + i, 20 + i, 8);
    }
    h.object(LOCAL, "list", 88, &[(E::Index(0), ITEM)]);
    h.object(ITEM, "bytes", 300, &[]);
    h.object(NATIVE, "bytes", 777, &[]);
    h.held_by_native(NATIVE);
    h.object(CYCLE, "list", 64, &[(E::Index(0), CYCLE + 1)]);
    h.object(CYCLE + 1, "list", 64, &[(E::Index(0), CYCLE)]);
    h
}

const KEYS: [&str; 10] = [
    "'k0'", "'k1'", "'k2'", "'k3'", "'k4'", "'k5'", "'k6'", "'k7'", "'k8'", "'k9'",
];

#[test]
fn retained_sizes_sum_what_each_object_alone_keeps() {
    let s = cache_heap().finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let retained = |addr| heap.retained[node(&s, addr) as usize];
    assert_eq!(retained(ENTRY + 3), 10_048);
    assert_eq!(retained(CACHE), 5000 + 10 * 10_048);
    // The function is reached only through the module's dict.
    assert_eq!(retained(GLOBALS), 1000 + 100 + 105_480);
    assert_eq!(retained(MODULE), 56 + 106_580);
    assert_eq!(retained(LOCAL), 388);
    assert_eq!(retained(CYCLE), 64);
    assert_eq!(
        heap.totals(),
        HeapTotals {
            objects: 29,
            shallow_bytes: 106_636 + 388 + 777 + 128,
            reachable_bytes: 106_636 + 388,
            native_only_bytes: 777,
            unreachable_objects: 2,
            unreachable_bytes: 128,
        }
    );
}

#[test]
fn paths_read_as_python_and_prefer_the_roots_a_program_names() {
    let s = cache_heap().finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let path = |addr| heap.path(node(&s, addr));
    assert_eq!(path(MODULE), ["sys.modules", "['__main__']"]);
    assert_eq!(path(GLOBALS), ["sys.modules", "['__main__']", ".__dict__"]);
    assert_eq!(path(CACHE), ["sys.modules", "['__main__']", ".CACHE"]);
    assert_eq!(
        path(PAYLOAD + 3),
        [
            "sys.modules",
            "['__main__']",
            ".CACHE",
            "['k3']",
            ".payload"
        ]
    );
    assert_eq!(path(ITEM), ["thread 1 main (app.py:3)", ".local", "[0]"]);
    assert_eq!(path(NATIVE), [NATIVE_ROOT_LABEL, "<bytes>"]);
    assert!(path(CYCLE).is_empty());
}

#[test]
fn an_object_a_module_reaches_is_not_shown_as_held_by_native_code() {
    let mut h = cache_heap();
    h.held_by_native(CACHE);
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    assert_eq!(
        heap.path(node(&s, CACHE)),
        ["sys.modules", "['__main__']", ".CACHE"]
    );
    // Native code holding it too means the module no longer retains it.
    assert_eq!(heap.retained[node(&s, GLOBALS) as usize], 1100);
}

#[test]
fn the_types_table_counts_nested_instances_of_a_type_once() {
    let s = cache_heap().finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let rows = heap.types_table(0);
    let row = |name: &str| rows.iter().find(|r| r.type_name == name).unwrap().clone();
    assert_eq!(rows[0].type_name, "module");
    let dict = row("dict");
    assert_eq!((dict.count, dict.shallow_bytes), (2, 6000));
    // The cache is inside the module's dict: counted once, in the outer one.
    assert_eq!(dict.retained_bytes, 106_580);
    let bytes = row("bytes");
    assert_eq!((bytes.count, bytes.shallow_bytes), (12, 101_077));
    assert_eq!(bytes.retained_bytes, 101_077);
    let entry = row("__main__.Entry");
    assert_eq!((entry.count, entry.retained_bytes), (10, 100_480));
    let list = row("list");
    assert_eq!((list.count, list.retained_bytes), (3, 88 + 300 + 128));
}

#[test]
fn the_biggest_retainers_are_objects_with_their_paths() {
    let s = cache_heap().finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let top = heap.retainers(3);
    let names: Vec<&str> = top.iter().map(|r| r.type_name.as_str()).collect();
    assert_eq!(names, ["module", "dict", "dict"]);
    assert_eq!(top[2].retained_bytes, 105_480);
    assert_eq!(top[2].shallow_bytes, 5000);
    assert_eq!(top[2].address, CACHE);
    assert_eq!(top[2].path, ["sys.modules", "['__main__']", ".CACHE"]);
}

#[test]
fn a_cache_is_found_where_its_entries_accumulate() {
    let s = cache_heap().finish();
    let syms = symbols(&[7, 8]);
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    assert_eq!(suspects.len(), 1, "{suspects:#?}");
    let s0 = &suspects[0];
    assert_eq!(s0.kind, SuspectKind::Accumulation);
    assert_eq!(s0.type_name, "__main__.Entry");
    assert_eq!((s0.count, s0.retained_bytes), (10, 100_480));
    assert_eq!(s0.holder.as_deref(), Some("dict"));
    assert_eq!(s0.path, ["sys.modules", "['__main__']", ".CACHE"]);
    assert!((s0.share - 100_480.0 / 107_024.0).abs() < 1e-9);
    // The entries' own blocks, not their payloads.
    assert_eq!(
        s0.sites,
        [HeapSite {
            file: String::from("app.py"),
            line: 7,
            function: String::from("f7"),
            bytes: 480,
            count: 10,
        }]
    );
}

#[test]
fn a_capture_without_allocations_has_suspects_without_sites() {
    let mut h = cache_heap();
    h.origins.clear();
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    assert_eq!(suspects.len(), 1);
    assert!(suspects[0].sites.is_empty());
}

#[test]
fn one_big_object_is_its_own_accumulation_point() {
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'app'"), MODULE)]);
    h.object(MODULE, "module", 50, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(GLOBALS, "dict", 950, &[(E::Key("'BLOB'"), PAYLOAD)]);
    h.object(PAYLOAD, "bytearray", 9000, &[]);
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    assert_eq!(suspects.len(), 1, "{suspects:#?}");
    let s0 = &suspects[0];
    assert_eq!((s0.type_name.as_str(), s0.count), ("bytearray", 1));
    assert_eq!(s0.retained_bytes, 9000);
    assert_eq!(s0.holder.as_deref(), Some("dict"));
    assert_eq!(s0.path, ["sys.modules", "['app']", ".BLOB"]);
}

#[test]
fn where_memory_fans_out_each_big_branch_is_a_suspect_of_its_own() {
    // The module's dict holds two caches, each half the heap.
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'app'"), MODULE)]);
    h.object(MODULE, "module", 50, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(
        GLOBALS,
        "dict",
        950,
        &[(E::Key("'A'"), CACHE), (E::Key("'B'"), CACHE + 1)],
    );
    for (c, ty) in [(CACHE, "app.Left"), (CACHE + 1, "app.Right")] {
        let items: Vec<(E, u64)> = (0..5).map(|i| (E::Index(i), c * 16 + i)).collect();
        h.object(c, "list", 100, &items);
        for i in 0..5 {
            h.object(c * 16 + i, ty, 1000, &[]);
        }
    }
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    let found: Vec<(&str, u64, &[String])> = suspects
        .iter()
        .map(|s| (s.type_name.as_str(), s.retained_bytes, s.path.as_slice()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "app.Left",
                5000,
                &["sys.modules", "['app']", ".A"].map(String::from)[..]
            ),
            (
                "app.Right",
                5000,
                &["sys.modules", "['app']", ".B"].map(String::from)[..]
            ),
        ]
    );
}

#[test]
fn objects_shared_by_many_holders_make_a_type_suspect() {
    // Two modules' lists share twenty items: no object dominates them.
    let mut h = TestHeap::default();
    h.root(
        "sys.modules",
        &[(E::Key("'a'"), MODULE), (E::Key("'b'"), MODULE + 1)],
    );
    for m in 0..2 {
        h.object(
            MODULE + m,
            "module",
            50,
            &[(E::Internal("__dict__"), GLOBALS + m)],
        );
        h.object(GLOBALS + m, "dict", 100, &[(E::Key("'ITEMS'"), LOCAL + m)]);
        let items: Vec<(E, u64)> = (0..20).map(|i| (E::Index(i), ITEM * 16 + i)).collect();
        h.object(LOCAL + m, "list", 200, &items);
    }
    for i in 0..20 {
        h.object(ITEM * 16 + i, "app.Item", 500, &[]);
        h.allocated(ITEM * 16 + i, 100 + i, 9);
    }
    let s = h.finish();
    let syms = symbols(&[9]);
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    assert_eq!(suspects.len(), 1, "{suspects:#?}");
    let s0 = &suspects[0];
    assert_eq!(s0.kind, SuspectKind::Type);
    assert_eq!((s0.type_name.as_str(), s0.count), ("app.Item", 20));
    assert_eq!(s0.retained_bytes, 10_000);
    assert_eq!(s0.holder, None);
    assert_eq!(s0.path, ["sys.modules", "['a']", ".ITEMS", "[*]"]);
    assert_eq!((s0.sites[0].line, s0.sites[0].count), (9, 20));
}

#[test]
fn memory_under_an_accumulation_makes_no_type_suspect_again() {
    // Like the cache, but each entry's payload is of one type: the payloads
    // are in the entries' suspect already.
    let s = cache_heap().finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    assert!(suspects.iter().all(|s| s.type_name != "bytes"));
}

#[test]
fn the_detail_of_a_type_lists_instances_sites_and_paths() {
    let s = cache_heap().finish();
    let syms = symbols(&[7, 8]);
    let heap = HeapAnalysis::new(&s, &syms);
    let group = heap.groups.find("Entry").unwrap();
    let d = heap.type_detail(group, 2);
    assert_eq!(d.type_name, "__main__.Entry");
    assert_eq!(
        (d.count, d.shallow_bytes, d.retained_bytes),
        (10, 480, 100_480)
    );
    assert_eq!(d.instances.len(), 2);
    assert_eq!(d.instances[0].retained_bytes, 10_048);
    assert_eq!(
        d.instances[0].path,
        ["sys.modules", "['__main__']", ".CACHE", "['k0']"]
    );
    assert_eq!((d.sites[0].function.as_str(), d.sites[0].count), ("f7", 10));
    assert_eq!(
        d.paths,
        [PathCount {
            path: ["sys.modules", "['__main__']", ".CACHE", "[*]"]
                .map(String::from)
                .to_vec(),
            count: 10,
            bytes: 480,
        }]
    );
}

#[test]
fn a_type_is_found_by_its_bare_name_or_suggested() {
    let s = cache_heap().finish();
    let groups = TypeGroups::new(&s);
    assert_eq!(
        groups.name(groups.find("__main__.Entry").unwrap()),
        "__main__.Entry"
    );
    assert_eq!(groups.name(groups.find("Entry").unwrap()), "__main__.Entry");
    assert_eq!(
        groups.find("Entyr"),
        Err(TypeNotFound::Unknown(vec![String::from("__main__.Entry")]))
    );
    assert_eq!(
        groups.find("dcit"),
        Err(TypeNotFound::Unknown(vec![String::from("dict")]))
    );
}

/// A linked list: the head is in a module, each node refers to the next.
#[test]
fn the_nodes_of_a_linked_list_share_one_pattern() {
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'app'"), MODULE)]);
    h.object(MODULE, "module", 50, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(GLOBALS, "dict", 100, &[(E::Key("'head'"), ENTRY)]);
    for i in 0..40 {
        let next: Vec<(E, u64)> = if i < 39 {
            vec![(E::Attr("next"), ENTRY + i + 1)]
        } else {
            Vec::new()
        };
        h.object(ENTRY + i, "app.Node", 64, &next);
    }
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let d = heap.type_detail(heap.groups.find("app.Node").unwrap(), 0);
    let paths: Vec<(Vec<String>, u64)> = d.paths.into_iter().map(|p| (p.path, p.count)).collect();
    let head = ["sys.modules", "['app']", ".head"]
        .map(String::from)
        .to_vec();
    let mut second = head.clone();
    second.push(String::from(".next"));
    let mut rest = head.clone();
    rest.push(String::from(".next(.next)+"));
    assert_eq!(paths, [(rest, 38), (head, 1), (second, 1)]);
    // The head retains the list; the type retains it once.
    assert_eq!((d.retained_bytes, d.instances.len()), (40 * 64, 1));
    // A deep object's path keeps both ends.
    let last = heap.path(node(&s, ENTRY + 39));
    assert_eq!(last.len(), 1 + 24 + 1);
    assert_eq!(last[13], "…17 steps…");
}

fn grown_cache(before: bool) -> Snapshot {
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'__main__'"), MODULE)]);
    h.object(MODULE, "module", 56, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(GLOBALS, "dict", 1000, &[(E::Key("'CACHE'"), CACHE)]);
    let n = if before { 2 } else { 5 };
    let entries: Vec<(E, u64)> = (0..n)
        .map(|i| (E::Key(KEYS[i]), ENTRY + i as u64))
        .collect();
    h.object(CACHE, "dict", 500, &entries);
    for i in 0..n as u64 {
        h.object(
            ENTRY + i,
            "__main__.Entry",
            48,
            &[(E::Attr("payload"), PAYLOAD + i)],
        );
        h.object(PAYLOAD + i, "bytes", 1000, &[]);
        h.allocated(ENTRY + i, 10 + 2 * i, 7);
        h.allocated(PAYLOAD + i, 11 + 2 * i, 8);
    }
    if before {
        // Freed before the second snapshot; its address is reused there.
        h.object(LOCAL, "list", 88, &[]);
        h.held_by_native(LOCAL);
        h.allocated(LOCAL, 5, 9);
    } else {
        h.object(LOCAL, "list", 88, &[]);
        h.held_by_native(LOCAL);
        h.allocated(LOCAL, 50, 9);
    }
    // Allocated before tracking: no origin in either.
    h.object(NATIVE, "str", 60, &[]);
    h.held_by_native(NATIVE);
    h.finish()
}

#[test]
fn a_diff_matches_objects_by_allocation_not_by_address() {
    let before = grown_cache(true);
    let base = DiffBase::new(&before);
    drop(before);
    let after = grown_cache(false);
    let syms = symbols(&[7, 8, 9]);
    let d = diff(&base, &after, &syms, 0);
    assert_eq!(d.matched_by, "allocation");
    // Three entries with their payloads, and the list at a reused address.
    assert_eq!(d.new_objects, 7);
    assert_eq!(d.new_bytes, 3 * 1048 + 88);
    // The module, its dict, the cache and the string have no origin.
    assert_eq!((d.unmatched_before, d.unmatched_after), (4, 4));
    let types: Vec<(&str, u64, u64, u64, u64)> = d
        .types
        .iter()
        .map(|t| {
            let n = t.type_name.as_str();
            (
                n,
                t.count_before,
                t.count_after,
                t.bytes_before,
                t.bytes_after,
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("bytes", 2, 5, 2000, 5000),
            ("__main__.Entry", 2, 5, 96, 240),
        ]
    );
    let sites: Vec<(u32, u64, u64)> = d.sites.iter().map(|s| (s.line, s.bytes, s.count)).collect();
    assert_eq!(sites, [(8, 3000, 3), (7, 144, 3), (9, 88, 1)]);
    assert_eq!(
        d.paths,
        [
            NewPath {
                path: ["sys.modules", "['__main__']", ".CACHE", "[*]"]
                    .map(String::from)
                    .to_vec(),
                count: 3,
                objects: 6,
                bytes: 3 * 1048,
            },
            NewPath {
                path: [NATIVE_ROOT_LABEL, "<list>"].map(String::from).to_vec(),
                count: 1,
                objects: 1,
                bytes: 88,
            },
        ]
    );
}

#[test]
fn a_diff_without_allocations_compares_types_only() {
    let mut a = TestHeap::default();
    a.root("sys.modules", &[(E::Key("'m'"), MODULE)]);
    a.object(MODULE, "module", 56, &[]);
    let base = DiffBase::new(&a.finish());
    let mut b = TestHeap::default();
    b.root("sys.modules", &[(E::Key("'m'"), MODULE)]);
    b.object(MODULE, "module", 56, &[(E::Index(0), LOCAL)]);
    b.object(LOCAL, "list", 88, &[]);
    let d = diff(&base, &b.finish(), &Symbols::default(), 0);
    assert_eq!(d.matched_by, "none");
    assert_eq!(
        (d.new_objects, d.unmatched_before, d.unmatched_after),
        (0, 1, 2)
    );
    assert!(d.sites.is_empty() && d.paths.is_empty());
    assert_eq!(d.types[0].type_name, "list");
    assert_eq!((d.types[0].count_before, d.types[0].count_after), (0, 1));
}

#[test]
fn big_plain_objects_are_grouped_where_they_are_held() {
    // A dict holds three 3,000-byte buffers, each over the threshold
    // alone, and forty small entries that only together are.
    let mut h = TestHeap::default();
    h.root("sys.modules", &[(E::Key("'app'"), MODULE)]);
    h.object(MODULE, "module", 50, &[(E::Internal("__dict__"), GLOBALS)]);
    h.object(GLOBALS, "dict", 50, &[(E::Key("'HELD'"), CACHE)]);
    let mut held: Vec<(E, u64)> = (0..3).map(|i| (E::Index(i), PAYLOAD + i)).collect();
    held.extend((0..40).map(|i| (E::Index(3 + i), ENTRY + i)));
    h.object(CACHE, "list", 900, &held);
    for i in 0..3 {
        h.object(PAYLOAD + i, "bytearray", 3000, &[]);
    }
    for i in 0..40 {
        h.object(ENTRY + i, "app.Small", 100, &[]);
    }
    let s = h.finish();
    let syms = Symbols::default();
    let heap = HeapAnalysis::new(&s, &syms);
    let suspects = heap.suspects(SuspectParams::default());
    let found: Vec<(&str, u64, u64, Option<&str>)> = suspects
        .iter()
        .map(|s| {
            (
                s.type_name.as_str(),
                s.count,
                s.retained_bytes,
                s.holder.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("bytearray", 3, 9000, Some("list")),
            ("app.Small", 40, 4000, Some("list")),
        ]
    );
    assert!(suspects
        .iter()
        .all(|s| s.path == ["sys.modules", "['app']", ".HELD"]));
}
