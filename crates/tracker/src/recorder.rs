//! What the allocator hooks call: the per-thread recording state.
//!
//! Everything here runs inside an allocator hook, so it must not call Python,
//! must not block on anything but its own thread's buffer, and must never
//! panic (a panic in an `extern "C"` hook aborts the profiled program).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memsleuth_format::{AllocKind, Domain, Record, ThreadDef};

use crate::buffer::{self, Event, EventKind, Lane, Producer, MAX_BLOCKS};
use crate::native_stacks::{self, NativeStacks};
use crate::stacks::{self, StackCache};
use crate::{codes, sys, writer};

/// Whether the hooks record; false outside a session and in a forked child.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether the C heap and mmap hooks record too (see `sys::native`).
static NATIVE: AtomicBool = AtomicBool::new(false);
/// Set when `dlopen` loaded objects the writer has not described yet.
static OBJECTS_CHANGED: AtomicBool = AtomicBool::new(false);
/// Distinguishes sessions, so thread state left from an earlier one is rebuilt.
static SESSION: AtomicU64 = AtomicU64::new(0);

/// The stack id of events from a thread whose own state is already torn down.
pub(crate) const UNKNOWN_STACK: u32 = 0;

thread_local! {
    /// Set while this thread is inside a hook: allocations the hook itself
    /// causes, and those of an allocator that calls another domain (pymalloc
    /// hands large requests to `PyMem_RawMalloc`), are not recorded again.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    static THREAD: RefCell<Option<ThreadState>> = const { RefCell::new(None) };
}

/// Proof that this thread entered a hook and may record.
pub(crate) struct Guard {
    /// What `IN_HOOK` was on entry, restored on exit.
    outer: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let outer = self.outer;
        IN_HOOK.with(|f| f.set(outer));
    }
}

fn guard(outer: bool) -> Guard {
    IN_HOOK.with(|f| f.set(true));
    Guard {
        outer,
        _not_send: std::marker::PhantomData,
    }
}

/// Enters a hook; `None` when recording is off or this is a nested call.
pub(crate) fn enter() -> Option<Guard> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let nested = IN_HOOK.try_with(Cell::get).unwrap_or(true);
    (!nested).then(|| guard(false))
}

/// Enters a C heap or mmap hook; `None` also when native memory is not tracked.
pub(crate) fn enter_native() -> Option<Guard> {
    if !NATIVE.load(Ordering::Relaxed) {
        return None;
    }
    enter()
}

/// Enters the arena hook, which pymalloc calls from inside an object
/// allocation or free (a nested call that still must be recorded: arenas
/// are their own layer, outside the totals).
pub(crate) fn enter_arena() -> Option<Guard> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    quiet()
}

/// Keeps this thread's allocations out of the capture until the guard is
/// dropped: for memsleuth's own work outside a hook (patching after a
/// `dlopen`, starting and stopping), whose `malloc` calls can reach the
/// hooks — in a non-PIE interpreter, through its PLT (see `sys::real`).
pub(crate) fn quiet() -> Option<Guard> {
    IN_HOOK.try_with(Cell::get).ok().map(guard)
}

/// Keeps this thread's own allocations out of the capture for good: the
/// writer's, whose libc calls may pass through patched GOTs.
pub(crate) fn never_record_this_thread() {
    let _ = IN_HOOK.try_with(|f| f.set(true));
}

pub(crate) fn enable(on: bool, native: bool) {
    if on {
        SESSION.fetch_add(1, Ordering::AcqRel);
    }
    NATIVE.store(on && native, Ordering::Release);
    ENABLED.store(on, Ordering::Release);
}

/// Called after `dlopen` loaded objects: the unwinder must know them, and
/// the writer must describe them in the capture.
pub(crate) fn on_objects_changed() {
    if native_stacks::is_enabled() {
        native_stacks::rebuild();
    }
    OBJECTS_CHANGED.store(true, Ordering::Release);
}

/// Whether objects were loaded since the last call.
pub(crate) fn take_objects_changed() -> bool {
    OBJECTS_CHANGED.swap(false, Ordering::AcqRel)
}

pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Stops recording in a forked child: the writer thread did not survive the
/// fork, and the child must run exactly as it would untracked.
pub(crate) fn disable_after_fork() {
    ENABLED.store(false, Ordering::Release);
}

struct ThreadState {
    session: u64,
    producer: Producer,
    stacks: StackCache,
    /// Made on the thread's first allocation when native stacks are on.
    native: Option<NativeStacks>,
    defs: Vec<Record>,
}

