//! Offline decoding of CPython line tables: instruction offset → source line.
//!
//! # Why lines are decoded here and not in the tracker
//!
//! The tracker runs inside the profiled process, on every allocation. Per
//! Python frame it records only two things: the code object (interned once,
//! as a [`memsleuth_format::CodeDef`] carrying the code object's raw
//! line-table bytes and `co_firstlineno`) and the byte offset of the frame's
//! current instruction (a [`memsleuth_format::FrameDef`]). Turning an offset
//! into a line means walking the table from its start, which is far too slow
//! to do inside a malloc hook, and it is not needed there: the table is
//! immutable for the life of the code object, so the same answer can be
//! computed later, from the recorded bytes, when a capture is read — on any
//! machine, without the profiled interpreter.
//!
//! That only works if the decoding here gives exactly the answer the
//! interpreter itself would give (`PyCode_Addr2Line`, what tracebacks and
//! `frame.f_lineno` use), for each of the three table formats CPython has had:
//!
//! * **3.9 `co_lnotab`** ([`LineTableFormat::Lnotab`]): pairs of
//!   (unsigned byte-offset increment, signed line increment). The line of
//!   offset `A` starts at `co_firstlineno` and takes every line increment
//!   whose pair's cumulative offset is `<= A`. Every offset has a line.
//! * **3.10 `co_linetable`** ([`LineTableFormat::Linetable310`]): pairs of
//!   (unsigned byte length, signed line delta), each describing a range of
//!   bytecode that starts where the previous one ended. A line delta of -128
//!   means "this range has no line" and does not move the running line.
//!   Zero-length ranges only move the running line. An offset past the last
//!   range has no line.
//! * **3.11+ location table** ([`LineTableFormat::Locations311`], also used
//!   by 3.12 and 3.13): one entry per range of 1–8 code units. The first byte
//!   of an entry has bit 7 set, its kind in bits 3–6 and (length − 1) in bits
//!   0–2. The kind decides the line delta: short forms 0–9 and one-line form
//!   10 keep the line, 11 and 12 add 1 and 2, 13 (no columns) and 14 (long)
//!   carry a signed varint line delta right after the first byte, and 15 means
//!   "no line". Varints are little-endian groups of 6 bits with 0x40 as the
//!   continuation bit; signed varints keep the sign in the lowest bit. Columns
//!   and end lines are skipped: only the line is needed. An offset past the
//!   last entry has no line.
//!
//! # Malformed input
//!
//! [`line_for_offset`] never panics, does not allocate and runs in time linear
//! in the table length, whatever the bytes. It reads the table the way
//! CPython does, and where CPython would read past the end of a damaged
//! table, it returns `None` instead:
//!
//! * entries before the damage decode normally, so offsets they cover still
//!   get their line;
//! * an offset whose entry is truncated (a 3.10 pair missing its second byte,
//!   a 3.11 varint cut off by the end of the table) or lies past the end of
//!   the table gets `None` (3.10, 3.11+); for 3.9 a trailing odd byte is
//!   ignored exactly as CPython ignores it, and the answer is the best line so
//!   far, as CPython's;
//! * a 3.11 varint longer than 6 groups (more than 32 bits) is treated as
//!   damage too (`None`);
//! * a computed line that does not fit in `u32` (negative, or absurdly large,
//!   which only a damaged table or `co_firstlineno` can produce) is `None`.

use memsleuth_format::LineTableFormat;

/// Size in bytes of one CPython code unit (`_Py_CODEUNIT`).
const CODE_UNIT: u64 = 2;

