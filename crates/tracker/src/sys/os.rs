//! Operating-system calls the tracker needs.

/// The kernel's id of the calling thread.
pub(crate) fn gettid() -> u64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    tid as u64
}

/// The size of a memory page, for converting `/proc/self/statm` pages to bytes.
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Arranges for `prepare` to run in the forking thread just before every
/// `fork()`, and `parent` and `child` just after it, in each process.
pub(crate) fn on_fork(
    prepare: extern "C" fn(),
    parent: extern "C" fn(),
    child: extern "C" fn(),
) -> bool {
    // SAFETY: pthread_atfork only stores the function pointers; each is a
    // plain `extern "C" fn` with no captured state, valid for the process
    // life. None of them unwinds across the C boundary: the handlers in
    // `fork.rs` take locks through their poison-tolerant paths and fill a
    // vector, and an allocation failure aborts rather than unwinds.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Ends the process now with `code`, from any thread, running no exit
/// handlers: what `--limit` does once the capture is complete.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns, and skips the
    // exit handlers that could block on the threads it stops.
    unsafe { libc::_exit(code) }
}
