//! A heap snapshot as a graph: the objects as columns, their references as a
//! compressed adjacency list, under a super-root whose children are the roots.
//!
//! Node 0 is the super-root; nodes `1..=roots` are the roots the tracker
//! recorded (`sys.modules`, each thread's frames) followed by "held by native
//! code"; the objects follow. Every object reachable only through
//! references the tracker could not see (C code, the evaluation stack) is a
//! child of that last root, so every node is reachable from node 0.

use memsleuth_format::{EdgeName, HeapEdge, HeapObjectDef, HeapRootDef};

use crate::blockmap::BlockMap;
use crate::replay::SiteKey;

/// A node index.
pub type NodeId = u32;

/// The label of the root that holds objects with references nobody listed.
pub const NATIVE_ROOT_LABEL: &str = "held by native code";

/// An edge's name, packed: its kind in the top two bits, the name id or the
/// index below. Indexes past 2^30 (a list of a billion items) are clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label(u32);

const KIND_SHIFT: u32 = 30;
const VALUE_MASK: u32 = (1 << KIND_SHIFT) - 1;

impl Label {
    pub fn new(name: EdgeName) -> Label {
        let (kind, value) = match name {
            EdgeName::Attr(id) => (0, id),
            EdgeName::Key(id) => (1, id),
            EdgeName::Index(i) => (2, u32::try_from(i).unwrap_or(u32::MAX)),
            EdgeName::Internal(id) => (3, id),
        };
        Label(kind << KIND_SHIFT | value.min(VALUE_MASK))
    }

    pub fn name(self) -> EdgeName {
        let value = self.0 & VALUE_MASK;
        match self.0 >> KIND_SHIFT {
            0 => EdgeName::Attr(value),
            1 => EdgeName::Key(value),
            2 => EdgeName::Index(value.into()),
            _ => EdgeName::Internal(value),
        }
    }
}

/// Where an object's memory block was allocated, when the run traced
/// allocations and the block was allocated while tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The allocation's position in the event stream: unique for the life of
    /// the process, so the same object has the same serial in every snapshot
    /// and a new object at a reused address has a new one.
    pub serial: u64,
    pub site: SiteKey,
}

/// One complete snapshot.
pub struct Snapshot {
    pub id: u32,
    pub time_ns: u64,
    pub trigger: String,
    /// Type names by type id.
    pub types: Vec<String>,
    /// Edge names by name id.
    pub names: Vec<String>,
    /// Labels of nodes `1..=root_labels.len()`.
    pub root_labels: Vec<String>,
    pub nodes: Nodes,
    /// The edges of node `n` are `edge_start[n]..edge_start[n + 1]` of
    /// `edge_target` and `edge_label`.
    pub edge_start: Vec<u64>,
    pub edge_target: Vec<NodeId>,
    pub edge_label: Vec<Label>,
    /// References to addresses that are not objects of the snapshot, dropped.
    pub dangling_edges: u64,
}

/// Per-node columns; entries for the super-root and the roots are zero.
#[derive(Default)]
pub struct Nodes {
    pub addr: Vec<u64>,
    /// `u32::MAX` for the super-root and the roots.
    pub type_id: Vec<u32>,
    pub size: Vec<u64>,
    /// Where each object was allocated, when known.
    pub origin: Vec<Option<Origin>>,
}

impl Snapshot {
    pub fn node_count(&self) -> usize {
        self.nodes.addr.len()
    }

    /// The first object node: after the super-root and the roots.
    pub fn first_object(&self) -> NodeId {
        self.root_labels.len() as NodeId + 1
    }

    pub fn is_object(&self, n: NodeId) -> bool {
        n >= self.first_object()
    }

