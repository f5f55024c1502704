//! Turns stack ids into frames: the code, frame, native frame, module and
//! thread definitions of a capture, the offline line lookup, and the merge
//! of Python and native stacks.

use std::cell::RefCell;

use memsleuth_format::{
    CodeDef, FrameDef, ModuleDef, NativeFrameDef, Record, ThreadDef, INTERPRETER_CODE,
};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::linetable::line_for_offset;
use crate::merge::{merge_stacks, PythonFrame};
use crate::replay::SiteKey;

/// One resolved frame: Python, or native (C, C++, Rust) when `module` is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Frame {
    /// The source file; for a native frame without debug info, its module.
    pub file: String,
    /// 0 when unknown.
    pub line: u32,
    pub function: String,
    /// The shared library or executable of a native frame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

impl Frame {
    pub fn python(file: String, line: u32, function: String) -> Frame {
        Frame {
            file,
            line,
            function,
            module: None,
        }
    }

    /// The pseudo-frame of an allocation made in a thread with no Python
    /// thread state: a thread started by C code.
    pub fn no_python() -> Frame {
        Frame::python(
            String::from("<native>"),
            0,
            String::from("[no Python frame]"),
        )
    }

    /// The pseudo-frame of an allocation made by the interpreter itself in a
    /// Python thread with no Python frame running: start-up, shutdown, a
    /// thread starting or ending.
    pub fn interpreter() -> Frame {
        Frame::python(
            String::from("<interpreter>"),
            0,
            String::from("[interpreter, no Python frame]"),
        )
    }

    pub fn is_native(&self) -> bool {
        self.module.is_some()
    }

    /// `function (file:line)`, how users read a frame; a native frame
    /// without line information names its module instead.
    pub fn label(&self) -> String {
        match &self.module {
            Some(module) if self.line == 0 => format!("{} ({module})", self.function),
            _ => format!("{} ({}:{})", self.function, self.file, self.line),
        }
    }
}

/// The definitions of one capture, gathered while its records stream past.
#[derive(Default)]
pub struct Symbols {
    codes: FxHashMap<u32, CodeDef>,
    frames: FxHashMap<u32, FrameDef>,
    threads: FxHashMap<u32, ThreadDef>,
    natives: FxHashMap<u32, NativeFrameDef>,
    modules: Vec<ModuleDef>,
    /// Native addresses turned into frames (innermost inlined frame first),
    /// handed in by whoever could read the modules' files.
    native_frames: FxHashMap<u64, Vec<Frame>>,
    resolved: RefCell<FxHashMap<u32, Frame>>,
}

impl Symbols {
    /// Keeps `record` if it is a definition; returns whether it was.
    pub fn learn(&mut self, record: &Record) -> bool {
        match record {
            Record::Code(c) => {
                self.codes.insert(c.id, c.clone());
            }
            Record::Frame(f) => {
                self.frames.insert(f.id, *f);
            }
            Record::Thread(t) => {
                self.threads.insert(t.root, t.clone());
            }
            Record::NativeFrame(f) => {
                self.natives.insert(f.id, *f);
            }
            Record::Module(m) => self.modules.push(m.clone()),
            _ => return false,
        }
        true
    }

    pub fn threads(&self) -> impl Iterator<Item = &ThreadDef> {
        self.threads.values()
    }

    fn frame(&self, node: &FrameDef) -> Frame {
        if let Some(f) = self.resolved.borrow().get(&node.id) {
            return f.clone();
        }
        let frame = match self.codes.get(&node.code) {
            None if node.code == INTERPRETER_CODE => Frame::interpreter(),
            Some(code) => Frame::python(
                code.filename.clone(),
                line_for_offset(
                    code.linetable_format,
                    code.first_line,
                    &code.linetable,
                    node.offset,
                )
                .unwrap_or(code.first_line),
                code.name.clone(),
            ),
            None => Frame::python(
                String::from("<unknown>"),
                0,
                format!("[unknown code {}]", node.code),
            ),
        };
        self.resolved.borrow_mut().insert(node.id, frame.clone());
        frame
    }

    /// The loaded objects the capture describes, for symbolization.
    pub fn modules(&self) -> &[ModuleDef] {
        &self.modules
    }

    /// Every native address some stack holds.
    pub fn native_addresses(&self) -> impl Iterator<Item = u64> + '_ {
        self.natives.values().map(|f| f.pc)
    }

    /// Hands in the frames of native addresses (see [`Self::native_addresses`]).
    pub fn set_native_frames(&mut self, frames: FxHashMap<u64, Vec<Frame>>) {
        self.native_frames = frames;
    }

    /// The frames of a site, innermost first, and the native id of its
    /// thread: its Python stack, merged with its native stack when one was
    /// recorded. A site with no frame at all yields the `no_python` frame.
    pub fn resolve(&self, key: SiteKey) -> (Vec<Frame>, Option<u64>) {
        let (mut python, thread) = self.python_stack(key.stack);
        // A stack of no Python frame is named by a pseudo-frame, which stays
        // the outermost frame, under any native frames, so tables by line
        // read the same with or without native stacks.
        let pseudo = match python.as_slice() {
            [] => Some(Frame::no_python()),
            [only] if only.frame == Frame::interpreter() => python.pop().map(|f| f.frame),
            _ => None,
        };
        let mut frames = if key.native == 0 {
            python.into_iter().map(|f| f.frame).collect()
        } else {
            merge_stacks(python, self.native_stack(key.native))
        };
        frames.extend(pseudo);
        (frames, thread)
    }

    /// The root of a stack's frame tree: one per thread, so it tells which
    /// thread a stack ran on (a capture's frame trees never join).
    pub(crate) fn thread_root(&self, stack: u32) -> u32 {
        let mut node = stack;
        // Bounded for the same reason as `python_stack`.
        for _ in 0..=self.frames.len() {
            match self.frames.get(&node) {
                Some(f) => node = f.parent,
                None => break,
            }
        }
        node
    }

    /// The Python frames of a stack, innermost first, and its thread.
    fn python_stack(&self, stack: u32) -> (Vec<PythonFrame>, Option<u64>) {
        let mut frames = Vec::new();
        let mut node = stack;
        // The tree is acyclic when written by the tracker; the bound keeps a
        // damaged capture from looping.
        for _ in 0..=self.frames.len() {
            if let Some(f) = self.frames.get(&node) {
                frames.push(PythonFrame {
                    frame: self.frame(f),
                    entry: f.entry,
                });
                node = f.parent;
                continue;
            }
            break;
        }
        let thread = self.threads.get(&node).map(|t| t.native_id);
        (frames, thread)
    }

    /// The native frames of a native stack, innermost first, inlined
    /// functions expanded; an address nobody symbolized shows as hex.
    fn native_stack(&self, mut node: u32) -> Vec<Frame> {
        let mut frames = Vec::new();
        for _ in 0..=self.natives.len() {
            let Some(f) = self.natives.get(&node) else {
                break;
            };
            match self.native_frames.get(&f.pc) {
                Some(resolved) => frames.extend(resolved.iter().cloned()),
                None => frames.push(Frame {
                    file: String::from("[unknown]"),
                    line: 0,
                    function: format!("{:#x}", f.pc),
                    module: Some(String::from("[unknown]")),
                }),
            }
            node = f.parent;
        }
        frames
    }
}
