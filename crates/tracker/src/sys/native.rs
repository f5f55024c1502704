//! Hooks for the C heap and mmap, installed into every loaded object's GOT
//! (see `got`), and re-installed into objects a later `dlopen` brings in.
//!
//! Each hook calls the real function (see `real`) and reports the block
//! to the recorder with the same ordering rule as the CPython hooks: a block
//! is reported freed before it is released, and allocated after it exists.
//!
//! Once installed the hooks stay for the life of the process; outside a
//! session they cost one flag check and pass the call through.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Mutex;

use memsleuth_format::{AllocKind, Domain};

use super::got::{self, Redirect};
use super::objects;
use super::real::real;
use crate::recorder;

/// Serialises patching: two threads changing page protections at once
/// could leave a page read-only under the other's write.
static PATCH_LOCK: Mutex<()> = Mutex::new(());

/// A hooked function: its symbol, the real function (what this module is
/// bound to), and the hook that stands in for it.
struct Hooked {
    symbol: &'static CStr,
    real: usize,
    hook: usize,
}

/// Every function hooked in GOTs. `mmap64` is an alias of `mmap` on x86_64.
fn hooked() -> [Hooked; 15] {
    let r = real();
    macro_rules! hooked {
        ($symbol:literal, $real:expr, $hook:ident) => {
            Hooked {
                symbol: $symbol,
                real: $real as usize,
                hook: $hook as *const () as usize,
            }
        };
    }
    [
        hooked!(c"malloc", r.malloc, hook_malloc),
        hooked!(c"calloc", r.calloc, hook_calloc),
        hooked!(c"realloc", r.realloc, hook_realloc),
        hooked!(c"reallocarray", r.reallocarray, hook_reallocarray),
        hooked!(c"free", r.free, hook_free),
        hooked!(c"posix_memalign", r.posix_memalign, hook_posix_memalign),
        hooked!(c"aligned_alloc", r.aligned_alloc, hook_aligned_alloc),
        hooked!(c"memalign", r.memalign, hook_memalign),
        hooked!(c"valloc", r.valloc, hook_valloc),
        hooked!(c"pvalloc", r.pvalloc, hook_pvalloc),
        hooked!(c"mmap", r.mmap, hook_mmap),
        hooked!(c"mmap64", r.mmap, hook_mmap),
        hooked!(c"munmap", r.munmap, hook_munmap),
        hooked!(c"mremap", r.mremap, hook_mremap),
        hooked!(c"dlopen", r.dlopen, hook_dlopen),
    ]
}

/// Python's foreign-function interfaces call C functions through addresses
/// they look up with `dlsym` (`ctypes.CDLL("libc.so.6").malloc`), which no
/// GOT sees; in these objects `dlsym` itself is redirected. Only in these:
/// a `dlsym(RTLD_NEXT, ...)` answers relative to its caller, so it cannot be
/// forwarded from elsewhere, and these modules never make one.
fn is_ffi_module(object: &objects::Object<'_>) -> bool {
    let name = object.name.to_bytes();
    let file = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
    file.starts_with(b"_ctypes") || file.starts_with(b"_cffi_backend")
}

/// Points every loaded object except the dynamic linker, the vDSO and this
/// module at the hooks. Idempotent: objects already patched are unchanged.
pub(crate) fn install() {
    let _lock = PATCH_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let own = objects::own().map_or(usize::MAX, |o| o.bias);
    let table = hooked().map(|h| Redirect {
        symbol: h.symbol,
        hook: h.hook,
    });
    let lookup = [Redirect {
        symbol: c"dlsym",
        hook: hook_dlsym as *const () as usize,
    }];
    objects::for_each(|o| {
        if o.bias != own && !o.is_loader_or_vdso() {
            got::patch(o, &table);
            if is_ffi_module(o) {
                got::patch(o, &lookup);
            }
        }
    });
}

/// The hook standing in for a real function, when `real` is one we hook.
fn hook_for(real: usize) -> Option<usize> {
    hooked().iter().find(|h| h.real == real).map(|h| h.hook)
}

extern "C" fn hook_dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let real = unsafe { (real().dlsym)(handle, symbol) };
    match hook_for(real as usize) {
        Some(hook) => hook as *mut c_void,
        None => real,
    }
}

fn report_alloc(kind: AllocKind, domain: Domain, ptr: *mut c_void, size: usize) {
    if let Some(g) = recorder::enter_native() {
        if !ptr.is_null() {
            recorder::on_alloc(&g, domain, kind, ptr as usize, size);
        }
    }
}

extern "C" fn hook_malloc(size: usize) -> *mut c_void {
    // SAFETY (every pass-through call in this file): the caller's arguments
    // go unchanged to the real function the caller meant to call.
    let ptr = unsafe { (real().malloc)(size) };
    report_alloc(AllocKind::Malloc, Domain::Native, ptr, size);
    ptr
}

extern "C" fn hook_calloc(n: usize, size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().calloc)(n, size) };
    report_alloc(
        AllocKind::Calloc,
        Domain::Native,
        ptr,
        n.saturating_mul(size),
    );
    ptr
}

