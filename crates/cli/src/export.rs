//! `memsleuth export`: a capture's data in the format of a tool users
//! already have: pprof, speedscope, collapsed stacks (flamegraph.pl,
//! inferno), the summary's JSON, and heap snapshots for Chrome DevTools.
//! `docs/exports.md` says which viewer opens which.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memsleuth_analysis::heap::Snapshot;
use memsleuth_report::InUse;

use crate::args::{AtArg, ExportArgs, ExportFormat};
use crate::{commands, heap};

pub fn export(args: &ExportArgs) -> Result<i32> {
    let output = match &args.output {
        Some(path) => path.clone(),
        None => default_output(&args.capture, args.format)?,
    };
    match args.format {
        ExportFormat::Heapsnapshot => heapsnapshot(args, &output)?,
        ExportFormat::Pprof => pprof(args, &output)?,
        ExportFormat::Collapsed => collapsed(args, &output)?,
        ExportFormat::Speedscope => speedscope(args, &output)?,
        ExportFormat::Json => json(args, &output)?,
    }
    Ok(0)
}

/// The file name a format's export gets by default.
fn extension(format: ExportFormat) -> &'static str {
    match format {
        ExportFormat::Heapsnapshot => "heapsnapshot",
        ExportFormat::Pprof => "pb.gz",
        ExportFormat::Collapsed => "collapsed",
        ExportFormat::Speedscope => "speedscope.json",
        ExportFormat::Json => "json",
    }
}

/// Beside the capture, named like it: `app.msl` → `app.heapsnapshot`.
fn default_output(capture: &Path, format: ExportFormat) -> Result<PathBuf> {
    let output = capture.with_extension(extension(format));
    if output == capture {
        bail!(
            "the export of {} would replace it; pass -o PATH",
            capture.display()
        );
    }
    Ok(output)
}

fn heapsnapshot(args: &ExportArgs, output: &Path) -> Result<()> {
    let (capture, snapshot) = heap::one_snapshot(&args.capture, args.snapshot)?;
    write_file(output, |out| {
        memsleuth_report::write_heapsnapshot(&snapshot, &capture, out)
    })?;
    eprintln!(
        "memsleuth: wrote heap snapshot {} ({} objects) to {}",
        snapshot.id,
        objects(&snapshot),
        output.display()
    );
    Ok(())
}

fn pprof(args: &ExportArgs, output: &Path) -> Result<()> {
    let in_use = match args.at {
        AtArg::Peak => InUse::Peak,
        AtArg::Leaks => InUse::Leaks,
        AtArg::All => bail!(
            "--at all does not apply to pprof, whose alloc_* values already count every allocation; pass --at peak or --at leaks to say what inuse_* means"
        ),
    };
    let profile = commands::read(&args.capture)?;
    write_file(output, |out| {
        memsleuth_report::write_pprof(&profile, in_use, out)
    })?;
    wrote("pprof profile", output);
    Ok(())
}

fn collapsed(args: &ExportArgs, output: &Path) -> Result<()> {
    let profile = commands::read(&args.capture)?;
    let stacks = memsleuth_analysis::collapsed_stacks(&profile, args.at.into());
    write_file(output, |out| {
        for (stack, bytes) in &stacks {
            writeln!(out, "{stack} {bytes}")?;
        }
        Ok(())
    })?;
    wrote("collapsed stacks", output);
    Ok(())
}

fn speedscope(args: &ExportArgs, output: &Path) -> Result<()> {
    let profile = commands::read(&args.capture)?;
    write_file(output, |out| {
        memsleuth_report::write_speedscope(&profile, out)
    })?;
    wrote("speedscope profile", output);
    Ok(())
}

/// The summary's JSON with every site, not the top few `summary` prints.
fn json(args: &ExportArgs, output: &Path) -> Result<()> {
    let profile = commands::read(&args.capture)?;
    let doc =
        memsleuth_report::summary_json(&profile, &args.capture.display().to_string(), usize::MAX);
    write_file(output, |out| {
        serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
        writeln!(out)
    })?;
    wrote("summary", output);
    Ok(())
}

fn wrote(what: &str, output: &Path) {
    eprintln!("memsleuth: wrote the {what} to {}", output.display());
}

fn objects(snapshot: &Snapshot) -> usize {
    snapshot.node_count() - snapshot.first_object() as usize
}

