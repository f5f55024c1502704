//! The byte encoding of records inside a chunk: a tag byte, then LEB128
//! varints. Addresses, stacks and times are zigzag deltas against the previous
//! record of the same chunk, which is what makes captures small: consecutive
//! allocations tend to sit near each other and come from the same stack.

use crate::records::{AllocKind, CodeDef, Domain, FrameDef, LineTableFormat, Record, ThreadDef};

const TAG_CODE: u8 = 1;
const TAG_FRAME: u8 = 2;
const TAG_THREAD: u8 = 3;
const TAG_ALLOC: u8 = 4;
const TAG_FREE: u8 = 5;
const TAG_REALLOC: u8 = 6;
const TAG_SAMPLE: u8 = 7;
const TAG_END: u8 = 8;

/// The running values deltas are taken against; reset at every chunk.
#[derive(Default, Clone)]
pub(crate) struct DeltaState {
    addr: u64,
    stack: u32,
    time_ns: u64,
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

impl DeltaState {
    fn put_addr(&mut self, out: &mut Vec<u8>, addr: u64) {
        put_varint(out, zigzag(addr.wrapping_sub(self.addr) as i64));
        self.addr = addr;
    }

    fn put_stack(&mut self, out: &mut Vec<u8>, stack: u32) {
        put_varint(out, zigzag(i64::from(stack) - i64::from(self.stack)));
        self.stack = stack;
    }

    fn put_time(&mut self, out: &mut Vec<u8>, time_ns: u64) {
        put_varint(out, zigzag(time_ns.wrapping_sub(self.time_ns) as i64));
        self.time_ns = time_ns;
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
                out.push(TAG_FRAME);
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
            } => {
                out.push(TAG_ALLOC);
                out.push(*domain as u8 | (*kind as u8) << 4);
                self.put_addr(out, *addr);
                put_varint(out, *size);
                self.put_stack(out, *stack);
            }
            Record::Free { domain, addr } => {
                out.push(TAG_FREE);
                out.push(*domain as u8);
                self.put_addr(out, *addr);
            }
            Record::Realloc {
                domain,
                old_addr,
                addr,
                size,
                stack,
            } => {
                out.push(TAG_REALLOC);
                out.push(*domain as u8);
                // The old address is coded against the running address, and the new one
                // against the old: a realloc in place costs a single zero byte.
                self.put_addr(out, *old_addr);
                self.put_addr(out, *addr);
                put_varint(out, *size);
                self.put_stack(out, *stack);
            }
            Record::Sample { time_ns, rss_bytes } => {
                out.push(TAG_SAMPLE);
                self.put_time(out, *time_ns);
                put_varint(out, *rss_bytes);
            }
            Record::End { time_ns } => {
                out.push(TAG_END);
                self.put_time(out, *time_ns);
            }
        }
    }
}

/// Decodes the records of one chunk's payload.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    state: DeltaState,
}

/// What went wrong inside a payload, as an offset into it and a reason.
pub(crate) type DecodeError = (usize, String);

impl<'a> Decoder<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Decoder {
            buf,
            pos: 0,
            state: DeltaState::default(),
        }
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

    fn varint(&mut self) -> Result<u64, DecodeError> {
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

    fn domain(&mut self, b: u8) -> Result<Domain, DecodeError> {
        match Domain::from_u8(b & 0x0f) {
            Some(d) => Ok(d),
            None => self.err("unknown allocator domain"),
        }
    }

    fn addr(&mut self) -> Result<u64, DecodeError> {
        let delta = unzigzag(self.varint()?);
        self.state.addr = self.state.addr.wrapping_add(delta as u64);
        Ok(self.state.addr)
    }

    fn stack(&mut self) -> Result<u32, DecodeError> {
        let delta = unzigzag(self.varint()?);
        let v = i64::from(self.state.stack) + delta;
        self.state.stack = u32::try_from(v).or_else(|_| self.err("a stack id is out of range"))?;
        Ok(self.state.stack)
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
        let tag = self.byte()?;
        let record = match tag {
            TAG_CODE => {
                let id = self.u32()?;
                let filename = self.string()?;
                let name = self.string()?;
                let first_line = self.u32()?;
                let fmt = self.byte()?;
                let Some(linetable_format) = LineTableFormat::from_u8(fmt) else {
                    return self.err("unknown line table format");
                };
                let linetable = self.bytes()?.to_vec();
                Record::Code(CodeDef {
                    id,
                    filename,
                    name,
                    first_line,
                    linetable_format,
                    linetable,
                })
            }
            TAG_FRAME => Record::Frame(FrameDef {
                id: self.u32()?,
                parent: self.u32()?,
                code: self.u32()?,
                offset: self.u32()?,
            }),
            TAG_THREAD => Record::Thread(ThreadDef {
                root: self.u32()?,
                native_id: self.varint()?,
                is_main: self.byte()? != 0,
            }),
            TAG_ALLOC => {
                let b = self.byte()?;
                let domain = self.domain(b)?;
                let Some(kind) = AllocKind::from_u8(b >> 4) else {
                    return self.err("unknown allocation kind");
                };
                let addr = self.addr()?;
                let size = self.varint()?;
                let stack = self.stack()?;
                Record::Alloc {
                    domain,
                    kind,
                    addr,
                    size,
                    stack,
                }
            }
            TAG_FREE => {
                let b = self.byte()?;
                let domain = self.domain(b)?;
                Record::Free {
                    domain,
                    addr: self.addr()?,
                }
            }
            TAG_REALLOC => {
                let b = self.byte()?;
                let domain = self.domain(b)?;
                let old_addr = self.addr()?;
                let addr = self.addr()?;
                let size = self.varint()?;
                let stack = self.stack()?;
                Record::Realloc {
                    domain,
                    old_addr,
                    addr,
                    size,
                    stack,
                }
            }
            TAG_SAMPLE => Record::Sample {
                time_ns: self.time()?,
                rss_bytes: self.varint()?,
            },
            TAG_END => Record::End {
                time_ns: self.time()?,
            },
            _ => return self.err(&format!("unknown record tag {tag}")),
        };
        Ok(Some(record))
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

    #[test]
    fn overlong_varint_is_an_error() {
        let buf = [
            TAG_SAMPLE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        let mut d = Decoder::new(&buf);
        assert!(d.next_record().is_err());
    }
}
