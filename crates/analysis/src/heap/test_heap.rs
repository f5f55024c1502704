//! A heap snapshot written object by object, for the tests of the heap
//! analysis and of what other modules read from snapshots.

use memsleuth_format::{
    CodeDef, Domain, EdgeName, FrameDef, HeapEdge, HeapObjectDef, HeapRootDef, LineTableFormat,
    Record, ThreadDef,
};
use rustc_hash::FxHashMap;

use crate::heap::{Origin, Snapshot, SnapshotBuilder};
use crate::replay::SiteKey;
use crate::symbols::Symbols;

/// An edge as a test writes it.
#[derive(Clone, Copy)]
pub(crate) enum E<'a> {
    Attr(&'a str),
    Key(&'a str),
    Index(u64),
    Internal(&'a str),
}

/// A snapshot written object by object; reference counts are the
/// references listed, plus what `held_by_native` adds.
#[derive(Default)]
pub(crate) struct TestHeap {
    names: FxHashMap<String, u32>,
    types: FxHashMap<String, u32>,
    roots: Vec<HeapRootDef>,
    objects: Vec<HeapObjectDef>,
    native_refs: FxHashMap<u64, u64>,
    pub(crate) origins: FxHashMap<u64, Origin>,
}

impl TestHeap {
    pub(crate) fn name(&mut self, text: &str) -> u32 {
        let next = self.names.len() as u32;
        *self.names.entry(text.to_string()).or_insert(next)
    }

    pub(crate) fn edges(&mut self, edges: &[(E, u64)]) -> Vec<HeapEdge> {
        edges
            .iter()
            .map(|&(e, target)| HeapEdge {
                name: match e {
                    E::Attr(s) => EdgeName::Attr(self.name(s)),
                    E::Key(s) => EdgeName::Key(self.name(s)),
                    E::Index(i) => EdgeName::Index(i),
                    E::Internal(s) => EdgeName::Internal(self.name(s)),
                },
                target,
            })
            .collect()
    }

    pub(crate) fn root(&mut self, label: &str, edges: &[(E, u64)]) {
        let edges = self.edges(edges);
        self.roots.push(HeapRootDef {
            label: label.to_string(),
            edges,
        });
    }

    pub(crate) fn object(&mut self, addr: u64, type_name: &str, size: u64, edges: &[(E, u64)]) {
        let next = self.types.len() as u32;
        let type_id = *self.types.entry(type_name.to_string()).or_insert(next);
        let edges = self.edges(edges);
        self.objects.push(HeapObjectDef {
            addr,
            preheader: 0,
            type_id,
            size,
            refcnt: 0,
            gc_tracked: true,
            edges,
        });
    }

    pub(crate) fn held_by_native(&mut self, addr: u64) {
        *self.native_refs.entry(addr).or_default() += 1;
    }

    /// Gives object `addr` the allocation number `serial` at Python stack `stack`.
    pub(crate) fn allocated(&mut self, addr: u64, serial: u64, stack: u32) {
        let site = SiteKey {
            stack,
            native: 0,
            layer: Domain::Object,
        };
        self.origins.insert(addr, Origin { serial, site });
    }

    pub(crate) fn finish(mut self) -> Snapshot {
        let mut refs: FxHashMap<u64, u64> = self.native_refs.clone();
        for e in self.roots.iter().flat_map(|r| &r.edges) {
            *refs.entry(e.target).or_default() += 1;
        }
        for e in self.objects.iter().flat_map(|o| &o.edges) {
            *refs.entry(e.target).or_default() += 1;
        }
        let mut b = SnapshotBuilder::new(1, 2_000_000_000, String::from("exit"));
        for (name, id) in std::mem::take(&mut self.types) {
            b.add_type(id, name);
        }
        for (text, id) in std::mem::take(&mut self.names) {
            b.add_name(id, text);
        }
        for root in std::mem::take(&mut self.roots) {
            b.add_root(root);
        }
        for mut o in std::mem::take(&mut self.objects) {
            o.refcnt = refs.get(&o.addr).copied().unwrap_or(0);
            b.add_object(o);
        }
        let origins = self.origins;
        b.finish(|addr| origins.get(&addr).copied())
    }
}

/// Symbols where Python stack `s` is one frame, `app.py:<s>` in `f<s>`.
pub(crate) fn symbols(stacks: &[u32]) -> Symbols {
    let mut symbols = Symbols::default();
    symbols.learn(&Record::Thread(ThreadDef {
        root: 1,
        native_id: 100,
        is_main: true,
    }));
    for &s in stacks {
        symbols.learn(&Record::Code(CodeDef {
            id: s,
            filename: String::from("app.py"),
            name: format!("f{s}"),
            first_line: s,
            linetable_format: LineTableFormat::Lnotab,
            linetable: Vec::new(),
        }));
        symbols.learn(&Record::Frame(FrameDef {
            id: s,
            parent: 1,
            code: s,
            offset: 0,
            entry: false,
        }));
    }
    symbols
}
