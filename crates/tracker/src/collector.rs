//! Marks the garbage collector's work and the program's forks in the event
//! order, so the analysis knows which frees were the collector's.
//!
//! A collection runs on one thread, holding the GIL, so every object free
//! between its start and end markers is the collector's: no other thread can
//! free a Python object meanwhile. The markers are called from
//! `gc.callbacks`, once per collection and phase, never from a hook.

use crate::buffer::EventKind;
use crate::sys::heap_walk::{self, Gil};
use crate::{recorder, writer};

/// A collection of `generation` is starting. `scratch` are the objects the
/// interpreter made to describe it to `gc.callbacks` (the `info` dict and
/// its keys); they are freed inside the collection, but not by it.
pub fn gc_started(generation: u8, scratch: &[usize]) {
    if !recorder::is_enabled() {
        return;
    }
    let Some(gil) = Gil::check() else { return };
    let now = writer::elapsed_ns();
    recorder::on_marker(EventKind::GcStart, now, 0, 0, generation);
    for &object in scratch {
        let block = heap_walk::object_block(&gil, object) as u64;
        recorder::on_marker(EventKind::GcScratch, block, 0, 0, 0);
    }
}

/// The collection finished, freeing `collected` objects and finding
/// `uncollectable` ones it could not free.
pub fn gc_finished(generation: u8, collected: u64, uncollectable: u64) {
    let uncollectable = u32::try_from(uncollectable).unwrap_or(u32::MAX);
    let now = writer::elapsed_ns();
    recorder::on_marker(EventKind::GcEnd, now, collected, uncollectable, generation);
}

/// The program forked (`os.fork`); called in the parent.
pub fn forked() {
    recorder::on_marker(EventKind::Fork, writer::elapsed_ns(), 0, 0, 0);
}
