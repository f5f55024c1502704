//! Evidence from a heap snapshot for the recommendations: classes with many
//! instances that keep their attributes in a dict (`__slots__`), and caches
//! that only grow.
//!
//! Everything here reads the graph the heap walk wrote (`heap_shim.c`,
//! `docs/object-layout.md`): an instance of a class is named `module.Qualname`
//! and refers to its class by an internal `__class__` edge; its attributes
//! are `Attr` edges when they live in values beside the class's shared keys
//! (3.11+) or in slots, and `Key` edges of the dict its `__dict__` edge leads
//! to otherwise; a class refers to its namespace by `__dict__` and to its
//! method resolution order by `__mro__`.

use memsleuth_format::EdgeName;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::heap::{allocation_sites, HeapAnalysis, Label, NodeId, Snapshot};
use crate::memory::advice::{ClassInstances, GrowingCache};
use crate::sites::LineSite;

/// Rows returned by each function: the rules act on the largest only.
const MAX_ROWS: usize = 10;
/// Allocation lines per row.
const MAX_SITES: usize = 5;

/// The collector's header in front of every instance of a class.
const GC_HEADER: u64 = 16;
/// Reference count and type pointer.
const OBJECT_HEADER: u64 = 16;
/// One slot: a pointer.
const SLOT: u64 = 8;

/// The type of `functools.lru_cache`'s wrapper, on every supported version
/// (a static type named by its `tp_name` before 3.10, a heap type named
/// `module.Qualname` since; both read the same).
const LRU_WRAPPER: &str = "functools._lru_cache_wrapper";
/// The links of a bounded `lru_cache`: its cache dict maps keys to these,
/// where the unbounded one maps keys to the results themselves.
const LRU_LINK: &str = "functools._lru_list_elem";
/// A bounded `lru_cache` holds at most `maxsize` entries (128 by default):
/// more than this many is a cache without a bound.
const LRU_MIN_ENTRIES: u64 = 1_000;

/// A module-level dict retaining less than this is no cache worth bounding.
const MODULE_DICT_MIN_RETAINED: u64 = 1 << 20;
/// What a module-level "dict" may be: the builtin and its subclasses from
/// `collections`, which the walk also lists item by item.
const DICT_TYPES: [&str; 4] = [
    "dict",
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
];

/// Top-level modules of the interpreter and the standard library whose
/// classes and dicts are not the program's to change. The snapshot does not
/// say where a module's file is, so this is a list, with every module whose
/// name starts with `_` (except `__main__`, the program itself).
const INTERNAL_MODULES: [&str; 26] = [
    "sys",
    "builtins",
    "typing",
    "abc",
    "functools",
    "re",
    "sre_compile",
    "sre_parse",
    "os",
    "posixpath",
    "genericpath",
    "collections",
    "importlib",
    "encodings",
    "codecs",
    "enum",
    "linecache",
    "warnings",
    "threading",
    "weakref",
    "copyreg",
    "inspect",
    "site",
    "sysconfig",
    "types",
    "io",
];

/// Classes whose instances would be smaller with `__slots__`: at most ten,
/// largest saving first.
///
/// A class is reported when it is a program's class (its instances have a
/// `__class__` edge, which the walk writes only for instances of heap types,
/// and a qualified name outside the interpreter's modules), its instances
/// are plain objects (every class of its MRO but `object` was made by a
/// `class` statement, and they have no items or unnamed references of their
/// own: not dict, list or exception subclasses, nor classes of a
/// metaclass), and they have a `__dict__` (see `Layout`).
///
/// *Why the class decides and not the instance:* an instance with a
/// `__dict__` edge has a dict, but from 3.11 one that never had its dict
/// made keeps its attributes as values beside the class's shared keys,
/// which the walk writes as `Attr` edges exactly like `__slots__`. Only the
/// `__dict__` descriptor in the namespace of a class of the MRO tells the
/// two apart, on every version.
///
/// *Bytes:* each instance's size plus that of the dict its `__dict__` edge
/// leads to. The walk counts the attribute values where they live, once:
/// 3.11 and 3.12 count the values array in the instance while it has one
/// and in the dict once it is made (the instance then no longer points to
/// it), 3.13 counts inline values in the instance and the dict only as
/// itself; 3.9 and 3.10 always have the dict. A shared keys table counts
/// with the class on every version, as it would with `__slots__`.
///
/// *Slotted bytes:* per instance, the collector's header, the object header
/// and one pointer per attribute it has (its `Attr` edges and its dict's
/// `Key` edges), rounded to pymalloc's 16 bytes.
pub fn class_instances(analysis: &HeapAnalysis<'_>) -> Vec<ClassInstances> {
    let s = analysis.snapshot;
    let names = Names::new(s);
    let candidate: Vec<bool> = (0..analysis.groups.len() as u32)
        .map(|g| is_program_class(analysis.groups.name(g)))
        .collect();
    let mut tallies = vec![ClassTally::default(); candidate.len()];
    let mut layouts = FxHashMap::<NodeId, Layout>::default();
    for n in analysis.objects() {
        let g = analysis.groups.of(s, n) as usize;
        if !candidate.get(g).copied().unwrap_or(false) {
            continue;
        }
        let i = Instance::of(s, &names, n);
        let Some(class) = i.class else { continue };
        let layout = *layouts
            .entry(class)
            .or_insert_with(|| class_layout(s, &names, class));
        tallies[g].add(s, &i, n, layout);
    }
    let mut rows: Vec<(u64, u32)> = tallies
        .iter()
        .enumerate()
        .filter(|(_, t)| t.instances > 0 && t.dicts && !t.not_plain)
        .map(|(g, t)| (t.bytes.saturating_sub(t.slotted), g as u32))
        .collect();
    rows.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| analysis.groups.name(a.1).cmp(analysis.groups.name(b.1)))
    });
    rows.truncate(MAX_ROWS);
    let chosen: Vec<u32> = rows.into_iter().map(|(_, g)| g).collect();
    let mut sites = instance_sites(analysis, &chosen).into_iter();
    chosen
        .iter()
        .map(|&g| {
            let t = &tallies[g as usize];
            ClassInstances {
                type_name: analysis.groups.name(g).to_string(),
                instances: t.instances,
                bytes: t.bytes,
                slotted_bytes: t.slotted,
                sites: sites.next().unwrap_or_default(),
            }
        })
        .collect()
}

