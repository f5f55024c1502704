//! One ELF file as read from disk, and the function symbols it names.

use std::cmp::Reverse;
use std::fs;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::error::Error;

/// A file's bytes with the identity that decides whether it may be used.
/// The bytes are kept only until the symbols and debug information are
/// extracted, so a module costs what it names, not the size of its code.
pub(crate) struct ElfImage {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub build_id: Option<Vec<u8>>,
}

impl ElfImage {
    pub fn read(path: &Path) -> Result<ElfImage, Error> {
        let bytes = fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let build_id = {
            let file = parse(path, &bytes)?;
            let id = file.build_id().map_err(|source| Error::Parse {
                path: path.to_owned(),
                source,
            })?;
            id.map(<[u8]>::to_vec)
        };
        Ok(ElfImage {
            path: path.to_owned(),
            bytes,
            build_id,
        })
    }

    pub fn parse(&self) -> Result<object::File<'_>, Error> {
        parse(&self.path, &self.bytes)
    }

    /// The checksum `.gnu_debuglink` records, which identifies a debug file
    /// that has no build id of its own.
    pub fn crc32(&self) -> u32 {
        crc32fast::hash(&self.bytes)
    }
}

fn parse<'data>(path: &Path, bytes: &'data [u8]) -> Result<object::File<'data>, Error> {
    object::File::parse(bytes).map_err(|source| Error::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The `.gnu_debuglink` of a stripped file: the file name its debug file was
/// given, and that file's CRC-32.
pub(crate) struct DebugLink {
    pub name: String,
    pub crc: u32,
}

/// A damaged link is treated as absent: the build-id route may still work,
/// and a stripped file without debug info is normal, not a problem.
pub(crate) fn debug_link(file: &object::File<'_>) -> Option<DebugLink> {
    let (name, crc) = file.gnu_debuglink().ok().flatten()?;
    let name = std::str::from_utf8(name).ok()?;
    // A link is a bare file name; anything else could point outside the
    // directories we mean to search.
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(DebugLink {
        name: name.to_owned(),
        crc,
    })
}

/// Function symbols sorted by ELF virtual address.
pub(crate) struct SymbolTable {
    symbols: Vec<Symbol>,
}

struct Symbol {
    start: u64,
    end: u64,
    name: Box<str>,
}

/// A candidate before aliases at one address are merged.
struct Entry {
    start: u64,
    size: u64,
    section_end: u64,
    preference: u8,
    name: Box<str>,
}

impl SymbolTable {
    /// The full `.symtab`, or `None` when the file was stripped of it.
    pub fn symtab(file: &object::File<'_>) -> Option<SymbolTable> {
        file.symbol_table()?;
        Some(SymbolTable::new(file, file.symbols())).filter(|table| !table.symbols.is_empty())
    }

    /// `.dynsym`: only exported functions, but it survives `strip`.
    pub fn dynsym(file: &object::File<'_>) -> SymbolTable {
        SymbolTable::new(file, file.dynamic_symbols())
    }

    fn new<'data, S: ObjectSymbol<'data>>(
        file: &object::File<'data>,
        symbols: impl Iterator<Item = S>,
    ) -> SymbolTable {
        let mut entries: Vec<Entry> = symbols.filter_map(|s| entry(file, &s)).collect();
        // Several names often share one address (aliases, weak and strong
        // versions); the exported, longest one is what a reader expects.
        entries.sort_by_key(|e| (e.start, Reverse(e.preference), Reverse(e.size)));
        entries.dedup_by_key(|e| e.start);
        SymbolTable {
            symbols: bound_symbols(entries),
        }
    }

    pub fn lookup(&self, vaddr: u64) -> Option<&str> {
        let after = self.symbols.partition_point(|s| s.start <= vaddr);
        let symbol = self.symbols.get(after.checked_sub(1)?)?;
        (vaddr < symbol.end).then_some(&*symbol.name)
    }
}

fn entry<'data, S: ObjectSymbol<'data>>(file: &object::File<'data>, symbol: &S) -> Option<Entry> {
    if symbol.kind() != SymbolKind::Text {
        return None;
    }
    let section = file.section_by_index(symbol.section_index()?).ok()?;
    let name = symbol.name_bytes().ok().filter(|n| !n.is_empty())?;
    let preference = if symbol.is_weak() {
        1
    } else if symbol.is_global() {
        2
    } else {
        0
    };
    Some(Entry {
        start: symbol.address(),
        size: symbol.size(),
        section_end: section.address().saturating_add(section.size()),
        preference,
        name: String::from_utf8_lossy(name).into(),
    })
}

/// Hand-written assembly often leaves sizes at zero; such a symbol is taken
/// to run to the next symbol or the end of its section, whichever is first,
/// so a zero size neither hides the function nor swallows the next section.
fn bound_symbols(entries: Vec<Entry>) -> Vec<Symbol> {
    let next_starts: Vec<u64> = entries
        .iter()
        .skip(1)
        .map(|e| e.start)
        .chain([u64::MAX])
        .collect();
    entries
        .into_iter()
        .zip(next_starts)
        .map(|(e, next)| Symbol {
            start: e.start,
            end: if e.size > 0 {
                e.start.saturating_add(e.size)
            } else {
                e.section_end.min(next)
            },
            name: e.name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start: u64, size: u64, section_end: u64, name: &str) -> Entry {
        Entry {
            start,
            size,
            section_end,
            preference: 2,
            name: name.into(),
        }
    }

    #[test]
    fn sized_symbols_cover_exactly_their_range() {
        let table = SymbolTable {
            symbols: bound_symbols(vec![
                entry(0x100, 0x10, 0x1000, "a"),
                entry(0x200, 0x8, 0x1000, "b"),
            ]),
        };
        assert_eq!(table.lookup(0xff), None);
        assert_eq!(table.lookup(0x100), Some("a"));
        assert_eq!(table.lookup(0x10f), Some("a"));
        assert_eq!(table.lookup(0x110), None);
        assert_eq!(table.lookup(0x207), Some("b"));
        assert_eq!(table.lookup(0x208), None);
    }

    #[test]
    fn zero_sized_symbols_reach_the_next_symbol_or_their_section_end() {
        let table = SymbolTable {
            symbols: bound_symbols(vec![
                entry(0x100, 0, 0x1000, "asm_a"),
                entry(0x180, 0, 0x1000, "asm_b"),
                entry(0x2000, 0, 0x2100, "other_section"),
            ]),
        };
        assert_eq!(table.lookup(0x17f), Some("asm_a"));
        assert_eq!(table.lookup(0x180), Some("asm_b"));
        assert_eq!(table.lookup(0xfff), Some("asm_b"));
        assert_eq!(table.lookup(0x1000), None);
        assert_eq!(table.lookup(0x20ff), Some("other_section"));
        assert_eq!(table.lookup(0x2100), None);
    }
}
