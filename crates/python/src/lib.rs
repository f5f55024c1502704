//! `memsleuth._native`: the thin PyO3 layer between the Python package and
//! the Rust crates. It converts arguments and errors, and releases the GIL
//! while the command line runs; it holds no logic of its own.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use memsleuth_analysis::heap::Want;
use memsleuth_analysis::{Grouping, Measure, Profile};
use memsleuth_format::reader::CaptureReader;

use memsleuth_format::{GarbageGroup, GcState, Metadata};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Counts the bytes memsleuth's own Rust code holds, for the RSS account.
#[global_allocator]
static ALLOCATOR: memsleuth_tracker::CountingAllocator = memsleuth_tracker::CountingAllocator;

create_exception!(
    _native,
    TrackerError,
    PyException,
    "Tracking could not start or stop."
);

/// Starts tracking into a new capture. `metadata_json` is the header's
/// metadata as a JSON object.
#[pyfunction]
#[pyo3(signature = (
    path,
    metadata_json,
    sample_interval_ms = 10,
    force = false,
    stack_base = None,
    native_memory = true,
    native_stacks = false,
    rss_limit = None,
))]
// Each argument is one keyword argument of the Python signature.
#[allow(clippy::too_many_arguments)]
fn start_tracking(
    path: PathBuf,
    metadata_json: &str,
    sample_interval_ms: u64,
    force: bool,
    stack_base: Option<Vec<Bound<'_, PyAny>>>,
    native_memory: bool,
    native_stacks: bool,
    rss_limit: Option<u64>,
) -> PyResult<()> {
    let metadata: Metadata = serde_json::from_str(metadata_json)
        .map_err(|e| TrackerError::new_err(format!("invalid capture metadata: {e}")))?;
    let options = memsleuth_tracker::Options {
        sample_interval: Duration::from_millis(sample_interval_ms.max(1)),
        force,
        stack_base: stack_base
            .unwrap_or_default()
            .into_iter()
            .map(|code| {
                // The launcher's code objects outlive tracking; keep them
                // alive anyway, since only their addresses are remembered.
                let ptr = code.as_ptr() as usize;
                std::mem::forget(code.unbind());
                ptr
            })
            .collect(),
        native_memory: native_memory || native_stacks,
        native_stacks,
        rss_limit,
    };
    memsleuth_tracker::start(&path, &metadata, &options)
        .map_err(|e| TrackerError::new_err(e.to_string()))
}

/// In a child forked while tracking: starts the child's own capture at
/// `path`, with the parent's options.
#[pyfunction]
fn restart_after_fork(path: PathBuf, metadata_json: &str) -> PyResult<()> {
    let metadata: Metadata = serde_json::from_str(metadata_json)
        .map_err(|e| TrackerError::new_err(format!("invalid capture metadata: {e}")))?;
    memsleuth_tracker::restart_after_fork(&path, &metadata)
        .map_err(|e| TrackerError::new_err(e.to_string()))
}

/// Stops tracking and completes the capture; returns (events, bytes written).
#[pyfunction]
fn stop_tracking() -> PyResult<(u64, u64)> {
    // The GIL stays held while the writer finishes: restoring the allocators
    // needs it, and the writer thread never takes it, so this cannot deadlock.
    let stats = memsleuth_tracker::stop().map_err(|e| TrackerError::new_err(e.to_string()))?;
    Ok((stats.events, stats.bytes_written))
}

/// Appends a heap snapshot to the capture; returns (snapshot id, objects).
#[pyfunction]
#[pyo3(signature = (trigger = "api"))]
fn take_snapshot(trigger: &str) -> PyResult<(u32, u64)> {
    // The GIL stays held: it is what keeps every object alive during the walk.
    let stats =
        memsleuth_tracker::snapshot(trigger).map_err(|e| TrackerError::new_err(e.to_string()))?;
    Ok((stats.id, stats.objects))
}

/// Installed in `gc.callbacks` while tracking: marks each collection's start
/// and end in the capture. Takes any arguments and never raises: an error
/// in a callback would be printed on the program's stderr.
#[pyfunction]
fn gc_callback(phase: &Bound<'_, PyAny>, info: &Bound<'_, PyAny>) {
    let (Ok(phase), Ok(info)) = (
        phase.downcast::<pyo3::types::PyString>(),
        info.downcast::<PyDict>(),
    ) else {
        return;
    };
    let py = info.py();
    // Interned keys and small ints: reading them allocates nothing.
    let number = |key: &Bound<'_, pyo3::types::PyString>| -> u64 {
        info.get_item(key)
            .ok()
            .flatten()
            .and_then(|v| v.extract::<u64>().ok())
            .unwrap_or(0)
    };
    let generation = number(intern!(py, "generation")) as u8;
    if phase.to_cow().is_ok_and(|p| p == "start") {
        // The interpreter made the phase string, the dict and its keys just
        // before calling us, and frees them inside the collection.
        let mut scratch = vec![phase.as_ptr() as usize, info.as_ptr() as usize];
        // `iter` walks the dict in place; `keys()` would allocate a list.
        scratch.extend(info.iter().map(|(k, _)| k.as_ptr() as usize));
        memsleuth_tracker::gc_started(generation, &scratch);
    } else {
        let collected = number(intern!(py, "collected"));
        let uncollectable = number(intern!(py, "uncollectable"));
        memsleuth_tracker::gc_finished(generation, collected, uncollectable);
    }
}