/// The source line of the instruction at `byte_offset` of a code object whose
/// line table (`co_lnotab` for 3.9, `co_linetable` for 3.10+) is `table` and
/// whose `co_firstlineno` is `first_line`.
///
/// `byte_offset` is the byte offset of the instruction: for 3.10+ that is the
/// instruction index times 2 (for 3.11+ the code-unit index times 2). Returns
/// `None` when the table says the instruction has no line, when the offset
/// lies beyond the end of the table (3.10+), or when the table is damaged at
/// or before the offset's entry (see the module documentation). Never panics;
/// O(table length).
pub fn line_for_offset(
    format: LineTableFormat,
    first_line: u32,
    table: &[u8],
    byte_offset: u32,
) -> Option<u32> {
    let offset = u64::from(byte_offset);
    let first_line = i64::from(first_line);
    match format {
        LineTableFormat::Lnotab => lnotab_line(first_line, table, offset),
        LineTableFormat::Linetable310 => linetable310_line(first_line, table, offset),
        LineTableFormat::Locations311 => locations311_line(first_line, table, offset),
    }
}

/// A computed line as the public type; out-of-range values are damage.
fn to_line(line: i64) -> Option<u32> {
    u32::try_from(line).ok()
}

/// CPython 3.9: sum the line increments of every pair whose cumulative address
/// does not exceed the offset. There is no "no line" in this format; a
/// trailing odd byte is ignored (CPython only reads whole pairs).
fn lnotab_line(first_line: i64, table: &[u8], offset: u64) -> Option<u32> {
    let mut line = first_line;
    let mut addr: u64 = 0;
    for pair in table.chunks_exact(2) {
        addr += u64::from(pair[0]);
        if addr > offset {
            break;
        }
        line += i64::from(pair[1] as i8);
    }
    to_line(line)
}

/// CPython 3.10: the answer is the line of the first range whose end lies
/// beyond the offset. Zero-length ranges can never be that range (their end
/// is their start, already `<= offset`), so skipping them, as CPython does,
/// falls out of the scan; their line deltas still accumulate.
fn linetable310_line(first_line: i64, table: &[u8], offset: u64) -> Option<u32> {
    /// The line delta that marks a range without a line.
    const NO_LINE: i8 = -128;
    let mut computed = first_line;
    let mut end: u64 = 0;
    for pair in table.chunks_exact(2) {
        end += u64::from(pair[0]);
        let delta = pair[1] as i8;
        let has_line = delta != NO_LINE;
        if has_line {
            computed += i64::from(delta);
        }
        if end > offset {
            return if has_line { to_line(computed) } else { None };
        }
    }
    // Past the last range, or only a truncated pair is left.
    None
}

/// Entry kinds of the 3.11+ location table (bits 3–6 of an entry's first byte).
mod kind {
    pub const ONE_LINE1: u8 = 11;
    pub const ONE_LINE2: u8 = 12;
    pub const NO_COLUMNS: u8 = 13;
    pub const LONG: u8 = 14;
}

/// CPython 3.11+: walk the entries until one ends beyond the offset.
fn locations311_line(first_line: i64, table: &[u8], offset: u64) -> Option<u32> {
    let mut computed = first_line;
    let mut end: u64 = 0;
    let mut pos = 0;
    while let Some(&head) = table.get(pos) {
        // Like CPython, the byte at `pos` is taken as an entry's first byte
        // even if its bit 7 is clear (that only happens in damaged tables).
        let delta = match (head >> 3) & 15 {
            kind::ONE_LINE1 => 1,
            kind::ONE_LINE2 => 2,
            kind::NO_COLUMNS | kind::LONG => signed_varint(table, pos + 1)?,
            // Short forms, ONE_LINE0 and NONE keep the line.
            _ => 0,
        };
        computed = computed.saturating_add(delta);
        // "No line" is kind 15 with bit 7 set, as CPython tests it.
        let has_line = head >> 3 != 0x1f;
        end += (u64::from(head & 7) + 1) * CODE_UNIT;
        if end > offset {
            return if has_line { to_line(computed) } else { None };
        }
        // The next entry starts at the next byte with bit 7 set.
        pos += 1;
        while table.get(pos).is_some_and(|b| b & 0x80 == 0) {
            pos += 1;
        }
    }
    None
}

