//! Checks `line_for_offset` against the interpreters' own answers.
//!
//! The fixtures are written by `scripts/gen_linetable_fixtures.py`, run under
//! each CPython version: for every code object of a set of awkward snippets,
//! the raw line table, `co_firstlineno` and `PyCode_Addr2Line`'s answer for
//! every code unit's byte offset (plus two offsets past the end of the code).

use memsleuth_analysis::linetable::line_for_offset;
use memsleuth_format::LineTableFormat;
use serde_json::Value;
use std::path::PathBuf;

fn decode_hex(s: &str) -> Vec<u8> {
    fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit: {:?}", c as char),
        }
    }
    let pairs = s.as_bytes().chunks_exact(2);
    assert!(pairs.remainder().is_empty(), "odd-length hex string");
    pairs.map(|p| nibble(p[0]) << 4 | nibble(p[1])).collect()
}

fn expected_line(v: &Value) -> Option<u32> {
    match v {
        Value::Null => None,
        v => Some(
            u32::try_from(v.as_u64().expect("line is an integer or null")).expect("line fits u32"),
        ),
    }
}

/// Checks one fixture; returns (code objects, offsets checked).
fn check_fixture(version: &str, expected_format: LineTableFormat) -> (usize, usize) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/linetable-{version}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fixture: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let python = fixture["python"].as_str().unwrap();
    assert!(
        python.starts_with(&format!("{version}.")),
        "{} was written by Python {python}",
        path.display()
    );
    let format_id = fixture["format_id"].as_u64().unwrap();
    let format = LineTableFormat::from_u8(format_id as u8).unwrap();
    assert_eq!(format, expected_format, "{}", path.display());
    let step = fixture["offset_step"].as_u64().unwrap() as u32;

    let objects = fixture["code_objects"].as_array().unwrap();
    let mut offsets = 0;
    let mut mismatches = Vec::new();
    for obj in objects {
        let name = obj["name"].as_str().unwrap();
        let first_line = obj["first_line"].as_u64().unwrap() as u32;
        let table_hex = obj["table"].as_str().unwrap();
        let table = decode_hex(table_hex);
        let code_len = obj["code_len"].as_u64().unwrap() as u32;
        let lines = obj["lines"].as_array().unwrap();
        assert_eq!(
            lines.len() as u32 * step,
            code_len,
            "{name}: one expected line per code unit"
        );

        let past_end = obj["past_end"].as_array().unwrap();
        let cases = lines
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 * step, v))
            .chain([(code_len, &past_end[0]), (code_len + 1000, &past_end[1])]);
        for (offset, want) in cases {
            let want = expected_line(want);
            let got = line_for_offset(format, first_line, &table, offset);
            offsets += 1;
            if got != want {
                mismatches.push(format!(
                    "Python {python}, code object {name} (co_firstlineno {first_line}, table {table_hex}): \
                     byte offset {offset}: interpreter says {want:?}, line_for_offset says {got:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches; first: {}\n(all: {:#?})",
        mismatches.len(),
        mismatches[0],
        &mismatches[..mismatches.len().min(20)]
    );
    eprintln!(
        "Python {python}: {} code objects, {offsets} offsets agree",
        objects.len()
    );
    (objects.len(), offsets)
}

#[test]
fn cpython_3_9() {
    check_fixture("3.9", LineTableFormat::Lnotab);
}

#[test]
fn cpython_3_10() {
    check_fixture("3.10", LineTableFormat::Linetable310);
}

#[test]
fn cpython_3_11() {
    check_fixture("3.11", LineTableFormat::Locations311);
}

#[test]
fn cpython_3_12() {
    check_fixture("3.12", LineTableFormat::Locations311);
}

#[test]
fn cpython_3_13() {
    check_fixture("3.13", LineTableFormat::Locations311);
}

/// The fixtures exercise what they claim to: a fixture that lost its tricky
/// parts (say, regenerated from fewer snippets) would make the tests above
/// pass without proving much.
#[test]
fn fixtures_cover_the_tricky_parts() {
    for version in ["3.10", "3.11", "3.12", "3.13"] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/linetable-{version}.json"));
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let objects = fixture["code_objects"].as_array().unwrap();
        let no_line = objects
            .iter()
            .flat_map(|o| o["lines"].as_array().unwrap())
            .filter(|v| v.is_null())
            .count();
        assert!(no_line > 0, "{version}: no offset without a line");
        let max_line = objects
            .iter()
            .flat_map(|o| o["lines"].as_array().unwrap())
            .filter_map(Value::as_u64)
            .max()
            .unwrap();
        assert!(max_line > 70_000, "{version}: no line beyond 2**16");
    }
}
