use memsleuth_format::reader::CaptureReader;
use memsleuth_format::writer::CaptureWriter;
use memsleuth_format::{
    AllocKind, CodeDef, Domain, Error, FrameDef, LineTableFormat, Metadata, ModuleDef,
    NativeFrameDef, Record, ThreadDef, FORMAT_VERSION,
};
use proptest::prelude::*;

fn metadata() -> Metadata {
    Metadata {
        python_version: "3.11.7".into(),
        argv: vec!["app.py".into()],
        pid: 42,
        ..Default::default()
    }
}

/// Writes `chunks` (each a list of records) and returns the file's bytes.
fn write(chunks: &[Vec<Record>]) -> Vec<u8> {
    write_with(chunks, &metadata())
}

fn write_with(chunks: &[Vec<Record>], metadata: &Metadata) -> Vec<u8> {
    let mut w = CaptureWriter::new(Vec::new(), metadata).unwrap();
    for chunk in chunks {
        for r in chunk {
            w.push(r);
        }
        w.flush_chunk().unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8]) -> Result<(Vec<Record>, memsleuth_format::reader::Completeness), Error> {
    let mut r = CaptureReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    Ok((out, r.completeness().clone()))
}

fn domain() -> impl Strategy<Value = Domain> {
    proptest::sample::select(Domain::ALL.to_vec())
}

fn alloc_kind() -> impl Strategy<Value = AllocKind> {
    proptest::sample::select(vec![
        AllocKind::Malloc,
        AllocKind::Calloc,
        AllocKind::Aligned,
        AllocKind::Mmap,
    ])
}

/// Records as a capture without native stacks holds them: native ids 0.
fn record() -> impl Strategy<Value = Record> {
    native_record().prop_map(|r| match r {
        Record::Alloc {
            domain,
            kind,
            addr,
            size,
            stack,
            ..
        } => Record::Alloc {
            domain,
            kind,
            addr,
            size,
            stack,
            native: 0,
        },
        Record::Realloc {
            domain,
            old_addr,
            addr,
            size,
            stack,
            ..
        } => Record::Realloc {
            domain,
            old_addr,
            addr,
            size,
            stack,
            native: 0,
        },
        other => other,
    })
}

