//! One recorded module: its files, opened at most once, and the frames its
//! addresses resolve to.

use std::path::Path;

use crate::demangle::demangle;
use crate::dwarf::{has_dwarf, DebugInfo, SourceFrame};
use crate::elf::{debug_link, ElfImage, SymbolTable};
use crate::locate::{find_debug_file, find_module_file};
use crate::{ModuleInfo, NativeFrame, SearchPath};

pub(crate) struct Module {
    pub info: ModuleInfo,
    name: String,
    state: State,
    /// The first thing that kept this module from being fully symbolized.
    problem: Option<String>,
}

enum State {
    Unopened,
    Ready(Box<Loaded>),
    /// Tried and failed (or there is no file to try); never retried, so a
    /// missing file costs one search, not one per address.
    Unusable,
}

struct Loaded {
    symbols: SymbolTable,
    debug: Option<DebugInfo>,
}

impl Module {
    pub fn new(info: ModuleInfo) -> Module {
        let name = display_name(&info.path);
        Module {
            info,
            name,
            state: State::Unopened,
            problem: None,
        }
    }

    pub fn contains(&self, address: u64) -> bool {
        self.info.start <= address && address < self.info.end
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub fn resolve(&mut self, address: u64, search: &SearchPath) -> Vec<NativeFrame> {
        // The ELF virtual address: what symbols and DWARF are keyed by.
        let vaddr = address.wrapping_sub(self.info.load_bias);
        self.open(search);
        let State::Ready(loaded) = &self.state else {
            return vec![self.frame(bare_function(vaddr, &self.name), None, None)];
        };
        let symbol = loaded.symbols.lookup(vaddr).map(demangle);
        let source = match &loaded.debug {
            Some(debug) => debug.frames(vaddr).unwrap_or_else(|error| {
                self.problem.get_or_insert_with(|| {
                    format!(
                        "the debug information of {} is damaged ({error}), so some of its \
                         source lines are not shown",
                        self.name
                    )
                });
                Vec::new()
            }),
            None => Vec::new(),
        };
        self.frames(vaddr, symbol, source)
    }

    /// Innermost first. DWARF names the inlined functions; the symbol table
    /// stands in for the outermost one when DWARF has no name or no entry.
    fn frames(
        &self,
        vaddr: u64,
        symbol: Option<String>,
        source: Vec<SourceFrame>,
    ) -> Vec<NativeFrame> {
        if source.is_empty() {
            let function = symbol.unwrap_or_else(|| bare_function(vaddr, &self.name));
            return vec![self.frame(function, None, None)];
        }
        let outermost = source.len() - 1;
        let mut symbol = symbol;
        source
            .into_iter()
            .enumerate()
            .map(|(i, frame)| {
                let fallback = if i == outermost { symbol.take() } else { None };
                let function = frame
                    .function
                    .map(|raw| demangle(&raw))
                    .or(fallback)
                    .unwrap_or_else(|| bare_function(vaddr, &self.name));
                self.frame(function, frame.file, frame.line)
            })
            .collect()
    }

    fn frame(&self, function: String, file: Option<String>, line: Option<u32>) -> NativeFrame {
        NativeFrame {
            function,
            file,
            line,
            module: self.name.clone(),
        }
    }

    fn open(&mut self, search: &SearchPath) {
        if !matches!(self.state, State::Unopened) {
            return;
        }
        self.state = State::Unusable;
        if is_kernel_provided(&self.info.path) {
            return;
        }
        match find_module_file(&self.info, &self.name, search) {
            Ok(main) => self.load(&main, search),
            Err(sentence) => self.problem = Some(sentence),
        }
    }

    fn load(&mut self, main: &ElfImage, search: &SearchPath) {
        let file = match main.parse() {
            Ok(file) => file,
            Err(error) => {
                self.problem = Some(error.to_string());
                return;
            }
        };
        let own_symbols = SymbolTable::symtab(&file);
        let (symbols, debug) = if has_dwarf(&file) {
            let debug = self.load_debug(&file, &main.path);
            (own_symbols, debug)
        } else {
            self.load_separate_debug(main, &file, own_symbols, search)
        };
        let symbols = symbols.unwrap_or_else(|| SymbolTable::dynsym(&file));
        self.state = State::Ready(Box::new(Loaded { symbols, debug }));
    }

    /// A stripped file loses `.symtab` with its DWARF, and the debug file
    /// keeps both, so the debug file's symbols name the static functions.
    fn load_separate_debug(
        &mut self,
        main: &ElfImage,
        file: &object::File<'_>,
        own_symbols: Option<SymbolTable>,
        search: &SearchPath,
    ) -> (Option<SymbolTable>, Option<DebugInfo>) {
        let build_id = main.build_id.as_deref().unwrap_or(&self.info.build_id);
        let link = debug_link(file);
        let image = match find_debug_file(main, link.as_ref(), build_id, &self.name, search) {
            Ok(Some(image)) => image,
            Ok(None) => return (own_symbols, None),
            Err(sentence) => {
                self.problem = Some(sentence);
                return (own_symbols, None);
            }
        };
        let debug_file = match image.parse() {
            Ok(debug_file) => debug_file,
            Err(error) => {
                self.problem = Some(error.to_string());
                return (own_symbols, None);
            }
        };
        let symbols = own_symbols.or_else(|| SymbolTable::symtab(&debug_file));
        (symbols, self.load_debug(&debug_file, &image.path))
    }

    fn load_debug(&mut self, file: &object::File<'_>, path: &Path) -> Option<DebugInfo> {
        DebugInfo::load(file, path)
            .map_err(|error| {
                self.problem = Some(format!(
                    "{error}, so {}'s source lines are not shown",
                    self.name
                ));
            })
            .ok()
    }
}

/// "0x<offset> in <file>": the offset is the ELF address, which is what
/// `addr2line -e <file>` or a disassembler takes, so a user can follow up.
fn bare_function(vaddr: u64, module: &str) -> String {
    format!("0x{vaddr:x} in {module}")
}

fn display_name(path: &str) -> String {
    match Path::new(path).file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None if path.is_empty() => "[unnamed module]".to_owned(),
        None => path.to_owned(),
    }
}

/// The vDSO is mapped by the kernel from no file; there is nothing to find
/// and nothing the user could copy, so it is not reported.
fn is_kernel_provided(path: &str) -> bool {
    matches!(path, "linux-vdso.so.1" | "linux-gate.so.1" | "[vdso]")
}
