//! `memsleuth._native`: the thin PyO3 layer between the Python package and
//! the Rust crates. It converts arguments and errors, and releases the GIL
//! while the command line runs; it holds no logic of its own.

use std::path::PathBuf;
use std::time::Duration;

use memsleuth_format::Metadata;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

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
))]
fn start_tracking(
    path: PathBuf,
    metadata_json: &str,
    sample_interval_ms: u64,
    force: bool,
    stack_base: Option<Vec<Bound<'_, PyAny>>>,
    native_memory: bool,
    native_stacks: bool,
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
    };
    memsleuth_tracker::start(&path, &metadata, &options)
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(stop_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(is_tracking, m)?)?;
    m.add_function(wrap_pyfunction!(take_snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(built_for_python_hex, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add("TrackerError", m.py().get_type::<TrackerError>())?;
    Ok(())
}
