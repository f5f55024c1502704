//! The part of memsleuth that runs inside the profiled process.
//!
//! It wraps CPython's three allocator domains (`PyMem_SetAllocator`) and
//! pymalloc's arena allocator, hooks the C heap and `mmap` in every loaded
//! object (by rewriting their GOTs, see `sys::native`), records every
//! allocation, reallocation and free with the interned Python stack of the
//! allocating thread, and streams the events to a capture file from a
//! background thread.
//!
//! # Design constraints
//! - The hooks are the hot path of every Python program we profile. They call
//!   no Python API, and on the common path take only their own thread's
//!   buffer lock (contended by nothing but the writer, once per interval) and
//!   allocate nothing. The rare paths: a thread's first event, a code object
//!   seen for the first time or dying (a registry lock, see `codes`), a new
//!   buffer block every 16K events, per-thread tables growing, and a `dlopen`
//!   (patching the new objects, rebuilding the unwinder). Stacks are read by
//!   walking the thread's frame chain at allocation time (no per-call profile
//!   hook), and frames are kept as (code object, instruction offset): lines,
//!   like native function names, are computed offline.
//! - Nothing is counted twice: a per-thread re-entrancy guard, held across
//!   the call into the wrapped function, keeps the calls an allocator makes
//!   into another (pymalloc into the raw domain, the raw domain into
//!   `malloc`, an arena into `mmap`) out of the capture; arenas, which are
//!   recorded on purpose, are a layer outside the totals.
//! - The profiled program must behave as if untracked: the tracker never
//!   raises into it, never keeps its objects alive, and never shows its own
//!   allocations in the results (they bypass the hooks or are re-entrant calls).
//! - All unsafe code lives in [`sys`]; everything else is safe Rust.
//! - It must never: call into Python from a hook, hold a lock across a call
//!   into the wrapped allocator, or panic in a hook.

mod addrset;
mod buffer;
mod codes;
mod collector;
mod fork;
mod memory_state;
mod native_stacks;
mod recorder;
mod snapshot;
mod stacks;
mod sys;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use memsleuth_format::writer::CaptureWriter;
use memsleuth_format::{GcState, Metadata, Record};

pub use collector::{forked, gc_finished, gc_started};
pub use snapshot::SnapshotStats;
pub use sys::own_heap::CountingAllocator;
pub use writer::WriterStats;

/// Why tracking could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tracking is already active in this process (writing {0})")]
    AlreadyTracking(PathBuf),
    #[error("tracking is not active")]
    NotTracking,
    #[error("capture {path} already exists; pass --force to overwrite it or choose another path with -o")]
    Exists { path: PathBuf },
    #[error("cannot create capture {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write capture {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("no capture is being written, so there is nowhere to put a heap snapshot; start tracking first (memsleuth run, or memsleuth.Tracker)")]
    NoCaptureForSnapshot,
    #[error("a heap snapshot must be taken by a thread that holds the GIL")]
    SnapshotWithoutGil,
    #[error("the memory managers can only be measured by a thread that holds the GIL")]
    MemoryStateWithoutGil,
    #[error("a heap snapshot cannot be taken while the garbage collector runs (from a __del__ method or a weakref callback); take it outside the collection")]
    SnapshotDuringCollection,
}

/// How to track.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often the timeline samples RSS (and the writer drains buffers).
    pub sample_interval: Duration,
    /// Overwrite an existing capture.
    pub force: bool,
    /// Addresses of code objects whose frames, and every frame outside them,
    /// are left out of stacks: the launcher that runs the program (see
    /// `python/memsleuth/_runner.py`) is not part of the program. At most
    /// four are honoured.
    pub stack_base: Vec<usize>,
    /// Also record the C heap (`malloc` and friends) and `mmap`.
    pub native_memory: bool,
    /// Record the native (C, C++, Rust) stack of every allocation too.
    pub native_stacks: bool,
    /// Stop the process, with the capture complete, once its RSS reaches
    /// this many bytes (see `writer::WriterLoop::stop_at_limit`).
    pub rss_limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample_interval: Duration::from_millis(10),
            force: false,
            stack_base: Vec::new(),
            native_memory: true,
            native_stacks: false,
            rss_limit: None,
        }
    }
}

