//! What in-process native unwinding needs from the machine: the registers at
//! a point in our own code, the bounds of the calling thread's stack, reads
//! of stack memory inside those bounds, and the unwind tables
//! (`.eh_frame_hdr`, `.eh_frame`) of every loaded object, as they sit in
//! memory.

use std::ops::Range;

use super::objects::Object;

/// The registers unwinding starts from.
#[derive(Clone, Copy)]
pub(crate) struct Registers {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
}

/// The instruction pointer, stack pointer and frame pointer at this point of
/// the caller (the function is always inlined, so they are the caller's).
#[inline(always)]
pub(crate) fn registers() -> Registers {
    let (ip, sp, bp): (u64, u64, u64);
    // SAFETY: reads three registers into outputs; touches no memory, and
    // leaves the stack and flags as they were.
    unsafe {
        std::arch::asm!(
            "lea {ip}, [rip]",
            "mov {sp}, rsp",
            "mov {bp}, rbp",
            ip = out(reg) ip,
            sp = out(reg) sp,
            bp = out(reg) bp,
            options(nomem, nostack, preserves_flags),
        );
    }
    Registers { ip, sp, bp }
}

/// The highest address of the calling thread's stack (it grows down).
pub(crate) fn stack_top() -> Option<u64> {
    // SAFETY: `attr` is initialised by pthread_getattr_np before it is read,
    // and destroyed once; the out-pointers are valid locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: usize = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (rc == 0).then(|| addr as u64 + size as u64)
    }
}

/// Reads the word at `addr` if it lies in `stack`, the part of the calling
/// thread's stack between its current pointer and its top.
pub(crate) fn read_stack_word(stack: &Range<u64>, addr: u64) -> Result<u64, ()> {
    if !addr.is_multiple_of(8) || addr < stack.start || addr.saturating_add(8) > stack.end {
        return Err(());
    }
    // SAFETY: `addr` is aligned and inside the calling thread's own mapped
    // stack, below its top and above the live stack pointer.
    Ok(unsafe { std::ptr::read_volatile(addr as *const u64) })
}

/// The unwind tables of one loaded object, in memory.
pub(crate) struct UnwindTables {
    /// Where the object's loadable segments are.
    pub avma: Range<u64>,
    pub bias: u64,
    pub eh_frame_hdr: (Range<u64>, &'static [u8]),
    pub eh_frame: (Range<u64>, &'static [u8]),
    /// The executable segment, as virtual addresses.
    pub text_svma: Option<Range<u64>>,
}

const DW_EH_PE_OMIT: u8 = 0xff;
const DW_EH_PE_PCREL_SDATA4: u8 = 0x1b;
const DW_EH_PE_UDATA4: u8 = 0x03;
const DW_EH_PE_SDATA4: u8 = 0x0b;
const PF_X: u32 = 1;

/// Finds the unwind tables of `object`. The slices borrow the loaded image,
/// which stays mapped while the object is loaded (Python never unloads an
/// extension; a library unloaded with `dlclose` is dropped at the next
/// rebuild of the module list, see `native_stacks`).
pub(crate) fn unwind_tables(object: &Object<'_>) -> Option<UnwindTables> {
    let bias = object.bias as u64;
    let loads: Vec<_> = object.segments(libc::PT_LOAD).collect();
    let avma = object.address_range()?;
    let hdr = object.segments(libc::PT_GNU_EH_FRAME).next()?;
    let hdr_avma = bias + hdr.p_vaddr;
    // SAFETY: PT_GNU_EH_FRAME of a loaded object is mapped readable, `p_memsz` long.
    let hdr_bytes: &'static [u8] =
        unsafe { std::slice::from_raw_parts(hdr_avma as *const u8, hdr.p_memsz as usize) };
    let eh_frame_avma = eh_frame_address(hdr_avma, hdr_bytes)?;
    // .eh_frame has no recorded length here; it runs at most to the end of
    // the loadable segment that holds it, and is read through the header's
    // sorted table, never scanned.
    let segment = loads.iter().find(|p| {
        let s = bias + p.p_vaddr;
        eh_frame_avma >= s && eh_frame_avma < s + p.p_filesz
    })?;
    let eh_frame_end = bias + segment.p_vaddr + segment.p_filesz;
    let eh_frame_len = (eh_frame_end - eh_frame_avma) as usize;
    // SAFETY: the range lies inside a loaded, file-backed, readable segment.
    let eh_frame: &'static [u8] =
        unsafe { std::slice::from_raw_parts(eh_frame_avma as *const u8, eh_frame_len) };
    let text_svma = loads
        .iter()
        .find(|p| p.p_flags & PF_X != 0)
        .map(|p| p.p_vaddr..p.p_vaddr + p.p_memsz);
    Some(UnwindTables {
        avma,
        bias,
        eh_frame_hdr: (hdr.p_vaddr..hdr.p_vaddr + hdr.p_memsz, hdr_bytes),
        eh_frame: (eh_frame_avma - bias..eh_frame_end - bias, eh_frame),
        text_svma,
    })
}

/// Decodes the `eh_frame_ptr` field of an `.eh_frame_hdr` at `hdr_avma`.
fn eh_frame_address(hdr_avma: u64, hdr: &[u8]) -> Option<u64> {
    let (version, encoding) = (*hdr.first()?, *hdr.get(1)?);
    if version != 1 || encoding == DW_EH_PE_OMIT {
        return None;
    }
    let field: [u8; 4] = hdr.get(4..8)?.try_into().ok()?;
    match encoding {
        DW_EH_PE_PCREL_SDATA4 => {
            Some((hdr_avma + 4).wrapping_add_signed(i64::from(i32::from_le_bytes(field))))
        }
        DW_EH_PE_UDATA4 | DW_EH_PE_SDATA4 => Some(u64::from(u32::from_le_bytes(field))),
        _ => None,
    }
}