/// Containers with no size limit that hold a large part of the heap: at most
/// ten, most retained first.
///
/// - An `lru_cache` wrapper whose cache dict holds more than 1,000 entries
///   and maps keys to results rather than to the links of a bounded cache.
///   Its name is the path Python code reaches it by (`pkg.mod.function`):
///   the walk cannot read the wrapped function's `__qualname__`, a str
///   whose text the snapshot does not keep. Its bytes are what the wrapper
///   retains.
/// - A dict (or `collections` subclass) bound to a name in the namespace of
///   a module of the program (`sys.modules['pkg.mod'].NAME`, named
///   `pkg.mod.NAME`), retaining at least 1 MiB. Not module namespaces, not
///   dunder names (`__builtins__`), not the interpreter's modules.
///
/// Entries are the container's `Key` edges (the walk writes one per item);
/// the sites are where the items' values were allocated, or where the
/// container was when none of them is known.
pub fn growing_caches(analysis: &HeapAnalysis<'_>) -> Vec<GrowingCache> {
    let names = Names::new(analysis.snapshot);
    let mut caches = lru_caches(analysis, &names);
    caches.extend(module_dicts(analysis, &names));
    caches.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    caches.truncate(MAX_ROWS);
    caches
}

/// The edge names the rules look for. A name id is interned per str or C
/// string object, so the same text may have several ids: each id is
/// classified by its text once.
struct Names {
    roles: Vec<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Other,
    /// Internal `__class__`: an instance's class.
    Class,
    /// Internal `__dict__`: an instance's dict, a class's or module's namespace.
    Dict,
    /// Internal `__mro__`: a class's method resolution order.
    Mro,
    /// Key `'__dict__'`: the descriptor a class that gives its instances a
    /// dict has in its namespace.
    DictDescriptor,
    /// Key `'__wrapped__'`: in a wrapper's `__dict__`, set by `update_wrapper`.
    Wrapped,
    /// Key `'__module__'`: in the namespace of a class a `class` statement made.
    Module,
}

impl Names {
    fn new(snapshot: &Snapshot) -> Names {
        let roles = snapshot
            .names
            .iter()
            .map(|text| match text.as_str() {
                "__class__" => Role::Class,
                "__dict__" => Role::Dict,
                "__mro__" => Role::Mro,
                "'__dict__'" => Role::DictDescriptor,
                "'__wrapped__'" => Role::Wrapped,
                "'__module__'" => Role::Module,
                _ => Role::Other,
            })
            .collect();
        Names { roles }
    }

    fn role(&self, id: u32) -> Role {
        self.roles.get(id as usize).copied().unwrap_or(Role::Other)
    }

    fn internal(&self, label: Label, role: Role) -> bool {
        matches!(label.name(), EdgeName::Internal(id) if self.role(id) == role)
    }

    fn key(&self, label: Label, role: Role) -> bool {
        matches!(label.name(), EdgeName::Key(id) if self.role(id) == role)
    }
}

/// Whether a type named so may be a class of the program: builtins have
/// bare names, classes `module.Qualname`.
fn is_program_class(type_name: &str) -> bool {
    type_name.contains('.') && !is_internal_module(type_name)
}

