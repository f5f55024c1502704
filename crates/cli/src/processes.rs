//! A directory of captures, one per process: what `memsleuth run
//! --follow-children` writes, and what `summary` and `report` read when
//! given a directory. Processes are shown as a tree of who started whom.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memsleuth_analysis::Profile;
use memsleuth_report::{ProcessJson, ProcessRow, ProcessesJson};

use crate::args::{ReportArgs, SummaryArgs};
use crate::{commands, report};

/// The capture of process `pid` in a run's directory.
pub(crate) fn capture_in(directory: &Path, stem: &str, pid: u32) -> PathBuf {
    directory.join(format!("{stem}-{pid}.msl"))
}

/// Refuses an output for `--follow-children` that is a file, or a directory
/// already holding captures (unless `--force`).
pub(crate) fn check_output_directory(output: Option<&Path>, force: bool) -> Result<()> {
    let Some(dir) = output else {
        return Ok(());
    };
    if dir.exists() && !dir.is_dir() {
        bail!(
            "{} is a file; with --follow-children, -o names the directory for every process's capture",
            dir.display()
        );
    }
    if dir.is_dir() && !force && !captures(dir)?.is_empty() {
        bail!(
            "directory {} already holds captures; pass --force to overwrite them or choose another directory with -o",
            dir.display()
        );
    }
    Ok(())
}

/// The `.msl` files directly in `dir`, by name.
fn captures(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "msl") && p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

struct Process {
    capture: PathBuf,
    profile: Profile,
}

/// Analyses every capture in `dir`, parents before their children; `known`
/// is one already analysed, not read again. A capture that cannot be read
/// is named on stderr and left out.
fn load_all(dir: &Path, known: Option<(PathBuf, Profile)>) -> Result<Vec<(usize, Process)>> {
    let paths = captures(dir)?;
    if paths.is_empty() {
        bail!(
            "directory {} holds no captures (.msl files); pass a capture or the directory `memsleuth run --follow-children` wrote",
            dir.display()
        );
    }
    let mut processes = Vec::new();
    let mut known = known;
    for capture in paths {
        if let Some((_, profile)) = known.take_if(|(path, _)| *path == capture) {
            processes.push(Process { capture, profile });
            continue;
        }
        match commands::read(&capture) {
            Ok(profile) => processes.push(Process { capture, profile }),
            Err(e) => eprintln!("memsleuth: warning: left out: {}", crate::one_line(&e)),
        }
    }
    Ok(tree_order(processes))
}

/// Each process after its parent, with its depth; siblings by start time.
fn tree_order(mut processes: Vec<Process>) -> Vec<(usize, Process)> {
    processes.sort_by_key(|p| p.profile.metadata.start_time_unix_ns);
    let pids: Vec<u32> = processes.iter().map(|p| p.profile.metadata.pid).collect();
    let parent_index = |p: &Process| {
        let parent = p.profile.metadata.parent_pid?;
        pids.iter().position(|&pid| pid == parent)
    };
    let parents: Vec<Option<usize>> = processes.iter().map(parent_index).collect();
    let mut order = Vec::with_capacity(processes.len());
    let roots = (0..processes.len()).filter(|&i| parents[i].is_none_or(|p| p == i));
    let mut stack: Vec<(usize, usize)> = roots.rev().map(|i| (i, 0)).collect();
    let mut seen = vec![false; processes.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        order.push((i, depth));
        let children = (0..processes.len()).filter(|&c| parents[c] == Some(i) && c != i);
        stack.extend(children.rev().map(|c| (c, depth + 1)));
    }
    // A cycle of reused pids cannot happen within a run; still, no process is lost.
    order.extend((0..processes.len()).filter(|&i| !seen[i]).map(|i| (i, 0)));
    let mut slots: Vec<Option<Process>> = processes.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(i, depth)| slots[i].take().map(|p| (depth, p)))
        .collect()
}

