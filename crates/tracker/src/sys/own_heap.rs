//! Counts the bytes memsleuth's own Rust code holds on the C heap, so that
//! the RSS account can name them instead of leaving them unexplained.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

static OWN_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting. The extension module installs it as its
/// `#[global_allocator]`.
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments,
// so it upholds exactly the guarantees `System` does; the counter is only
// arithmetic on the side.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            OWN_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            OWN_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        OWN_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded under the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            OWN_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
            OWN_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        p
    }
}

/// Bytes memsleuth's Rust code holds right now (requested sizes).
pub(crate) fn own_bytes() -> u64 {
    OWN_BYTES.load(Ordering::Relaxed)
}
