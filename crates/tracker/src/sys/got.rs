//! Redirects a loaded object's calls to named functions by rewriting its
//! global offset table: the slots the dynamic linker filled with the
//! addresses of `malloc`, `free`, ... are overwritten with our hooks.
//!
//! Why this and not `LD_PRELOAD`: it can be installed into a program that is
//! already running (tracking started from the Python API, or by attaching),
//! and it changes nothing for the programs the profiled process runs — a
//! `/bin/sh -c ...` child inherits no environment variable and no library.
//!
//! Both kinds of slot are rewritten: `JUMP_SLOT` (calls through the PLT) and
//! `GLOB_DAT` (calls through a function pointer loaded from the GOT, which is
//! what `-fno-plt` builds and address-taking code use).

use std::ffi::CStr;

use super::objects::Object;

// The ELF64 structures and constants the patcher reads. They are part of the
// ABI, identical on every x86_64 Linux.
#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    _addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    _info: u8,
    _other: u8,
    _shndx: u16,
    _value: u64,
    _size: u64,
}

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_STRSZ: i64 = 10;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// A function to redirect: its symbol name and the hook's address.
pub(crate) struct Redirect {
    pub symbol: &'static CStr,
    pub hook: usize,
}

/// The tables of an object's dynamic section the patcher needs.
#[derive(Default)]
struct DynamicInfo {
    strtab: usize,
    strsz: usize,
    symtab: usize,
    jmprel: usize,
    pltrelsz: usize,
    rela: usize,
    relasz: usize,
}

impl DynamicInfo {
    fn read(object: &Object<'_>) -> Option<DynamicInfo> {
        let segment = object.segments(libc::PT_DYNAMIC).next()?;
        let mut entry = object.bias.wrapping_add(segment.p_vaddr as usize) as *const Dyn;
        let mut info = DynamicInfo::default();
        // glibc relocates the pointers of the dynamic section in place on
        // x86_64; an object it did not relocate still holds virtual addresses.
        let absolute = |v: u64| {
            let v = v as usize;
            if v < object.bias {
                v.wrapping_add(object.bias)
            } else {
                v
            }
        };
        loop {
            // SAFETY: PT_DYNAMIC of a loaded object is mapped and ends with a
            // DT_NULL entry, so every entry up to it can be read.
            let d = unsafe { &*entry };
            match d.tag {
                DT_NULL => break,
                DT_STRTAB => info.strtab = absolute(d.val),
                DT_STRSZ => info.strsz = d.val as usize,
                DT_SYMTAB => info.symtab = absolute(d.val),
                DT_JMPREL => info.jmprel = absolute(d.val),
                DT_PLTRELSZ => info.pltrelsz = d.val as usize,
                DT_RELA => info.rela = absolute(d.val),
                DT_RELASZ => info.relasz = d.val as usize,
                _ => {}
            }
            // SAFETY: the entry just read was not DT_NULL, so another follows.
            entry = unsafe { entry.add(1) };
        }
        (info.strtab != 0 && info.symtab != 0).then_some(info)
    }

    fn symbol_name(&self, index: usize) -> Option<&CStr> {
        // SAFETY: relocation entries of a loaded object index its dynamic
        // symbol table, which is mapped.
        let sym = unsafe { &*(self.symtab as *const Sym).add(index) };
        let offset = sym.name as usize;
        if offset >= self.strsz {
            return None;
        }
        // SAFETY: `offset` is inside the string table, whose strings are
        // NUL-terminated within its `strsz` bytes.
        Some(unsafe { CStr::from_ptr((self.strtab + offset) as *const libc::c_char) })
    }

    fn relocations(&self) -> impl Iterator<Item = &Rela> {
        let table = |start: usize, bytes: usize| {
            if start == 0 {
                return &[][..];
            }
            // SAFETY: DT_JMPREL/DT_RELA with their sizes describe mapped
            // arrays of Elf64_Rela in the loaded object.
            unsafe {
                std::slice::from_raw_parts(
                    start as *const Rela,
                    bytes / std::mem::size_of::<Rela>(),
                )
            }
        };
        table(self.jmprel, self.pltrelsz)
            .iter()
            .chain(table(self.rela, self.relasz).iter())
    }
}

/// Points every slot of `object` that refers to one of `redirects` at its
/// hook. Returns how many slots were rewritten. The caller serialises calls
/// (the protection changes below must not interleave).
pub(crate) fn patch(object: &Object<'_>, redirects: &[Redirect]) -> usize {
    let Some(info) = DynamicInfo::read(object) else {
        return 0;
    };
    let mut patched = 0;
    for rela in info.relocations() {
        let kind = (rela.info & 0xffff_ffff) as u32;
        if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT {
            continue;
        }
        let Some(name) = info.symbol_name((rela.info >> 32) as usize) else {
            continue;
        };
        let Some(r) = redirects.iter().find(|r| r.symbol == name) else {
            continue;
        };
        let slot = object.bias.wrapping_add(rela.offset as usize);
        if write_slot(object, slot, r.hook) {
            patched += 1;
        }
    }
    patched
}

/// Stores `value` in the pointer-sized GOT slot at `slot`, lifting the
/// read-only protection RELRO put on it for the duration of the write.
fn write_slot(object: &Object<'_>, slot: usize, value: usize) -> bool {
    let ptr = slot as *mut usize;
    // SAFETY: `slot` is a relocation target of a loaded object: a mapped,
    // aligned pointer-sized GOT entry.
    if unsafe { std::ptr::read_volatile(ptr) } == value {
        return true;
    }
    let page = super::os::page_size() as usize;
    let page_start = slot & !(page - 1);
    // The loader makes read-only exactly the whole pages inside PT_GNU_RELRO
    // (both ends rounded down); a page the segment only partly covers stays
    // writable, and must stay so.
    let relro = object.segments(libc::PT_GNU_RELRO).any(|p| {
        let start = object.bias.wrapping_add(p.p_vaddr as usize);
        let end = start.wrapping_add(p.p_memsz as usize);
        page_start >= start & !(page - 1) && page_start < end & !(page - 1)
    });
    if relro {
        // SAFETY: the page holds only relocated pointers (RELRO); making it
        // writable for the moment of the store changes nothing else.
        let rc = unsafe {
            libc::mprotect(
                page_start as *mut libc::c_void,
                page,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            return false;
        }
    }
    // SAFETY: the slot is mapped and now writable. A concurrent caller
    // through this slot reads either the old or the new pointer (an aligned
    // word store is atomic on x86_64); both lead to a working function.
    unsafe { std::ptr::write_volatile(ptr, value) };
    if relro {
        // SAFETY: restores the protection RELRO gave the page.
        unsafe { libc::mprotect(page_start as *mut libc::c_void, page, libc::PROT_READ) };
    }
    true
}