fn row(depth: usize, p: &Process) -> ProcessRow {
    let m = &p.profile.metadata;
    ProcessRow {
        pid: m.pid,
        parent_pid: m.parent_pid,
        started_by: m.started_by.clone(),
        depth,
        argv: m.argv.clone(),
        capture: p.capture.display().to_string(),
        peak_bytes: p.profile.peak_bytes,
        at_end_bytes: p.profile.leaked_bytes,
        duration_s: p.profile.duration_s,
        complete: p.profile.completeness.ended_cleanly,
    }
}

/// After `run --follow-children`: the tree of processes and where to look
/// next. `program` is the program's own capture, analysed already.
pub(crate) fn print_after_run(dir: &Path, program: Option<(PathBuf, Profile)>) {
    let processes = match load_all(dir, program) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("memsleuth: error: {}", crate::one_line(&e));
            return;
        }
    };
    let rows: Vec<ProcessRow> = processes.iter().map(|(d, p)| row(*d, p)).collect();
    eprintln!("\nProcesses: {} captures in {}", rows.len(), dir.display());
    eprint!("{}", memsleuth_report::processes_text(&rows));
    eprintln!(
        "Each process: memsleuth summary {0}   Reports of all: memsleuth report {0}",
        dir.display()
    );
}

/// `memsleuth summary DIR`: the tree, then each process's own summary.
pub fn summary(args: &SummaryArgs) -> Result<i32> {
    let processes = load_all(&args.capture, None)?;
    if args.json {
        let json = ProcessesJson {
            directory: args.capture.display().to_string(),
            processes: processes
                .iter()
                .map(|(depth, p)| ProcessJson {
                    row: row(*depth, p),
                    summary: memsleuth_report::summary_json(
                        &p.profile,
                        &p.capture.display().to_string(),
                        args.limit,
                    ),
                })
                .collect(),
        };
        return commands::print_json(&json).map(|()| 0);
    }
    let rows: Vec<ProcessRow> = processes.iter().map(|(d, p)| row(*d, p)).collect();
    let mut text = memsleuth_report::processes_text(&rows);
    for (r, (_, p)) in rows.iter().zip(&processes) {
        let style = commands::stdout_style(args.bytes);
        text += &format!("\n=== process {} ===\n", r.pid);
        text += &memsleuth_report::summary_text(&p.profile, &r.capture, args.limit, style);
    }
    commands::print_text(&text)?;
    Ok(0)
}

/// `memsleuth report DIR`: every process's report beside its capture, and
/// an index page linking them (`-o`, or `index.html` in the directory).
pub fn report(args: &ReportArgs) -> Result<i32> {
    let processes = load_all(&args.capture, None)?;
    let index = args
        .output
        .clone()
        .unwrap_or_else(|| args.capture.join("index.html"));
    let base = index.parent().unwrap_or(Path::new("."));
    let mut linked = Vec::with_capacity(processes.len());
    for (depth, p) in &processes {
        let output = report::default_output(&p.capture);
        report::write_report(&p.capture, &p.profile, &output)?;
        linked.push((row(*depth, p), relative_link(base, &output)));
    }
    let title = format!("{} processes in {}", linked.len(), args.capture.display());
    std::fs::write(&index, memsleuth_report::processes_html(&title, &linked))
        .with_context(|| format!("cannot write the index to {}", index.display()))?;
    eprintln!(
        "memsleuth: wrote {} reports and their index {}",
        linked.len(),
        index.display()
    );
    Ok(0)
}

/// `target` as the index page at `base` links it: by name when beside it.
fn relative_link(base: &Path, target: &Path) -> String {
    let same_dir = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    match (target.parent(), target.file_name()) {
        (Some(dir), Some(name)) if same_dir(dir, base) => name.to_string_lossy().into_owned(),
        _ => std::path::absolute(target)
            .unwrap_or_else(|_| target.to_path_buf())
            .display()
            .to_string(),
    }
}