struct Session {
    /// The process writing this capture: in a forked child that started no
    /// capture of its own, the session is its parent's, and not this
    /// process's to complete.
    pid: u32,
    path: PathBuf,
    /// Kept for the capture of a forked child (`restart_after_fork`).
    options: Options,
    installed: sys::hooks::Installed,
    writer: writer::WriterHandle,
}

impl Session {
    /// In a forked child, lets go of the parent's session it inherited:
    /// the writer is abandoned untouched and the hooks come out. The caller
    /// holds the GIL.
    fn leave_in_child(self) {
        self.writer.abandon_after_fork();
        sys::hooks::uninstall(self.installed);
    }
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);

fn session() -> std::sync::MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(|p| p.into_inner())
}

fn create(path: &Path, force: bool) -> Result<File, Error> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    opts.open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: path.to_path_buf(),
            }
        } else {
            Error::Create {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Starts tracking every allocation into a new capture at `path`.
///
/// The caller must hold the GIL (the Python bindings guarantee it).
pub fn start(path: &Path, metadata: &Metadata, options: &Options) -> Result<(), Error> {
    let _quiet = recorder::quiet();
    let mut slot = session();
    if let Some(s) = slot.as_ref() {
        if s.pid == std::process::id() {
            return Err(Error::AlreadyTracking(s.path.clone()));
        }
    }
    let out = open_capture(path, metadata, options)?;
    if let Some(parent) = slot.take() {
        // A forked child tracking itself anew (`memsleuth.Tracker`): the
        // hooks it inherited must come out before new ones wrap the
        // allocators, or the new hooks would wrap the old.
        parent.leave_in_child();
    }
    fork::watch();
    stacks::set_stack_base(&options.stack_base);
    let native_memory = options.native_memory || options.native_stacks;
    let writer = begin_session(path, out, options, || {
        if native_memory {
            sys::native::install();
        }
    })?;
    let installed = sys::hooks::install();
    *slot = Some(Session {
        pid: std::process::id(),
        path: path.to_path_buf(),
        options: options.clone(),
        installed,
        writer,
    });
    Ok(())
}

/// In a child forked while tracking, starts a capture of the child's own
/// at `path`, with the parent's options (`--limit` then applies to the
/// child alone); the child's capture begins at the fork. The hooks are
/// still in place from the parent; only the writer, which did not survive
/// the fork, is replaced. Without this call the child runs untracked.
///
/// The caller must hold the GIL, in the child, before the child starts any
/// thread of its own.
pub fn restart_after_fork(path: &Path, metadata: &Metadata) -> Result<(), Error> {
    let _quiet = recorder::quiet();
    let mut slot = session();
    if let Some(s) = slot.as_ref().filter(|s| s.pid == std::process::id()) {
        return Err(Error::AlreadyTracking(s.path.clone()));
    }
    let Some(parent) = slot.take() else {
        return Err(Error::NotTracking);
    };
    let Session {
        installed,
        writer,
        options,
        ..
    } = parent;
    writer.abandon_after_fork();
    let out = match open_capture(path, metadata, &options) {
        Ok(out) => out,
        Err(e) => {
            sys::hooks::uninstall(installed);
            return Err(e);
        }
    };
    let writer = begin_session(path, out, &options, || {})?;
    *slot = Some(Session {
        pid: std::process::id(),
        path: path.to_path_buf(),
        options,
        installed,
        writer,
    });
    Ok(())
}

/// Creates the capture and writes its header.
fn open_capture(path: &Path, metadata: &Metadata, options: &Options) -> Result<writer::Out, Error> {
    let file = create(path, options.force)?;
    let metadata = Metadata {
        native_memory: options.native_memory || options.native_stacks,
        native_stacks: options.native_stacks,
        ..metadata.clone()
    };
    CaptureWriter::new(BufWriter::with_capacity(1 << 20, file), &metadata).map_err(|source| {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Resets the per-session tables, starts the writer, runs `before_recording`
/// (with the writer running and recording still off) and turns recording on.
fn begin_session(
    path: &Path,
    out: writer::Out,
    options: &Options,
    before_recording: impl FnOnce(),
) -> Result<writer::WriterHandle, Error> {
    buffer::clear_registry();
    stacks::reset_ids();
    snapshot::reset_ids();
    codes::reset(sys::shim::code_block_offset());
    let writer = writer::spawn(
        out,
        options.sample_interval,
        options.native_stacks,
        options.rss_limit,
    )
    .map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    before_recording();
    let native_memory = options.native_memory || options.native_stacks;
    native_stacks::enable(options.native_stacks);
    recorder::enable(true, native_memory);
    Ok(writer)
}

/// Stops tracking, writes the rest of the capture and closes it.
///
/// The caller must hold the GIL.
pub fn stop() -> Result<WriterStats, Error> {
    let _quiet = recorder::quiet();
    let Some(s) = session().take() else {
        return Err(Error::NotTracking);
    };
    if s.pid != std::process::id() {
        // A forked child completing its parent's capture: not its to
        // complete. The hooks it inherited come out, as tracking is over here.
        s.leave_in_child();
        return Err(Error::NotTracking);
    }
    sys::hooks::uninstall(s.installed);
    recorder::enable(false, false);
    native_stacks::enable(false);
    let stats = s.writer.finish().map_err(|source| Error::Write {
        path: s.path.clone(),
        source,
    })?;
    buffer::clear_registry();
    Ok(stats)
}

/// Appends a heap snapshot of every live object to the capture.
///
/// The caller must hold the GIL (the Python bindings guarantee it).
pub fn snapshot(trigger: &str) -> Result<SnapshotStats, Error> {
    let path = session()
        .as_ref()
        .filter(|s| s.pid == std::process::id())
        .map(|s| s.path.clone())
        .ok_or(Error::NoCaptureForSnapshot)?;
    let gil = sys::heap_walk::Gil::check().ok_or(Error::SnapshotWithoutGil)?;
    if sys::heap_walk::gc_running(&gil) {
        return Err(Error::SnapshotDuringCollection);
    }
    match snapshot::take(&gil, trigger) {
        Some(Ok(stats)) => Ok(stats),
        Some(Err(source)) => Err(Error::Write { path, source }),
        None => Err(Error::NoCaptureForSnapshot),
    }
}

/// Appends what the memory managers hold now (a `MemoryState` record),
/// with the collector's state `gc` as the caller read it. `label` says when:
/// `start`, `exit`, `after-trim`.
///
/// The caller must hold the GIL.
pub fn record_memory_state(label: &str, gc: GcState) -> Result<(), Error> {
    let _quiet = recorder::quiet();
    let slot = session();
    let s = slot
        .as_ref()
        .filter(|s| s.pid == std::process::id())
        .ok_or(Error::NotTracking)?;
    let gil = sys::heap_walk::Gil::check().ok_or(Error::MemoryStateWithoutGil)?;
    let state = memory_state::measure(&gil, s.installed.original_object_allocator(), label, gc);
    let path = s.path.clone();
    drop(slot);
    let record = Record::MemoryState(Box::new(state));
    match writer::with_drained(|out, _| {
        out.push(&record);
        writer::flush_if_full(out)
    }) {
        Some(Ok(())) => Ok(()),
        Some(Err(source)) => Err(Error::Write { path, source }),
        None => Err(Error::NotTracking),
    }
}

/// Runs `f` without recording the allocations it makes on this thread:
/// memsleuth's own work in Python (reading the `gc` module's state).
pub fn unrecorded<R>(f: impl FnOnce() -> R) -> R {
    let _quiet = recorder::quiet();
    f()
}

/// Asks the C library to give free memory back to the system
/// (`malloc_trim(0)`); true when it released any.
pub fn trim_native_heap() -> bool {
    let _quiet = recorder::quiet();
    sys::mem_stats::malloc_trim()
}

/// Whether a capture is being written by this process.
pub fn is_tracking() -> bool {
    session()
        .as_ref()
        .is_some_and(|s| s.pid == std::process::id())
}

/// `PY_VERSION_HEX` of the interpreter this tracker was built for; the
/// runner refuses to start under another minor version.
pub fn built_for_python_hex() -> u32 {
    sys::shim::compiled_python_version_hex()
}
