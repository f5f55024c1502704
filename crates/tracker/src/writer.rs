//! The background writer: every sampling interval it takes a gap-free prefix
//! of all threads' events, puts them in global order, adds a timeline sample
//! and appends them to the capture, compressing a chunk at a time.

use std::fs::File;
use std::io::{self, BufWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use memsleuth_format::writer::CaptureWriter;
use memsleuth_format::{AllocKind, Domain, ModuleDef, Record, EXIT_LIMIT};
use rustc_hash::FxHashSet;

use crate::buffer::{self, Event, EventKind, Lane, Producer};
use crate::{recorder, sys};

/// A chunk is written once it holds this much, or after `MAX_CHUNK_AGE`:
/// big enough to compress well, small enough that a kill loses little.
const CHUNK_TARGET_BYTES: usize = 1 << 20;
const MAX_CHUNK_AGE: Duration = Duration::from_millis(100);
/// The longest the writer waits for a numbered event to be published.
const STRAGGLER_WAIT: Duration = Duration::from_secs(1);

static WRITER_THREAD: Mutex<Option<Thread>> = Mutex::new(None);
/// When the current capture started: the origin of every time in it.
static ORIGIN: Mutex<Option<Instant>> = Mutex::new(None);
/// The writer's state, shared with snapshots, which append their records
/// between two drained batches of events.
static SHARED: Mutex<Option<Arc<Mutex<WriterLoop>>>> = Mutex::new(None);

pub(crate) type Out = CaptureWriter<BufWriter<File>>;

/// Writes every event numbered so far, then lets `f` append records to the
/// capture while the writer waits (`f` gets the capture's time origin); `None` when there is no writer or the
/// capture can no longer be written. `f` must not take long without
/// flushing: the program's other threads wait for the writer meanwhile.
pub(crate) fn with_drained<R>(
    f: impl FnOnce(&mut Out, Instant) -> io::Result<R>,
) -> Option<io::Result<R>> {
    let shared = SHARED.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
    let mut state = shared.lock().unwrap_or_else(|p| p.into_inner());
    if state.failure.is_some() {
        return None;
    }
    state.drain(false);
    let start = state.start;
    let result = f(&mut state.out, start);
    if let Err(e) = &result {
        state.fail(io::Error::new(e.kind(), e.to_string()));
    }
    Some(result)
}

/// Nanoseconds since the current capture started, the clock of its records;
/// 0 when no capture is being written.
pub(crate) fn elapsed_ns() -> u64 {
    ORIGIN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .map_or(0, |start| start.elapsed().as_nanos() as u64)
}

/// A chunk is flushed once it holds this much.
pub(crate) fn flush_if_full(out: &mut Out) -> io::Result<()> {
    if out.pending_bytes() >= CHUNK_TARGET_BYTES {
        out.flush_chunk()?;
    }
    Ok(())
}
/// The lane for events no thread state can take (see `recorder::with_thread`).
/// Several threads may use it, so its producer side sits behind a mutex.
static FALLBACK: Mutex<Option<Producer>> = Mutex::new(None);

pub(crate) fn push_fallback(event: Event) {
    if let Some(p) = FALLBACK.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        p.push(&mut Vec::new(), event);
    }
}

/// Asks the writer to drain now rather than at its next tick.
pub(crate) fn wake() {
    if let Some(t) = WRITER_THREAD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        t.unpark();
    }
}

/// What the writer did, for the end-of-run report.
#[derive(Debug, Default, Clone)]
pub struct WriterStats {
    pub events: u64,
    pub bytes_written: u64,
}

pub(crate) struct WriterHandle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<WriterStats>>,
}

impl WriterHandle {
    /// Takes the last events, writes the end record, and waits for the file to be complete.
    pub(crate) fn finish(self) -> io::Result<WriterStats> {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        let result = self
            .thread
            .join()
            .map_err(|_| io::Error::other("the capture writer thread panicked"))?;
        *WRITER_THREAD.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *SHARED.lock().unwrap_or_else(|p| p.into_inner()) = None;
        result
    }
}

