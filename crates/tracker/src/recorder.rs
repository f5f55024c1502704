//! What the allocator hooks call: the per-thread recording state.
//!
//! Everything here runs inside an allocator hook, so it must not call Python,
//! must not block on anything but its own thread's buffer, and must never
//! panic (a panic in an `extern "C"` hook aborts the profiled program).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memsleuth_format::{AllocKind, Domain, Record, ThreadDef};

use crate::buffer::{self, Event, EventKind, Lane, Producer, MAX_BLOCKS};
use crate::stacks::{self, StackCache};
use crate::{codes, sys, writer};

/// Whether the hooks record; false outside a session and in a forked child.
static ENABLED: AtomicBool = AtomicBool::new(false);
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

/// Proof that this thread entered a hook at the outermost level.
pub(crate) struct Guard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        IN_HOOK.with(|f| f.set(false));
    }
}

/// Enters a hook; `None` when recording is off or this is a nested call.
pub(crate) fn enter() -> Option<Guard> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    IN_HOOK.with(|f| {
        if f.get() {
            None
        } else {
            f.set(true);
            Some(Guard {
                _not_send: std::marker::PhantomData,
            })
        }
    })
}

pub(crate) fn enable(on: bool) {
    if on {
        SESSION.fetch_add(1, Ordering::AcqRel);
    }
    ENABLED.store(on, Ordering::Release);
}

pub(crate) fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Stops recording in a forked child: the writer thread did not survive the
/// fork, and the child must run exactly as it would untracked.
pub(crate) extern "C" fn disable_after_fork() {
    ENABLED.store(false, Ordering::Release);
}

struct ThreadState {
    session: u64,
    producer: Producer,
    stacks: StackCache,
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
        kind,
        domain: domain as u8,
    }
}

pub(crate) fn on_alloc(_guard: &Guard, domain: Domain, kind: AllocKind, addr: usize, size: usize) {
    let kind = match kind {
        AllocKind::Malloc => EventKind::Malloc,
        AllocKind::Calloc => EventKind::Calloc,
    };
    record(event(kind, domain, addr, size), true);
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

pub(crate) fn on_realloc_alloc(_guard: &Guard, domain: Domain, addr: usize, size: usize) {
    record(event(EventKind::ReallocAlloc, domain, addr, size), true);
}