fn native_record() -> impl Strategy<Value = Record> {
    prop_oneof![
        (
            any::<u32>(),
            ".{0,20}",
            ".{0,20}",
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(id, filename, name, first_line, linetable)| Record::Code(
                CodeDef {
                    id,
                    filename,
                    name,
                    first_line,
                    linetable_format: LineTableFormat::Locations311,
                    linetable
                }
            )),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(|(id, parent, code, offset, entry)| Record::Frame(FrameDef {
                id,
                parent,
                code,
                offset,
                entry
            })),
        (any::<u32>(), any::<u32>(), any::<u64>())
            .prop_map(|(id, parent, pc)| Record::NativeFrame(NativeFrameDef { id, parent, pc })),
        (
            ".{0,30}",
            proptest::collection::vec(any::<u8>(), 0..20),
            any::<u64>(),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(path, build_id, load_bias, start, end)| Record::Module(
                ModuleDef {
                    path,
                    build_id,
                    load_bias,
                    start,
                    end
                }
            )),
        (any::<u64>(), any::<u64>()).prop_map(|(addr, size)| Record::Unmap { addr, size }),
        (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(|(root, native_id, is_main)| {
            Record::Thread(ThreadDef {
                root,
                native_id,
                is_main,
            })
        }),
        (
            domain(),
            alloc_kind(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(domain, kind, addr, size, stack, native)| Record::Alloc {
                domain,
                kind,
                addr,
                size,
                stack,
                native,
            }),
        (domain(), any::<u64>()).prop_map(|(domain, addr)| Record::Free { domain, addr }),
        (
            domain(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(domain, old_addr, addr, size, stack, native)| Record::Realloc {
                    domain,
                    old_addr,
                    addr,
                    size,
                    stack,
                    native
                }
            ),
        (any::<u64>(), any::<u64>())
            .prop_map(|(time_ns, rss_bytes)| Record::Sample { time_ns, rss_bytes }),
    ]
}

proptest! {
    #[test]
    fn any_records_round_trip(chunks in proptest::collection::vec(proptest::collection::vec(record(), 0..60), 0..5)) {
        let bytes = write(&chunks);
        let (records, completeness) = read_all(&bytes).unwrap();
        let expected: Vec<Record> = chunks.concat();
        prop_assert_eq!(records, expected);
        prop_assert_eq!(completeness.lost_bytes, 0);
    }

    #[test]
    fn any_records_with_native_stacks_round_trip(chunks in proptest::collection::vec(proptest::collection::vec(native_record(), 0..60), 0..4)) {
        let native = Metadata { native_stacks: true, ..metadata() };
        let bytes = write_with(&chunks, &native);
        let (records, _) = read_all(&bytes).unwrap();
        prop_assert_eq!(records, chunks.concat());
    }

    #[test]
    fn any_truncation_reads_a_prefix_or_fails_cleanly(
        chunks in proptest::collection::vec(proptest::collection::vec(record(), 1..30), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = write(&chunks);
        let at = cut.index(bytes.len());
        let expected: Vec<Record> = chunks.concat();
        match read_all(&bytes[..at]) {
            Ok((records, completeness)) => {
                prop_assert!(expected.starts_with(&records));
                prop_assert!(at == bytes.len() || completeness.lost_bytes > 0 || records.len() < expected.len());
            }
            Err(Error::TruncatedHeader { .. }) | Err(Error::NotACapture) => prop_assert!(at < write(&[]).len()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn any_flipped_byte_never_panics(
        chunks in proptest::collection::vec(proptest::collection::vec(record(), 1..30), 1..3),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut bytes = write(&chunks);
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let _ = read_all(&bytes);
    }
}

#[test]
fn a_file_cut_inside_the_second_chunk_keeps_the_first_and_counts_the_loss() {
    let first = vec![Record::Alloc {
        domain: Domain::Object,
        kind: AllocKind::Malloc,
        addr: 0x1000,
        size: 64,
        stack: 7,
        native: 0,
    }];
    let second = vec![Record::Free {
        domain: Domain::Object,
        addr: 0x1000,
    }];
    let bytes = write(&[first.clone(), second]);
    let cut = bytes.len() - 3;
    let (records, completeness) = read_all(&bytes[..cut]).unwrap();
    assert_eq!(records, first);
    assert!(!completeness.ended_cleanly);
    assert_eq!(completeness.chunks, 1);
    let first_chunk_end = write(std::slice::from_ref(&first)).len();
    assert_eq!(completeness.lost_bytes, (cut - first_chunk_end) as u64);
}

#[test]
fn a_flipped_payload_byte_is_reported_as_corruption_at_its_chunk() {
    let chunk = vec![
        Record::Sample {
            time_ns: 5,
            rss_bytes: 1 << 20
        };
        10
    ];
    let mut bytes = write(&[chunk]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    match read_all(&bytes) {
        Err(Error::Corrupt { reason, .. }) => assert!(reason.contains("checksum"), "{reason}"),
        other => panic!("expected corruption, got {other:?}"),
    }
}

#[test]
fn a_foreign_file_is_named_as_such() {
    assert!(matches!(
        read_all(b"\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxxxxxxx"),
        Err(Error::NotACapture)
    ));
    assert!(matches!(read_all(b""), Err(Error::NotACapture)));
}

#[test]
fn a_newer_version_is_refused_with_both_versions() {
    let mut bytes = write(&[]);
    bytes[8] = 99;
    match read_all(&bytes) {
        Err(
            e @ Error::NewerVersion {
                found: 99,
                supported: FORMAT_VERSION,
            },
        ) => assert!(e.to_string().contains("upgrade memsleuth")),
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn an_older_version_is_refused_with_both_versions() {
    let mut bytes = write(&[]);
    bytes[8] = 2;
    match read_all(&bytes) {
        Err(
            e @ Error::OlderVersion {
                found: 2,
                supported: FORMAT_VERSION,
            },
        ) => assert!(e.to_string().contains("older memsleuth")),
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn end_record_marks_a_clean_finish() {
    let bytes = write(&[vec![Record::End { time_ns: 10 }]]);
    let (_, completeness) = read_all(&bytes).unwrap();
    assert!(completeness.ended_cleanly);
}