/// Writes `output` with `write`; on failure removes what was written, so no
/// truncated file is left that a viewer would reject with a worse message.
fn write_file(
    output: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    let context = || format!("cannot write {}", output.display());
    let file = File::create(output).with_context(context)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let result = write(&mut out).and_then(|()| out.flush());
    if result.is_err() {
        drop(out);
        let _ = std::fs::remove_file(output);
    }
    result.with_context(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_output_sits_beside_the_capture() {
        let out = default_output(Path::new("runs/app-12.msl"), ExportFormat::Heapsnapshot);
        assert_eq!(out.unwrap(), Path::new("runs/app-12.heapsnapshot"));
        assert!(default_output(Path::new("a.heapsnapshot"), ExportFormat::Heapsnapshot).is_err());
    }

    /// A capture with a complete snapshot 1 of a traced dict held by
    /// `sys.modules` and an untraced object held by C code, then a snapshot
    /// 2 cut short.
    fn capture_file(dir: &Path, with_snapshots: bool) -> PathBuf {
        use memsleuth_format::writer::CaptureWriter;
        use memsleuth_format::*;
        let edge = |name, target| HeapEdge { name, target };
        let object = |addr, size, edges| {
            Record::HeapObject(HeapObjectDef {
                addr,
                preheader: 0,
                type_id: 0,
                size,
                refcnt: 1,
                gc_tracked: true,
                edges,
            })
        };
        let mut records = vec![
            Record::Thread(ThreadDef {
                root: 1,
                native_id: 9,
                is_main: true,
            }),
            Record::Code(CodeDef {
                id: 10,
                filename: String::from("app.py"),
                name: String::from("<module>"),
                first_line: 3,
                linetable_format: LineTableFormat::Locations311,
                linetable: Vec::new(),
            }),
            Record::Frame(FrameDef {
                id: 2,
                parent: 1,
                code: 10,
                offset: 0,
                entry: true,
            }),
            Record::Alloc {
                domain: Domain::Object,
                kind: AllocKind::Malloc,
                addr: 0x1000,
                size: 64,
                stack: 2,
                native: 0,
            },
        ];
        if with_snapshots {
            let start = |id| Record::SnapshotStart {
                id,
                time_ns: 1,
                trigger: String::from("api"),
            };
            records.extend([
                start(1),
                Record::HeapType {
                    id: 0,
                    name: String::from("dict"),
                },
                Record::HeapName {
                    id: 0,
                    text: String::from("'m'"),
                },
                Record::HeapRoot(HeapRootDef {
                    label: String::from("sys.modules"),
                    edges: vec![edge(EdgeName::Key(0), 0x1000)],
                }),
                object(0x1000, 64, vec![]),
                object(0x2000, 48, vec![]),
                Record::SnapshotEnd {
                    id: 1,
                    time_ns: 2,
                    objects: 2,
                },
                start(2),
                Record::HeapType {
                    id: 0,
                    name: String::from("dict"),
                },
            ]);
        }
        records.push(Record::End { time_ns: 3 });
        let path = dir.join(if with_snapshots {
            "app.msl"
        } else {
            "bare.msl"
        });
        let file = File::create(&path).unwrap();
        let mut w = CaptureWriter::new(file, &Metadata::default()).unwrap();
        for r in &records {
            w.push(r);
        }
        w.finish().unwrap();
        path
    }

    fn memsleuth(args: &[&str]) -> i32 {
        let args = args.iter().map(|a| a.to_string()).collect();
        crate::main_with_args(args, Path::new("python3"))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("memsleuth-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn export_writes_the_last_complete_snapshot_beside_the_capture() {
        let dir = temp_dir("export-ok");
        let capture = capture_file(&dir, true);
        let path = capture.to_str().unwrap();
        assert_eq!(memsleuth(&["export", path, "--format", "heapsnapshot"]), 0);
        let text = std::fs::read(dir.join("app.heapsnapshot")).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
        // Super-root, sys.modules, held by native code, the two objects.
        assert_eq!(doc["snapshot"]["node_count"], 5);
        let nodes = doc["nodes"].as_array().unwrap();
        assert_eq!(
            nodes[3 * 7 + 2],
            3,
            "the dict's id comes from its allocation, event 1"
        );
        assert_eq!(doc["snapshot"]["trace_function_count"], 2);
        let out = dir.join("one.heapsnapshot");
        let args = [
            "export",
            path,
            "--format",
            "heapsnapshot",
            "--snapshot",
            "1",
            "-o",
        ];
        assert_eq!(
            memsleuth(&[&args[..], &[out.to_str().unwrap()]].concat()),
            0
        );
        assert_eq!(std::fs::read(&out).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_exports_end_with_status_2() {
        let dir = temp_dir("export-bad");
        let capture = capture_file(&dir, true);
        let path = capture.to_str().unwrap();
        let bare = capture_file(&dir, false);
        let unwritable = dir.join("no/such/dir/x.heapsnapshot");
        for args in [
            vec![
                "export",
                path,
                "--format",
                "heapsnapshot",
                "--snapshot",
                "2",
            ],
            vec![
                "export",
                path,
                "--format",
                "heapsnapshot",
                "--snapshot",
                "9",
            ],
            vec!["export", path, "--format", "svg"],
            vec!["export", path, "--format", "pprof", "--at", "all"],
            vec!["export", path],
            vec!["export", bare.to_str().unwrap(), "--format", "heapsnapshot"],
            vec!["export", "missing.msl", "--format", "heapsnapshot"],
            vec![
                "export",
                path,
                "--format",
                "heapsnapshot",
                "-o",
                unwritable.to_str().unwrap(),
            ],
        ] {
            assert_eq!(memsleuth(&args), crate::EXIT_BAD_INPUT, "{args:?}");
        }
        assert!(!dir.join("bare.heapsnapshot").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = temp_dir("export-write");
        let output = dir.join("x.heapsnapshot");
        let err = write_file(&output, |out| {
            out.write_all(b"{")?;
            Err(io::Error::new(io::ErrorKind::InvalidData, "too big"))
        })
        .unwrap_err();
        assert_eq!(
            crate::one_line(&err),
            format!("cannot write {}: too big", output.display())
        );
        assert!(!output.exists());
        let err = write_file(&dir.join("missing/x"), |_| Ok(())).unwrap_err();
        assert!(crate::one_line(&err).starts_with("cannot write"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
