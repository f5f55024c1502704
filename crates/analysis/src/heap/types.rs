//! Objects by type: counts, shallow bytes, and the bytes each type's
//! instances retain together.
//!
//! A type's retained bytes are those of its instances that no other instance
//! of the same type dominates (Eclipse MAT's retained set of a class): the
//! nodes of a linked list retain the list once, not once per node.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::heap::dominators::Dominators;
use crate::heap::snapshot::{NodeId, Snapshot};

/// Type ids grouped by name: type objects with one qualified name (classes
/// made by a factory, a module reloaded) are one type to a reader.
pub struct TypeGroups {
    /// By type id: its group.
    of_type: Vec<u32>,
    /// By group: its name.
    names: Vec<String>,
}

impl TypeGroups {
    pub fn new(snapshot: &Snapshot) -> TypeGroups {
        let mut by_name: FxHashMap<&str, u32> = FxHashMap::default();
        let mut names = Vec::new();
        let mut of_type = Vec::with_capacity(snapshot.types.len());
        for name in &snapshot.types {
            let next = names.len() as u32;
            let g = *by_name.entry(name.as_str()).or_insert(next);
            if g == next {
                names.push(name.clone());
            }
            of_type.push(g);
        }
        // Objects whose type id the snapshot did not define share one group.
        names.push(String::from("?"));
        TypeGroups { of_type, names }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn name(&self, group: u32) -> &str {
        &self.names[group as usize]
    }

    /// The group of an object node.
    pub fn of(&self, snapshot: &Snapshot, n: NodeId) -> u32 {
        let t = snapshot.nodes.type_id[n as usize] as usize;
        self.of_type
            .get(t)
            .copied()
            .unwrap_or(self.names.len() as u32 - 1)
    }

    /// The group named `name`. A bare class name also finds the one
    /// qualified name ending in it (`Entry` finds `app.models.Entry`).
    pub fn find(&self, name: &str) -> Result<u32, TypeNotFound> {
        if let Some(g) = self.names.iter().position(|n| n == name) {
            return Ok(g as u32);
        }
        let suffix = format!(".{name}");
        let ends: Vec<usize> = (0..self.names.len())
            .filter(|&g| self.names[g].ends_with(&suffix))
            .collect();
        match ends.as_slice() {
            [g] => Ok(*g as u32),
            [] => Err(TypeNotFound::Unknown(self.close_to(name))),
            _ => Err(TypeNotFound::Ambiguous(
                ends.iter().map(|&g| self.names[g].clone()).collect(),
            )),
        }
    }

    /// Up to five names a user may have meant: same letters in another
    /// case, a part of the name, or a few typos away.
    fn close_to(&self, name: &str) -> Vec<String> {
        let wanted = name.to_lowercase();
        let mut scored: Vec<(usize, &String)> = self
            .names
            .iter()
            .filter_map(|n| {
                let lower = n.to_lowercase();
                let short = lower.rsplit('.').next().unwrap_or(&lower);
                let distance = edit_distance(&wanted, short).min(edit_distance(&wanted, &lower));
                if lower.contains(&wanted) {
                    Some((0, n))
                } else if distance <= (wanted.chars().count() / 3).max(2) {
                    Some((distance, n))
                } else {
                    None
                }
            })
            .collect();
        scored.sort();
        scored.into_iter().take(5).map(|(_, n)| n.clone()).collect()
    }
}

/// Why `--type` named no type of the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeNotFound {
    /// No such type; the names that come close.
    Unknown(Vec<String>),
    /// The bare name ends several qualified names.
    Ambiguous(Vec<String>),
}

/// Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let substitute = diagonal + usize::from(ca != b[j]);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// One type's line of the types table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeRow {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
}

/// Per type group: instances, bytes, retained bytes.
pub struct TypeStats {
    pub count: Vec<u64>,
    pub shallow: Vec<u64>,
    /// Retained by the instances no other instance of the type dominates.
    pub retained: Vec<u64>,
    /// The largest retained size of one instance.
    pub max_retained: Vec<u64>,
    /// By node: whether it is an instance no other instance of its type
    /// dominates.
    pub outermost: Vec<bool>,
}

impl TypeStats {
    /// One pass over the objects, and one depth-first walk of the dominator
    /// tree that counts, per type, the instances on the way down: an
    /// instance adds its retained bytes only when that count is zero.
    pub fn new(
        snapshot: &Snapshot,
        groups: &TypeGroups,
        dominators: &Dominators,
        retained: &[u64],
    ) -> TypeStats {
        let k = groups.len();
        let mut stats = TypeStats {
            count: vec![0; k],
            shallow: vec![0; k],
            retained: vec![0; k],
            max_retained: vec![0; k],
            outermost: vec![false; snapshot.node_count()],
        };
        for n in snapshot.first_object()..snapshot.node_count() as NodeId {
            let g = groups.of(snapshot, n) as usize;
            stats.count[g] += 1;
            stats.shallow[g] += snapshot.nodes.size[n as usize];
            stats.max_retained[g] = stats.max_retained[g].max(retained[n as usize]);
        }
        let mut active = vec![0u32; k];
        // (node, leaving): a node is pushed again to be left after its subtree.
        let mut stack: Vec<(NodeId, bool)> = vec![(0, false)];
        while let Some((n, leaving)) = stack.pop() {
            let group = snapshot
                .is_object(n)
                .then(|| groups.of(snapshot, n) as usize);
            if leaving {
                if let Some(g) = group {
                    active[g] -= 1;
                }
                continue;
            }
            if let Some(g) = group {
                if active[g] == 0 {
                    stats.retained[g] += retained[n as usize];
                    stats.outermost[n as usize] = true;
                }
                active[g] += 1;
                stack.push((n, true));
            }
            stack.extend(dominators.children(n).iter().map(|&c| (c, false)));
        }
        // Unreachable objects are in no tree: each stands alone.
        for n in snapshot.first_object()..snapshot.node_count() as NodeId {
            if !dominators.is_reachable(n) {
                let g = groups.of(snapshot, n) as usize;
                stats.retained[g] += retained[n as usize];
                stats.outermost[n as usize] = true;
            }
        }
        stats
    }

    /// The types with instances, by retained bytes, then shallow bytes.
    pub fn rows(&self, groups: &TypeGroups) -> Vec<TypeRow> {
        let mut rows: Vec<TypeRow> = (0..groups.len())
            .filter(|&g| self.count[g] > 0)
            .map(|g| TypeRow {
                type_name: groups.name(g as u32).to_string(),
                count: self.count[g],
                shallow_bytes: self.shallow[g],
                retained_bytes: self.retained[g],
            })
            .collect();
        rows.sort_by(|a, b| {
            (b.retained_bytes, b.shallow_bytes, b.count)
                .cmp(&(a.retained_bytes, a.shallow_bytes, a.count))
                .then_with(|| a.type_name.cmp(&b.type_name))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("entry", "entry"), 0);
        assert_eq!(edit_distance("entry", "entyr"), 2);
        assert_eq!(edit_distance("entry", "entries"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