/// Whether a module (or a name qualified by it) belongs to the interpreter
/// or the standard library, judged by its top-level package.
fn is_internal_module(name: &str) -> bool {
    let top = name.split('.').next().unwrap_or(name);
    (top.starts_with('_') && top != "__main__") || INTERNAL_MODULES.contains(&top)
}

/// What one object's references say about its attribute storage.
#[derive(Default)]
struct Instance {
    class: Option<NodeId>,
    dict: Option<NodeId>,
    /// Attributes: `Attr` edges, and `Key` edges of the dict.
    attrs: u64,
    /// Items of its own (`Key`, `Index`): a container, or references a base
    /// type's traversal adds that no layout names.
    items: bool,
    /// It has an MRO: a class, an instance of a metaclass.
    is_class: bool,
}

impl Instance {
    fn of(s: &Snapshot, names: &Names, n: NodeId) -> Instance {
        let mut i = Instance::default();
        for (target, label) in s.edges(n) {
            match label.name() {
                EdgeName::Attr(_) => i.attrs += 1,
                EdgeName::Key(_) | EdgeName::Index(_) => i.items = true,
                EdgeName::Internal(id) => match names.role(id) {
                    Role::Class => i.class = i.class.or(Some(target)),
                    Role::Dict => i.dict = i.dict.or(Some(target)),
                    Role::Mro => i.is_class = true,
                    _ => {}
                },
            }
        }
        if let Some(d) = i.dict {
            i.attrs += key_count(s, d);
        }
        i
    }
}

/// One class's instances so far.
#[derive(Debug, Clone, Default)]
struct ClassTally {
    instances: u64,
    bytes: u64,
    slotted: u64,
    /// Some instance has a dict, or the class gives its instances one.
    dicts: bool,
    /// Some instance is no plain object: the slotted estimate would not
    /// describe the class.
    not_plain: bool,
}

impl ClassTally {
    fn add(&mut self, s: &Snapshot, i: &Instance, n: NodeId, layout: Layout) {
        let size = |m: NodeId| s.nodes.size[m as usize];
        self.instances += 1;
        self.bytes += size(n) + i.dict.map_or(0, size);
        self.slotted += slotted_size(i.attrs);
        self.dicts |= layout.dicts || i.dict.is_some();
        self.not_plain |= !layout.plain || i.items || i.is_class;
    }
}

/// An instance with `attrs` attributes in slots: the collector's header, the
/// object header and a pointer each, as pymalloc rounds it.
fn slotted_size(attrs: u64) -> u64 {
    (GC_HEADER + OBJECT_HEADER + SLOT * attrs).div_ceil(16) * 16
}

/// What a class's MRO says about its instances.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Every class of the MRO but `object` was made by a `class` statement:
    /// the instances are plain objects, which `__slots__` would make a
    /// header and a pointer per attribute. A base the interpreter or an
    /// extension defines (dict, Exception, `_random.Random`) has a layout
    /// of its own that slots would keep.
    plain: bool,
    /// A class of the MRO gives its instances a `__dict__`: CPython puts
    /// the `__dict__` descriptor in the namespace of the first class of an
    /// MRO whose instances have one, never in that of a class with
    /// `__slots__` (unless `__dict__` is one of them).
    dicts: bool,
}

/// The layout of `class`'s instances, from the classes of its `__mro__`
/// (itself alone when the snapshot has none).
fn class_layout(s: &Snapshot, names: &Names, class: NodeId) -> Layout {
    let mro: Vec<NodeId> = match s
        .edges(class)
        .find(|&(_, label)| names.internal(label, Role::Mro))
    {
        Some((mro, _)) => s.edges(mro).map(|(c, _)| c).collect(),
        None => vec![class],
    };
    let facts: Vec<ClassFacts> = mro.iter().map(|&c| ClassFacts::of(s, names, c)).collect();
    // The last class of an MRO is `object`, whose layout every class has.
    let bases = match facts.split_last() {
        Some((_, rest)) if !rest.is_empty() => rest,
        _ => &facts[..],
    };
    Layout {
        plain: !bases.is_empty() && bases.iter().all(|f| f.from_statement),
        dicts: facts.iter().any(|f| f.dict_descriptor),
    }
}

/// What the snapshot shows of one class.
struct ClassFacts {
    /// Made by a `class` statement: its namespace has `__module__`, which
    /// static types (the interpreter's, and most extensions') lack, and it
    /// refers to no module of its own, as types C code makes from a
    /// module's spec do (`ht_module`, a positional edge).
    from_statement: bool,
    /// Its namespace has the `__dict__` descriptor.
    dict_descriptor: bool,
}

