//! The real functions the native hooks stand in for.
//!
//! Calling `libc::malloc` from this module is not enough: in a non-PIE
//! executable that takes the address of `malloc` (Debian's `python3.11` is
//! one), the dynamic linker binds every reference to `malloc`, ours
//! included, to the executable's PLT stub, so that function pointers compare
//! equal. Once the executable's GOT is patched, that stub leads back into
//! our hook, and a pass-through call would recurse forever. `dlsym` with
//! `RTLD_DEFAULT` answers the stub too. So each function is looked up in the
//! objects themselves, in load order, skipping the executable: the first
//! object that defines it is the allocator in use (an `LD_PRELOAD`ed or
//! linked-in jemalloc before libc, else libc).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use super::objects;

type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
type Calloc = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type Realloc = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type ReallocArray = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type PosixMemalign = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
type Aligned = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type Mmap = unsafe extern "C" fn(*mut c_void, usize, c_int, c_int, c_int, i64) -> *mut c_void;
type Munmap = unsafe extern "C" fn(*mut c_void, usize) -> c_int;
type Mremap = unsafe extern "C" fn(*mut c_void, usize, usize, c_int, *mut c_void) -> *mut c_void;
type Dlopen = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type Dlsym = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// The real functions, resolved once before any GOT is patched.
pub(crate) struct Real {
    pub malloc: Malloc,
    pub calloc: Calloc,
    pub realloc: Realloc,
    pub reallocarray: ReallocArray,
    pub free: Free,
    pub posix_memalign: PosixMemalign,
    pub aligned_alloc: Aligned,
    pub memalign: Aligned,
    pub valloc: Malloc,
    pub pvalloc: Malloc,
    pub mmap: Mmap,
    pub munmap: Munmap,
    pub mremap: Mremap,
    pub dlopen: Dlopen,
    pub dlsym: Dlsym,
}

static REAL: OnceLock<Real> = OnceLock::new();

/// The real functions. Resolved on first use, which `native::install` makes
/// happen before it patches anything.
pub(crate) fn real() -> &'static Real {
    REAL.get_or_init(resolve_all)
}

/// The first definition of `symbol` in a loaded object other than the
/// executable, in load order; libc's when none is found that way.
fn lookup(symbol: &CStr) -> Option<usize> {
    let mut found = None;
    let mut names = Vec::new();
    objects::for_each(|o| {
        if !o.name.to_bytes().is_empty() && !o.is_loader_or_vdso() {
            names.push((o.name.to_owned(), o.bias));
        }
    });
    for (name, bias) in names {
        // SAFETY: RTLD_NOLOAD only returns a handle to an object already
        // loaded (taking a reference, released below); `name` is a path the
        // loader itself reported.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        if handle.is_null() {
            continue;
        }
        // SAFETY: `handle` is a live handle and `symbol` a NUL-terminated name.
        let addr = unsafe { libc::dlsym(handle, symbol.as_ptr()) } as usize;
        let defines_it = addr != 0 && object_at(addr) == Some(bias);
        // SAFETY: releases the reference the RTLD_NOLOAD dlopen took.
        unsafe { libc::dlclose(handle) };
        if defines_it {
            found = Some(addr);
            break;
        }
    }
    found
}

/// The load bias of the object whose segments hold `addr`.
fn object_at(addr: usize) -> Option<usize> {
    let mut bias = None;
    objects::for_each(|o| {
        if o.contains(addr) {
            bias = Some(o.bias);
        }
    });
    bias
}

fn resolve_all() -> Real {
    macro_rules! real {
        ($name:literal, $fallback:expr, $ty:ty) => {
            match lookup($name) {
                // SAFETY: the object's dynamic symbol table says `$name` is
                // defined at this address, and `$ty` is its C signature.
                Some(addr) => unsafe { std::mem::transmute::<usize, $ty>(addr) },
                None => $fallback as $ty,
            }
        };
    }
    extern "C" {
        fn valloc(size: usize) -> *mut c_void;
        fn pvalloc(size: usize) -> *mut c_void;
    }
    Real {
        malloc: real!(c"malloc", libc::malloc, Malloc),
        calloc: real!(c"calloc", libc::calloc, Calloc),
        realloc: real!(c"realloc", libc::realloc, Realloc),
        reallocarray: real!(c"reallocarray", libc::reallocarray, ReallocArray),
        free: real!(c"free", libc::free, Free),
        posix_memalign: real!(c"posix_memalign", libc::posix_memalign, PosixMemalign),
        aligned_alloc: real!(c"aligned_alloc", libc::aligned_alloc, Aligned),
        memalign: real!(c"memalign", libc::memalign, Aligned),
        valloc: real!(c"valloc", valloc, Malloc),
        pvalloc: real!(c"pvalloc", pvalloc, Malloc),
        mmap: real!(c"mmap", libc::mmap, Mmap),
        munmap: real!(c"munmap", libc::munmap, Munmap),
        mremap: real!(c"mremap", mremap_fixed, Mremap),
        dlopen: real!(c"dlopen", libc::dlopen, Dlopen),
        dlsym: real!(c"dlsym", libc::dlsym, Dlsym),
    }
}

/// `mremap` with its optional fifth argument always passed, for the fallback.
unsafe extern "C" fn mremap_fixed(
    old: *mut c_void,
    old_len: usize,
    new_len: usize,
    flags: c_int,
    new_addr: *mut c_void,
) -> *mut c_void {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { libc::mremap(old, old_len, new_len, flags, new_addr) }
}
