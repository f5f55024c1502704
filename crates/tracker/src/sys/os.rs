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

/// Arranges for `child` to run in the child process after every `fork()`.
pub(crate) fn on_fork_in_child(child: extern "C" fn()) -> bool {
    // SAFETY: pthread_atfork only stores the function pointers; `child` is a
    // plain `extern "C" fn` with no captured state, valid for the process life.
    unsafe { libc::pthread_atfork(None, None, Some(child)) == 0 }
}

/// Ends the process now with `code`, from any thread, running no exit
/// handlers: what `--limit` does once the capture is complete.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions; it never returns, and skips the
    // exit handlers that could block on the threads it stops.
    unsafe { libc::_exit(code) }
}
