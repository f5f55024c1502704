//! Builds small shared libraries with the system compilers, lays them out on
//! disk the ways the symbolizer must cope with, and computes the addresses a
//! process would have used, from the ELF files alone (nothing is loaded).

#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use memsleuth_symbolize::ModuleInfo;
use object::{Object, ObjectSegment, ObjectSymbol};

/// Where the "process" mapped every library: high, like a real mmap, and
/// far from the ELF addresses so a bias mistake cannot go unnoticed.
pub const BIAS: u64 = 0x7f12_3400_0000;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fixtures");

/// A fresh, empty directory for one test.
pub fn workdir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("symbolize")
        .join(test);
    if dir.exists() {
        fs::remove_dir_all(&dir).expect("remove old test directory");
    }
    fs::create_dir_all(&dir).expect("create test directory");
    dir
}

/// `libdemo.so` from `demo.c`, built in `dir`. Different variants are
/// different builds of the same library, so they get different build ids.
pub fn build_demo(dir: &Path, variant: u32) -> PathBuf {
    compile_demo(dir, variant, "-Wl,--build-id")
}

/// As [`build_demo`], for a toolchain that leaves build ids out: then only
/// the debug link's CRC tells debug files apart.
pub fn build_demo_without_build_id(dir: &Path, variant: u32) -> PathBuf {
    compile_demo(dir, variant, "-Wl,--build-id=none")
}

fn compile_demo(dir: &Path, variant: u32, build_id_flag: &str) -> PathBuf {
    fs::create_dir_all(dir).expect("create build directory");
    let source = dir.join("demo.c");
    fs::copy(Path::new(FIXTURES).join("demo.c"), &source).expect("copy demo.c");
    let output = dir.join("libdemo.so");
    run(Command::new("cc")
        .args(["-g", "-O0", "-shared", "-fPIC", build_id_flag])
        .arg(format!("-DVARIANT={variant}"))
        .arg("-o")
        .arg(&output)
        .arg(&source));
    output
}

/// `libshapes.so` from `shapes.cpp`, built in `dir`.
pub fn build_shapes(dir: &Path) -> PathBuf {
    let source = dir.join("shapes.cpp");
    fs::copy(Path::new(FIXTURES).join("shapes.cpp"), &source).expect("copy shapes.cpp");
    let output = dir.join("libshapes.so");
    run(Command::new("g++")
        .args(["-g", "-O0", "-shared", "-fPIC", "-Wl,--build-id", "-o"])
        .arg(&output)
        .arg(&source));
    output
}

/// `objcopy ARGS... INPUT OUTPUT`.
pub fn objcopy(args: &[&str], input: &Path, output: &Path) {
    run(Command::new("objcopy").args(args).arg(input).arg(output));
}

/// `objcopy --only-keep-debug`: the separate debug file a distribution ships.
pub fn keep_debug(input: &Path, output: &Path) {
    objcopy(&["--only-keep-debug"], input, output);
}

/// A stripped copy linked to `debug` by name and CRC. `objcopy` reads
/// `debug` to compute the CRC, so it must exist at that path now.
pub fn strip_with_link(strip: &str, input: &Path, debug: &Path, output: &Path) {
    let link = format!("--add-gnu-debuglink={}", debug.display());
    objcopy(&[strip, &link], input, output);
}

fn run(command: &mut Command) {
    let shown = format!("{command:?}");
    let result = command
        .output()
        .unwrap_or_else(|e| panic!("could not run {shown}: {e}"));
    assert!(
        result.status.success(),
        "{shown} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The 1-based line carrying `MARK:<mark>` in a fixture source.
pub fn line_of(fixture: &str, mark: &str) -> u32 {
    let text = fs::read_to_string(Path::new(FIXTURES).join(fixture)).expect("read fixture");
    let needle = format!("MARK:{mark}");
    let marks = |line: &str| line.split_whitespace().any(|word| word == needle);
    let index = text
        .lines()
        .position(marks)
        .unwrap_or_else(|| panic!("no MARK:{mark} in {fixture}"));
    u32::try_from(index + 1).expect("small file")
}

/// The module as the tracker would have recorded it had the process loaded
/// `file` from `recorded_path` at [`BIAS`].
pub fn module_from(recorded_path: &Path, file: &Path) -> ModuleInfo {
    let bytes = fs::read(file).expect("read ELF");
    let elf = object::File::parse(&*bytes).expect("parse ELF");
    let end = elf
        .segments()
        .map(|s| s.address() + s.size())
        .max()
        .expect("loadable segments");
    ModuleInfo {
        path: recorded_path.display().to_string(),
        build_id: build_id(file),
        load_bias: BIAS,
        start: BIAS,
        end: BIAS + end,
    }
}

/// [`module_from`] for a file still where the process loaded it.
pub fn module(file: &Path) -> ModuleInfo {
    module_from(file, file)
}

/// Empty when the file has none, as the tracker records it.
pub fn build_id(file: &Path) -> Vec<u8> {
    let bytes = fs::read(file).expect("read ELF");
    let elf = object::File::parse(&*bytes).expect("parse ELF");
    let id = elf.build_id().expect("notes");
    id.map(<[u8]>::to_vec).unwrap_or_default()
}

/// The process address of a function's first instruction, and its size.
pub fn function(file: &Path, name: &str) -> (u64, u64) {
    let bytes = fs::read(file).expect("read ELF");
    let elf = object::File::parse(&*bytes).expect("parse ELF");
    let symbol = elf
        .symbols()
        .find(|s| s.name() == Ok(name))
        .unwrap_or_else(|| panic!("no symbol {name} in {}", file.display()));
    (BIAS + symbol.address(), symbol.size())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `.build-id/ab/cdef….debug` under `dir`, with its directories created.
pub fn build_id_slot(dir: &Path, build_id: &[u8]) -> PathBuf {
    let hex = hex(build_id);
    let slot = dir.join(".build-id").join(&hex[..2]);
    fs::create_dir_all(&slot).expect("create .build-id directory");
    slot.join(format!("{}.debug", &hex[2..]))
}

pub fn file_name(path: &Option<String>) -> Option<String> {
    let path = Path::new(path.as_deref()?);
    Some(path.file_name()?.to_string_lossy().into_owned())
}
