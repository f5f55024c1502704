//! Allocation stacks in V8's form: a tree of call sites, outermost frame at
//! the top, whose nodes the objects point at (`trace_node_id`), and the
//! frames the tree names (`trace_function_infos`). DevTools shows an
//! object's allocation stack from it, and its Allocation view lists the
//! snapshot's objects by call site.

use rustc_hash::FxHashMap;

use memsleuth_analysis::heap::{Origin, Snapshot};
use memsleuth_analysis::{Frame, SiteKey, Symbols};

/// One frame: V8 calls it a function, but a Python frame is a line of a
/// function, and that is what users look for.
pub(super) struct FunctionInfo {
    pub name: String,
    pub script: String,
    /// A number per distinct script, from 1.
    pub script_id: u32,
    /// 1-based, as V8 writes lines here; 0 when unknown.
    pub line: u32,
}

pub(super) struct TraceNode {
    /// Index into [`TraceTree::functions`].
    pub function: u32,
    /// The snapshot's objects allocated exactly here (not in callees), and
    /// their bytes. V8 counts allocations made while it traced; what a
    /// snapshot can say is what is still alive.
    pub count: u64,
    pub size: u64,
    pub children: Vec<u32>,
}

/// Empty when no object of the snapshot has a known allocation site.
#[derive(Default)]
pub(super) struct TraceTree {
    /// `functions[0]` is the "(root)" pseudo-frame of the tree's root.
    pub functions: Vec<FunctionInfo>,
    /// `nodes[0]` is the root. A node's id in the file is its index plus 1,
    /// since `trace_node_id` 0 means "unknown".
    pub nodes: Vec<TraceNode>,
    by_site: FxHashMap<SiteKey, u32>,
}

impl TraceTree {
    /// The tree of the allocation sites of `snapshot`'s objects.
    pub fn build(snapshot: &Snapshot, symbols: &Symbols) -> TraceTree {
        let mut builder = Builder::new(symbols);
        for n in snapshot.first_object() as usize..snapshot.node_count() {
            if let Some(origin) = snapshot.nodes.origin[n] {
                builder.count(origin.site, snapshot.nodes.size[n]);
            }
        }
        builder.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The `trace_node_id` of an object allocated at `origin`: 0 when unknown.
    pub fn node_id(&self, origin: Option<Origin>) -> u32 {
        origin
            .and_then(|o| self.by_site.get(&o.site))
            .map_or(0, |&index| index + 1)
    }
}

struct Builder<'s> {
    symbols: &'s Symbols,
    tree: TraceTree,
    function_of: FxHashMap<Frame, u32>,
    script_of: FxHashMap<String, u32>,
    /// (parent node, function) → child node.
    child_of: FxHashMap<(u32, u32), u32>,
}

impl<'s> Builder<'s> {
    fn new(symbols: &'s Symbols) -> Self {
        let mut tree = TraceTree::default();
        tree.functions.push(FunctionInfo {
            name: String::from("(root)"),
            script: String::new(),
            script_id: 0,
            line: 0,
        });
        tree.nodes.push(TraceNode {
            function: 0,
            count: 0,
            size: 0,
            children: Vec::new(),
        });
        Builder {
            symbols,
            tree,
            function_of: FxHashMap::default(),
            script_of: FxHashMap::default(),
            child_of: FxHashMap::default(),
        }
    }

    fn count(&mut self, site: SiteKey, size: u64) {
        let node = match self.tree.by_site.get(&site) {
            Some(&node) => node,
            None => {
                let node = self.node_of_site(site);
                self.tree.by_site.insert(site, node);
                node
            }
        };
        let node = &mut self.tree.nodes[node as usize];
        node.count += 1;
        node.size += size;
    }

    /// The node of a site's stack, adding the missing part of its path.
    fn node_of_site(&mut self, site: SiteKey) -> u32 {
        let (frames, _thread) = self.symbols.resolve(site);
        // `resolve` lists the innermost frame first; the tree starts outermost.
        frames.into_iter().rev().fold(0, |parent, frame| {
            let function = self.function(frame);
            self.child(parent, function)
        })
    }

    fn function(&mut self, frame: Frame) -> u32 {
        if let Some(&f) = self.function_of.get(&frame) {
            return f;
        }
        let next_script = self.script_of.len() as u32 + 1;
        let script_id = *self
            .script_of
            .entry(frame.file.clone())
            .or_insert(next_script);
        let f = self.tree.functions.len() as u32;
        self.tree.functions.push(FunctionInfo {
            name: frame.function.clone(),
            script: frame.file.clone(),
            script_id,
            line: frame.line,
        });
        self.function_of.insert(frame, f);
        f
    }

    fn child(&mut self, parent: u32, function: u32) -> u32 {
        if let Some(&c) = self.child_of.get(&(parent, function)) {
            return c;
        }
        let c = self.tree.nodes.len() as u32;
        self.tree.nodes.push(TraceNode {
            function,
            count: 0,
            size: 0,
            children: Vec::new(),
        });
        self.tree.nodes[parent as usize].children.push(c);
        self.child_of.insert((parent, function), c);
        c
    }

    fn finish(self) -> TraceTree {
        if self.tree.by_site.is_empty() {
            return TraceTree::default();
        }
        self.tree
    }
}
