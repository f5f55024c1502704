//! Opening a capture and analysing it, with errors that name the file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{bail, Context, Result};
use memsleuth_analysis::heap::{load_snapshots, HeapCapture, Snapshot, Want};
use memsleuth_analysis::{Frame, Profile, Symbols};
use memsleuth_format::reader::CaptureReader;
use memsleuth_symbolize::{ModuleInfo, NativeFrame, SearchPath, Symbolizer};
use rustc_hash::FxHashMap;

use crate::progress::{Progress, ProgressRead};

/// The replay reads the capture twice (see `memsleuth_analysis::analyze`).
const ANALYSIS_PASSES: u64 = 2;

pub fn analyze(path: &Path) -> Result<Profile> {
    check_capture(path)?;
    let progress = Progress::new(file_len(path) * ANALYSIS_PASSES, "analysing");
    let analyzed = memsleuth_analysis::analyze(|| {
        let reader = open(path, &progress)?;
        Ok((reader.metadata().clone(), reader))
    });
    progress.finish();
    let mut profile =
        analyzed.with_context(|| format!("cannot read capture {}", path.display()))?;
    symbolize_native(&mut profile.symbols);
    Ok(profile)
}

/// A reader of the capture at `path` that moves `progress` along.
fn open(
    path: &Path,
    progress: &Progress,
) -> Result<CaptureReader<BufReader<ProgressRead<File>>>, memsleuth_format::Error> {
    let file = File::open(path)?;
    CaptureReader::new(BufReader::with_capacity(1 << 20, progress.reading(file)))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The heap snapshots `want` names, in capture order, and what the capture
/// says about all of its snapshots.
pub fn heap_snapshots(path: &Path, want: Want) -> Result<(HeapCapture, Vec<Snapshot>)> {
    check_capture(path)?;
    let context = || format!("cannot read capture {}", path.display());
    let progress = Progress::new(file_len(path), "reading heap snapshots");
    let reader = open(path, &progress).with_context(context)?;
    let metadata = reader.metadata().clone();
    let loaded = load_snapshots(metadata, reader, want);
    progress.finish();
    let (mut capture, graphs) = loaded.with_context(context)?;
    symbolize_native(&mut capture.symbols);
    Ok((capture, graphs))
}

/// Refuses a path that cannot be a capture, naming what to pass instead.
fn check_capture(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!(
            "capture {} does not exist; pass the path of a .msl file written by `memsleuth run`",
            path.display()
        );
    }
    if path.is_dir() {
        bail!(
            "{} is a directory; pass the path of a .msl file written by `memsleuth run`",
            path.display()
        );
    }
    Ok(())
}

/// Names the native frames of a capture recorded with `--native`, from the
/// files of the modules it recorded, and warns on stderr about every module
/// whose file could not be used.
fn symbolize_native(symbols: &mut Symbols) {
    let addresses: Vec<u64> = symbols.native_addresses().collect();
    if addresses.is_empty() {
        return;
    }
    let modules = symbols
        .modules()
        .iter()
        .map(|m| ModuleInfo {
            path: m.path.clone(),
            build_id: m.build_id.clone(),
            load_bias: m.load_bias,
            start: m.start,
            end: m.end,
        })
        .collect();
    let mut symbolizer = Symbolizer::new(modules, SearchPath::from_env());
    let mut frames: FxHashMap<u64, Vec<Frame>> = FxHashMap::default();
    for pc in addresses {
        // Recorded addresses are return addresses: the call that led here
        // is the instruction before.
        let resolved = symbolizer.resolve(pc.saturating_sub(1));
        frames.insert(pc, resolved.into_iter().map(native_frame).collect());
    }
    for problem in symbolizer.problems() {
        eprintln!("memsleuth: warning: {problem}");
    }
    symbols.set_native_frames(frames);
}

fn native_frame(f: NativeFrame) -> Frame {
    Frame {
        // Without debug information the module is the best "where" there is.
        file: f.file.unwrap_or_else(|| f.module.clone()),
        line: f.line.unwrap_or(0),
        function: f.function,
        module: Some(f.module),
    }
}
