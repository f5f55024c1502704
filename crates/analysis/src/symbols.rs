//! Turns stack ids into frames: the code, frame and thread definitions of a
//! capture, and the offline line lookup.

use std::cell::RefCell;

use memsleuth_format::{CodeDef, FrameDef, Record, ThreadDef};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::linetable::line_for_offset;

/// One resolved Python frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Frame {
    pub file: String,
    pub line: u32,
    pub function: String,
}

impl Frame {
    /// The pseudo-frame of an allocation made with no Python code running in
    /// its thread (interpreter start-up, a thread's bootstrap, C code).
    pub fn no_python() -> Frame {
        Frame {
            file: String::from("<native>"),
            line: 0,
            function: String::from("[no Python frame]"),
        }
    }

    /// `function (file:line)`, how users read a frame.
    pub fn label(&self) -> String {
        format!("{} ({}:{})", self.function, self.file, self.line)
    }
}

/// The definitions of one capture, gathered while its records stream past.
#[derive(Default)]
pub struct Symbols {
    codes: FxHashMap<u32, CodeDef>,
    frames: FxHashMap<u32, FrameDef>,
    threads: FxHashMap<u32, ThreadDef>,
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
            Some(code) => Frame {
                file: code.filename.clone(),
                line: line_for_offset(
                    code.linetable_format,
                    code.first_line,
                    &code.linetable,
                    node.offset,
                )
                .unwrap_or(code.first_line),
                function: code.name.clone(),
            },
            None => Frame {
                file: String::from("<unknown>"),
                line: 0,
                function: format!("[unknown code {}]", node.code),
            },
        };
        self.resolved.borrow_mut().insert(node.id, frame.clone());
        frame
    }

    /// The frames of a stack, innermost first, and the native id of its
    /// thread. A stack with no Python frame yields the `no_python` frame.
    pub fn resolve(&self, stack: u32) -> (Vec<Frame>, Option<u64>) {
        let mut frames = Vec::new();
        let mut node = stack;
        // The tree is acyclic when written by the tracker; the bound keeps a
        // damaged capture from looping.
        for _ in 0..=self.frames.len() {
            if let Some(f) = self.frames.get(&node) {
                frames.push(self.frame(f));
                node = f.parent;
                continue;
            }
            break;
        }
        let thread = self.threads.get(&node).map(|t| t.native_id);
        if frames.is_empty() {
            frames.push(Frame::no_python());
        }
        (frames, thread)
    }
}
