//! Native symbolization for memsleuth: turns the instruction addresses a
//! capture recorded for C, C++ and Rust frames into function names, and,
//! where debug information exists, source files and lines, with one frame
//! per inlined function.
//!
//! It works offline, when a capture is read, possibly on another machine.
//! The capture records each loaded ELF object's path, GNU build id, load bias
//! and address range; from those this crate finds the file that actually ran
//! (or an identical copy, or its separate debug file) and says in one
//! sentence per module which file is missing or does not match, and where it
//! was looked for.
//!
//! # Design constraints
//! - No unsafe code: files are read into memory with `std::fs::read`, never
//!   memory-mapped.
//! - Never run inside the profiled process: it reads files, allocates freely
//!   and parses DWARF, none of which belongs in an allocation hook.
//! - It does the I/O so the analysis crate does not have to: analysis stays
//!   pure computation and receives resolved frames, never this crate's files.
//! - Never panics on file contents: a damaged, foreign or mismatched file is
//!   a sentence in [`Symbolizer::problems`], and the frame falls back to
//!   `0x<offset> in <file>`.
//! - Every file is opened at most once per [`Symbolizer`]: modules are opened
//!   lazily on their first address, and whatever was learned (symbols, debug
//!   information, or the failure) is kept.
#![forbid(unsafe_code)]

mod demangle;
mod dwarf;
mod elf;
mod error;
mod locate;
mod module;

use std::ffi::OsStr;
use std::path::PathBuf;

use rustc_hash::FxHashMap;

use module::Module;

/// The environment variable holding extra symbol directories, separated by
/// colons, searched by file name and by `.build-id/xx/yyyy.debug`.
pub const SYMBOL_PATH_VAR: &str = "MEMSLEUTH_SYMBOL_PATH";

/// One loaded ELF object as the capture recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The path the process loaded it from (`dlpi_name`, or the executable).
    pub path: String,
    /// The bytes of its `NT_GNU_BUILD_ID` note; empty when it had none.
    pub build_id: Vec<u8>,
    /// `dlpi_addr`: process address minus ELF virtual address.
    pub load_bias: u64,
    /// Start of the address range it occupies in the process.
    pub start: u64,
    /// End (exclusive) of that range.
    pub end: u64,
}

/// One resolved native frame. Inlined functions give several frames for one
/// address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NativeFrame {
    /// Demangled function name, or `0x<ELF address> in <module>` when no
    /// symbol covers the address (`0x<address>` outside every module).
    pub function: String,
    /// Source file from DWARF, as the compiler recorded it.
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The module's file name, or `[unknown]` outside every module.
    pub module: String,
}

/// Extra directories where module files and debug files are looked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    pub dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// [`SYMBOL_PATH_VAR`]'s directories, then `/usr/lib/debug`.
    pub fn from_env() -> SearchPath {
        SearchPath::from_symbol_path(std::env::var_os(SYMBOL_PATH_VAR).unwrap_or_default())
    }

    /// As [`SearchPath::from_env`], for a value given some other way.
    pub fn from_symbol_path(value: impl AsRef<OsStr>) -> SearchPath {
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|dir| !dir.as_os_str().is_empty())
            .collect();
        let system = PathBuf::from(locate::SYSTEM_DEBUG_DIR);
        if !dirs.contains(&system) {
            dirs.push(system);
        }
        SearchPath { dirs }
    }
}

/// Resolves addresses of one capture's process.
pub struct Symbolizer {
    /// Sorted by start address.
    modules: Vec<Module>,
    search: SearchPath,
    resolved: FxHashMap<u64, Vec<NativeFrame>>,
    strays: Strays,
}

/// Addresses that fell in no recorded module: the capture's module list is
/// incomplete (a library loaded after it was taken, or JIT code).
#[derive(Default)]
struct Strays {
    count: u64,
    first: Option<u64>,
}

impl Symbolizer {
    /// Cheap: no file is opened until an address in it is resolved.
    pub fn new(modules: Vec<ModuleInfo>, search: SearchPath) -> Symbolizer {
        let mut modules: Vec<Module> = modules.into_iter().map(Module::new).collect();
        modules.sort_by_key(|m| m.info.start);
        Symbolizer {
            modules,
            search,
            resolved: FxHashMap::default(),
            strays: Strays::default(),
        }
    }

    /// `address` is an absolute address in the profiled process, already
    /// adjusted by the caller (return addresses minus 1). Returns frames
    /// innermost (most inlined) first; never empty.
    pub fn resolve(&mut self, address: u64) -> Vec<NativeFrame> {
        if let Some(frames) = self.resolved.get(&address) {
            return frames.clone();
        }
        let frames = match self.module_index(address) {
            Some(index) => self.modules[index].resolve(address, &self.search),
            None => self.stray(address),
        };
        self.resolved.insert(address, frames.clone());
        frames
    }

    /// One sentence per module that was needed but could not be used (or
    /// only partly), in address order, then one for addresses outside every
    /// module. Modules never asked about are not checked, so not reported.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .modules
            .iter()
            .filter_map(|m| m.problem().map(str::to_owned))
            .collect();
        if let Some(first) = self.strays.first {
            problems.push(format!(
                "{} native address{} (the first 0x{first:x}) lie outside every module the \
                 capture recorded, so {} shown as bare addresses",
                self.strays.count,
                if self.strays.count == 1 { "" } else { "es" },
                if self.strays.count == 1 {
                    "it is"
                } else {
                    "they are"
                },
            ));
        }
        problems
    }

    fn module_index(&self, address: u64) -> Option<usize> {
        let after = self.modules.partition_point(|m| m.info.start <= address);
        let index = after.checked_sub(1)?;
        self.modules[index].contains(address).then_some(index)
    }

    fn stray(&mut self, address: u64) -> Vec<NativeFrame> {
        self.strays.count += 1;
        self.strays.first.get_or_insert(address);
        vec![NativeFrame {
            function: format!("0x{address:x}"),
            file: None,
            line: None,
            module: "[unknown]".to_owned(),
        }]
    }
}
