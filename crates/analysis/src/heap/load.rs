//! Reads the snapshots of a capture, joined with its allocation trace.

use memsleuth_format::{Metadata, Record};

use crate::heap::origins::Origins;
use crate::heap::snapshot::{Snapshot, SnapshotBuilder};
use crate::replay::is_event;
use crate::symbols::Symbols;

/// One snapshot the capture holds, complete or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: u32,
    pub time_ns: u64,
    pub trigger: String,
    /// Objects listed; 0 for a snapshot cut short.
    pub objects: u64,
    /// The snapshot's end record was written: the process was not killed
    /// while it was taken.
    pub complete: bool,
}

/// What a capture says about its snapshots, beside the graphs asked for.
pub struct HeapCapture {
    pub metadata: Metadata,
    pub snapshots: Vec<SnapshotInfo>,
    pub symbols: Symbols,
    /// Whether any allocation was traced: without, objects have no origin.
    pub traced: bool,
}

/// Which snapshots to build graphs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// By id.
    Ids(u32, Option<u32>),
    /// The first and the last complete snapshot.
    FirstAndLast,
    /// The last complete snapshot.
    Last,
}

impl Want {
    fn keeps(&self, id: u32) -> bool {
        match *self {
            Want::Ids(a, b) => id == a || Some(id) == b,
            Want::FirstAndLast | Want::Last => true,
        }
    }
}

/// Replays the capture once, building the graphs of the snapshots `want`
/// names, in capture order.
pub fn load_snapshots<I, E>(
    metadata: Metadata,
    records: I,
    want: Want,
) -> Result<(HeapCapture, Vec<Snapshot>), E>
where
    I: Iterator<Item = Result<Record, E>>,
{
    let mut symbols = Symbols::default();
    let mut origins = Origins::default();
    let mut traced = false;
    let mut infos = Vec::new();
    let mut graphs: Vec<Snapshot> = Vec::new();
    let mut building: Option<SnapshotBuilder> = None;
    let mut serial = 0u64;
    for record in records {
        let record = record?;
        if symbols.learn(&record) {
            continue;
        }
        match record {
            ref r if is_event(r) => {
                serial += 1;
                traced = true;
                origins.apply(r, serial);
            }
            Record::SnapshotStart {
                id,
                time_ns,
                trigger,
            } => {
                infos.push(SnapshotInfo {
                    id,
                    time_ns,
                    trigger: trigger.clone(),
                    objects: 0,
                    complete: false,
                });
                building = want
                    .keeps(id)
                    .then(|| SnapshotBuilder::new(id, time_ns, trigger));
            }
            Record::HeapType { id, name } => {
                if let Some(b) = building.as_mut() {
                    b.add_type(id, name);
                }
            }
            Record::HeapName { id, text } => {
                if let Some(b) = building.as_mut() {
                    b.add_name(id, text);
                }
            }
            Record::HeapRoot(root) => {
                if let Some(b) = building.as_mut() {
                    b.add_root(root);
                }
            }
            Record::HeapObject(object) => {
                if let Some(b) = building.as_mut() {
                    b.add_object(object);
                }
            }
            Record::SnapshotEnd { id, objects, .. } => {
                if let Some(info) = infos.last_mut().filter(|i| i.id == id) {
                    info.objects = objects;
                    info.complete = true;
                }
                if let Some(b) = building.take().filter(|b| b.id() == id) {
                    graphs.push(b.finish(|addr| origins.at(addr)));
                    keep_wanted(&mut graphs, want);
                }
            }
            _ => {}
        }
    }
    let capture = HeapCapture {
        metadata,
        snapshots: infos,
        symbols,
        traced,
    };
    Ok((capture, graphs))
}

/// Drops graphs that a later one replaces, so at most two are held.
fn keep_wanted(graphs: &mut Vec<Snapshot>, want: Want) {
    match want {
        Want::Last if graphs.len() > 1 => {
            graphs.remove(0);
        }
        Want::FirstAndLast if graphs.len() > 2 => {
            graphs.remove(1);
        }
        _ => {}
    }
}
