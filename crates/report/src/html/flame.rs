//! Flamegraph data: the stacks of one measure with their bytes and counts,
//! frames shared through one table so a frame's text is embedded once. The
//! page builds the caller tree and its inverse (leaf sites first) from it.

use memsleuth_analysis::{Frame, Profile, SiteKey, StackStats};
use rustc_hash::FxHashMap;
use serde::Serialize;

/// One frame as the page shows it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct FrameJson {
    pub function: String,
    pub file: String,
    pub line: u32,
    /// A C, C++ or Rust frame (styled apart from Python ones).
    pub native: bool,
}

/// The frames every flamegraph refers to by index.
#[derive(Default)]
pub struct FrameTable {
    index: FxHashMap<Frame, u32>,
    pub frames: Vec<FrameJson>,
}

impl FrameTable {
    fn id(&mut self, frame: &Frame) -> u32 {
        if let Some(&id) = self.index.get(frame) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(FrameJson {
            function: frame.function.clone(),
            file: frame.file.clone(),
            line: frame.line,
            native: frame.is_native(),
        });
        self.index.insert(frame.clone(), id);
        id
    }
}

/// One stack: frame ids outermost first, its layer, bytes and blocks.
#[derive(Serialize, Debug, PartialEq)]
pub struct StackJson {
    #[serde(rename = "f")]
    pub frames: Vec<u32>,
    #[serde(rename = "l")]
    pub layer: &'static str,
    #[serde(rename = "b")]
    pub bytes: u64,
    #[serde(rename = "n")]
    pub count: u64,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct FlameJson {
    /// The largest stacks, most bytes first.
    pub stacks: Vec<StackJson>,
    /// Bytes of every stack, embedded or not.
    pub total_bytes: u64,
    /// Stacks left out by the cap, and their bytes.
    pub other_stacks: u64,
    pub other_bytes: u64,
}

/// The stacks of `table` (one of the profile's per-stack tables), at most
/// `cap` of them. Identical stacks of different threads are merged, as the
/// site tables merge them.
pub fn flame(
    profile: &Profile,
    table: &FxHashMap<SiteKey, StackStats>,
    frames: &mut FrameTable,
    cap: usize,
) -> FlameJson {
    let mut merged: FxHashMap<(Vec<u32>, &'static str), StackStats> = FxHashMap::default();
    for (&key, stats) in table.iter().filter(|(k, _)| k.layer.counts_in_total()) {
        let (resolved, _) = profile.symbols.resolve(key);
        let ids = resolved.iter().rev().map(|f| frames.id(f)).collect();
        let e = merged.entry((ids, key.layer.layer_name())).or_default();
        e.bytes += stats.bytes;
        e.count += stats.count;
    }
    let mut stacks: Vec<StackJson> = merged
        .into_iter()
        .filter(|(_, s)| s.bytes > 0)
        .map(|((frames, layer), s)| StackJson {
            frames,
            layer,
            bytes: s.bytes,
            count: s.count,
        })
        .collect();
    stacks.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.frames.cmp(&b.frames))
            .then_with(|| a.layer.cmp(b.layer))
    });
    let total_bytes = stacks.iter().map(|s| s.bytes).sum();
    let rest = stacks.split_off(cap.min(stacks.len()));
    FlameJson {
        stacks,
        total_bytes,
        other_stacks: rest.len() as u64,
        other_bytes: rest.iter().map(|s| s.bytes).sum(),
    }
}
