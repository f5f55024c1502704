//! Keeps the tracker usable in a forked child.
//!
//! `fork()` copies only the thread that calls it. A lock that another thread
//! (the writer, or a thread inside an allocator hook) held at that instant
//! stays held forever in the child, and the child's first attempt to write a
//! capture of its own would wait on it for ever. So the forking thread takes
//! every process-wide lock the child needs just before the fork, and lets
//! them go on both sides just after: the child then starts with each of them
//! free and every structure they guard in a consistent state.
//!
//! Each of these locks is a leaf (no code takes another lock while holding
//! one), so taking them here in any order cannot deadlock with the program's
//! threads, which at worst wait for the fork to finish.
//!
//! In the child, recording stops at once: the writer thread did not survive
//! the fork. `restart_after_fork` (crate root) may then start a capture of
//! the child's own; otherwise the child runs untracked.

use std::any::Any;
use std::cell::RefCell;

use crate::{buffer, codes, recorder, sys, writer};

thread_local! {
    /// The locks taken by this thread before its `fork()`.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// Registers the handlers around every `fork()` of the process; once.
pub(crate) fn watch() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        sys::os::on_fork(before_fork, after_fork_in_parent, after_fork_in_child);
    });
}

extern "C" fn before_fork() {
    let _quiet = recorder::quiet();
    let mut held: Vec<Box<dyn Any>> = Vec::with_capacity(5);
    held.push(buffer::hold_for_fork());
    held.push(codes::hold_for_fork());
    writer::hold_for_fork(&mut held);
    let _ = HELD.try_with(|h| {
        if let Ok(mut slot) = h.try_borrow_mut() {
            *slot = held;
        }
    });
}

fn release() {
    let _quiet = recorder::quiet();
    let _ = HELD.try_with(|h| {
        if let Ok(mut slot) = h.try_borrow_mut() {
            slot.clear();
        }
    });
}

extern "C" fn after_fork_in_parent() {
    release();
}

extern "C" fn after_fork_in_child() {
    recorder::disable_after_fork();
    release();
}