/// How many objects of each type in `gc.garbage` the capture names by address.
const GARBAGE_ADDRESSES: usize = 100;

/// The collector's state, as the `gc` module reports it.
fn gc_state(py: Python<'_>) -> PyResult<GcState> {
    let gc = py.import("gc")?;
    let mut groups: Vec<GarbageGroup> = Vec::new();
    for obj in gc.getattr("garbage")?.try_iter()? {
        let obj = obj?;
        let kind = obj.get_type();
        let name = format!("{}.{}", kind.module()?, kind.qualname()?);
        let at = match groups.iter().position(|g| g.type_name == name) {
            Some(i) => i,
            None => {
                groups.push(GarbageGroup {
                    type_name: name,
                    ..GarbageGroup::default()
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[at];
        group.count += 1;
        if group.addrs.len() < GARBAGE_ADDRESSES {
            group.addrs.push(obj.as_ptr() as u64);
        }
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    Ok(GcState {
        enabled: gc.call_method0("isenabled")?.extract()?,
        thresholds: gc.call_method0("get_threshold")?.extract()?,
        counts: gc.call_method0("get_count")?.extract()?,
        frozen: gc.call_method0("get_freeze_count")?.extract()?,
        garbage: groups,
    })
}

/// Appends a measurement of the memory managers and the collector to the
/// capture. What measuring allocates is kept out of it.
#[pyfunction]
fn record_memory_state(py: Python<'_>, label: &str) -> PyResult<()> {
    let gc = memsleuth_tracker::unrecorded(|| gc_state(py))?;
    memsleuth_tracker::record_memory_state(label, gc)
        .map_err(|e| TrackerError::new_err(e.to_string()))
}

/// `malloc_trim(0)`: gives the C heap's free memory back to the system.
#[pyfunction]
fn trim_native_heap() -> bool {
    memsleuth_tracker::trim_native_heap()
}

/// Called in the parent after `os.fork()`.
#[pyfunction]
fn note_fork() {
    memsleuth_tracker::forked();
}

#[pyfunction]
fn is_tracking() -> bool {
    memsleuth_tracker::is_tracking()
}

/// `PY_VERSION_HEX` of the interpreter this extension was compiled for.
#[pyfunction]
fn built_for_python_hex() -> u32 {
    memsleuth_tracker::built_for_python_hex()
}

/// Runs the `memsleuth` command line with `argv` (without the program name)
/// and returns its exit status. `python` is the interpreter `run` launches.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>, python: PathBuf) -> i32 {
    py.allow_threads(|| memsleuth_cli::main_with_args(argv, &python))
}

/// One line's live bytes: (file, line, function, bytes, blocks).
type LineRow = (String, u32, String, u64, u64);
/// One stack's bytes: (bytes, blocks, frames innermost first as (file, line, function)).
type StackRow = (u64, u64, Vec<(String, u32, String)>);

/// Analyses the capture at `path` as far as it has been written: every
/// complete chunk. A capture still being written has no End record and may
/// end in a partial chunk; the reader counts that as lost bytes and the
/// analysis reports what the complete chunks hold, without complaint.
fn analyze_so_far(path: &Path) -> Result<Option<Profile>, memsleuth_format::Error> {
    // The writer keeps the header in its buffer until it flushes the first
    // chunk: an empty file is a capture with nothing in it yet.
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        return Ok(None);
    }
    memsleuth_analysis::analyze(|| {
        let file = File::open(path)?;
        let reader = CaptureReader::new(BufReader::with_capacity(1 << 20, file))?;
        Ok((reader.metadata().clone(), reader))
    })
    .map(Some)
}

fn capture_error(path: &Path, e: memsleuth_format::Error) -> PyErr {
    TrackerError::new_err(format!("cannot read capture {}: {e}", path.display()))
}

/// Live and peak tracked bytes, and the `top` lines holding the most live
/// bytes, of the capture at `path` as written so far (it may still be being
/// written, by this process or another). Runs without the GIL; the analysis
/// allocates through memsleuth's own, unhooked allocator, and the Python
/// objects it returns are made unrecorded, so querying leaves no trace in
/// the capture.
#[pyfunction]
#[pyo3(signature = (path, top = 10))]
fn live_stats(py: Python<'_>, path: &str, top: usize) -> PyResult<PyObject> {
    // `&str`, not `PathBuf`: converting a str to a path makes a bytes
    // object, which would be recorded; a str's text is read in place.
    let path = Path::new(path);
    let analysed = py.allow_threads(|| {
        memsleuth_tracker::unrecorded(|| {
            let Some(profile) = analyze_so_far(path)? else {
                return Ok((0, 0, Vec::new()));
            };
            let sites = memsleuth_analysis::sites(&profile, Measure::Leaks, Grouping::Line);
            let rows: Vec<LineRow> = sites
                .into_iter()
                .take(top)
                .map(|s| {
                    let function = s.function.unwrap_or_default();
                    (s.file, s.line.unwrap_or(0), function, s.bytes, s.count)
                })
                .collect();
            Ok((profile.leaked_bytes, profile.peak_bytes, rows))
        })
    });
    let stats = analysed.map_err(|e| capture_error(path, e))?;
    memsleuth_tracker::unrecorded(|| Ok(stats.into_pyobject(py)?.into_any().unbind()))
}

/// The `top` stacks holding the most bytes `at` the peak (`"peak"`) or live
/// at the end of what was written so far (`"live"`), with their frames.
/// Like `live_stats`, without the GIL and without a trace in the capture.
#[pyfunction]
#[pyo3(signature = (path, at = "peak", top = 5))]
fn top_stacks(py: Python<'_>, path: &str, at: &str, top: usize) -> PyResult<PyObject> {
    let path = Path::new(path);
    let measure = match at {
        "peak" => Measure::Peak,
        "live" => Measure::Leaks,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "at must be \"peak\" or \"live\", not {other:?}"
            )))
        }
    };
    let analysed = py.allow_threads(|| {
        memsleuth_tracker::unrecorded(|| {
            let Some(profile) = analyze_so_far(path)? else {
                return Ok(Vec::new());
            };
            let sites = memsleuth_analysis::sites(&profile, measure, Grouping::Stack);
            let rows: Vec<StackRow> = sites
                .into_iter()
                .take(top)
                .map(|s| {
                    let frames = s
                        .stack
                        .unwrap_or_default()
                        .into_iter()
                        .map(|f| (f.file, f.line, f.function))
                        .collect();
                    (s.bytes, s.count, frames)
                })
                .collect();
            Ok(rows)
        })
    });
    let rows = analysed.map_err(|e| capture_error(path, e))?;
    memsleuth_tracker::unrecorded(|| Ok(rows.into_pyobject(py)?.into_any().unbind()))
}