/// A realloc in two halves, so the old block is reported gone before another
/// thread can be handed its address.
fn realloc_with(old: *mut c_void, size: usize, call: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let Some(g) = recorder::enter_native() else {
        return call();
    };
    if !old.is_null() {
        recorder::on_realloc_free(&g, Domain::Native, old as usize);
    }
    let ptr = call();
    if !ptr.is_null() {
        recorder::on_realloc_alloc(&g, Domain::Native, ptr as usize, size);
    }
    ptr
}

extern "C" fn hook_realloc(old: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    realloc_with(old, size, || unsafe { (real().realloc)(old, size) })
}

extern "C" fn hook_reallocarray(old: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    realloc_with(old, n.saturating_mul(size), || unsafe {
        (real().reallocarray)(old, n, size)
    })
}

extern "C" fn hook_free(ptr: *mut c_void) {
    let guard = recorder::enter_native();
    if let Some(g) = &guard {
        if !ptr.is_null() {
            recorder::on_free(g, Domain::Native, ptr as usize);
        }
    }
    // SAFETY: see hook_malloc.
    unsafe { (real().free)(ptr) }
}

extern "C" fn hook_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    // SAFETY: see hook_malloc.
    let rc = unsafe { (real().posix_memalign)(out, align, size) };
    if rc == 0 {
        // SAFETY: on success posix_memalign stored the block in `*out`.
        let ptr = unsafe { *out };
        report_alloc(AllocKind::Aligned, Domain::Native, ptr, size);
    }
    rc
}

extern "C" fn hook_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().aligned_alloc)(align, size) };
    report_alloc(AllocKind::Aligned, Domain::Native, ptr, size);
    ptr
}

extern "C" fn hook_memalign(align: usize, size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().memalign)(align, size) };
    report_alloc(AllocKind::Aligned, Domain::Native, ptr, size);
    ptr
}

extern "C" fn hook_valloc(size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().valloc)(size) };
    report_alloc(AllocKind::Aligned, Domain::Native, ptr, size);
    ptr
}

extern "C" fn hook_pvalloc(size: usize) -> *mut c_void {
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().pvalloc)(size) };
    // pvalloc rounds the request up to whole pages, and hands out at least one.
    let page = super::os::page_size() as usize;
    let rounded = size.max(1).div_ceil(page).saturating_mul(page);
    report_alloc(AllocKind::Aligned, Domain::Native, ptr, rounded);
    ptr
}

extern "C" fn hook_mmap(
    addr: *mut c_void,
    len: usize,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    offset: libc::off_t,
) -> *mut c_void {
    let guard = recorder::enter_native();
    if let Some(g) = &guard {
        // A fixed mapping replaces whatever was mapped in its range.
        if flags & libc::MAP_FIXED != 0 {
            recorder::on_unmap(g, addr as usize, len);
        }
    }
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().mmap)(addr, len, prot, flags, fd, offset) };
    if let Some(g) = guard {
        if ptr != libc::MAP_FAILED {
            recorder::on_alloc(&g, Domain::Mmap, AllocKind::Mmap, ptr as usize, len);
        }
    }
    ptr
}

extern "C" fn hook_munmap(addr: *mut c_void, len: usize) -> c_int {
    let guard = recorder::enter_native();
    if let Some(g) = &guard {
        recorder::on_unmap(g, addr as usize, len);
    }
    // SAFETY: see hook_malloc.
    unsafe { (real().munmap)(addr, len) }
}

/// `mremap` is variadic in C; on x86_64 a variadic callee reads its
/// arguments from the same registers as a fixed one, and the fifth (the new
/// address) is only meaningful, and only read by the kernel, with MREMAP_FIXED.
extern "C" fn hook_mremap(
    old: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    let guard = recorder::enter_native();
    // SAFETY: see hook_malloc.
    let ptr = unsafe { (real().mremap)(old, old_len, new_len, flags, new_addr) };
    // Reported after the call, as a pair: a failed mremap changes nothing,
    // and must not show as an unmap.
    if let Some(g) = guard {
        if ptr != libc::MAP_FAILED {
            recorder::on_unmap(&g, old as usize, old_len);
            recorder::on_alloc(&g, Domain::Mmap, AllocKind::Mmap, ptr as usize, new_len);
        }
    }
    ptr
}

extern "C" fn hook_dlopen(filename: *const c_char, flags: c_int) -> *mut c_void {
    // The loader's own bookkeeping, and our patching, are not the program's
    // allocations; a library's constructors are not seen either way.
    let _quiet = recorder::quiet();
    // SAFETY: see hook_malloc.
    let handle = unsafe { (real().dlopen)(filename, flags) };
    // The new object and its dependencies call malloc through their own,
    // still untouched, GOTs. Outside a session (and in a forked child, where
    // the patch lock may be held by a thread that did not survive the fork)
    // nothing is patched: starting a session patches everything loaded.
    if !handle.is_null() && recorder::is_enabled() {
        install();
        recorder::on_objects_changed();
    }
    handle
}
