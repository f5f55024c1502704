//! Source lines and inlined frames from DWARF, through `addr2line`.

use std::path::Path;
use std::sync::Arc;

use object::{Object, ObjectSection, SectionKind};

use crate::error::Error;

/// Sections are copied out of the file so the file's bytes (mostly code)
/// can be dropped once loading is done; `Arc` keeps the symbolizer `Send`.
type Reader = gimli::EndianArcSlice<gimli::RunTimeEndian>;

pub(crate) struct DebugInfo {
    context: addr2line::Context<Reader>,
}

/// One frame as DWARF tells it, before demangling.
pub(crate) struct SourceFrame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
}

/// Whether the file carries DWARF itself. A file from `objcopy
/// --only-keep-debug` does; a stripped one, or one whose debug sections were
/// turned into empty `NOBITS` placeholders, does not.
pub(crate) fn has_dwarf(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0 && s.kind() != SectionKind::UninitializedData)
}

impl DebugInfo {
    pub fn load(file: &object::File<'_>, path: &Path) -> Result<DebugInfo, Error> {
        let endian = if file.is_little_endian() {
            gimli::RunTimeEndian::Little
        } else {
            gimli::RunTimeEndian::Big
        };
        let dwarf_error = |source| Error::Dwarf {
            path: path.to_owned(),
            source,
        };
        let dwarf = gimli::Dwarf::load(|id| section(file, id.name(), endian, path))?;
        let context = addr2line::Context::from_dwarf(dwarf).map_err(dwarf_error)?;
        Ok(DebugInfo { context })
    }

    /// Innermost (most inlined) first; empty when DWARF does not cover
    /// `vaddr`, e.g. code from an object compiled without `-g`.
    pub fn frames(&self, vaddr: u64) -> Result<Vec<SourceFrame>, gimli::Error> {
        // Split DWARF (.dwo) would need more files; what the main debug info
        // says is still worth showing, so such units are skipped, not fatal.
        let mut iter = self.context.find_frames(vaddr).skip_all_loads()?;
        let mut frames = Vec::new();
        while let Some(frame) = iter.next()? {
            let function = match frame.function {
                Some(name) => Some(name.raw_name()?.into_owned()),
                None => None,
            };
            let location = frame.location;
            frames.push(SourceFrame {
                function,
                file: location.as_ref().and_then(|l| l.file).map(str::to_owned),
                line: location.and_then(|l| l.line).filter(|&line| line != 0),
            });
        }
        Ok(frames)
    }
}

fn section(
    file: &object::File<'_>,
    name: &str,
    endian: gimli::RunTimeEndian,
    path: &Path,
) -> Result<Reader, Error> {
    let data: Arc<[u8]> = match file.section_by_name(name) {
        // Distributions compress debug sections; `uncompressed_data` undoes it.
        Some(s) => Arc::from(&*s.uncompressed_data().map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        })?),
        None => Arc::from(&[][..]),
    };
    Ok(gimli::EndianArcSlice::new(data, endian))
}