/// The writer's process-wide locks, held across a `fork()` (see `fork.rs`).
/// `SHARED` is not among them: only a thread holding the GIL takes it, and
/// the forking thread holds the GIL.
pub(crate) fn hold_for_fork(held: &mut Vec<Box<dyn std::any::Any>>) {
    held.push(Box::new(FALLBACK.lock().unwrap_or_else(|p| p.into_inner())));
    held.push(Box::new(ORIGIN.lock().unwrap_or_else(|p| p.into_inner())));
    held.push(Box::new(
        WRITER_THREAD.lock().unwrap_or_else(|p| p.into_inner()),
    ));
}

impl WriterHandle {
    /// Drops, in a forked child, the writer of the parent's capture without
    /// touching it: its thread does not exist here, its state may be
    /// mid-update behind a lock no thread will release, and its unwritten
    /// buffer must never reach the parent's file through the shared
    /// descriptor. Everything it owns is leaked, once per followed fork.
    pub(crate) fn abandon_after_fork(self) {
        std::mem::forget(self);
        if let Some(state) = SHARED.lock().unwrap_or_else(|p| p.into_inner()).take() {
            std::mem::forget(state);
        }
        if let Some(producer) = FALLBACK.lock().unwrap_or_else(|p| p.into_inner()).take() {
            std::mem::forget(producer);
        }
        *WRITER_THREAD.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

pub(crate) fn spawn(
    out: CaptureWriter<BufWriter<File>>,
    interval: Duration,
    describe_modules: bool,
    rss_limit: Option<u64>,
) -> io::Result<WriterHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let (lane, producer) = Lane::new(Vec::new());
    buffer::register(lane);
    let start = Instant::now();
    *ORIGIN.lock().unwrap_or_else(|p| p.into_inner()) = Some(start);
    *FALLBACK.lock().unwrap_or_else(|p| p.into_inner()) = Some(producer);
    let state = Arc::new(Mutex::new(WriterLoop {
        out,
        next: buffer::next_seq(),
        start,
        stats: WriterStats::default(),
        modules: describe_modules.then(FxHashSet::default),
        last_flush: Instant::now(),
        defs: Vec::new(),
        events: Vec::new(),
        failure: None,
        rss_limit,
        last_rss: 0,
    }));
    *SHARED.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&state));
    let stop_flag = Arc::clone(&stop);
    // The thread's start-up allocates through libc (thread-local destructor
    // registration), which the native hooks may see; recording starts only
    // once the thread has marked itself as never recorded.
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    let thread = thread::Builder::new()
        .name("memsleuth-writer".into())
        .spawn(move || {
            recorder::never_record_this_thread();
            let _ = started_tx.send(());
            run(&state, &stop_flag, interval)
        })?;
    let _ = started_rx.recv();
    *WRITER_THREAD.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread.thread().clone());
    Ok(WriterHandle { stop, thread })
}

struct WriterLoop {
    out: Out,
    /// Every event numbered below this has been collected.
    next: u64,
    start: Instant,
    stats: WriterStats,
    /// With native stacks: the loaded objects already described, by load
    /// bias and path; `None` when modules are not described.
    modules: Option<FxHashSet<(u64, String)>>,
    last_flush: Instant,
    defs: Vec<Record>,
    events: Vec<Event>,
    /// Why the capture stopped growing, once it has.
    failure: Option<io::Error>,
    /// `--limit`: the RSS at which the process is stopped.
    rss_limit: Option<u64>,
    /// The RSS of the latest timeline sample.
    last_rss: u64,
}

/// Drains the buffers every interval until told to stop.
fn run(
    state: &Mutex<WriterLoop>,
    stop: &AtomicBool,
    interval: Duration,
) -> io::Result<WriterStats> {
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let tick = Instant::now();
        {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.drain(true);
            if let Some(limit) = s.rss_limit.filter(|&l| s.last_rss >= l) {
                s.stop_at_limit(limit);
            }
            if stopping {
                if s.failure.is_none() {
                    if let Err(e) = s.finish() {
                        s.fail(e);
                    }
                }
                s.stats.bytes_written = s.out.bytes_written();
                return s.failure.take().map_or(Ok(s.stats.clone()), Err);
            }
        }
        if let Some(rest) = interval.checked_sub(tick.elapsed()) {
            thread::park_timeout(rest);
        }
    }
}

