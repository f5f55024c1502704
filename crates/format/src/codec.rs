//! The byte encoding of records inside a chunk: a head byte, then LEB128
//! varints.
//!
//! The head byte holds the tag in bits 0-2. For events, bits 3-5 hold the
//! layer ([`Domain`]) and bits 6-7 a small field (the allocation kind, or an
//! address slot for a free or realloc); a frame uses bit 3 for its entry
//! flag; tag 7 is a family of rarer records whose kind is in bits 3-7.
//! Addresses, stacks and times are deltas against running values of the same
//! chunk, chosen so that the common cases cost one byte:
//! - an allocation's address is coded against the last allocation of the
//!   same 16-byte size class: pymalloc hands out a pool's blocks in order, so
//!   that delta is usually one block, even when several classes interleave;
//! - a freed address is coded against the last free in the same slot, the
//!   slot being the address's 4 KiB page modulo 4: frees cluster by page;
//! - address deltas that are multiples of 16 (all of them, for 16-byte
//!   aligned allocators) are stored divided by 16.
//!
//! Whether allocations carry a native stack id is fixed per capture (the
//! metadata's `native_stacks`), so captures without native stacks pay nothing
//! for them.

use crate::records::{
    AllocKind, CodeDef, Domain, EdgeName, FrameDef, HeapEdge, HeapObjectDef, HeapRootDef,
    LineTableFormat, ModuleDef, NativeFrameDef, Record, ThreadDef,
};

const TAG_CODE: u8 = 0;
const TAG_FRAME: u8 = 1;
const TAG_THREAD: u8 = 2;
const TAG_ALLOC: u8 = 3;
const TAG_FREE: u8 = 4;
const TAG_REALLOC: u8 = 5;
const TAG_UNMAP: u8 = 6;
const TAG_META: u8 = 7;

/// Kinds of the tag-7 family, in bits 3-7.
const META_END: u8 = 0;
const META_SAMPLE: u8 = 1;
const META_NATIVE_FRAME: u8 = 2;
const META_MODULE: u8 = 3;
const META_SNAPSHOT_START: u8 = 4;
const META_HEAP_TYPE: u8 = 5;
const META_HEAP_NAME: u8 = 6;
const META_HEAP_ROOT: u8 = 7;
const META_HEAP_OBJECT: u8 = 8;
const META_HEAP_OBJECT_UNTRACKED: u8 = 9;
const META_SNAPSHOT_END: u8 = 10;
const META_GC_START: u8 = 11;
const META_GC_END: u8 = 12;
const META_GC_SCRATCH: u8 = 13;
const META_MEMORY_STATE: u8 = 14;
const META_FORK: u8 = 15;
const META_LIMIT_REACHED: u8 = 16;

/// An edge name's kind, in the low two bits of its first varint.
const EDGE_ATTR: u64 = 0;
const EDGE_KEY: u64 = 1;
const EDGE_INDEX: u64 = 2;
const EDGE_INTERNAL: u64 = 3;

/// A frame record's entry flag.
const FRAME_ENTRY: u8 = 1 << 3;

/// Size classes for allocation addresses: 16-byte steps up to 512 bytes
/// (pymalloc's small requests), and one class for everything larger.
const SIZE_CLASSES: usize = 34;
/// Slots for freed addresses.
const FREE_SLOTS: usize = 4;

fn size_class(size: u64) -> usize {
    size.div_ceil(16).min(SIZE_CLASSES as u64 - 1) as usize
}

fn free_slot(addr: u64) -> usize {
    ((addr >> 12) as usize) % FREE_SLOTS
}

fn head(tag: u8, domain: Domain, field: u8) -> u8 {
    tag | (domain as u8) << 3 | field << 6
}

fn meta(kind: u8) -> u8 {
    TAG_META | kind << 3
}

/// The running values deltas are taken against; reset at every chunk.
#[derive(Clone)]
pub(crate) struct DeltaState {
    alloc_addr: [u64; SIZE_CLASSES],
    free_addr: [u64; FREE_SLOTS],
    stack: u32,
    native: u32,
    time_ns: u64,
    /// The last heap object's address: a snapshot lists objects in the
    /// collector's order, which is mostly allocation order.
    heap_addr: u64,
    /// Whether allocations carry a native stack id (fixed per capture).
    native_stacks: bool,
}