    /// The edges of node `n`, as (target, label).
    pub fn edges(&self, n: NodeId) -> impl Iterator<Item = (NodeId, Label)> + '_ {
        let (start, end) = (
            self.edge_start[n as usize] as usize,
            self.edge_start[n as usize + 1] as usize,
        );
        self.edge_target[start..end]
            .iter()
            .copied()
            .zip(self.edge_label[start..end].iter().copied())
    }

    /// The name of a type id; `?` for an id the snapshot did not define.
    pub fn type_name(&self, type_id: u32) -> &str {
        self.types.get(type_id as usize).map_or("?", String::as_str)
    }

    /// The type name of an object node, or the root's label.
    pub fn node_name(&self, n: NodeId) -> &str {
        if n == 0 {
            return "(roots)";
        }
        if !self.is_object(n) {
            return &self.root_labels[n as usize - 1];
        }
        self.type_name(self.nodes.type_id[n as usize])
    }

    /// An edge's name as a path step: `.attr`, `['key']`, `[3]`,
    /// `.__class__`; an internal name that is no Python name (`<key>`) as is.
    pub fn step(&self, label: Label) -> String {
        let name = |id: u32| self.names.get(id as usize).map_or("?", String::as_str);
        match label.name() {
            EdgeName::Attr(id) => format!(".{}", name(id)),
            EdgeName::Key(id) => format!("[{}]", name(id)),
            EdgeName::Index(i) => format!("[{i}]"),
            EdgeName::Internal(id) if name(id).starts_with('<') => name(id).to_string(),
            EdgeName::Internal(id) => format!(".{}", name(id)),
        }
    }
}

/// Collects one snapshot's records, then resolves addresses into nodes.
#[derive(Default)]
pub struct SnapshotBuilder {
    id: u32,
    time_ns: u64,
    trigger: String,
    types: Vec<String>,
    names: Vec<String>,
    roots: Vec<(String, Vec<(u64, Label)>)>,
    objects: Arrived,
}

/// The objects as they arrive, their references still addresses.
#[derive(Default)]
struct Arrived {
    addr: Vec<u64>,
    preheader: Vec<u32>,
    type_id: Vec<u32>,
    size: Vec<u64>,
    refcnt: Vec<u64>,
    edge_start: Vec<u64>,
    edge_addr: Vec<u64>,
    edge_label: Vec<Label>,
}

impl Arrived {
    fn edges(&self, i: usize) -> std::ops::Range<usize> {
        let end = self
            .edge_start
            .get(i + 1)
            .map_or(self.edge_addr.len(), |&e| e as usize);
        self.edge_start[i] as usize..end
    }
}

fn set_at(table: &mut Vec<String>, id: u32, text: String) {
    let i = id as usize;
    if table.len() <= i {
        table.resize(i + 1, String::new());
    }
    table[i] = text;
}

/// `column` with `n` copies of `fill` in front, moved rather than copied
/// when its capacity allows: at ten million objects a copy of every column
/// is most of a gigabyte.
fn prefixed<T: Copy>(mut column: Vec<T>, n: usize, fill: T) -> Vec<T> {
    column.splice(0..0, std::iter::repeat_n(fill, n));
    column
}

