//! Finding the file that was loaded in the profiled process, and the file
//! holding its debug information, on this machine.
//!
//! The capture may be read on another machine, or after the program's files
//! were upgraded. The build id is what tells whether a file on disk is the
//! one that ran; a file with the right name but another build id would give
//! confidently wrong names, so it is never used. When no file fits, the
//! result is a sentence saying which file is missing and where it was looked
//! for, because the user is the only one who can fetch it.

use std::path::{Path, PathBuf};

use crate::dwarf::has_dwarf;
use crate::elf::{DebugLink, ElfImage};
use crate::error::Error;
use crate::{ModuleInfo, SearchPath, SYMBOL_PATH_VAR};

/// Where distributions install separate debug files, by build id and by the
/// stripped file's directory.
pub(crate) const SYSTEM_DEBUG_DIR: &str = "/usr/lib/debug";

/// Why a file that exists was passed over.
enum Rejection {
    WrongBuild {
        path: PathBuf,
        found: Option<Vec<u8>>,
    },
    WrongCrc {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    Unreadable(Error),
}

/// The file the module was loaded from, or the same code elsewhere: a copy
/// in a search directory, or its separate debug file, which has the symbols
/// too. `name` is the module's file name, used in the sentence on failure.
pub(crate) fn find_module_file(
    module: &ModuleInfo,
    name: &str,
    search: &SearchPath,
) -> Result<ElfImage, String> {
    let mut rejected = None;
    for path in module_candidates(module, search) {
        if !path.is_file() {
            continue;
        }
        match ElfImage::read(&path) {
            Ok(image) if build_matches(&module.build_id, image.build_id.as_deref()) => {
                return Ok(image)
            }
            Ok(image) => {
                rejected.get_or_insert(Rejection::WrongBuild {
                    path,
                    found: image.build_id,
                });
            }
            Err(error) => {
                rejected.get_or_insert(Rejection::Unreadable(error));
            }
        }
    }
    Err(match rejected {
        Some(rejection) => module_rejected(&rejection, &module.build_id, name),
        None => module_missing(module, name, search),
    })
}

/// The separate debug file of a module whose own file has no DWARF.
/// `Ok(None)` when there is none: stripped system libraries are normal and
/// still give function names, so that is not a problem to report.
pub(crate) fn find_debug_file(
    main: &ElfImage,
    link: Option<&DebugLink>,
    build_id: &[u8],
    name: &str,
    search: &SearchPath,
) -> Result<Option<ElfImage>, String> {
    let mut rejected = None;
    for (path, crc) in debug_candidates(main, link, build_id, search) {
        if path == main.path || !path.is_file() {
            continue;
        }
        let image = match ElfImage::read(&path) {
            Ok(image) => image,
            Err(error) => {
                rejected.get_or_insert(Rejection::Unreadable(error));
                continue;
            }
        };
        // A file with this name but no DWARF is not a debug file at all.
        if !image.parse().is_ok_and(|file| has_dwarf(&file)) {
            continue;
        }
        match debug_file_rejection(&image, build_id, crc) {
            None => return Ok(Some(image)),
            Some(rejection) => {
                rejected.get_or_insert(rejection);
            }
        }
    }
    match rejected {
        Some(rejection) => Err(debug_rejected(&rejection, build_id, name)),
        None => Ok(None),
    }
}

fn build_matches(expected: &[u8], found: Option<&[u8]>) -> bool {
    // A capture without a build id cannot tell versions apart; the file at
    // the recorded path is then the best guess there is.
    expected.is_empty() || found == Some(expected)
}

/// Build ids are compared when both sides have one; otherwise the debug
/// link's CRC is the only identity a debug file has.
fn debug_file_rejection(image: &ElfImage, build_id: &[u8], crc: Option<u32>) -> Option<Rejection> {
    if let (false, Some(found)) = (build_id.is_empty(), image.build_id.as_deref()) {
        return (found != build_id).then(|| Rejection::WrongBuild {
            path: image.path.clone(),
            found: Some(found.to_vec()),
        });
    }
    match crc {
        Some(expected) if image.crc32() == expected => None,
        Some(expected) => Some(Rejection::WrongCrc {
            path: image.path.clone(),
            expected,
            found: image.crc32(),
        }),
        None => Some(Rejection::WrongBuild {
            path: image.path.clone(),
            found: image.build_id.clone(),
        }),
    }
}

/// Recorded path first, so the common case (same machine, nothing upgraded)
/// reads exactly one file.
fn module_candidates(module: &ModuleInfo, search: &SearchPath) -> Vec<PathBuf> {
    let recorded = Path::new(&module.path);
    let file_name = recorded.file_name();
    let mut candidates = Vec::new();
    if !module.path.is_empty() {
        candidates.push(recorded.to_owned());
    }
    for dir in &search.dirs {
        candidates.extend(build_id_path(dir, &module.build_id));
        candidates.extend(file_name.map(|f| dir.join(f)));
        // A directory may also hold a copy of the other machine's tree.
        candidates.extend(recorded.strip_prefix("/").ok().map(|rel| dir.join(rel)));
    }
    dedup(candidates, |path| path)
}

/// Each candidate with the CRC it must have when it is found through the
/// debug link rather than the build id.
fn debug_candidates(
    main: &ElfImage,
    link: Option<&DebugLink>,
    build_id: &[u8],
    search: &SearchPath,
) -> Vec<(PathBuf, Option<u32>)> {
    let system = PathBuf::from(SYSTEM_DEBUG_DIR);
    let mut candidates: Vec<(PathBuf, Option<u32>)> = search
        .dirs
        .iter()
        .chain([&system])
        .filter_map(|dir| build_id_path(dir, build_id))
        .map(|path| (path, None))
        .collect();
    if let Some(link) = link {
        let main_dir = main.path.parent().unwrap_or(Path::new(""));
        let relative_dir = main_dir.strip_prefix("/").unwrap_or(main_dir);
        let dirs = [
            main_dir.to_owned(),
            main_dir.join(".debug"),
            system.join(relative_dir),
        ];
        let with_search = dirs.iter().chain(&search.dirs);
        candidates.extend(with_search.map(|dir| (dir.join(&link.name), Some(link.crc))));
    }
    dedup(candidates, |(path, _)| path)
}

/// `<dir>/.build-id/ab/cdef….debug`, the layout gdb, debuginfod clients and
/// distribution debug packages share.
fn build_id_path(dir: &Path, build_id: &[u8]) -> Option<PathBuf> {
    let (first, rest) = build_id.split_first()?;
    if rest.is_empty() {
        return None;
    }
    Some(
        dir.join(".build-id")
            .join(hex(&[*first]))
            .join(format!("{}.debug", hex(rest))),
    )
}

/// Search directories often overlap (a copy of /usr/lib/debug named in the
/// symbol path too); each file is looked at once.
fn dedup<T>(items: Vec<T>, path: impl Fn(&T) -> &PathBuf) -> Vec<T> {
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !kept.iter().any(|k| path(k) == path(&item)) {
            kept.push(item);
        }
    }
    kept
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn build_id_text(build_id: Option<&[u8]>) -> String {
    match build_id {
        Some(id) if !id.is_empty() => hex(id),
        _ => "none".to_owned(),
    }
}

fn module_missing(module: &ModuleInfo, name: &str, search: &SearchPath) -> String {
    let id = if module.build_id.is_empty() {
        String::new()
    } else {
        format!(" (build id {})", hex(&module.build_id))
    };
    let at = if module.path.is_empty() {
        "was recorded without a path".to_owned()
    } else {
        format!("is not at {}", module.path)
    };
    if search.dirs.is_empty() {
        return format!(
            "{name}{id} {at}; add the directory holding it to {SYMBOL_PATH_VAR} \
             to see its function names"
        );
    }
    format!(
        "{name}{id} {at} and was not found in {}; copy it there, or add its directory \
         to {SYMBOL_PATH_VAR}, to see its function names",
        list(&search.dirs)
    )
}

fn module_rejected(rejection: &Rejection, build_id: &[u8], name: &str) -> String {
    match rejection {
        Rejection::WrongBuild { path, found } => format!(
            "{} does not match the capture (build id {} expected, {} found); put the {name} \
             the program ran with in a directory named in {SYMBOL_PATH_VAR} to see its \
             function names",
            path.display(),
            hex(build_id),
            build_id_text(found.as_deref()),
        ),
        Rejection::WrongCrc { .. } | Rejection::Unreadable(_) => format!(
            "{}, so {name}'s function names are not shown",
            rejection_cause(rejection)
        ),
    }
}

fn debug_rejected(rejection: &Rejection, build_id: &[u8], name: &str) -> String {
    match rejection {
        Rejection::WrongBuild { path, found } => format!(
            "{} does not match {name} (build id {} expected, {} found), so {name}'s source \
             lines are not shown",
            path.display(),
            build_id_text(Some(build_id)),
            build_id_text(found.as_deref()),
        ),
        Rejection::WrongCrc { .. } | Rejection::Unreadable(_) => format!(
            "{}, so {name}'s source lines are not shown",
            rejection_cause(rejection)
        ),
    }
}

fn rejection_cause(rejection: &Rejection) -> String {
    match rejection {
        Rejection::WrongBuild { path, .. } => format!("{} is another build", path.display()),
        Rejection::WrongCrc {
            path,
            expected,
            found,
        } => format!(
            "{} does not match its debug link (CRC-32 {expected:08x} expected, {found:08x} found)",
            path.display()
        ),
        Rejection::Unreadable(error) => error.to_string(),
    }
}

/// "a", "a or b", "a, b or c".
fn list(dirs: &[PathBuf]) -> String {
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    match shown.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_id_layout() {
        let path = build_id_path(Path::new("/d"), &[0x1a, 0x2b, 0x3c]);
        assert_eq!(path, Some(PathBuf::from("/d/.build-id/1a/2b3c.debug")));
        assert_eq!(build_id_path(Path::new("/d"), &[0x1a]), None);
        assert_eq!(build_id_path(Path::new("/d"), &[]), None);
    }

    #[test]
    fn directory_lists_read_as_prose() {
        let dirs = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(list(&dirs(&["/a"])), "/a");
        assert_eq!(list(&dirs(&["/a", "/b"])), "/a or /b");
        assert_eq!(list(&dirs(&["/a", "/b", "/c"])), "/a, /b or /c");
    }

    #[test]
    fn a_capture_without_build_id_accepts_any_file() {
        assert!(build_matches(&[], None));
        assert!(build_matches(&[], Some(&[1, 2])));
        assert!(build_matches(&[1, 2], Some(&[1, 2])));
        assert!(!build_matches(&[1, 2], Some(&[1, 3])));
        assert!(!build_matches(&[1, 2], None));
    }
}