impl ClassFacts {
    fn of(s: &Snapshot, names: &Names, class: NodeId) -> ClassFacts {
        let (mut module_key, mut own_module, mut dict_descriptor) = (false, false, false);
        for (target, label) in s.edges(class) {
            if names.internal(label, Role::Dict) {
                for (_, key) in s.edges(target) {
                    module_key |= names.key(key, Role::Module);
                    dict_descriptor |= names.key(key, Role::DictDescriptor);
                }
            } else if matches!(label.name(), EdgeName::Index(_)) {
                own_module |= s.node_name(target) == "module";
            }
        }
        ClassFacts {
            from_statement: module_key && !own_module,
            dict_descriptor,
        }
    }
}

/// The allocation lines of the instances of each group in `groups`, in
/// that order: one pass over the objects for all of them.
fn instance_sites(analysis: &HeapAnalysis<'_>, groups: &[u32]) -> Vec<Vec<LineSite>> {
    let s = analysis.snapshot;
    let mut members: Vec<Vec<NodeId>> = vec![Vec::new(); groups.len()];
    for n in analysis.objects() {
        let g = analysis.groups.of(s, n);
        if let Some(k) = groups.iter().position(|&c| c == g) {
            members[k].push(n);
        }
    }
    members
        .into_iter()
        .map(|nodes| allocation_sites(s, analysis.symbols, nodes, MAX_SITES))
        .collect()
}

/// The number of items of a dict: its `Key` edges.
fn key_count(s: &Snapshot, dict: NodeId) -> u64 {
    s.edges(dict)
        .filter(|&(_, label)| matches!(label.name(), EdgeName::Key(_)))
        .count() as u64
}

/// The values of a dict's items, each once.
fn values(s: &Snapshot, dict: NodeId) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = s
        .edges(dict)
        .filter(|&(_, label)| matches!(label.name(), EdgeName::Key(_)))
        .map(|(target, _)| target)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Where a container's values were allocated, or the container itself when
/// no value's allocation is known.
fn value_sites(analysis: &HeapAnalysis<'_>, dict: NodeId) -> Vec<LineSite> {
    let s = analysis.snapshot;
    let sites = allocation_sites(s, analysis.symbols, values(s, dict), MAX_SITES);
    if sites.is_empty() {
        allocation_sites(s, analysis.symbols, [dict], MAX_SITES)
    } else {
        sites
    }
}

/// Unbounded `lru_cache` wrappers with many entries.
fn lru_caches(analysis: &HeapAnalysis<'_>, names: &Names) -> Vec<GrowingCache> {
    let s = analysis.snapshot;
    let groups = &analysis.groups;
    let Some(wrapper) = (0..groups.len() as u32).find(|&g| groups.name(g) == LRU_WRAPPER) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for n in analysis.objects() {
        if groups.of(s, n) != wrapper {
            continue;
        }
        let Some(cache) = unbounded_cache(s, names, n) else {
            continue;
        };
        let entries = key_count(s, cache);
        if entries <= LRU_MIN_ENTRIES {
            continue;
        }
        out.push(GrowingCache {
            what: "lru_cache without maxsize".into(),
            name: python_name(&analysis.path(n))
                .unwrap_or_else(|| format!("{LRU_WRAPPER} at {:#x}", s.nodes.addr[n as usize])),
            entries,
            retained_bytes: analysis.retained[n as usize],
            sites: value_sites(analysis, cache),
        });
    }
    out
}

/// The cache dict of an `lru_cache` wrapper that has no `maxsize`; `None`
/// for a bounded one.
///
/// The wrapper refers to its cache, to the wrapped function, to its
/// `__dict__` (named so from 3.10, and recognisable by the `__wrapped__`
/// that `update_wrapper` puts in it before), and, when bounded, to the key
/// and result of every link. The dicts that are not its `__dict__` are the
/// cache and results; the bounded cache's values are links.
fn unbounded_cache(s: &Snapshot, names: &Names, wrapper: NodeId) -> Option<NodeId> {
    let dicts: Vec<NodeId> = s
        .edges(wrapper)
        .filter(|&(target, label)| {
            s.node_name(target) == "dict"
                && !names.internal(label, Role::Dict)
                && !s
                    .edges(target)
                    .any(|(_, key)| names.key(key, Role::Wrapped))
        })
        .map(|(target, _)| target)
        .collect();
    let bounded = dicts.iter().any(|&d| {
        s.edges(d)
            .find(|&(_, label)| matches!(label.name(), EdgeName::Key(_)))
            .is_some_and(|(value, _)| s.node_name(value) == LRU_LINK)
    });
    if bounded {
        return None;
    }
    dicts.into_iter().max_by_key(|&d| key_count(s, d))
}