impl ThreadState {
    fn register() -> ThreadState {
        let root = stacks::new_node_id();
        let native_id = sys::os::gettid();
        let is_main = native_id == u64::from(std::process::id());
        let thread = Record::Thread(ThreadDef {
            root,
            native_id,
            is_main,
        });
        let (lane, producer) = Lane::new(vec![thread]);
        buffer::register(lane);
        ThreadState {
            session: SESSION.load(Ordering::Acquire),
            producer,
            stacks: StackCache::new(root),
            native: None,
            defs: Vec::new(),
        }
    }

    fn push(&mut self, event: Event) {
        if self.producer.push(&mut self.defs, event) >= MAX_BLOCKS {
            wait_for_writer(self.producer.lane());
        }
    }
}

/// Bounds the memory the tracker holds when the program allocates faster
/// than the writer can compress: wait until the writer catches up.
fn wait_for_writer(lane: &Lane) {
    while is_enabled() && lane.backlog() >= MAX_BLOCKS / 2 {
        writer::wake();
        std::thread::yield_now();
    }
}

/// Runs `f` on this thread's state, creating it on first use. Returns `None`
/// when the state is unavailable (thread-local storage already destroyed
/// during thread exit): the caller then records into the fallback lane.
fn with_thread(f: impl FnOnce(&mut ThreadState)) -> Option<()> {
    THREAD
        .try_with(|cell| {
            let mut slot = cell.try_borrow_mut().ok()?;
            let session = SESSION.load(Ordering::Acquire);
            if slot.as_ref().is_none_or(|s| s.session != session) {
                *slot = Some(ThreadState::register());
            }
            slot.as_mut().map(f)
        })
        .ok()
        .flatten()
}

fn record(event: Event, needs_stack: bool) {
    let done = with_thread(|ts| {
        let mut event = event;
        if needs_stack {
            match ts.stacks.current(&mut ts.defs) {
                Some(stack) => event.stack = stack,
                None => return,
            }
            if native_stacks::is_enabled() && native_stacks::wanted_for(event.domain) {
                let native = ts.native.get_or_insert_with(NativeStacks::new);
                event.native = native.current(&mut ts.defs);
            }
        }
        ts.push(event);
    });
    if done.is_none() {
        writer::push_fallback(event);
    }
}

fn event(kind: EventKind, domain: Domain, addr: usize, size: usize) -> Event {
    Event {
        seq: 0,
        addr: addr as u64,
        size: size as u64,
        stack: UNKNOWN_STACK,
        native: 0,
        kind,
        domain: domain as u8,
    }
}

pub(crate) fn on_alloc(_guard: &Guard, domain: Domain, kind: AllocKind, addr: usize, size: usize) {
    let kind = match kind {
        AllocKind::Malloc => EventKind::Malloc,
        AllocKind::Calloc => EventKind::Calloc,
        AllocKind::Aligned => EventKind::Aligned,
        AllocKind::Mmap => EventKind::Mmap,
    };
    record(event(kind, domain, addr, size), true);
}

pub(crate) fn on_unmap(_guard: &Guard, addr: usize, size: usize) {
    record(event(EventKind::Unmap, Domain::Mmap, addr, size), false);
}

pub(crate) fn on_free(_guard: &Guard, domain: Domain, addr: usize) {
    if domain == Domain::Object {
        codes::on_object_free(addr);
    }
    record(event(EventKind::Free, domain, addr, 0), false);
}

pub(crate) fn on_realloc_free(_guard: &Guard, domain: Domain, addr: usize) {
    record(event(EventKind::ReallocFree, domain, addr, 0), false);
}

/// Records a marker in the calling thread's event order: a collection's
/// start or end, a scratch block, a fork (see `EventKind`). Called outside
/// the allocator hooks, from the interpreter's `gc.callbacks` and fork
/// handlers, so it takes its own guard.
pub(crate) fn on_marker(kind: EventKind, addr: u64, size: u64, extra: u32, small: u8) {
    if !is_enabled() {
        return;
    }
    let Some(_quiet) = quiet() else { return };
    let marker = Event {
        seq: 0,
        addr,
        size,
        stack: extra,
        native: 0,
        kind,
        domain: small,
    };
    record(marker, false);
}

pub(crate) fn on_realloc_alloc(_guard: &Guard, domain: Domain, addr: usize, size: usize) {
    record(event(EventKind::ReallocAlloc, domain, addr, size), true);
}
