//! Safe wrappers over `cpython_shim.c`, the code compiled against the running
//! interpreter's private headers.

use std::ffi::c_void;

/// Characters of a str (`kind` bytes each) or bytes (`kind` 0) as the C
/// shims hand them out (`ms_buf` in cpython_shim.c, `ms_text` in heap_shim.c).
#[repr(C)]
pub(crate) struct RawBuf {
    pub(crate) data: *const c_void,
    pub(crate) len: isize,
    pub(crate) kind: i32,
}

#[repr(C)]
struct RawCodeInfo {
    filename: RawBuf,
    name: RawBuf,
    linetable: RawBuf,
    firstlineno: i32,
    linetable_format: i32,
}

extern "C" {
    fn ms_walk_frames(out: *mut u64, cap: isize) -> isize;
    fn ms_code_info_of(code: *mut c_void, out: *mut RawCodeInfo);
    fn ms_code_block_offset() -> isize;
    fn ms_python_version_hex() -> i32;
}

/// What the tracker records about a code object, copied out of it.
pub(crate) struct CodeInfo {
    pub filename: String,
    pub name: String,
    pub linetable: Vec<u8>,
    pub first_line: u32,
    pub linetable_format: u8,
}

/// Fills the end of `out` with the calling thread's frames, two words each
/// (code object address, byte offset of the current instruction), outermost
/// first, and returns how many there are. When that is more than
/// `out.len() / 2`, the buffer holds only the innermost ones: grow it and
/// call again. Returns `None` when this thread has no Python thread state.
pub(crate) fn walk_frames(out: &mut [u64]) -> Option<usize> {
    let cap = out.len() / 2;
    // SAFETY: `out` holds `2 * cap` words and the shim writes at most that
    // many. The shim reads only the calling thread's own frame chain (see
    // `this_thread_tstate`), which only this thread changes, and it is busy
    // in this hook while the chain is walked.
    let n = unsafe { ms_walk_frames(out.as_mut_ptr(), cap as isize) };
    usize::try_from(n).ok()
}

/// Copies a `str` buffer of the given PEP 393 kind into UTF-8. The caller
/// must have the buffer from a shim that took it from a ready str which is
/// alive for the call.
pub(crate) fn decode_unicode(buf: &RawBuf) -> String {
    if buf.data.is_null() || buf.len <= 0 {
        return String::new();
    }
    let len = buf.len as usize;
    let chars: Vec<u32> = match buf.kind {
        // SAFETY (all three arms): the shim took `data`, `len` and `kind` from a
        // ready str object that its caller keeps alive (an executing frame's
        // code object, or an object met during a heap walk, which holds the
        // GIL); its buffer holds `len` characters of `kind` bytes each.
        1 => unsafe { std::slice::from_raw_parts(buf.data.cast::<u8>(), len) }
            .iter()
            .map(|&c| c.into())
            .collect(),
        2 => unsafe { std::slice::from_raw_parts(buf.data.cast::<u16>(), len) }
            .iter()
            .map(|&c| c.into())
            .collect(),
        4 => unsafe { std::slice::from_raw_parts(buf.data.cast::<u32>(), len) }.to_vec(),
        _ => return String::new(),
    };
    chars
        .into_iter()
        .map(|c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn copy_bytes(buf: &RawBuf) -> Vec<u8> {
    if buf.data.is_null() || buf.len <= 0 {
        return Vec::new();
    }
    // SAFETY: the shim took `data` and `len` from a bytes object owned by a
    // live code object; it holds `len` bytes.
    unsafe { std::slice::from_raw_parts(buf.data.cast::<u8>(), buf.len as usize) }.to_vec()
}

/// Reads a code object found by `walk_frames`.
///
/// The caller must pass a pointer that `walk_frames` returned during the same
/// hook invocation: the code object is then referenced by a frame that is
/// executing, so it is alive for the duration of this call.
pub(crate) fn code_info(code: usize) -> CodeInfo {
    let mut raw = RawCodeInfo {
        filename: RawBuf {
            data: std::ptr::null(),
            len: 0,
            kind: 0,
        },
        name: RawBuf {
            data: std::ptr::null(),
            len: 0,
            kind: 0,
        },
        linetable: RawBuf {
            data: std::ptr::null(),
            len: 0,
            kind: 0,
        },
        firstlineno: 0,
        linetable_format: 0,
    };
    // SAFETY: per this function's contract `code` is a live code object, and
    // `raw` is a valid, writable RawCodeInfo.
    unsafe { ms_code_info_of(code as *mut c_void, &mut raw) };
    CodeInfo {
        filename: decode_unicode(&raw.filename),
        name: decode_unicode(&raw.name),
        linetable: copy_bytes(&raw.linetable),
        first_line: raw.firstlineno.max(0) as u32,
        linetable_format: raw.linetable_format as u8,
    }
}

/// Bytes between the start of a code object's allocator block and the object.
pub(crate) fn code_block_offset() -> usize {
    // SAFETY: reads static type flags only.
    unsafe { ms_code_block_offset() }.max(0) as usize
}

/// `PY_VERSION_HEX` of the headers the shim was compiled against.
pub(crate) fn compiled_python_version_hex() -> u32 {
    // SAFETY: returns a compile-time constant.
    unsafe { ms_python_version_hex() as u32 }
}
