//! speedscope's file format (https://www.speedscope.app/file-format-schema.json):
//! three "sampled" profiles over one frame table, weighted in bytes:
//! memory live at the peak, leaked at exit, and allocated over the run.
//! Each allocation site is one sample, outermost frame first, ending in a
//! `[layer]` frame as the collapsed stacks do, so a flame chart shows which
//! memory each leaf is.

use std::io::{self, Write};

use memsleuth_analysis::{Profile, StackStats};
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::{site_rows, SiteRow};

const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Serialize)]
struct File {
    #[serde(rename = "$schema")]
    schema: &'static str,
    shared: Shared,
    profiles: Vec<SampledProfile>,
    name: String,
    #[serde(rename = "activeProfileIndex")]
    active_profile_index: usize,
    exporter: String,
}

#[derive(Serialize)]
struct Shared {
    frames: Vec<FrameJson>,
}

#[derive(Serialize, PartialEq, Eq, Hash, Clone)]
struct FrameJson {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
}

#[derive(Serialize)]
struct SampledProfile {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    unit: &'static str,
    #[serde(rename = "startValue")]
    start_value: u64,
    #[serde(rename = "endValue")]
    end_value: u64,
    samples: Vec<Vec<usize>>,
    weights: Vec<u64>,
}

/// The frame table, each frame once.
#[derive(Default)]
struct Frames {
    list: Vec<FrameJson>,
    index: FxHashMap<FrameJson, usize>,
}

impl Frames {
    fn id(&mut self, frame: FrameJson) -> usize {
        if let Some(&i) = self.index.get(&frame) {
            return i;
        }
        let i = self.list.len();
        self.list.push(frame.clone());
        self.index.insert(frame, i);
        i
    }

    fn stack(&mut self, row: &SiteRow) -> Vec<usize> {
        let mut ids: Vec<usize> = row
            .frames
            .iter()
            .map(|f| {
                self.id(FrameJson {
                    name: f.function.clone(),
                    file: (!f.file.is_empty()).then(|| f.file.clone()),
                    line: (f.line > 0).then_some(f.line),
                })
            })
            .collect();
        ids.push(self.id(FrameJson {
            name: format!("[{}]", row.layer),
            file: None,
            line: None,
        }));
        ids
    }
}

fn sampled(
    name: String,
    rows: &[SiteRow],
    stacks: &[Vec<usize>],
    value: impl Fn(&SiteRow) -> StackStats,
) -> SampledProfile {
    let (mut samples, mut weights) = (Vec::new(), Vec::new());
    for (row, stack) in rows.iter().zip(stacks) {
        let bytes = value(row).bytes;
        if bytes > 0 {
            samples.push(stack.clone());
            weights.push(bytes);
        }
    }
    SampledProfile {
        kind: "sampled",
        name,
        unit: "bytes",
        start_value: 0,
        end_value: weights.iter().sum(),
        samples,
        weights,
    }
}

/// The program as its command line names it.
fn program(profile: &Profile) -> String {
    profile.metadata.argv.join(" ")
}

/// Writes the speedscope file to `out`.
pub fn write_speedscope(profile: &Profile, out: &mut impl Write) -> io::Result<()> {
    let rows = site_rows(profile);
    let mut frames = Frames::default();
    let stacks: Vec<Vec<usize>> = rows.iter().map(|r| frames.stack(r)).collect();
    let program = program(profile);
    let profiles = vec![
        sampled(
            format!("{program}: live at the peak ({:.3} s)", profile.peak_time_s),
            &rows,
            &stacks,
            |r| r.peak,
        ),
        sampled(format!("{program}: leaked at exit"), &rows, &stacks, |r| {
            r.leaks
        }),
        sampled(format!("{program}: allocated"), &rows, &stacks, |r| {
            r.allocated
        }),
    ];
    let file = File {
        schema: SCHEMA,
        shared: Shared {
            frames: frames.list,
        },
        profiles,
        name: format!("memsleuth: {program}"),
        active_profile_index: 0,
        exporter: format!("memsleuth {}", env!("CARGO_PKG_VERSION")),
    };
    serde_json::to_writer(&mut *out, &file).map_err(io::Error::other)?;
    out.write_all(b"\n")
}
