//! End to end: real shared libraries built by `cc` and `g++`, laid out as a
//! user's machine might have them, resolved at the addresses a process that
//! loaded them at `support::BIAS` would have recorded.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use memsleuth_symbolize::{ModuleInfo, NativeFrame, SearchPath, Symbolizer};
use support::*;

fn search(dirs: &[&Path]) -> SearchPath {
    SearchPath {
        dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
    }
}

fn symbolizer(module: ModuleInfo, dirs: &[&Path]) -> Symbolizer {
    Symbolizer::new(vec![module], search(dirs))
}

/// What the tests compare: the file's name only, since the directory
/// depends on where the build ran.
#[derive(Debug, PartialEq)]
struct Seen {
    function: String,
    file: Option<String>,
    line: Option<u32>,
    module: String,
}

fn seen(frames: Vec<NativeFrame>) -> Vec<Seen> {
    frames
        .into_iter()
        .map(|f| Seen {
            file: file_name(&f.file),
            function: f.function,
            line: f.line,
            module: f.module,
        })
        .collect()
}

fn frame(function: &str, file: Option<&str>, line: Option<u32>, module: &str) -> Seen {
    Seen {
        function: function.to_owned(),
        file: file.map(str::to_owned),
        line,
        module: module.to_owned(),
    }
}

/// `function` at its first instruction, with the source line of its MARK.
fn demo_line(function: &str, mark: &str) -> Vec<Seen> {
    vec![frame(
        function,
        Some("demo.c"),
        Some(line_of("demo.c", mark)),
        "libdemo.so",
    )]
}

fn demo_name_only(function: &str) -> Vec<Seen> {
    vec![frame(function, None, None, "libdemo.so")]
}

/// Checks both functions of libdemo.so: the exported one and the static
/// one, which only `.symtab` or DWARF can name.
fn assert_full_demo_info(symbolizer: &mut Symbolizer, elf: &Path) {
    let (entry, _) = function(elf, "demo_entry");
    let (helper, _) = function(elf, "helper_static");
    assert_eq!(
        seen(symbolizer.resolve(entry)),
        demo_line("demo_entry", "entry")
    );
    assert_eq!(
        seen(symbolizer.resolve(helper)),
        demo_line("helper_static", "static")
    );
    assert_eq!(symbolizer.problems(), Vec::<String>::new());
}