impl SnapshotBuilder {
    pub fn new(id: u32, time_ns: u64, trigger: String) -> Self {
        SnapshotBuilder {
            id,
            time_ns,
            trigger,
            ..Default::default()
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn add_type(&mut self, id: u32, name: String) {
        set_at(&mut self.types, id, name);
    }

    pub fn add_name(&mut self, id: u32, text: String) {
        set_at(&mut self.names, id, text);
    }

    pub fn add_root(&mut self, root: HeapRootDef) {
        let edges = root
            .edges
            .iter()
            .map(|e: &HeapEdge| (e.target, Label::new(e.name)))
            .collect();
        self.roots.push((root.label, edges));
    }

    pub fn add_object(&mut self, o: HeapObjectDef) {
        let a = &mut self.objects;
        a.addr.push(o.addr);
        a.preheader.push(o.preheader);
        a.type_id.push(o.type_id);
        a.size.push(o.size);
        a.refcnt.push(o.refcnt);
        a.edge_start.push(a.edge_addr.len() as u64);
        for e in &o.edges {
            a.edge_addr.push(e.target);
            a.edge_label.push(Label::new(e.name));
        }
    }

    /// Builds the graph. `origin` says where the block starting at an address
    /// was allocated, when the allocation trace knows.
    pub fn finish(self, origin: impl Fn(u64) -> Option<Origin>) -> Snapshot {
        let SnapshotBuilder {
            id,
            time_ns,
            trigger,
            types,
            names,
            roots,
            objects,
        } = self;
        let mut root_labels: Vec<String> = roots.iter().map(|(l, _)| l.clone()).collect();
        root_labels.push(NATIVE_ROOT_LABEL.to_string());
        let synthetic = root_labels.len() + 1;

        let Edges {
            edge_start,
            edge_target,
            edge_label,
            dangling,
        } = resolve_edges(&roots, &objects, synthetic);
        let Arrived {
            addr,
            preheader,
            type_id,
            size,
            refcnt,
            edge_start: _,
            edge_addr,
            edge_label: _,
        } = objects;
        drop((refcnt, edge_addr));
        // After the edges, whose building is the peak of memory use, and
        // once the objects' references are freed.
        let origins: Vec<Option<Origin>> = std::iter::repeat_n(None, synthetic)
            .chain(
                addr.iter()
                    .zip(&preheader)
                    .map(|(&a, &p)| origin(a - u64::from(p))),
            )
            .collect();
        drop(preheader);
        Snapshot {
            id,
            time_ns,
            trigger,
            types,
            names,
            root_labels,
            nodes: Nodes {
                addr: prefixed(addr, synthetic, 0),
                type_id: prefixed(type_id, synthetic, u32::MAX),
                size: prefixed(size, synthetic, 0),
                origin: origins,
            },
            edge_start,
            edge_target,
            edge_label,
            dangling_edges: dangling,
        }
    }
}

/// The graph's edges, as node ids.
struct Edges {
    edge_start: Vec<u64>,
    edge_target: Vec<NodeId>,
    edge_label: Vec<Label>,
    dangling: u64,
}

/// Turns the addresses the roots and objects refer to into node ids, the
/// objects numbered from `first`; adds the super-root's edges to every root
/// and the native root's edges to every object referenced more often than
/// the snapshot shows.
fn resolve_edges(roots: &[(String, Vec<(u64, Label)>)], objects: &Arrived, first: usize) -> Edges {
    let total = first + objects.addr.len();
    let mut index: BlockMap<NodeId> = BlockMap::default();
    for (i, &addr) in objects.addr.iter().enumerate() {
        index.insert(addr, (first + i) as NodeId);
    }
    let mut edge_start = Vec::with_capacity(total + 1);
    let mut edge_target = Vec::with_capacity(objects.edge_addr.len() + roots.len());
    let mut edge_label = Vec::with_capacity(objects.edge_addr.len() + roots.len());
    // The super-root holds every root, the native one last.
    edge_start.push(0);
    for r in 0..first - 1 {
        edge_target.push(r as NodeId + 1);
        edge_label.push(Label::new(EdgeName::Index(r as u64)));
    }
    // References found to each node; saturating, as only "fewer than the
    // reference count" matters.
    let mut in_refs = vec![0u32; total];
    let mut dangling = 0u64;
    let mut push = |target: u64, label: Label, targets: &mut Vec<NodeId>| match index.get(target) {
        Some(&t) => {
            in_refs[t as usize] = in_refs[t as usize].saturating_add(1);
            targets.push(t);
            edge_label.push(label);
        }
        None => dangling += 1,
    };
    for (_, edges) in roots {
        edge_start.push(edge_target.len() as u64);
        for &(target, label) in edges {
            push(target, label, &mut edge_target);
        }
    }
    // The native root's edges are known only once every other edge is.
    let native_root = edge_start.len();
    edge_start.push(0);
    for i in 0..objects.addr.len() {
        edge_start.push(edge_target.len() as u64);
        for j in objects.edges(i) {
            push(
                objects.edge_addr[j],
                objects.edge_label[j],
                &mut edge_target,
            );
        }
    }
    edge_start.push(edge_target.len() as u64);
    drop(index);

    let native: Vec<NodeId> = (first..total)
        .filter(|&n| objects.refcnt[n - first] > u64::from(in_refs[n]))
        .map(|n| n as NodeId)
        .collect();
    splice_edges(
        &mut edge_start,
        &mut edge_target,
        &mut edge_label,
        native_root,
        &native,
    );
    Edges {
        edge_start,
        edge_target,
        edge_label,
        dangling,
    }
}

/// Inserts `targets` as the edges of node `at`, which has none yet.
fn splice_edges(
    edge_start: &mut [u64],
    edge_target: &mut Vec<NodeId>,
    edge_label: &mut Vec<Label>,
    at: usize,
    targets: &[NodeId],
) {
    let pos = edge_start[at + 1] as usize;
    edge_start[at] = pos as u64;
    edge_target.splice(pos..pos, targets.iter().copied());
    edge_label.splice(
        pos..pos,
        (0..targets.len()).map(|i| Label::new(EdgeName::Index(i as u64))),
    );
    for s in &mut edge_start[at + 1..] {
        *s += targets.len() as u64;
    }
}