impl WriterLoop {
    /// Collects and writes every event numbered so far; with `sample`, adds
    /// a timeline sample after them.
    fn drain(&mut self, sample: bool) {
        let bound = buffer::next_seq();
        let time_ns = self.start.elapsed().as_nanos() as u64;
        let mut defs = std::mem::take(&mut self.defs);
        let mut events = std::mem::take(&mut self.events);
        self.describe_new_modules(&mut defs);
        self.collect(bound, &mut defs, &mut events);
        if self.failure.is_none() {
            events.sort_by_key(|e| e.seq);
            let sample = sample.then(|| {
                self.last_rss = read_rss(sys::os::page_size());
                Record::Sample {
                    time_ns,
                    rss_bytes: self.last_rss,
                }
            });
            if let Err(e) = self.write_batch(&defs, &events, sample) {
                self.fail(e);
            }
        }
        defs.clear();
        events.clear();
        self.defs = defs;
        self.events = events;
    }

    /// The capture cannot grow (disk full, file gone): the program must run
    /// on as if untracked, so stop recording rather than let buffers fill
    /// and block it.
    fn fail(&mut self, e: io::Error) {
        recorder::enable(false, false);
        self.failure = Some(e);
    }

    /// Adds a module record for every loaded object not described yet: at
    /// the first tick, and after a `dlopen`.
    fn describe_new_modules(&mut self, defs: &mut Vec<Record>) {
        let Some(known) = self.modules.as_mut() else {
            return;
        };
        if !known.is_empty() && !recorder::take_objects_changed() {
            return;
        }
        sys::objects::for_each(|o| {
            let Some(range) = o.address_range() else {
                return;
            };
            let path = sys::objects::path(o);
            if known.insert((o.bias as u64, path.clone())) {
                defs.push(Record::Module(ModuleDef {
                    path,
                    build_id: sys::objects::build_id(o),
                    load_bias: o.bias as u64,
                    start: range.start,
                    end: range.end,
                }));
            }
        });
    }

    /// Gathers every definition, and every event numbered from `self.next`
    /// up to `bound`. Numbers are dense (see `buffer`), so it knows how many
    /// events to expect and waits for the few a thread may be publishing
    /// right now. Lanes are listed after `bound` is read, so a thread's lane
    /// is always registered before any of its events can fall below it.
    fn collect(&mut self, bound: u64, defs: &mut Vec<Record>, events: &mut Vec<Event>) {
        let mut missing = bound.saturating_sub(self.next);
        let deadline = Instant::now() + STRAGGLER_WAIT;
        loop {
            for lane in buffer::live_lanes() {
                missing = missing.saturating_sub(lane.take_before(bound, defs, events));
            }
            // A thread holds a number unpublished for a few instructions at
            // most; the deadline only guards against a bug stalling the
            // program through the writer.
            if missing == 0 || Instant::now() > deadline {
                break;
            }
            thread::yield_now();
        }
        self.next = bound;
    }

    /// Appends one drained batch and its timeline sample, and writes the
    /// chunk out once it is big or old enough.
    fn write_batch(
        &mut self,
        defs: &[Record],
        events: &[Event],
        sample: Option<Record>,
    ) -> io::Result<()> {
        for d in defs {
            self.out.push(d);
        }
        self.write_events(events)?;
        if let Some(sample) = sample {
            self.out.push(&sample);
        }
        if self.out.pending_bytes() >= CHUNK_TARGET_BYTES
            || self.last_flush.elapsed() >= MAX_CHUNK_AGE
        {
            self.out.flush_chunk()?;
            self.last_flush = Instant::now();
        }
        Ok(())
    }