/// Big dicts bound to names in the namespaces of the program's modules.
fn module_dicts(analysis: &HeapAnalysis<'_>, names: &Names) -> Vec<GrowingCache> {
    let s = analysis.snapshot;
    let modules = module_namespaces(s, names);
    // A namespace bound in another (`globals()` kept, `G = mod.__dict__`) is
    // the module's, not a cache.
    let namespaces: FxHashSet<NodeId> = modules.iter().map(|&(_, ns)| ns).collect();
    let mut seen: FxHashSet<NodeId> = FxHashSet::default();
    let mut out = Vec::new();
    for (module, ns) in modules.iter().filter(|(m, _)| !is_internal_module(m)) {
        for (d, label) in s.edges(*ns) {
            let Some(name) = key_name(s, label) else {
                continue;
            };
            let retained = analysis.retained[d as usize];
            if name.starts_with("__")
                || !DICT_TYPES.contains(&s.node_name(d))
                || retained < MODULE_DICT_MIN_RETAINED
                || namespaces.contains(&d)
                || !seen.insert(d)
            {
                continue;
            }
            out.push(GrowingCache {
                what: "module-level dict".into(),
                name: format!("{module}.{name}"),
                entries: key_count(s, d),
                retained_bytes: retained,
                sites: value_sites(analysis, d),
            });
        }
    }
    out
}

/// Each module in `sys.modules` (by the name it is imported by) with its
/// namespace, in the order of `sys.modules`.
fn module_namespaces(s: &Snapshot, names: &Names) -> Vec<(String, NodeId)> {
    let Some(root) = (1..s.first_object()).find(|&r| s.node_name(r) == "sys.modules") else {
        return Vec::new();
    };
    s.edges(root)
        .filter_map(|(module, label)| {
            let name = key_name(s, label)?;
            let (ns, _) = s
                .edges(module)
                .find(|&(_, l)| names.internal(l, Role::Dict))?;
            Some((name.to_string(), ns))
        })
        .collect()
}

/// The text of a str key (`CACHE` for `'CACHE'`); `None` for other edges
/// and keys.
fn key_name(s: &Snapshot, label: Label) -> Option<&str> {
    let EdgeName::Key(id) = label.name() else {
        return None;
    };
    let text = s.names.get(id as usize)?;
    text.strip_prefix('\'')?.strip_suffix('\'')
}

