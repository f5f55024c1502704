//! Merges a Python stack into the native stack that ran it, so a stack reads
//! `app.py:main → numpy.zeros → PyArray_NewFromDescr → …`.
//!
//! The native stack holds one frame of the interpreter's evaluation loop for
//! each time the loop was entered; the Python frames it ran are the ones from
//! that entry frame up to the next entry. Each evaluation-loop frame is
//! replaced by its Python frames, in order from the outermost. The
//! interpreter's own call machinery between them (`_PyObject_Vectorcall`,
//! `cfunction_call`) says nothing about the program and is dropped, except
//! at the innermost end, where it is what allocated (a `list_resize`, a
//! `PyUnicode_New`); so is everything outside the outermost Python frame
//! (`main`, `Py_RunMain`, a thread's start routine).

use crate::symbols::Frame;

/// A Python frame, and whether the evaluation loop was entered anew for it.
pub(crate) struct PythonFrame {
    pub frame: Frame,
    pub entry: bool,
}

fn is_eval_loop(frame: &Frame) -> bool {
    frame.function.starts_with("_PyEval_EvalFrameDefault")
}

fn is_interpreter(frame: &Frame) -> bool {
    frame
        .module
        .as_deref()
        .is_some_and(|m| m.starts_with("libpython") || m.starts_with("python"))
}

/// Python frames grouped by evaluation-loop entry, outermost group first.
fn entry_groups(python: Vec<PythonFrame>) -> Vec<Vec<Frame>> {
    let mut groups: Vec<Vec<Frame>> = Vec::new();
    for f in python.into_iter().rev() {
        match groups.last_mut() {
            Some(group) if !f.entry => group.push(f.frame),
            _ => groups.push(vec![f.frame]),
        }
    }
    groups
}

/// Both stacks are innermost first, and so is the result. They are matched
/// from the innermost end: the Python stack may lack outer frames the native
/// one has (the launcher's, cut off as the stack base), never inner ones.
pub(crate) fn merge_stacks(python: Vec<PythonFrame>, native: Vec<Frame>) -> Vec<Frame> {
    let mut groups = entry_groups(python).into_iter().rev();
    let mut merged: Vec<Frame> = Vec::new();
    for frame in native {
        if is_eval_loop(&frame) {
            if let Some(group) = groups.next() {
                merged.extend(group.into_iter().rev());
                continue;
            }
        }
        merged.push(frame);
    }
    // Python frames left over (an unwind cut short, an interpreter without
    // symbols) are outside everything the native stack reached.
    merged.extend(groups.flat_map(|g| g.into_iter().rev()));
    merged.reverse();
    drop_interpreter_plumbing(&mut merged);
    merged.reverse();
    merged
}

/// Removes (from frames given outermost first) every native frame outside the
/// outermost Python frame, and interpreter frames outside the innermost
/// frame that is Python or not the interpreter's.
fn drop_interpreter_plumbing(frames: &mut Vec<Frame>) {
    if let Some(first_python) = frames.iter().position(|f| !f.is_native()) {
        frames.drain(..first_python);
    }
    let Some(last_meaningful) = frames
        .iter()
        .rposition(|f| !f.is_native() || !is_interpreter(f))
    else {
        return;
    };
    let mut i = 0;
    frames.retain(|f| {
        let keep = i > last_meaningful || !f.is_native() || !is_interpreter(f);
        i += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(name: &str, entry: bool) -> PythonFrame {
        PythonFrame {
            frame: Frame::python("app.py".into(), 1, name.into()),
            entry,
        }
    }

    fn native(module: &str, name: &str) -> Frame {
        Frame {
            file: String::new(),
            line: 0,
            function: name.into(),
            module: Some(module.into()),
        }
    }

    fn names(frames: &[Frame]) -> Vec<&str> {
        frames.iter().map(|f| f.function.as_str()).collect()
    }

    #[test]
    fn each_eval_loop_frame_becomes_its_python_frames() {
        // Innermost first: g was called from f in the same loop entry (3.11+),
        // then g called numpy, which allocated.
        let python = vec![py("g", false), py("f", true)];
        let native = vec![
            native("_multiarray_umath.so", "PyArray_NewFromDescr"),
            native("_multiarray_umath.so", "array_zeros"),
            native("libpython3.11.so.1.0", "cfunction_call"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("libpython3.11.so.1.0", "Py_RunMain"),
            native("python3.11", "main"),
        ];
        let merged = merge_stacks(python, native);
        assert_eq!(
            names(&merged),
            ["PyArray_NewFromDescr", "array_zeros", "g", "f"]
        );
    }

    #[test]
    fn interpreter_frames_that_allocated_are_kept() {
        let python = vec![py("f", true)];
        let native = vec![
            native("libpython3.11.so.1.0", "list_resize"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("libpython3.11.so.1.0", "Py_RunMain"),
        ];
        assert_eq!(names(&merge_stacks(python, native)), ["list_resize", "f"]);
    }

    #[test]
    fn python_frames_are_kept_when_no_eval_loop_frame_was_found() {
        let python = vec![py("f", true)];
        let native = vec![native("libfoo.so", "foo_alloc")];
        assert_eq!(names(&merge_stacks(python, native)), ["foo_alloc", "f"]);
    }

    #[test]
    fn evaluation_loops_of_the_launcher_outside_the_program_are_dropped() {
        let python = vec![py("f", true)];
        let native = vec![
            native("libfoo.so", "foo_alloc"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("libpython3.11.so.1.0", "builtin_exec"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("python3.11", "main"),
        ];
        assert_eq!(names(&merge_stacks(python, native)), ["foo_alloc", "f"]);
    }

    #[test]
    fn nested_loop_entries_keep_their_order() {
        // f (entry) called C, which called back into Python: h (entry) then i.
        let python = vec![py("i", false), py("h", true), py("g", false), py("f", true)];
        let native = vec![
            native("libc.so.6", "malloc_caller"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("_ext.so", "callback_trampoline"),
            native("libpython3.11.so.1.0", "_PyEval_EvalFrameDefault"),
            native("libc.so.6", "__libc_start_main"),
        ];
        assert_eq!(
            names(&merge_stacks(python, native)),
            ["malloc_caller", "i", "h", "callback_trampoline", "g", "f"]
        );
    }
}