impl DeltaState {
    pub(crate) fn new(native_stacks: bool) -> Self {
        DeltaState {
            alloc_addr: [0; SIZE_CLASSES],
            free_addr: [0; FREE_SLOTS],
            stack: 0,
            native: 0,
            time_ns: 0,
            heap_addr: 0,
            native_stacks,
        }
    }

    /// The state at the start of a chunk.
    pub(crate) fn reset(&mut self) {
        *self = DeltaState::new(self.native_stacks);
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Codes `to - from`: a multiple of 16 as `zigzag(delta / 16) << 1`, any
/// other delta as the varint 1 followed by `zigzag(delta)`.
fn put_addr_delta(out: &mut Vec<u8>, from: u64, to: u64) {
    let delta = to.wrapping_sub(from) as i64;
    if delta & 15 == 0 {
        put_varint(out, zigzag(delta >> 4) << 1);
    } else {
        put_varint(out, 1);
        put_varint(out, zigzag(delta));
    }
}

impl DeltaState {
    fn put_alloc_addr(&mut self, out: &mut Vec<u8>, size: u64, addr: u64) {
        let class = size_class(size);
        put_addr_delta(out, self.alloc_addr[class], addr);
        self.alloc_addr[class] = addr;
    }

    fn put_free_addr(&mut self, out: &mut Vec<u8>, addr: u64) {
        let slot = free_slot(addr);
        put_addr_delta(out, self.free_addr[slot], addr);
        self.free_addr[slot] = addr;
    }

    fn put_stack(&mut self, out: &mut Vec<u8>, stack: u32) {
        put_varint(out, zigzag(i64::from(stack) - i64::from(self.stack)));
        self.stack = stack;
    }

    fn put_native(&mut self, out: &mut Vec<u8>, native: u32) {
        if self.native_stacks {
            put_varint(out, zigzag(i64::from(native) - i64::from(self.native)));
            self.native = native;
        }
    }

    fn put_time(&mut self, out: &mut Vec<u8>, time_ns: u64) {
        put_varint(out, zigzag(time_ns.wrapping_sub(self.time_ns) as i64));
        self.time_ns = time_ns;
    }

    /// Edges are coded against the address of the object that holds them:
    /// containers are often allocated next to what they hold.
    fn put_edges(out: &mut Vec<u8>, from: u64, edges: &[HeapEdge]) {
        put_varint(out, edges.len() as u64);
        for e in edges {
            let name = match e.name {
                EdgeName::Attr(id) => u64::from(id) << 2 | EDGE_ATTR,
                EdgeName::Key(id) => u64::from(id) << 2 | EDGE_KEY,
                EdgeName::Index(i) => i << 2 | EDGE_INDEX,
                EdgeName::Internal(id) => u64::from(id) << 2 | EDGE_INTERNAL,
            };
            put_varint(out, name);
            put_addr_delta(out, from, e.target);
        }
    }

    fn put_heap_object(&mut self, out: &mut Vec<u8>, o: &HeapObjectDef) {
        out.push(meta(if o.gc_tracked {
            META_HEAP_OBJECT
        } else {
            META_HEAP_OBJECT_UNTRACKED
        }));
        put_addr_delta(out, self.heap_addr, o.addr);
        self.heap_addr = o.addr;
        put_varint(out, o.preheader.into());
        put_varint(out, o.type_id.into());
        put_varint(out, o.size);
        put_varint(out, o.refcnt);
        Self::put_edges(out, o.addr, &o.edges);
    }

    /// Appends one record's bytes to `out`.
    pub(crate) fn encode(&mut self, out: &mut Vec<u8>, record: &Record) {
        match record {
            Record::Code(c) => {
                out.push(TAG_CODE);
                put_varint(out, c.id.into());
                put_bytes(out, c.filename.as_bytes());
                put_bytes(out, c.name.as_bytes());
                put_varint(out, c.first_line.into());
                out.push(c.linetable_format as u8);
                put_bytes(out, &c.linetable);
            }
            Record::Frame(f) => {
                out.push(if f.entry {
                    TAG_FRAME | FRAME_ENTRY
                } else {
                    TAG_FRAME
                });
                put_varint(out, f.id.into());
                put_varint(out, f.parent.into());
                put_varint(out, f.code.into());
                put_varint(out, f.offset.into());
            }
            Record::Thread(t) => {
                out.push(TAG_THREAD);
                put_varint(out, t.root.into());
                put_varint(out, t.native_id);
                out.push(u8::from(t.is_main));
            }
            Record::Alloc {
                domain,
                kind,
                addr,
                size,
                stack,
                native,
            } => {
                out.push(head(TAG_ALLOC, *domain, *kind as u8));
                put_varint(out, *size);
                self.put_alloc_addr(out, *size, *addr);
                self.put_stack(out, *stack);
                self.put_native(out, *native);
            }
            Record::Free { domain, addr } => {
                out.push(head(TAG_FREE, *domain, free_slot(*addr) as u8));
                self.put_free_addr(out, *addr);
            }
            Record::Realloc {
                domain,
                old_addr,
                addr,
                size,
                stack,
                native,
            } => {
                out.push(head(TAG_REALLOC, *domain, free_slot(*old_addr) as u8));
                self.put_free_addr(out, *old_addr);
                put_varint(out, *size);
                self.put_alloc_addr(out, *size, *addr);
                self.put_stack(out, *stack);
                self.put_native(out, *native);
            }
            Record::Unmap { addr, size } => {
                out.push(TAG_UNMAP);
                put_varint(out, *addr);
                put_varint(out, *size);
            }
            Record::NativeFrame(f) => {
                out.push(meta(META_NATIVE_FRAME));
                put_varint(out, f.id.into());
                put_varint(out, f.parent.into());
                put_varint(out, f.pc);
            }
            Record::Module(m) => {
                out.push(meta(META_MODULE));
                put_bytes(out, m.path.as_bytes());
                put_bytes(out, &m.build_id);
                put_varint(out, m.load_bias);
                put_varint(out, m.start);
                put_varint(out, m.end);
            }
            Record::Sample { time_ns, rss_bytes } => {
                out.push(meta(META_SAMPLE));
                self.put_time(out, *time_ns);
                put_varint(out, *rss_bytes);
            }
            Record::End { time_ns } => {
                out.push(meta(META_END));
                self.put_time(out, *time_ns);
            }
            Record::SnapshotStart {
                id,
                time_ns,
                trigger,
            } => {
                out.push(meta(META_SNAPSHOT_START));
                put_varint(out, (*id).into());
                self.put_time(out, *time_ns);
                put_bytes(out, trigger.as_bytes());
            }
            Record::HeapType { id, name } => {
                out.push(meta(META_HEAP_TYPE));
                put_varint(out, (*id).into());
                put_bytes(out, name.as_bytes());
            }
            Record::HeapName { id, text } => {
                out.push(meta(META_HEAP_NAME));
                put_varint(out, (*id).into());
                put_bytes(out, text.as_bytes());
            }
            Record::HeapRoot(r) => {
                out.push(meta(META_HEAP_ROOT));
                put_bytes(out, r.label.as_bytes());
                Self::put_edges(out, 0, &r.edges);
            }
            Record::HeapObject(o) => self.put_heap_object(out, o),
            Record::SnapshotEnd {
                id,
                time_ns,
                objects,
            } => {
                out.push(meta(META_SNAPSHOT_END));
                put_varint(out, (*id).into());
                self.put_time(out, *time_ns);
                put_varint(out, *objects);
            }
            Record::GcStart {
                time_ns,
                generation,
            } => {
                out.push(meta(META_GC_START));
                self.put_time(out, *time_ns);
                out.push(*generation);
            }
            Record::GcEnd {
                time_ns,
                generation,
                collected,
                uncollectable,
            } => {
                out.push(meta(META_GC_END));
                self.put_time(out, *time_ns);
                out.push(*generation);
                put_varint(out, *collected);
                put_varint(out, *uncollectable);
            }
            Record::GcScratch { addr } => {
                out.push(meta(META_GC_SCRATCH));
                put_varint(out, *addr);
            }
            Record::MemoryState(state) => {
                out.push(meta(META_MEMORY_STATE));
                // Serialising plain integers, strings and lists cannot fail.
                let json = serde_json::to_vec(state.as_ref()).unwrap_or_default();
                put_bytes(out, &json);
            }
            Record::Fork { time_ns } => {
                out.push(meta(META_FORK));
                self.put_time(out, *time_ns);
            }
            Record::LimitReached {
                time_ns,
                rss_bytes,
                limit_bytes,
            } => {
                out.push(meta(META_LIMIT_REACHED));
                self.put_time(out, *time_ns);
                put_varint(out, *rss_bytes);
                put_varint(out, *limit_bytes);
            }
        }
    }
}

/// Decodes the records of one chunk's payload from `pos` on. The delta state
/// is borrowed, so a reader can decode one record at a time, holding the
/// payload and the state between calls, rather than a whole chunk at once.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    state: &'a mut DeltaState,
}

/// What went wrong inside a payload, as an offset into it and a reason.
pub(crate) type DecodeError = (usize, String);

impl<'a> Decoder<'a> {
    /// `state` must be the state left by decoding `buf[..pos]`, or a fresh
    /// one for `pos` 0.
    pub(crate) fn resume(buf: &'a [u8], pos: usize, state: &'a mut DeltaState) -> Self {
        Decoder { buf, pos, state }
    }