#[test]
fn dwarf_gives_function_file_and_line() {
    let dir = workdir("dwarf");
    let lib = build_demo(&dir, 1);
    let mut symbolizer = symbolizer(module(&lib), &[]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn inlined_functions_give_one_frame_each_innermost_first() {
    let dir = workdir("inlined");
    let lib = build_demo(&dir, 1);
    let mut symbolizer = symbolizer(module(&lib), &[]);
    let (entry, size) = function(&lib, "demo_entry");
    let inlined: Vec<Vec<Seen>> = (entry..entry + size)
        .map(|address| seen(symbolizer.resolve(address)))
        .filter(|frames| frames.len() == 2)
        .collect();
    let body = line_of("demo.c", "inlined_body");
    let expected = vec![
        frame("inlined_twice", Some("demo.c"), Some(body), "libdemo.so"),
        frame(
            "demo_entry",
            Some("demo.c"),
            Some(line_of("demo.c", "call")),
            "libdemo.so",
        ),
    ];
    assert!(
        inlined.contains(&expected),
        "no address of demo_entry resolved to {expected:?}; inlined frames seen: {inlined:?}"
    );
}

#[test]
fn a_file_stripped_of_debug_info_still_names_static_functions() {
    let dir = workdir("strip-debug");
    let lib = build_demo(&dir.join("build"), 1);
    let stripped = dir.join("libdemo.so");
    objcopy(&["--strip-debug"], &lib, &stripped);
    let mut symbolizer = symbolizer(module(&stripped), &[]);
    let (helper, _) = function(&lib, "helper_static");
    assert_eq!(
        seen(symbolizer.resolve(helper)),
        demo_name_only("helper_static")
    );
    assert_eq!(symbolizer.problems(), Vec::<String>::new());
}

#[test]
fn a_fully_stripped_file_names_only_exported_functions() {
    let dir = workdir("strip-all");
    let lib = build_demo(&dir.join("build"), 1);
    let stripped = dir.join("libdemo.so");
    objcopy(&["--strip-all"], &lib, &stripped);
    let mut symbolizer = symbolizer(module(&stripped), &[]);
    let (entry, _) = function(&lib, "demo_entry");
    let (helper, _) = function(&lib, "helper_static");
    assert_eq!(
        seen(symbolizer.resolve(entry)),
        demo_name_only("demo_entry")
    );
    let bare = format!("0x{:x} in libdemo.so", helper - BIAS);
    assert_eq!(seen(symbolizer.resolve(helper)), demo_name_only(&bare));
    assert_eq!(symbolizer.problems(), Vec::<String>::new());
}

/// A stripped library next to a debug file named by its `.gnu_debuglink`,
/// the debug file placed in `debug_dir`.
fn stripped_with_debug_link(test: &str, debug_dir: &str) -> (PathBuf, PathBuf) {
    let dir = workdir(test);
    let lib = build_demo(&dir.join("build"), 1);
    let debug = dir.join("libdemo.so.debug");
    keep_debug(&lib, &debug);
    let stripped = dir.join("libdemo.so");
    strip_with_link("--strip-all", &lib, &debug, &stripped);
    let placed = dir.join(debug_dir).join("libdemo.so.debug");
    fs::create_dir_all(placed.parent().expect("parent")).expect("create debug dir");
    fs::rename(&debug, &placed).expect("move debug file");
    (lib, stripped)
}

#[test]
fn debug_info_through_gnu_debuglink_in_the_same_directory() {
    let (lib, stripped) = stripped_with_debug_link("debuglink-same-dir", "");
    let mut symbolizer = symbolizer(module(&stripped), &[]);
    // The static function is named although the file was stripped of
    // `.symtab`: the debug file's symbol table stands in.
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn debug_info_through_gnu_debuglink_in_a_dot_debug_directory() {
    let (lib, stripped) = stripped_with_debug_link("debuglink-dot-debug", ".debug");
    let mut symbolizer = symbolizer(module(&stripped), &[]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn debug_info_through_a_build_id_directory() {
    let dir = workdir("build-id-debug");
    let lib = build_demo(&dir.join("build"), 1);
    let stripped = dir.join("libdemo.so");
    objcopy(&["--strip-all"], &lib, &stripped);
    let symbols = dir.join("symbols");
    keep_debug(&lib, &build_id_slot(&symbols, &build_id(&lib)));
    let mut symbolizer = symbolizer(module(&stripped), &[&symbols]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn a_moved_file_is_found_by_name_in_a_search_directory() {
    let dir = workdir("found-by-name");
    let lib = build_demo(&dir.join("copied"), 1);
    let recorded = dir.join("on-the-other-machine").join("libdemo.so");
    let mut symbolizer = symbolizer(module_from(&recorded, &lib), &[&dir.join("copied")]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn a_missing_file_is_found_through_its_debug_file_by_build_id() {
    let dir = workdir("found-by-build-id");
    let lib = build_demo(&dir.join("build"), 1);
    let symbols = dir.join("symbols");
    keep_debug(&lib, &build_id_slot(&symbols, &build_id(&lib)));
    let recorded = dir.join("on-the-other-machine").join("libdemo.so");
    let mut symbolizer = symbolizer(module_from(&recorded, &lib), &[&symbols]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn a_missing_file_is_reported_and_looked_for_only_once() {
    let dir = workdir("missing");
    let lib = build_demo(&dir.join("build"), 1);
    let recorded = dir.join("gone").join("libdemo.so");
    let symbols = dir.join("symbols");
    fs::create_dir_all(&symbols).expect("create symbols dir");
    let mut symbolizer = symbolizer(module_from(&recorded, &lib), &[&symbols]);
    let (entry, _) = function(&lib, "demo_entry");
    let (helper, _) = function(&lib, "helper_static");

    let bare = format!("0x{:x} in libdemo.so", entry - BIAS);
    assert_eq!(seen(symbolizer.resolve(entry)), demo_name_only(&bare));
    let expected = format!(
        "libdemo.so (build id {}) is not at {} and was not found in {}; copy it there, or \
         add its directory to MEMSLEUTH_SYMBOL_PATH, to see its function names",
        hex(&build_id(&lib)),
        recorded.display(),
        symbols.display()
    );
    assert_eq!(symbolizer.problems(), vec![expected.clone()]);

    // The verdict is kept: a file appearing later is not looked for again,
    // which is what keeps a missing library to one search per capture.
    fs::copy(&lib, symbols.join("libdemo.so")).expect("copy library");
    let bare = format!("0x{:x} in libdemo.so", helper - BIAS);
    assert_eq!(seen(symbolizer.resolve(helper)), demo_name_only(&bare));
    assert_eq!(symbolizer.problems(), vec![expected]);
}

#[test]
fn another_build_at_the_recorded_path_is_not_used_and_is_reported() {
    let dir = workdir("wrong-build");
    let ran = build_demo(&dir.join("ran"), 1);
    let upgraded = build_demo(&dir.join("upgraded"), 2);
    let mut symbolizer = symbolizer(module_from(&upgraded, &ran), &[]);
    let (entry, _) = function(&ran, "demo_entry");

    let bare = format!("0x{:x} in libdemo.so", entry - BIAS);
    assert_eq!(seen(symbolizer.resolve(entry)), demo_name_only(&bare));
    let expected = format!(
        "{} does not match the capture (build id {} expected, {} found); put the libdemo.so \
         the program ran with in a directory named in MEMSLEUTH_SYMBOL_PATH to see its \
         function names",
        upgraded.display(),
        hex(&build_id(&ran)),
        hex(&build_id(&upgraded)),
    );
    assert_eq!(symbolizer.problems(), vec![expected]);
}

#[test]
fn another_build_at_the_recorded_path_gives_way_to_the_right_one_in_a_search_directory() {
    let dir = workdir("wrong-build-then-right");
    let ran = build_demo(&dir.join("ran"), 1);
    let upgraded = build_demo(&dir.join("upgraded"), 2);
    let mut symbolizer = symbolizer(module_from(&upgraded, &ran), &[&dir.join("ran")]);
    assert_full_demo_info(&mut symbolizer, &ran);
}

#[test]
fn a_debug_file_of_another_build_is_not_used_and_is_reported() {
    let dir = workdir("wrong-debug-file");
    let lib = build_demo(&dir.join("build"), 1);
    let other = build_demo(&dir.join("other"), 2);
    let debug = dir.join("libdemo.so.debug");
    keep_debug(&lib, &debug);
    let stripped = dir.join("libdemo.so");
    strip_with_link("--strip-debug", &lib, &debug, &stripped);
    keep_debug(&other, &debug);

    let mut symbolizer = symbolizer(module(&stripped), &[]);
    let (helper, _) = function(&lib, "helper_static");
    assert_eq!(
        seen(symbolizer.resolve(helper)),
        demo_name_only("helper_static")
    );
    let expected = format!(
        "{} does not match libdemo.so (build id {} expected, {} found), so libdemo.so's \
         source lines are not shown",
        debug.display(),
        hex(&build_id(&lib)),
        hex(&build_id(&other)),
    );
    assert_eq!(symbolizer.problems(), vec![expected]);
}

#[test]
fn cpp_names_are_demangled_from_dwarf_and_from_the_symbol_table() {
    let dir = workdir("cpp");
    let lib = build_shapes(&dir);
    let (area, _) = function(&lib, "_ZNK6shapes6Circle4areaEi");
    let expected_name = "shapes::Circle::area(int) const";

    let mut with_dwarf = symbolizer(module(&lib), &[]);
    let line = Some(line_of("shapes.cpp", "area"));
    assert_eq!(
        seen(with_dwarf.resolve(area)),
        vec![frame(
            expected_name,
            Some("shapes.cpp"),
            line,
            "libshapes.so"
        )]
    );

    let stripped = dir.join("stripped").join("libshapes.so");
    fs::create_dir_all(stripped.parent().expect("parent")).expect("create dir");
    objcopy(&["--strip-debug"], &lib, &stripped);
    let mut symbols_only = symbolizer(module(&stripped), &[]);
    assert_eq!(
        seen(symbols_only.resolve(area)),
        vec![frame(expected_name, None, None, "libshapes.so")]
    );
}

#[test]
fn addresses_outside_every_module_are_bare_and_counted() {
    let dir = workdir("strays");
    let lib = build_demo(&dir, 1);
    let module = module(&lib);
    let outside = module.end + 0x10;
    let mut symbolizer = symbolizer(module, &[]);
    assert_eq!(
        seen(symbolizer.resolve(outside)),
        vec![frame(&format!("0x{outside:x}"), None, None, "[unknown]")]
    );
    symbolizer.resolve(outside + 1);
    assert_eq!(
        symbolizer.problems(),
        vec![format!(
            "2 native addresses (the first 0x{outside:x}) lie outside every module the \
             capture recorded, so they are shown as bare addresses"
        )]
    );
}

#[test]
fn the_vdso_has_no_file_and_is_not_a_problem() {
    let vdso = ModuleInfo {
        path: "linux-vdso.so.1".to_owned(),
        build_id: vec![0xab; 20],
        load_bias: 0x7fff_0000_0000,
        start: 0x7fff_0000_0000,
        end: 0x7fff_0000_2000,
    };
    let mut symbolizer = symbolizer(vdso, &[]);
    assert_eq!(
        seen(symbolizer.resolve(0x7fff_0000_0100)),
        vec![frame(
            "0x100 in linux-vdso.so.1",
            None,
            None,
            "linux-vdso.so.1"
        )]
    );
    assert_eq!(symbolizer.problems(), Vec::<String>::new());
}

#[test]
fn the_symbol_path_keeps_its_order_and_ends_with_the_system_debug_directory() {
    let dirs = |path: &SearchPath| path.dirs.clone();
    assert_eq!(
        dirs(&SearchPath::from_symbol_path("/a::/b")),
        ["/a", "/b", "/usr/lib/debug"].map(PathBuf::from)
    );
    assert_eq!(
        dirs(&SearchPath::from_symbol_path("/usr/lib/debug:/a")),
        ["/usr/lib/debug", "/a"].map(PathBuf::from)
    );
    assert_eq!(
        dirs(&SearchPath::from_symbol_path("")),
        [PathBuf::from("/usr/lib/debug")]
    );
}

#[test]
fn the_symbolizer_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Symbolizer>();
}

#[test]
fn compressed_debug_sections_are_read() {
    let dir = workdir("compressed-debug");
    let lib = build_demo(&dir.join("build"), 1);
    let compressed = dir.join("libdemo.so");
    objcopy(&["--compress-debug-sections=zlib"], &lib, &compressed);
    let mut symbolizer = symbolizer(module(&compressed), &[]);
    assert_full_demo_info(&mut symbolizer, &lib);
}

#[test]
fn without_build_ids_a_debug_file_is_checked_by_its_crc() {
    let dir = workdir("debuglink-crc");
    let lib = build_demo_without_build_id(&dir.join("build"), 1);
    let other = build_demo_without_build_id(&dir.join("other"), 2);
    let debug = dir.join("libdemo.so.debug");
    keep_debug(&lib, &debug);
    let right_crc = crc32fast::hash(&fs::read(&debug).expect("read debug file"));
    let stripped = dir.join("libdemo.so");
    strip_with_link("--strip-debug", &lib, &debug, &stripped);

    let mut right = symbolizer(module(&stripped), &[]);
    assert_eq!(module(&stripped).build_id, Vec::<u8>::new());
    assert_full_demo_info(&mut right, &lib);

    keep_debug(&other, &debug);
    let wrong_crc = crc32fast::hash(&fs::read(&debug).expect("read debug file"));
    let mut wrong = symbolizer(module(&stripped), &[]);
    let (helper, _) = function(&lib, "helper_static");
    assert_eq!(seen(wrong.resolve(helper)), demo_name_only("helper_static"));
    let expected = format!(
        "{} does not match its debug link (CRC-32 {right_crc:08x} expected, {wrong_crc:08x} \
         found), so libdemo.so's source lines are not shown",
        debug.display()
    );
    assert_eq!(wrong.problems(), vec![expected]);
}
