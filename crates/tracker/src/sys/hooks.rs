//! CPython allocator hooks: `PyMem_SetAllocator` for the three domains, and
//! `PyObject_SetArenaAllocator` for the arenas pymalloc carves objects from.
//!
//! Each hook calls the allocator it wrapped and reports the block to the
//! recorder. The order is what keeps the capture exact when threads race on
//! the raw domain (callable without the GIL): a free is reported *before* the
//! block is released, an allocation *after* it is obtained, so an address is
//! never reported as reused before it was reported as freed.

use std::ffi::c_void;

use memsleuth_format::{AllocKind, Domain};
use pyo3_ffi::{
    PyMemAllocatorDomain, PyMemAllocatorEx, PyMem_GetAllocator, PyMem_SetAllocator,
    PyObjectArenaAllocator, PyObject_GetArenaAllocator, PyObject_SetArenaAllocator,
};

use crate::recorder;

/// The allocator a hook wraps. Leaked on installation and never freed, so the
/// context pointer a hook receives stays valid even after uninstallation.
struct Wrapped {
    domain: Domain,
    inner: PyMemAllocatorEx,
}

/// The wrapped allocators, to restore on uninstallation.
pub(crate) struct Installed {
    originals: [PyMemAllocatorEx; 3],
    arena: PyObjectArenaAllocator,
}

// SAFETY: the allocator tables only hold function pointers and the context
// pointers CPython gave us; CPython allows them to be used from any thread.
unsafe impl Send for Installed {}

fn ffi_domain(domain: Domain) -> PyMemAllocatorDomain {
    match domain {
        Domain::Raw => PyMemAllocatorDomain::PYMEM_DOMAIN_RAW,
        Domain::Mem => PyMemAllocatorDomain::PYMEM_DOMAIN_MEM,
        // Only the three CPython domains are wrapped here.
        _ => PyMemAllocatorDomain::PYMEM_DOMAIN_OBJ,
    }
}

fn empty_allocator() -> PyMemAllocatorEx {
    PyMemAllocatorEx {
        ctx: std::ptr::null_mut(),
        malloc: None,
        calloc: None,
        realloc: None,
        free: None,
    }
}

/// Wraps the current allocator of every domain with the recording hooks.
///
/// The caller must hold the GIL, and no other thread may be changing the
/// allocators: CPython requires both for `PyMem_SetAllocator`.
pub(crate) fn install() -> Installed {
    let mut originals = [empty_allocator(), empty_allocator(), empty_allocator()];
    for (slot, domain) in originals.iter_mut().zip(Domain::PYTHON) {
        // SAFETY: the caller holds the GIL (this function's contract) and
        // `slot` is a valid, writable allocator table.
        unsafe { PyMem_GetAllocator(ffi_domain(domain), slot) };
        let wrapped: &'static Wrapped = Box::leak(Box::new(Wrapped {
            domain,
            inner: *slot,
        }));
        let mut hook = PyMemAllocatorEx {
            ctx: (wrapped as *const Wrapped).cast_mut().cast::<c_void>(),
            malloc: Some(hook_malloc),
            calloc: Some(hook_calloc),
            realloc: Some(hook_realloc),
            free: Some(hook_free),
        };
        // SAFETY: as above; CPython copies the table, and `ctx` points to a
        // leaked `Wrapped` that lives for the rest of the process.
        unsafe { PyMem_SetAllocator(ffi_domain(domain), &mut hook) };
    }
    Installed {
        originals,
        arena: install_arena_hooks(),
    }
}

fn install_arena_hooks() -> PyObjectArenaAllocator {
    let mut original = PyObjectArenaAllocator::default();
    // SAFETY: the caller of `install` holds the GIL; `original` is writable.
    unsafe { PyObject_GetArenaAllocator(&mut original) };
    let wrapped: &'static PyObjectArenaAllocator = Box::leak(Box::new(original));
    let mut hook = PyObjectArenaAllocator {
        ctx: (wrapped as *const PyObjectArenaAllocator)
            .cast_mut()
            .cast::<c_void>(),
        alloc: Some(hook_arena_alloc),
        free: Some(hook_arena_free),
    };
    // SAFETY: as above; CPython copies the table, and `ctx` points to a
    // leaked copy of the original allocator that is never freed.
    unsafe { PyObject_SetArenaAllocator(&mut hook) };
    original
}

impl Installed {
    /// The object domain's allocator as it was before ours wrapped it.
    pub(crate) fn original_object_allocator(&self) -> &PyMemAllocatorEx {
        &self.originals[Domain::Object as usize]
    }
}