    /// The process's RSS reached `--limit`: end the capture with a record
    /// saying so, and end the process at once, before the kernel's OOM killer
    /// would, with `EXIT_LIMIT` (`memsleuth run` tells the user). Recording
    /// stops first, so the last drain takes every event numbered so far and
    /// the capture is complete. The program's exit handlers do not run: it
    /// is stopped, as the OOM killer would stop it, but with its capture.
    fn stop_at_limit(&mut self, limit: u64) -> ! {
        recorder::enable(false, false);
        self.drain(false);
        let reached = Record::LimitReached {
            time_ns: self.start.elapsed().as_nanos() as u64,
            rss_bytes: self.last_rss,
            limit_bytes: limit,
        };
        self.out.push(&reached);
        let _ = self.finish();
        sys::os::exit_now(EXIT_LIMIT)
    }

    /// Writes the end record and everything pending.
    fn finish(&mut self) -> io::Result<()> {
        self.out.push(&Record::End {
            time_ns: self.start.elapsed().as_nanos() as u64,
        });
        self.out.flush_chunk()
    }

    /// Encodes events in order, joining the two halves of a realloc into one
    /// record when nothing came between them (the usual case). Otherwise the
    /// old half is written as a free and the new half as a realloc whose old
    /// address is 0.
    fn write_events(&mut self, events: &[Event]) -> io::Result<()> {
        let mut i = 0;
        while i < events.len() {
            let e = &events[i];
            let domain = Domain::from_u8(e.domain).unwrap_or(Domain::Raw);
            let next = events.get(i + 1);
            let record = match e.kind {
                EventKind::Malloc | EventKind::Calloc | EventKind::Aligned | EventKind::Mmap => {
                    Record::Alloc {
                        domain,
                        kind: alloc_kind(e.kind),
                        addr: e.addr,
                        size: e.size,
                        stack: e.stack,
                        native: e.native,
                    }
                }
                EventKind::Free => Record::Free {
                    domain,
                    addr: e.addr,
                },
                EventKind::Unmap => Record::Unmap {
                    addr: e.addr,
                    size: e.size,
                },
                EventKind::ReallocFree => match next {
                    Some(n)
                        if n.kind == EventKind::ReallocAlloc
                            && n.seq == e.seq + 1
                            && n.domain == e.domain =>
                    {
                        i += 1;
                        Record::Realloc {
                            domain,
                            old_addr: e.addr,
                            addr: n.addr,
                            size: n.size,
                            stack: n.stack,
                            native: n.native,
                        }
                    }
                    _ => Record::Free {
                        domain,
                        addr: e.addr,
                    },
                },
                EventKind::GcStart => Record::GcStart {
                    time_ns: e.addr,
                    generation: e.domain,
                },
                EventKind::GcEnd => Record::GcEnd {
                    time_ns: e.addr,
                    generation: e.domain,
                    collected: e.size,
                    uncollectable: e.stack.into(),
                },
                EventKind::GcScratch => Record::GcScratch { addr: e.addr },
                EventKind::Fork => Record::Fork { time_ns: e.addr },
                EventKind::ReallocAlloc => Record::Realloc {
                    domain,
                    old_addr: 0,
                    addr: e.addr,
                    size: e.size,
                    stack: e.stack,
                    native: e.native,
                },
            };
            self.out.push(&record);
            self.stats.events += 1;
            i += 1;
            // A long backlog must not become one chunk larger than readers accept.
            if self.out.pending_bytes() >= CHUNK_TARGET_BYTES {
                self.out.flush_chunk()?;
            }
        }
        Ok(())
    }
}

fn alloc_kind(kind: EventKind) -> AllocKind {
    match kind {
        EventKind::Calloc => AllocKind::Calloc,
        EventKind::Aligned => AllocKind::Aligned,
        EventKind::Mmap => AllocKind::Mmap,
        _ => AllocKind::Malloc,
    }
}

/// Resident set size from `/proc/self/statm`; 0 where it cannot be read.
fn read_rss(page: u64) -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}