/// Most 6-bit groups a varint may have: 6 groups hold 32 bits.
const MAX_VARINT_GROUPS: u32 = 6;

/// The unsigned varint at `pos`: groups of 6 bits, least significant first,
/// 0x40 set on every group but the last. `None` if it runs off the table or
/// past [`MAX_VARINT_GROUPS`]. Bits beyond 32 are dropped, as CPython's
/// `unsigned int` arithmetic drops them.
fn varint(table: &[u8], pos: usize) -> Option<u32> {
    let mut value: u32 = 0;
    for group in 0..MAX_VARINT_GROUPS {
        let byte = *table.get(pos + group as usize)?;
        value |= u32::from(byte & 63) << (6 * group);
        if byte & 64 == 0 {
            return Some(value);
        }
    }
    None
}

/// A signed varint: the magnitude shifted left by one, the sign in bit 0.
fn signed_varint(table: &[u8], pos: usize) -> Option<i64> {
    let raw = varint(table, pos)?;
    let magnitude = i64::from(raw >> 1);
    Some(if raw & 1 == 1 { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;
    use LineTableFormat::{Linetable310, Lnotab, Locations311};

    const ALL: [LineTableFormat; 3] = [Lnotab, Linetable310, Locations311];

    #[test]
    fn empty_tables() {
        // 3.9: everything is on the first line; 3.10+: nothing has a line.
        assert_eq!(line_for_offset(Lnotab, 7, &[], 0), Some(7));
        assert_eq!(line_for_offset(Lnotab, 7, &[], 1000), Some(7));
        assert_eq!(line_for_offset(Linetable310, 7, &[], 0), None);
        assert_eq!(line_for_offset(Locations311, 7, &[], 0), None);
    }

    #[test]
    fn lnotab_basics() {
        // The lnotab_notes.txt example: 0→1, 6→2, 50→7, 350→207, 361→208.
        let t = [6, 1, 44, 5, 255, 0, 45, 127, 0, 73, 11, 1];
        let at = |o| line_for_offset(Lnotab, 1, &t, o);
        assert_eq!(at(0), Some(1));
        assert_eq!(at(5), Some(1));
        assert_eq!(at(6), Some(2));
        assert_eq!(at(49), Some(2));
        assert_eq!(at(50), Some(7));
        assert_eq!(at(349), Some(7));
        assert_eq!(at(350), Some(207));
        assert_eq!(at(360), Some(207));
        assert_eq!(at(361), Some(208));
        assert_eq!(at(100_000), Some(208));
        // -128 is an ordinary delta in 3.9.
        assert_eq!(line_for_offset(Lnotab, 300, &[2, 0x80], 2), Some(172));
        // A trailing odd byte is ignored.
        assert_eq!(line_for_offset(Lnotab, 1, &[2, 1, 2], 10), Some(2));
        // A line below zero is damage.
        assert_eq!(line_for_offset(Lnotab, 1, &[0, 0xfe], 0), None);
    }

    #[test]
    fn linetable310_basics() {
        // [0,6) line 3; zero-length +1; [6,10) no line; [10,14) line 3+1+2.
        let t = [6, 2, 0, 1, 4, 0x80, 4, 2];
        let at = |o| line_for_offset(Linetable310, 1, &t, o);
        assert_eq!(at(0), Some(3));
        assert_eq!(at(5), Some(3));
        assert_eq!(at(6), None);
        assert_eq!(at(9), None);
        assert_eq!(at(10), Some(6));
        assert_eq!(at(13), Some(6));
        assert_eq!(at(14), None);
        // Truncated final pair: the complete pairs still decode.
        assert_eq!(line_for_offset(Linetable310, 1, &[2, 1, 7], 0), Some(2));
        assert_eq!(line_for_offset(Linetable310, 1, &[2, 1, 7], 2), None);
    }

    #[test]
    fn locations311_basics() {
        // Kind 14 (long), line delta +4 (varint 8), 2 units, then end line,
        // columns; kind 11 (+1), 1 unit, 2 column bytes; kind 15, 3 units;
        // kind 13 (no columns) with delta -2 (varint 5), 1 unit; short form
        // kind 3, 8 units.
        let t = [0xf1, 8, 0, 1, 5, 0xd8, 1, 2, 0xfa, 0xe8, 5, 0x9f, 0x11];
        let at = |o| line_for_offset(Locations311, 10, &t, o);
        assert_eq!(at(0), Some(14));
        assert_eq!(at(3), Some(14));
        assert_eq!(at(4), Some(15));
        assert_eq!(at(6), None);
        assert_eq!(at(11), None);
        assert_eq!(at(12), Some(13));
        assert_eq!(at(14), Some(13));
        assert_eq!(at(29), Some(13));
        assert_eq!(at(30), None);
        // Multi-group varint: 0x41 0x02 = 1 + (2 << 6) = 129 → -64.
        assert_eq!(
            line_for_offset(Locations311, 100, &[0xe8, 0x41, 0x02], 0),
            Some(36)
        );
        // Line 0 is a line (module-level RESUME on 3.11+ has it).
        assert_eq!(line_for_offset(Locations311, 1, &[0xe8, 0x03], 0), Some(0));
    }

    #[test]
    fn truncated_varints() {
        // Continuation bit set on the last byte of the table.
        assert_eq!(line_for_offset(Locations311, 1, &[0xf0, 0x42], 0), None);
        // Varint missing entirely.
        assert_eq!(line_for_offset(Locations311, 1, &[0xf0], 0), None);
        assert_eq!(line_for_offset(Locations311, 1, &[0xe8], 0), None);
        // Damage after the offset's entry does not matter.
        assert_eq!(
            line_for_offset(Locations311, 1, &[0xd8, 0xf0, 0x42], 0),
            Some(2)
        );
        assert_eq!(
            line_for_offset(Locations311, 1, &[0xd8, 0xf0, 0x42], 2),
            None
        );
        // Too many groups.
        assert_eq!(
            line_for_offset(
                Locations311,
                1,
                &[0xe8, 0x40, 0x40, 0x40, 0x40, 0x40, 0x40, 0],
                0
            ),
            None
        );
        // Six groups are fine, and the bits beyond 32 are dropped.
        assert_eq!(
            line_for_offset(
                Locations311,
                1,
                &[0xe8, 0x42, 0x40, 0x40, 0x40, 0x40, 0x3c],
                0
            ),
            Some(2)
        );
    }

    #[test]
    fn extremes_do_not_panic() {
        let big = vec![0xffu8; 4096];
        let varints = [0xf0u8, 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0x3f].repeat(1000);
        for format in ALL {
            for first_line in [0, 1, u32::MAX] {
                for table in [&big[..], &varints[..]] {
                    for offset in [0, 1, 2, 1000, u32::MAX - 1, u32::MAX] {
                        let _ = line_for_offset(format, first_line, table, offset);
                    }
                }
            }
        }
        assert_eq!(line_for_offset(Lnotab, u32::MAX, &[0, 1], 0), None);
        assert_eq!(line_for_offset(Linetable310, u32::MAX, &[2, 1], 0), None);
        assert_eq!(
            line_for_offset(Linetable310, u32::MAX, &[2, 0], 0),
            Some(u32::MAX)
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        // A small deterministic generator (xorshift) instead of a dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let table: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let first_line = next() as u32;
            for format in ALL {
                for offset in [0, 2, 7, 64, 255, 256, 4000, u32::MAX, next() as u32] {
                    let _ = line_for_offset(format, first_line, &table, offset);
                    for cut in 0..table.len() {
                        let _ = line_for_offset(format, first_line, &table[..cut], offset);
                    }
                }
            }
        }
    }
}
