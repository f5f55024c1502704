//! What the memory managers say about themselves: pymalloc's statistics
//! (`_PyObject_DebugMallocStats`, the text behind `sys._debugmallocstats()`),
//! glibc's `mallinfo2` and `malloc_info`, and `malloc_trim`.
//!
//! Every entry point is found with `dlsym` at run time rather than linked:
//! an interpreter or C library without one must still load memsleuth.

use std::ffi::{c_char, c_int, c_void, CStr};

use libc::FILE;
use pyo3_ffi::{PyMemAllocatorDomain, PyMemAllocatorEx, PyMem_GetAllocator, PyMem_SetAllocator};

use super::heap_walk::Gil;

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct MallInfo2 {
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    pub uordblks: usize,
    pub fordblks: usize,
    pub keepcost: usize,
}

fn symbol(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: `name` is NUL-terminated; RTLD_DEFAULT searches the loaded
    // objects in load order, which is how a call would bind.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// Runs `write` on a `FILE *` that collects what it prints, and returns the
/// text. `None` when the stream cannot be made or `write` says it printed
/// nothing.
fn capture_stream(write: impl FnOnce(*mut FILE) -> bool) -> Option<String> {
    let mut buf: *mut c_char = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: both out-pointers are valid for writes; glibc owns the buffer
    // until `fclose`, after which it is ours to read and free.
    let stream = unsafe { libc::open_memstream(&mut buf, &mut len) };
    if stream.is_null() {
        return None;
    }
    let wrote = write(stream);
    // SAFETY: `stream` came from open_memstream and is closed exactly once;
    // closing it sets `buf` and `len` to the final text.
    unsafe { libc::fclose(stream) };
    if buf.is_null() {
        return None;
    }
    // SAFETY: after fclose, `buf` holds `len` initialized bytes (plus a NUL).
    let text = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    let text = String::from_utf8_lossy(text).into_owned();
    // SAFETY: open_memstream's buffer is allocated with malloc and is ours.
    unsafe { libc::free(buf.cast()) };
    wrote.then_some(text)
}

/// pymalloc's statistics as `sys._debugmallocstats()` prints them, or
/// `None` when pymalloc is not the object allocator.
///
/// CPython prints nothing while the object domain's allocator is not its own,
/// and ours wraps it. So the original goes back for the length of the call:
/// with the GIL held no other thread can allocate from that domain, and the
/// call itself only reads pools and prints.
pub(crate) fn pymalloc_report(_gil: &Gil<'_>, original: &PyMemAllocatorEx) -> Option<String> {
    let f = symbol(c"_PyObject_DebugMallocStats")?;
    // SAFETY: the symbol is CPython's `int _PyObject_DebugMallocStats(FILE *)`,
    // exported under that name by every supported version.
    let stats: extern "C" fn(*mut FILE) -> c_int = unsafe { std::mem::transmute(f) };
    let domain = PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ;
    let mut ours = PyMemAllocatorEx {
        ctx: std::ptr::null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    };
    let mut original = *original;
    // SAFETY: the GIL is held (the token), which is what PyMem_Get/SetAllocator
    // need; `original` is the table our hook wraps, so blocks from either are
    // the same blocks, and ours is put back before the GIL can be released.
    unsafe {
        PyMem_GetAllocator(domain, &mut ours);
        PyMem_SetAllocator(domain, &mut original);
    }
    let text = capture_stream(|out| stats(out) != 0);
    // SAFETY: as above.
    unsafe { PyMem_SetAllocator(domain, &mut ours) };
    text
}

/// glibc's `mallinfo2()`; `None` when the C library has none.
pub(crate) fn mallinfo2() -> Option<MallInfo2> {
    let f = symbol(c"mallinfo2")?;
    // SAFETY: glibc's `struct mallinfo2 mallinfo2(void)`, which takes the
    // arena locks itself and may be called from any thread.
    let mallinfo2: extern "C" fn() -> MallInfo2 = unsafe { std::mem::transmute(f) };
    Some(mallinfo2())
}

/// glibc's `malloc_info(0, …)` XML, which lists one `<heap>` per arena.
pub(crate) fn malloc_info_xml() -> Option<String> {
    let f = symbol(c"malloc_info")?;
    // SAFETY: glibc's `int malloc_info(int options, FILE *stream)`; options
    // must be 0, and it takes the arena locks itself.
    let malloc_info: extern "C" fn(c_int, *mut FILE) -> c_int = unsafe { std::mem::transmute(f) };
    capture_stream(|out| malloc_info(0, out) == 0)
}

/// Asks glibc to return free memory to the system (`malloc_trim(0)`).
pub(crate) fn malloc_trim() -> bool {
    let Some(f) = symbol(c"malloc_trim") else {
        return false;
    };
    // SAFETY: glibc's `int malloc_trim(size_t pad)`, thread-safe.
    let malloc_trim: extern "C" fn(usize) -> c_int = unsafe { std::mem::transmute(f) };
    malloc_trim(0) != 0
}