    /// Where the next record starts.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    fn err<T>(&self, what: &str) -> Result<T, DecodeError> {
        Err((self.pos, what.to_string()))
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => self.err("a record runs past the end of its chunk"),
        }
    }

    /// Most numbers in a capture (deltas, ids, small sizes) fit in one byte.
    #[inline]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b))
            }
            _ => self.long_varint(),
        }
    }

    fn long_varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return self.err("a number is longer than 64 bits");
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.err("a number is longer than 64 bits")
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.varint()?;
        u32::try_from(v).or_else(|_| self.err("a 32-bit field holds a larger number"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err("a string runs past the end of its chunk"),
        }
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }

    fn domain(&self, head: u8) -> Result<Domain, DecodeError> {
        match Domain::from_u8((head >> 3) & 7) {
            Some(d) => Ok(d),
            None => self.err("unknown allocator domain"),
        }
    }

    fn addr_delta(&mut self, from: u64) -> Result<u64, DecodeError> {
        let v = self.varint()?;
        let delta = if v == 1 {
            unzigzag(self.varint()?)
        } else if v & 1 == 0 {
            unzigzag(v >> 1).wrapping_mul(16)
        } else {
            return self.err("an address delta has an unknown form");
        };
        Ok(from.wrapping_add(delta as u64))
    }

    fn alloc_addr(&mut self, size: u64) -> Result<u64, DecodeError> {
        let class = size_class(size);
        let addr = self.addr_delta(self.state.alloc_addr[class])?;
        self.state.alloc_addr[class] = addr;
        Ok(addr)
    }

    fn free_addr(&mut self, slot: u8) -> Result<u64, DecodeError> {
        let slot = usize::from(slot);
        let addr = self.addr_delta(self.state.free_addr[slot])?;
        if free_slot(addr) != slot {
            return self.err("a freed address is not in the slot its record names");
        }
        self.state.free_addr[slot] = addr;
        Ok(addr)
    }

    fn stack(&mut self) -> Result<u32, DecodeError> {
        let delta = unzigzag(self.varint()?);
        let v = i64::from(self.state.stack) + delta;
        self.state.stack = u32::try_from(v).or_else(|_| self.err("a stack id is out of range"))?;
        Ok(self.state.stack)
    }

    fn native(&mut self) -> Result<u32, DecodeError> {
        if !self.state.native_stacks {
            return Ok(0);
        }
        let v = i64::from(self.state.native) + unzigzag(self.varint()?);
        self.state.native =
            u32::try_from(v).or_else(|_| self.err("a native stack id is out of range"))?;
        Ok(self.state.native)
    }

    fn time(&mut self) -> Result<u64, DecodeError> {
        let delta = unzigzag(self.varint()?);
        self.state.time_ns = self.state.time_ns.wrapping_add(delta as u64);
        Ok(self.state.time_ns)
    }

    /// The next record, or `None` at the end of the payload.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let head = self.byte()?;
        let field = head >> 6;
        let record = match head & 7 {
            TAG_CODE | TAG_THREAD | TAG_UNMAP if head > 7 => {
                return self.err("a definition or unmap record has bits 3-7 of its head byte set");
            }
            TAG_FRAME if head & !(TAG_FRAME | FRAME_ENTRY) != 0 => {
                return self.err("a frame record has bits 4-7 of its head byte set");
            }
            TAG_CODE => self.code()?,
            TAG_FRAME => Record::Frame(FrameDef {
                id: self.u32()?,
                parent: self.u32()?,
                code: self.u32()?,
                offset: self.u32()?,
                entry: head & FRAME_ENTRY != 0,
            }),
            TAG_THREAD => Record::Thread(ThreadDef {
                root: self.u32()?,
                native_id: self.varint()?,
                is_main: self.byte()? != 0,
            }),
            TAG_ALLOC => {
                let domain = self.domain(head)?;
                let Some(kind) = AllocKind::from_u8(field) else {
                    return self.err("unknown allocation kind");
                };
                let size = self.varint()?;
                Record::Alloc {
                    domain,
                    kind,
                    addr: self.alloc_addr(size)?,
                    size,
                    stack: self.stack()?,
                    native: self.native()?,
                }
            }
            TAG_FREE => Record::Free {
                domain: self.domain(head)?,
                addr: self.free_addr(field)?,
            },
            TAG_REALLOC => {
                let domain = self.domain(head)?;
                let old_addr = self.free_addr(field)?;
                let size = self.varint()?;
                Record::Realloc {
                    domain,
                    old_addr,
                    addr: self.alloc_addr(size)?,
                    size,
                    stack: self.stack()?,
                    native: self.native()?,
                }
            }
            TAG_UNMAP => Record::Unmap {
                addr: self.varint()?,
                size: self.varint()?,
            },
            _ => self.meta(head >> 3)?,
        };
        Ok(Some(record))
    }

    fn code(&mut self) -> Result<Record, DecodeError> {
        let id = self.u32()?;
        let filename = self.string()?;
        let name = self.string()?;
        let first_line = self.u32()?;
        let fmt = self.byte()?;
        let Some(linetable_format) = LineTableFormat::from_u8(fmt) else {
            return self.err("unknown line table format");
        };
        let linetable = self.bytes()?.to_vec();
        Ok(Record::Code(CodeDef {
            id,
            filename,
            name,
            first_line,
            linetable_format,
            linetable,
        }))
    }

    /// A record of the tag-7 family.
    fn meta(&mut self, kind: u8) -> Result<Record, DecodeError> {
        Ok(match kind {
            META_END => Record::End {
                time_ns: self.time()?,
            },
            META_SAMPLE => Record::Sample {
                time_ns: self.time()?,
                rss_bytes: self.varint()?,
            },
            META_NATIVE_FRAME => Record::NativeFrame(NativeFrameDef {
                id: self.u32()?,
                parent: self.u32()?,
                pc: self.varint()?,
            }),
            META_MODULE => Record::Module(ModuleDef {
                path: self.string()?,
                build_id: self.bytes()?.to_vec(),
                load_bias: self.varint()?,
                start: self.varint()?,
                end: self.varint()?,
            }),
            META_SNAPSHOT_START => Record::SnapshotStart {
                id: self.u32()?,
                time_ns: self.time()?,
                trigger: self.string()?,
            },
            META_HEAP_TYPE => Record::HeapType {
                id: self.u32()?,
                name: self.string()?,
            },
            META_HEAP_NAME => Record::HeapName {
                id: self.u32()?,
                text: self.string()?,
            },
            META_HEAP_ROOT => {
                let label = self.string()?;
                Record::HeapRoot(HeapRootDef {
                    label,
                    edges: self.edges(0)?,
                })
            }
            META_HEAP_OBJECT | META_HEAP_OBJECT_UNTRACKED => {
                let addr = self.addr_delta(self.state.heap_addr)?;
                self.state.heap_addr = addr;
                Record::HeapObject(HeapObjectDef {
                    addr,
                    preheader: self.u32()?,
                    type_id: self.u32()?,
                    size: self.varint()?,
                    refcnt: self.varint()?,
                    gc_tracked: kind == META_HEAP_OBJECT,
                    edges: self.edges(addr)?,
                })
            }
            META_SNAPSHOT_END => Record::SnapshotEnd {
                id: self.u32()?,
                time_ns: self.time()?,
                objects: self.varint()?,
            },
            META_GC_START => Record::GcStart {
                time_ns: self.time()?,
                generation: self.byte()?,
            },
            META_GC_END => Record::GcEnd {
                time_ns: self.time()?,
                generation: self.byte()?,
                collected: self.varint()?,
                uncollectable: self.varint()?,
            },
            META_GC_SCRATCH => Record::GcScratch {
                addr: self.varint()?,
            },
            META_MEMORY_STATE => {
                let json = self.bytes()?;
                match serde_json::from_slice(json) {
                    Ok(state) => Record::MemoryState(Box::new(state)),
                    Err(_) => return self.err("a memory state is not valid JSON"),
                }
            }
            META_FORK => Record::Fork {
                time_ns: self.time()?,
            },
            META_LIMIT_REACHED => Record::LimitReached {
                time_ns: self.time()?,
                rss_bytes: self.varint()?,
                limit_bytes: self.varint()?,
            },
            _ => return self.err("unknown record kind"),
        })
    }

    fn edges(&mut self, from: u64) -> Result<Vec<HeapEdge>, DecodeError> {
        let count = self.varint()?;
        // Every edge takes at least two bytes: a count beyond that is corruption.
        if count > (self.buf.len() - self.pos) as u64 / 2 {
            return self.err("an edge count runs past the end of its chunk");
        }
        let mut edges = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let v = self.varint()?;
            let id = || u32::try_from(v >> 2);
            let name = match (v & 3, id()) {
                (EDGE_INDEX, _) => EdgeName::Index(v >> 2),
                (EDGE_ATTR, Ok(id)) => EdgeName::Attr(id),
                (EDGE_KEY, Ok(id)) => EdgeName::Key(id),
                (EDGE_INTERNAL, Ok(id)) => EdgeName::Internal(id),
                _ => return self.err("an edge name id is out of range"),
            };
            edges.push(HeapEdge {
                name,
                target: self.addr_delta(from)?,
            });
        }
        Ok(edges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_extremes() {
        for v in [0i64, 1, -1, i64::MAX, i64::MIN, 12345, -98765] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    fn decode_all(buf: &[u8]) -> Result<Vec<Record>, DecodeError> {
        let mut state = DeltaState::new(false);
        let mut d = Decoder::resume(buf, 0, &mut state);
        let mut out = Vec::new();
        while let Some(r) = d.next_record()? {
            out.push(r);
        }
        Ok(out)
    }

    fn encode_all(records: &[Record]) -> Vec<u8> {
        let mut state = DeltaState::new(false);
        let mut out = Vec::new();
        for r in records {
            state.encode(&mut out, r);
        }
        out
    }

    fn alloc(addr: u64, size: u64) -> Record {
        Record::Alloc {
            domain: Domain::Object,
            kind: AllocKind::Malloc,
            addr,
            size,
            stack: 1,
            native: 0,
        }
    }

    #[test]
    fn pool_order_allocations_cost_one_address_byte_even_when_classes_interleave() {
        // Two size classes, each advancing through its own pool.
        let mut records = vec![alloc(0x10_0000, 48), alloc(0x20_0000, 32)];
        for i in 1..10u64 {
            records.push(alloc(0x10_0000 + 48 * i, 48));
            records.push(alloc(0x20_0000 + 32 * i, 32));
        }
        let bytes = encode_all(&records);
        let steady = encode_all(&records[..2]).len();
        // head, size, address, stack: four bytes per steady-state record.
        assert_eq!(bytes.len() - steady, 18 * 4);
        assert_eq!(decode_all(&bytes).unwrap(), records);
    }

    #[test]
    fn unaligned_addresses_use_the_escaped_form_and_round_trip() {
        let records = vec![
            alloc(0x1003, 10),
            Record::Free {
                domain: Domain::Raw,
                addr: 0x1003,
            },
        ];
        let bytes = encode_all(&records);
        // head, size, then the escape 1 and the full delta.
        assert_eq!(&bytes[..3], &[TAG_ALLOC | 2 << 3, 10, 1]);
        assert_eq!(decode_all(&bytes).unwrap(), records);
    }

    #[test]
    fn an_odd_address_form_other_than_the_escape_is_rejected() {
        let bytes = [TAG_FREE, 3];
        assert!(decode_all(&bytes).unwrap_err().1.contains("unknown form"));
    }

    #[test]
    fn a_free_outside_the_slot_its_head_names_is_rejected() {
        // Slot 1 in the head, but a delta of 0 from 0 decodes to address 0 (slot 0).
        let bytes = [TAG_FREE | 1 << 6, 0];
        assert!(decode_all(&bytes).unwrap_err().1.contains("slot"));
    }

    #[test]
    fn event_bits_on_other_records_are_rejected() {
        let bytes = [TAG_THREAD | 1 << 3, 0, 0, 0];
        assert!(decode_all(&bytes).unwrap_err().1.contains("bits 3-7"));
    }

    #[test]
    fn collector_and_memory_records_round_trip() {
        let state = crate::ProcessMemory {
            time_ns: 7,
            label: "exit".into(),
            rss: 1 << 30,
            pymalloc: Some(crate::PymallocStats {
                arena_size: 1 << 20,
                classes: vec![crate::SizeClassStats {
                    size: 32,
                    pools: 2,
                    blocks_in_use: 3,
                    blocks_free: 4,
                }],
                ..Default::default()
            }),
            gc: crate::GcState {
                garbage: vec![crate::GarbageGroup {
                    type_name: "__main__.Leaky".into(),
                    count: 2,
                    addrs: vec![0x1000, 0x2000],
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        let records = vec![
            Record::GcStart {
                time_ns: 100,
                generation: 2,
            },
            Record::GcScratch {
                addr: 0x7f00_0000_1230,
            },
            Record::GcEnd {
                time_ns: 90,
                generation: 2,
                collected: 40,
                uncollectable: 1,
            },
            Record::MemoryState(Box::new(state)),
            Record::Fork { time_ns: 5 },
            Record::LimitReached {
                time_ns: 6,
                rss_bytes: 3 << 30,
                limit_bytes: 2 << 30,
            },
        ];
        assert_eq!(decode_all(&encode_all(&records)).unwrap(), records);
    }

    #[test]
    fn a_memory_state_that_is_not_json_is_rejected() {
        let bytes = [meta(META_MEMORY_STATE), 2, b'{', b'x'];
        assert!(decode_all(&bytes).unwrap_err().1.contains("not valid JSON"));
    }

    #[test]
    fn an_unknown_meta_kind_is_rejected() {
        let bytes = [meta(31), 0];
        assert!(decode_all(&bytes)
            .unwrap_err()
            .1
            .contains("unknown record kind"));
    }

    #[test]
    fn native_stack_ids_cost_nothing_in_captures_without_them() {
        let record = alloc(0x1000, 32);
        let mut with = Vec::new();
        DeltaState::new(true).encode(&mut with, &record);
        assert_eq!(
            with.len(),
            encode_all(std::slice::from_ref(&record)).len() + 1
        );
        let mut state = DeltaState::new(true);
        let mut d = Decoder::resume(&with, 0, &mut state);
        assert_eq!(d.next_record().unwrap(), Some(record));
    }

    #[test]
    fn snapshot_records_round_trip() {
        let edge = |name, target| HeapEdge { name, target };
        let records = vec![
            Record::SnapshotStart {
                id: 1,
                time_ns: 5_000,
                trigger: "exit".into(),
            },
            Record::HeapType {
                id: 0,
                name: "dict".into(),
            },
            Record::HeapName {
                id: 3,
                text: "CACHE".into(),
            },
            Record::HeapRoot(HeapRootDef {
                label: "sys.modules".into(),
                edges: vec![edge(EdgeName::Key(3), 0x7f00_0010)],
            }),
            Record::HeapObject(HeapObjectDef {
                addr: 0x7f00_0010,
                preheader: 16,
                type_id: 0,
                size: 64,
                refcnt: 2,
                gc_tracked: true,
                edges: vec![
                    edge(EdgeName::Attr(3), 0x7f00_0040),
                    edge(EdgeName::Index(1 << 40), 0x10),
                    edge(EdgeName::Internal(0), 0x7f00_0013),
                    edge(EdgeName::Key(7), 0x7f00_0010),
                ],
            }),
            Record::HeapObject(HeapObjectDef {
                addr: 0x7f00_0040,
                preheader: 0,
                type_id: 0,
                size: 32,
                refcnt: 1,
                gc_tracked: false,
                edges: vec![],
            }),
            Record::SnapshotEnd {
                id: 1,
                time_ns: 9_000,
                objects: 2,
            },
        ];
        assert_eq!(decode_all(&encode_all(&records)).unwrap(), records);
    }

    #[test]
    fn an_edge_count_beyond_the_chunk_is_rejected() {
        let bytes = [meta(META_HEAP_ROOT), 0, 0xff, 0x7f];
        assert!(decode_all(&bytes).unwrap_err().1.contains("edge count"));
    }

    #[test]
    fn overlong_varint_is_an_error() {
        let buf = [
            TAG_META | META_SAMPLE << 3,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01,
        ];
        let mut state = DeltaState::new(false);
        let mut d = Decoder::resume(&buf, 0, &mut state);
        assert!(d.next_record().is_err());
    }

    /// The HeapObject of the worked example in `docs/capture-format.md`.
    #[test]
    fn heap_object_bytes_match_the_spec_example() {
        let edge = |name, target| HeapEdge { name, target };
        let previous = Record::HeapObject(HeapObjectDef {
            addr: 0x7f3a_1c2b_4e50,
            preheader: 16,
            type_id: 0,
            size: 64,
            refcnt: 1,
            gc_tracked: true,
            edges: vec![],
        });
        let entry = Record::HeapObject(HeapObjectDef {
            addr: 0x7f3a_1c2b_4e90,
            preheader: 16,
            type_id: 3,
            size: 48,
            refcnt: 1,
            gc_tracked: true,
            edges: vec![
                edge(EdgeName::Internal(0), 0x55d0_c9a1_c0a0),
                edge(EdgeName::Attr(1), 0x7f3a_1c2b_4eb0),
                edge(EdgeName::Attr(2), 0x7f3a_1c2b_4d10),
            ],
        });
        let records = [previous, entry];
        let bytes = encode_all(&records);
        let start = encode_all(&records[..1]).len();
        #[rustfmt::skip]
        let expected = [
            0x47,                                     // head: tag 7, kind 8
            0x10,                                     // addr: +64 from the previous object
            0x10,                                     // preheader 16
            0x03,                                     // type id 3
            0x30,                                     // size 48
            0x01,                                     // refcnt 1
            0x03,                                     // 3 edges
            0x03, 0xfa, 0xc6, 0x89, 0xa5, 0xa5, 0xcb, 0x02, // __class__ → the type
            0x04, 0x08,                               // .key → +32
            0x08, 0x5e,                               // .value → −384
        ];
        assert_eq!(&bytes[start..], &expected);
        assert_eq!(decode_all(&bytes).unwrap(), records);
    }
}