/// How Python code names the object at the end of `path`: `pkg.mod.NAME`
/// for `sys.modules['pkg.mod'].NAME`, the path's steps joined otherwise;
/// `None` for an object no root reaches.
fn python_name(path: &[String]) -> Option<String> {
    let (root, steps) = path.split_first()?;
    if root == "sys.modules" {
        let module = steps
            .first()
            .and_then(|m| m.strip_prefix("['"))
            .and_then(|m| m.strip_suffix("']"));
        if let Some(module) = module {
            return Some(format!("{module}{}", steps[1..].concat()));
        }
    }
    Some(path.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::test_heap::{symbols, TestHeap, E};
    use crate::symbols::Symbols;

    impl TestHeap {
        /// A class a `class` statement made: `__module__` in its namespace,
        /// and the `__dict__` descriptor or `__slots__`. Its MRO is itself,
        /// `bases`, then `object`.
        fn class(&mut self, class: u64, dict_descriptor: bool, bases: &[u64]) {
            let (namespace, mro, descriptor) = (class + 1, class + 2, class + 3);
            self.object(
                class,
                "type",
                928,
                &[
                    (E::Internal("__dict__"), namespace),
                    (E::Internal("__mro__"), mro),
                ],
            );
            let storage = if dict_descriptor {
                "'__dict__'"
            } else {
                "'__slots__'"
            };
            self.object(
                namespace,
                "dict",
                272,
                &[
                    (E::Key("'__module__'"), MODULE_NAME),
                    (E::Key(storage), descriptor),
                ],
            );
            self.object(descriptor, "getset_descriptor", 80, &[]);
            let mro_items: Vec<(E, u64)> = [class]
                .iter()
                .chain(bases)
                .chain([&OBJECT])
                .enumerate()
                .map(|(i, &c)| (E::Index(i as u64), c))
                .collect();
            self.object(mro, "tuple", 64, &mro_items);
        }

        /// A type the interpreter or an extension defines: a static one has
        /// no `__module__` in its namespace; one made from a module's spec
        /// has, and refers to its module.
        fn builtin(&mut self, class: u64, from_spec: bool) {
            let namespace = class + 1;
            let mut edges = vec![(E::Internal("__dict__"), namespace)];
            let mut keys = vec![(E::Key("'__new__'"), class + 3)];
            if from_spec {
                edges.push((E::Index(0), class + 2));
                keys.push((E::Key("'__module__'"), MODULE_NAME));
                self.object(class + 2, "module", 80, &[]);
            }
            self.object(class, "type", 928, &edges);
            self.object(namespace, "dict", 848, &keys);
            self.object(class + 3, "builtin_function_or_method", 72, &[]);
        }
    }

    fn site(line: u32, bytes: u64, count: u64) -> LineSite {
        LineSite {
            file: "app.py".into(),
            line,
            function: format!("f{line}"),
            bytes,
            count,
        }
    }

    /// `object`: a static type.
    const OBJECT: u64 = 0x10;
    /// `dict`, a static type; a base an extension made from its module's spec.
    const DICT: u64 = 0x20;
    const EXTENSION: u64 = 0x30;
    /// The str every class's `__module__` is.
    const MODULE_NAME: u64 = 0x40;
    const MODULE: u64 = 0x100;
    const GLOBALS: u64 = 0x200;
    const LIST: u64 = 0x300;

    /// Classes of `app.models` and their instances, all in one list of
    /// `__main__`.
    const POINT: u64 = 0x1000;
    const POINT3D: u64 = 0x1100;
    const SLIM: u64 = 0x1200;
    const ATTRDICT: u64 = 0x1300;
    const RANDOM: u64 = 0x1400;
    const INSTANCE: u64 = 0x10_000;
    const VALUE: u64 = 0x20_000;

    fn classes_heap() -> TestHeap {
        let mut h = TestHeap::default();
        h.root("sys.modules", &[(E::Key("'__main__'"), MODULE)]);
        h.object(MODULE, "module", 80, &[(E::Internal("__dict__"), GLOBALS)]);
        h.object(GLOBALS, "dict", 1000, &[(E::Key("'items'"), LIST)]);
        h.object(MODULE_NAME, "str", 64, &[]);
        h.builtin(OBJECT, false);
        h.builtin(DICT, false);
        h.builtin(EXTENSION, true);
        h.class(POINT, true, &[]);
        // A subclass: the descriptor is in its base's namespace only.
        h.class(POINT3D, false, &[POINT]);
        h.class(SLIM, false, &[]);
        h.class(ATTRDICT, true, &[DICT]);
        h.class(RANDOM, true, &[EXTENSION]);
        let mut items = Vec::new();
        let mut add = |h: &mut TestHeap, addr, ty, size, edges: &[(E, u64)], stack| {
            let class = match ty {
                "app.models.Point" => POINT,
                "app.models.Point3D" => POINT3D,
                "app.models.Slim" => SLIM,
                "app.models.AttrDict" => ATTRDICT,
                _ => RANDOM,
            };
            let mut all = vec![(E::Internal("__class__"), class)];
            all.extend_from_slice(edges);
            h.object(addr, ty, size, &all);
            h.allocated(addr, addr, stack);
            items.push((E::Index(items.len() as u64), addr));
        };
        // Point, as 3.9 keeps it: a dict with two items.
        add(
            &mut h,
            INSTANCE,
            "app.models.Point",
            48,
            &[(E::Internal("__dict__"), INSTANCE + 0x100)],
            7,
        );
        h.object(
            INSTANCE + 0x100,
            "dict",
            104,
            &[(E::Key("'x'"), VALUE), (E::Key("'y'"), VALUE + 1)],
        );
        // As 3.11 keeps it: three values beside the shared keys, counted in
        // the instance's size.
        add(
            &mut h,
            INSTANCE + 1,
            "app.models.Point",
            320,
            &[
                (E::Attr("x"), VALUE),
                (E::Attr("y"), VALUE + 1),
                (E::Attr("z"), VALUE + 2),
            ],
            7,
        );
        // With its dict made: the values moved to the dict.
        add(
            &mut h,
            INSTANCE + 2,
            "app.models.Point",
            64,
            &[(E::Internal("__dict__"), INSTANCE + 0x102)],
            8,
        );
        h.object(
            INSTANCE + 0x102,
            "dict",
            304,
            &[
                (E::Key("'x'"), VALUE),
                (E::Key("'y'"), VALUE + 1),
                (E::Key("'z'"), VALUE + 2),
                (E::Internal("<key>"), VALUE + 3),
            ],
        );
        // A subclass whose values alone say nothing: its base gives it a dict.
        add(
            &mut h,
            INSTANCE + 3,
            "app.models.Point3D",
            336,
            &[(E::Attr("x"), VALUE), (E::Attr("y"), VALUE + 1)],
            9,
        );
        // Slotted: attributes that look like values, but no dict anywhere.
        for i in 0..3 {
            add(
                &mut h,
                INSTANCE + 4 + i,
                "app.models.Slim",
                48,
                &[(E::Attr("x"), VALUE), (E::Attr("y"), VALUE + 1)],
                10,
            );
        }
        // Subclasses of a dict and of an extension's type, with dicts: slots
        // would not make them plain objects.
        add(
            &mut h,
            INSTANCE + 7,
            "app.models.AttrDict",
            232,
            &[
                (E::Key("'k'"), VALUE),
                (E::Internal("__dict__"), INSTANCE + 0x107),
            ],
            11,
        );
        h.object(INSTANCE + 0x107, "dict", 64, &[]);
        add(
            &mut h,
            INSTANCE + 8,
            "app.models.Random",
            2576,
            &[(E::Internal("__dict__"), INSTANCE + 0x108)],
            11,
        );
        h.object(
            INSTANCE + 0x108,
            "dict",
            336,
            &[(E::Key("'gauss_next'"), VALUE)],
        );
        for i in 0..4 {
            h.object(VALUE + i, "int", 32, &[]);
        }
        h.object(LIST, "list", 120, &items);
        h
    }

    #[test]
    fn dict_backed_instances_are_counted_with_their_dicts_against_slots() {
        let s = classes_heap().finish();
        let syms = symbols(&[7, 8, 9, 10, 11]);
        let heap = HeapAnalysis::new(&s, &syms);
        let classes = class_instances(&heap);
        assert_eq!(
            classes,
            [
                // (48 + 104) + 320 + (64 + 304) against 48 + 64 + 64.
                ClassInstances {
                    type_name: "app.models.Point".into(),
                    instances: 3,
                    bytes: 840,
                    slotted_bytes: 176,
                    sites: vec![site(7, 368, 2), site(8, 64, 1)],
                },
                // 336 against 16 + 16 + 2 * 8.
                ClassInstances {
                    type_name: "app.models.Point3D".into(),
                    instances: 1,
                    bytes: 336,
                    slotted_bytes: 48,
                    sites: vec![site(9, 336, 1)],
                },
            ]
        );
    }

    #[test]
    fn slotted_classes_builtins_and_container_subclasses_are_not_reported() {
        let s = classes_heap().finish();
        let syms = Symbols::default();
        let heap = HeapAnalysis::new(&s, &syms);
        let names: Vec<String> = class_instances(&heap)
            .into_iter()
            .map(|c| c.type_name)
            .collect();
        assert_eq!(names, ["app.models.Point", "app.models.Point3D"]);
    }

    #[test]
    fn slotted_size_is_the_headers_and_a_pointer_per_attribute_rounded() {
        assert_eq!(slotted_size(0), 32);
        assert_eq!(slotted_size(1), 48);
        assert_eq!(slotted_size(2), 48);
        assert_eq!(slotted_size(3), 64);
    }

    const WRAPPER: u64 = 0x5000;
    const FUNCTION: u64 = 0x6000;
    const RESULT: u64 = 0x100_000;

    /// An `lru_cache` wrapper at `at` as the walk writes it since 3.10,
    /// with `entries` results of 100 bytes allocated at line 5 (links when
    /// `bounded`); the global `key` that binds it.
    fn wrapper(
        h: &mut TestHeap,
        at: u64,
        key: &str,
        entries: u64,
        bounded: bool,
    ) -> Vec<(String, u64)> {
        let (cache, dict, cache_info) = (at + 1, at + 2, at + 3);
        h.object(
            at,
            LRU_WRAPPER,
            176,
            &[
                (E::Internal("__class__"), at + 4),
                (E::Internal("__dict__"), dict),
                (E::Index(0), FUNCTION + at),
                (E::Index(1), cache),
                (E::Index(2), cache_info),
            ],
        );
        h.object(at + 4, "type", 1008, &[]);
        h.object(
            dict,
            "dict",
            272,
            &[
                (E::Key("'__wrapped__'"), FUNCTION + at),
                (E::Key("'__qualname__'"), at + 5),
            ],
        );
        h.object(at + 5, "str", 64, &[]);
        h.object(FUNCTION + at, "function", 160, &[]);
        h.object(cache_info, "type", 928, &[]);
        let value_type = if bounded { LRU_LINK } else { "list" };
        let items: Vec<(E, u64)> = (0..entries)
            .map(|i| (E::Key("<tuple>"), RESULT * (at / WRAPPER) + i))
            .collect();
        h.object(cache, "dict", 40_000, &items);
        for i in 0..entries {
            let value = RESULT * (at / WRAPPER) + i;
            h.object(value, value_type, 100, &[]);
            h.allocated(value, value, 5);
        }
        vec![(key.to_string(), at)]
    }

    fn module(
        h: &mut TestHeap,
        root: &mut Vec<(String, u64)>,
        name: &str,
        at: u64,
        globals: &[(String, u64)],
    ) {
        root.push((format!("'{name}'"), at));
        h.object(at, "module", 80, &[(E::Internal("__dict__"), at + 1)]);
        let keys: Vec<String> = globals.iter().map(|(k, _)| format!("'{k}'")).collect();
        let edges: Vec<(E, u64)> = keys
            .iter()
            .zip(globals)
            .map(|(k, &(_, target))| (E::Key(k.as_str()), target))
            .collect();
        h.object(at + 1, "dict", 2000, &edges);
    }

    fn sys_modules(h: &mut TestHeap, modules: &[(String, u64)]) {
        let edges: Vec<(E, u64)> = modules
            .iter()
            .map(|(k, target)| (E::Key(k.as_str()), *target))
            .collect();
        h.root("sys.modules", &edges);
    }

    #[test]
    fn only_lru_caches_without_a_bound_and_with_many_entries_are_reported() {
        let mut h = TestHeap::default();
        let mut globals = wrapper(&mut h, WRAPPER, "lookup", 1001, false);
        globals.extend(wrapper(&mut h, 2 * WRAPPER, "small", 100, false));
        globals.extend(wrapper(&mut h, 3 * WRAPPER, "bounded", 1500, true));
        let mut modules = Vec::new();
        module(&mut h, &mut modules, "app.cache", MODULE, &globals);
        sys_modules(&mut h, &modules);
        let s = h.finish();
        let syms = symbols(&[5]);
        let heap = HeapAnalysis::new(&s, &syms);
        assert_eq!(
            growing_caches(&heap),
            [GrowingCache {
                what: "lru_cache without maxsize".into(),
                name: "app.cache.lookup".into(),
                entries: 1001,
                // The wrapper, its cache with the results, its `__dict__` and
                // what only that holds; the function and the cache-info type
                // too, which nothing else refers to.
                retained_bytes: 176 + 1008 + 40_000 + 1001 * 100 + 272 + 64 + 160 + 928,
                sites: vec![site(5, 100_100, 1001)],
            }]
        );
    }

    #[test]
    fn a_big_module_level_dict_is_named_by_its_module() {
        const CACHE: u64 = 0x7000;
        const SMALL: u64 = 0x7100;
        const INTERNAL: u64 = 0x7200;
        let mut h = TestHeap::default();
        // Four entries of 300,000 bytes: 1.1 MiB with the dict.
        let entries: Vec<(E, u64)> = (0..4)
            .map(|i| (E::Key("<tuple>"), CACHE + 0x10 + i))
            .collect();
        h.object(CACHE, "collections.defaultdict", 5000, &entries);
        for i in 0..4 {
            h.object(CACHE + 0x10 + i, "bytes", 300_000, &[]);
            h.allocated(CACHE + 0x10 + i, CACHE + 0x10 + i, 12);
        }
        h.object(SMALL, "dict", 1000, &[(E::Key("'a'"), SMALL + 1)]);
        h.object(SMALL + 1, "bytes", 10_000, &[]);
        // As big, but in the standard library.
        let entries: Vec<(E, u64)> = (0..4)
            .map(|i| (E::Key("<tuple>"), INTERNAL + 0x10 + i))
            .collect();
        h.object(INTERNAL, "dict", 5000, &entries);
        for i in 0..4 {
            h.object(INTERNAL + 0x10 + i, "bytes", 300_000, &[]);
        }
        let mut modules = Vec::new();
        let app = [
            ("REGISTRY".to_string(), CACHE),
            ("SMALL".to_string(), SMALL),
            // A module's namespace bound by name is no cache, nor are dunders.
            ("G".to_string(), 0x8001),
            ("__builtins__".to_string(), 0x9001),
        ];
        module(&mut h, &mut modules, "app.state", MODULE, &app);
        module(
            &mut h,
            &mut modules,
            "typing",
            0x8000,
            &[("_cache".to_string(), INTERNAL)],
        );
        module(&mut h, &mut modules, "_other", 0x9000, &[]);
        sys_modules(&mut h, &modules);
        let s = h.finish();
        let syms = symbols(&[12]);
        let heap = HeapAnalysis::new(&s, &syms);
        assert_eq!(
            growing_caches(&heap),
            [GrowingCache {
                what: "module-level dict".into(),
                name: "app.state.REGISTRY".into(),
                entries: 4,
                retained_bytes: 5000 + 4 * 300_000,
                sites: vec![site(12, 1_200_000, 4)],
            }]
        );
    }

    #[test]
    fn names_are_written_as_python_reaches_them() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            python_name(&path(&["sys.modules", "['pkg.mod']", ".f"])).as_deref(),
            Some("pkg.mod.f")
        );
        assert_eq!(
            python_name(&path(&["sys.modules", "['pkg.mod']", ".C", ".m"])).as_deref(),
            Some("pkg.mod.C.m")
        );
        assert_eq!(
            python_name(&path(&["thread 1 main (app.py:3)", ".f"])).as_deref(),
            Some("thread 1 main (app.py:3).f")
        );
        assert_eq!(python_name(&[]), None);
    }

    #[test]
    fn the_interpreters_modules_are_told_from_the_programs() {
        assert!(is_internal_module("importlib.metadata"));
        assert!(is_internal_module("_collections_abc"));
        assert!(is_internal_module("typing"));
        assert!(!is_internal_module("__main__"));
        assert!(!is_internal_module("app.state"));
        assert!(!is_program_class("dict"));
        assert!(is_program_class("__main__.Entry"));
        assert!(!is_program_class("enum.Enum"));
    }
}