/// One type at a line: (type, objects, shallow bytes, the most common
/// path from the roots to them, if any).
type TypeRow = (String, u64, u64, Option<String>);

/// For each `(file, line, function)` of `lines`, the types of the objects
/// the last complete heap snapshot of the capture at `path` holds that were
/// allocated there, most bytes first. For a finished capture (the pytest
/// plugin reads its own after stopping).
#[pyfunction]
fn retained_types(
    py: Python<'_>,
    path: &str,
    lines: Vec<(String, u32, String)>,
) -> PyResult<Vec<Vec<TypeRow>>> {
    let path = Path::new(path);
    py.allow_threads(|| {
        memsleuth_tracker::unrecorded(|| {
            let file = File::open(path)?;
            let reader = CaptureReader::new(BufReader::with_capacity(1 << 20, file))?;
            let metadata = reader.metadata().clone();
            let (capture, graphs) =
                memsleuth_analysis::heap::load_snapshots(metadata, reader, Want::Last)?;
            let Some(snapshot) = graphs.last() else {
                return Ok(vec![Vec::new(); lines.len()]);
            };
            let found = memsleuth_analysis::retained_types(snapshot, &capture.symbols, &lines);
            Ok(found.into_iter().map(type_rows).collect())
        })
    })
    .map_err(|e| capture_error(path, e))
}

fn type_rows(types: Vec<memsleuth_analysis::RetainedType>) -> Vec<TypeRow> {
    types
        .into_iter()
        .map(|t| {
            let path = t
                .paths
                .first()
                .map(|p| memsleuth_report::join_path(&p.path));
            (t.type_name, t.count, t.bytes, path)
        })
        .collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(stop_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(is_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(take_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(built_for_python_hex, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(gc_callback, m)?)?;
    m.add_function(wrap_pyfunction!(record_memory_state, m)?)?;
    m.add_function(wrap_pyfunction!(trim_native_heap, m)?)?;
    m.add_function(wrap_pyfunction!(note_fork, m)?)?;
    m.add_function(wrap_pyfunction!(restart_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(retained_types, m)?)?;
    m.add_function(wrap_pyfunction!(live_stats, m)?)?;
    m.add_function(wrap_pyfunction!(top_stacks, m)?)?;
    m.add("TrackerError", m.py().get_type::<TrackerError>())?;
    Ok(())
}