/// Puts back the allocators `install` wrapped. Same contract as `install`.
pub(crate) fn uninstall(installed: Installed) {
    for (mut original, domain) in installed.originals.into_iter().zip(Domain::PYTHON) {
        // SAFETY: the caller holds the GIL; `original` is the table CPython
        // handed us, whose blocks are the same blocks our hooks passed through.
        unsafe { PyMem_SetAllocator(ffi_domain(domain), &mut original) };
    }
    let mut arena = installed.arena;
    // SAFETY: as above, for the arena allocator.
    unsafe { PyObject_SetArenaAllocator(&mut arena) };
}

/// Recovers the wrapped allocator from a hook's context pointer.
fn wrapped<'a>(ctx: *mut c_void) -> &'a Wrapped {
    // SAFETY: every hook is installed with `ctx` pointing to a leaked, never
    // freed, never mutated `Wrapped` (see `install`).
    unsafe { &*ctx.cast::<Wrapped>() }
}

extern "C" fn hook_malloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let w = wrapped(ctx);
    let guard = recorder::enter();
    let Some(malloc) = w.inner.malloc else {
        return std::ptr::null_mut();
    };
    // Calling the wrapped allocator with its own context and the caller's
    // arguments is exactly what the unhooked call would have done.
    let ptr = malloc(w.inner.ctx, size);
    if let Some(g) = guard {
        if !ptr.is_null() {
            recorder::on_alloc(&g, w.domain, AllocKind::Malloc, ptr as usize, size);
        }
    }
    ptr
}

extern "C" fn hook_calloc(ctx: *mut c_void, nelem: usize, elsize: usize) -> *mut c_void {
    let w = wrapped(ctx);
    let guard = recorder::enter();
    let Some(calloc) = w.inner.calloc else {
        return std::ptr::null_mut();
    };
    let ptr = calloc(w.inner.ctx, nelem, elsize);
    if let Some(g) = guard {
        if !ptr.is_null() {
            let size = nelem.saturating_mul(elsize);
            recorder::on_alloc(&g, w.domain, AllocKind::Calloc, ptr as usize, size);
        }
    }
    ptr
}

extern "C" fn hook_realloc(ctx: *mut c_void, old: *mut c_void, size: usize) -> *mut c_void {
    let w = wrapped(ctx);
    let guard = recorder::enter();
    let Some(realloc) = w.inner.realloc else {
        return std::ptr::null_mut();
    };
    if let Some(g) = &guard {
        if !old.is_null() {
            recorder::on_realloc_free(g, w.domain, old as usize);
        }
    }
    let ptr = realloc(w.inner.ctx, old, size);
    if let Some(g) = guard {
        if !ptr.is_null() {
            recorder::on_realloc_alloc(&g, w.domain, ptr as usize, size);
        }
    }
    ptr
}

extern "C" fn hook_free(ctx: *mut c_void, ptr: *mut c_void) {
    let w = wrapped(ctx);
    // The guard lives across the wrapped free: pymalloc hands large blocks
    // back through the raw domain, whose free must not be recorded again.
    let guard = recorder::enter();
    if let Some(g) = &guard {
        if !ptr.is_null() {
            recorder::on_free(g, w.domain, ptr as usize);
        }
    }
    let Some(free) = w.inner.free else { return };
    free(w.inner.ctx, ptr);
}

/// Recovers the wrapped arena allocator from a hook's context pointer.
fn wrapped_arena<'a>(ctx: *mut c_void) -> &'a PyObjectArenaAllocator {
    // SAFETY: the arena hooks are installed with `ctx` pointing to a leaked,
    // never freed, never mutated copy of the original (see `install_arena_hooks`).
    unsafe { &*ctx.cast::<PyObjectArenaAllocator>() }
}

extern "C" fn hook_arena_alloc(ctx: *mut c_void, size: usize) -> *mut c_void {
    let w = wrapped_arena(ctx);
    let guard = recorder::enter_arena();
    let Some(alloc) = w.alloc else {
        return std::ptr::null_mut();
    };
    let ptr = alloc(w.ctx, size);
    if let Some(g) = guard {
        if !ptr.is_null() {
            recorder::on_alloc(&g, Domain::Arena, AllocKind::Mmap, ptr as usize, size);
        }
    }
    ptr
}

extern "C" fn hook_arena_free(ctx: *mut c_void, ptr: *mut c_void, size: usize) {
    let w = wrapped_arena(ctx);
    // Held across the wrapped free, so its munmap is not recorded again.
    let guard = recorder::enter_arena();
    if let Some(g) = &guard {
        if !ptr.is_null() {
            recorder::on_free(g, Domain::Arena, ptr as usize);
        }
    }
    if let Some(free) = w.free {
        free(w.ctx, ptr, size);
    }
}
