//! Compiles `src/cpython_shim.c` against the headers of the interpreter PyO3
//! builds for, so the frame layouts the tracker reads are exactly that
//! interpreter's.

use std::process::Command;

fn main() {
    let config = pyo3_build_config::get();
    let python = config
        .executable
        .clone()
        .expect("PyO3 found no Python interpreter; set PYO3_PYTHON to the python to build for");
    let out = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['include'])",
        ])
        .output()
        .expect("could not run the Python interpreter to find its headers");
    assert!(
        out.status.success(),
        "{python} could not report its include directory"
    );
    let include = String::from_utf8(out.stdout).expect("include path is not UTF-8");
    let include = include.trim();
    println!("cargo:rerun-if-changed=src/cpython_shim.c");
    println!("cargo:rerun-if-changed=src/heap_shim.c");
    println!("cargo:rerun-if-changed=src/frames.h");
    println!("cargo:rerun-if-changed=src/pystr.h");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    shim("src/cpython_shim.c", include).compile("memsleuth_cpython_shim");
    // The heap walk reads the collector's private state, whose headers only
    // compile as part of the core; 3.12's warn about their own deprecated fields.
    shim("src/heap_shim.c", include)
        .flag_if_supported("-Wno-deprecated-declarations")
        .compile("memsleuth_heap_shim");
}

/// A C file compiled against the interpreter's headers, warnings on.
fn shim(file: &str, include: &str) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .file(file)
        .include(include)
        .opt_level(3)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-missing-field-initializers");
    build
}
