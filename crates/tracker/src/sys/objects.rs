//! The ELF objects loaded in this process (`dl_iterate_phdr`): the
//! executable, every shared library, and what later `dlopen` calls added.

use std::ffi::{c_int, c_void, CStr};

use libc::{dl_phdr_info, Elf64_Phdr};

/// One loaded object, borrowed from the dynamic loader for the duration of
/// a [`for_each`] callback.
pub(crate) struct Object<'a> {
    /// The path the loader opened; empty for the main executable.
    pub name: &'a CStr,
    /// What was added to the object's virtual addresses when it was loaded.
    pub bias: usize,
    pub phdrs: &'a [Elf64_Phdr],
}

impl Object<'_> {
    /// The object's segments of the given type.
    pub fn segments(&self, kind: u32) -> impl Iterator<Item = &Elf64_Phdr> {
        self.phdrs.iter().filter(move |p| p.p_type == kind)
    }

    /// The dynamic linker and the kernel's vDSO: never patched, never unwound
    /// through by us.
    pub fn is_loader_or_vdso(&self) -> bool {
        let name = self.name.to_bytes();
        contains(name, b"linux-vdso") || contains(name, b"/ld-linux") || contains(name, b"ld64.so")
    }

    /// The addresses from the lowest to the highest loadable segment.
    pub fn address_range(&self) -> Option<std::ops::Range<u64>> {
        let bias = self.bias as u64;
        let start = self.segments(libc::PT_LOAD).map(|p| p.p_vaddr).min()?;
        let end = self
            .segments(libc::PT_LOAD)
            .map(|p| p.p_vaddr + p.p_memsz)
            .max()?;
        Some(start.wrapping_add(bias)..end.wrapping_add(bias))
    }

    /// Whether `addr` lies in one of the object's loadable segments.
    pub fn contains(&self, addr: usize) -> bool {
        self.segments(libc::PT_LOAD).any(|p| {
            let start = self.bias.wrapping_add(p.p_vaddr as usize);
            addr >= start && addr < start.wrapping_add(p.p_memsz as usize)
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls `f` for every loaded object, while the loader's lock keeps them
/// from being unloaded. `f` must not call `dlopen` or `dlclose`.
pub(crate) fn for_each(mut f: impl FnMut(&Object<'_>)) {
    extern "C" fn callback(info: *mut dl_phdr_info, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: `data` is the `&mut dyn FnMut` passed below, alive for the
        // whole `dl_iterate_phdr` call; `info` is valid during this callback.
        let (f, info) = unsafe { (&mut *data.cast::<&mut dyn FnMut(&Object<'_>)>(), &*info) };
        let name = if info.dlpi_name.is_null() {
            c""
        } else {
            // SAFETY: the loader hands out a NUL-terminated path that lives
            // as long as the object stays loaded, which it does during the callback.
            unsafe { CStr::from_ptr(info.dlpi_name) }
        };
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers of
            // the loaded object, mapped for as long as the object is loaded.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        f(&Object {
            name,
            bias: info.dlpi_addr as usize,
            phdrs,
        });
        0
    }
    let mut dyn_f: &mut dyn FnMut(&Object<'_>) = &mut f;
    // SAFETY: the callback only casts `data` back to the type it has here.
    unsafe {
        libc::dl_iterate_phdr(
            Some(callback),
            (&mut dyn_f as *mut &mut dyn FnMut(&Object<'_>)).cast(),
        );
    }
}

/// memsleuth's own extension module, which is never patched and whose
/// frames never appear in a recorded stack.
#[derive(Clone)]
pub(crate) struct Own {
    pub bias: usize,
    pub range: std::ops::Range<u64>,
}

/// The object holding this function, looked up once.
pub(crate) fn own() -> Option<&'static Own> {
    static OWN: std::sync::OnceLock<Option<Own>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        let here = own as *const () as usize;
        let mut found = None;
        for_each(|o| {
            if o.contains(here) {
                found = o.address_range().map(|range| Own {
                    bias: o.bias,
                    range,
                });
            }
        });
        found
    })
    .as_ref()
}

/// The GNU build id of `object`, read from its notes in memory; empty when
/// it has none.
pub(crate) fn build_id(object: &Object<'_>) -> Vec<u8> {
    const NT_GNU_BUILD_ID: u32 = 3;
    for note in object.segments(libc::PT_NOTE) {
        let start = object.bias.wrapping_add(note.p_vaddr as usize);
        // SAFETY: a PT_NOTE segment of a loaded object is mapped readable,
        // `p_memsz` bytes long.
        let bytes =
            unsafe { std::slice::from_raw_parts(start as *const u8, note.p_memsz as usize) };
        if let Some(id) = find_note(bytes, NT_GNU_BUILD_ID, b"GNU\0") {
            return id.to_vec();
        }
    }
    Vec::new()
}

/// The descriptor of the first note of `kind` named `name` in a note segment.
fn find_note<'a>(mut notes: &'a [u8], kind: u32, name: &[u8]) -> Option<&'a [u8]> {
    let word = |b: &[u8], i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    while notes.len() >= 12 {
        let (namesz, descsz, ty) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
        let name_end = 12 + namesz.div_ceil(4) * 4;
        let desc_end = name_end.checked_add(descsz.div_ceil(4) * 4)?;
        let this_name = notes.get(12..12 + namesz)?;
        if ty == kind as usize && this_name == name {
            return notes.get(name_end..name_end + descsz);
        }
        notes = notes.get(desc_end..)?;
    }
    None
}

/// The path of `object`: the loader's name, or the executable's own path
/// for the main program (which the loader lists with an empty name).
pub(crate) fn path(object: &Object<'_>) -> String {
    let name = object.name.to_bytes();
    if name.is_empty() {
        return std::fs::read_link("/proc/self/exe")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    String::from_utf8_lossy(name).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(kind: u32, name: &[u8], desc: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [name.len() as u32, desc.len() as u32, kind] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for part in [name, desc] {
            out.extend_from_slice(part);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        out
    }

    #[test]
    fn the_build_id_note_is_found_after_other_notes() {
        let mut notes = note(1, b"GNU\0", &[0; 16]);
        notes.extend(note(3, b"GNU\0", &[0xab, 0xcd, 0xef, 0x01, 0x23]));
        assert_eq!(
            find_note(&notes, 3, b"GNU\0"),
            Some(&[0xab, 0xcd, 0xef, 0x01, 0x23][..])
        );
    }

    #[test]
    fn a_truncated_note_segment_yields_nothing() {
        let notes = note(3, b"GNU\0", &[1; 20]);
        assert_eq!(find_note(&notes[..notes.len() - 4], 3, b"GNU\0"), None);
        assert_eq!(find_note(&notes, 3, b"Go\0\0"), None);
    }
}
