//! `memsleuth run`: launch the program under the tracker, wait for it, pass
//! its exit status through, and summarise the capture.
//!
//! The program runs in a child interpreter (`python -c <runner>`), not in this
//! process, so that whatever kills it — SIGKILL, the OOM killer, a crash in an
//! extension — still leaves this process alive to say so and to read the
//! capture up to the last complete chunk.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

use memsleuth_analysis::Profile;

use crate::args::{RunArgs, SnapshotAt};
use crate::{commands, load, processes, report};

/// The runner's entry point; see `python/memsleuth/_runner.py`.
const RUNNER_BOOT: &str = "from memsleuth._runner import main; main()";
/// Sites listed per section of the end-of-run summary.
const SUMMARY_SITES: usize = 5;

/// What to run, as `python` would be told.
enum Target {
    Script(String),
    Module(String),
    Code(String),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Script(_) => "script",
            Target::Module(_) => "module",
            Target::Code(_) => "code",
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Script(s) | Target::Module(s) | Target::Code(s) => s,
        }
    }

    /// The `<script>` part of the default capture name.
    fn stem(&self) -> String {
        match self {
            Target::Script(s) => Path::new(s)
                .file_stem()
                .map_or_else(|| "script".into(), |f| f.to_string_lossy().into_owned()),
            Target::Module(m) => m.clone(),
            Target::Code(_) => String::from("c"),
        }
    }
}

fn target_of(args: &RunArgs) -> Result<(Target, Vec<String>)> {
    let rest = args.target.clone();
    if let Some(m) = &args.module {
        return Ok((Target::Module(m.clone()), rest));
    }
    if let Some(c) = &args.code {
        return Ok((Target::Code(c.clone()), rest));
    }
    let Some((script, program_args)) = rest.split_first() else {
        bail!("nothing to run; give a script (memsleuth run app.py), -m MODULE or -c CODE");
    };
    let path = Path::new(script);
    if !path.exists() {
        bail!("cannot run {script}: no such file");
    }
    if path.is_dir() {
        bail!("cannot run {script}: it is a directory; give a Python file, or -m for a package");
    }
    Ok((Target::Script(script.clone()), program_args.to_vec()))
}

/// Survives the signals a terminal sends to the whole foreground group: the
/// program gets its own copy. Installed before the program starts, so that
/// no Ctrl-C can leave it running without this process.
fn survive_terminal_signals() -> Result<()> {
    let ignored = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGQUIT, SIGHUP] {
        signal_hook::flag::register(sig, Arc::clone(&ignored))
            .context("cannot install signal handlers")?;
    }
    Ok(())
}

/// Forwards SIGTERM, which is usually aimed at this process alone, to the program.
/// Passes SIGTERM, and the snapshot signal when there is one, on to the
/// program: whoever signals `memsleuth run` means the program.
fn forward_signals(child: u32, snapshot_signal: Option<&str>) -> Result<()> {
    let mut forwarded = vec![SIGTERM];
    if let Some(name) = snapshot_signal {
        let sig = name
            .parse::<Signal>()
            .with_context(|| format!("{name} is not a signal"))?;
        forwarded.push(sig as i32);
    }
    let mut signals =
        signal_hook::iterator::Signals::new(forwarded).context("cannot install signal handlers")?;
    let pid = Pid::from_raw(child as i32);
    std::thread::Builder::new()
        .name("memsleuth-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if let Ok(sig) = Signal::try_from(sig) {
                    let _ = kill(pid, sig);
                }
            }
        })
        .context("cannot start the signal forwarding thread")?;
    Ok(())
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string())
}

pub fn run(args: &RunArgs, python: &Path) -> Result<i32> {
    let (target, program_args) = target_of(args)?;
    if args.follow_children {
        processes::check_output_directory(args.output.as_deref(), args.force)?;
    } else if let Some(out) = &args.output {
        if out.exists() && !args.force {
            bail!("capture {} already exists; pass --force to overwrite it or choose another path with -o", out.display());
        }
    }
    // The default name holds the program's pid, which only the child knows
    // before it starts: it is given the prefix and appends `<pid>.msl`.
    let default_prefix = format!("memsleuth-{}-", target.stem());
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(RUNNER_BOOT);
    match (&args.output, args.follow_children) {
        (Some(dir), true) => cmd.arg("--follow-dir").arg(dir),
        (None, true) => cmd.arg("--follow-dir-prefix").arg(&default_prefix),
        (Some(path), false) => cmd.arg("--capture").arg(path),
        (None, false) => cmd.arg("--capture-prefix").arg(&default_prefix),
    };
    if args.follow_children {
        cmd.arg("--stem").arg(target.stem());
    }
    cmd.args([
        "--interval-ms",
        &args.sample_interval.to_string(),
        "--kind",
        target.kind(),
    ]);
    if args.force {
        cmd.arg("--force");
    }
    if args.native {
        cmd.arg("--native");
    }
    if args.python_only {
        cmd.arg("--python-only");
    }
    if args.trim_probe {
        cmd.arg("--trim-probe");
    }
    if let Some(limit) = args.limit {
        cmd.arg("--limit-bytes").arg(limit.to_string());
    }
    if args.snapshot_at == Some(SnapshotAt::Exit) {
        cmd.arg("--snapshot-at-exit");
    }
    if let Some(signal) = &args.snapshot_on {
        cmd.arg("--snapshot-on").arg(signal);
    }
    if let Some(ms) = args.snapshot_every {
        cmd.arg("--snapshot-every-ms").arg(ms.to_string());
    }
    cmd.arg("--").arg(target.name()).args(&program_args);
    let live = crate::live::prepare(args, &mut cmd, &default_prefix)?;
    survive_terminal_signals()?;
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", python.display()))?;
    forward_signals(child.id(), args.snapshot_on.as_deref())?;
    let status = match live {
        Some(live) => live.watch(&mut child)?,
        None => child.wait().context("cannot wait for the program")?,
    };
    if args.follow_children {
        let directory = args
            .output
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{default_prefix}{}", child.id())));
        let capture = processes::capture_in(&directory, &target.stem(), child.id());
        let profile = report_end(args, &capture, status);
        if !args.quiet {
            processes::print_after_run(&directory, profile.map(|p| (capture, p)));
        }
        return exit_like(status);
    }
    let capture = match &args.output {
        Some(path) => path.clone(),
        None => PathBuf::from(format!("{default_prefix}{}.msl", child.id())),
    };
    finish(args, &capture, status)
}

/// Writes the report (unless `--no-report`) and prints the summary (unless
/// `--quiet`). Neither may change the exit status: a failure is one line.
/// Returns the capture's analysis, when it could be read.
fn summarise(args: &RunArgs, capture: &Path) -> Option<Profile> {
    let profile = match load::analyze(capture) {
        Ok(profile) => profile,
        Err(e) if args.quiet => {
            eprintln!(
                "memsleuth: warning: no HTML report was written: {}",
                crate::one_line(&e)
            );
            return None;
        }
        Err(e) => {
            eprintln!("memsleuth: error: {}", crate::one_line(&e));
            return None;
        }
    };
    write_report_and_summary(args, capture, &profile);
    Some(profile)
}

fn write_report_and_summary(args: &RunArgs, capture: &Path, profile: &Profile) {
    let report = (!args.no_report).then(|| {
        let output = report::default_output(capture);
        report::write_report(capture, profile, &output).map(|()| output)
    });
    if let Some(Err(e)) = &report {
        eprintln!(
            "memsleuth: warning: no HTML report was written: {}",
            crate::one_line(e)
        );
    }
    if args.quiet {
        return;
    }
    let name = capture.display().to_string();
    eprint!(
        "{}",
        memsleuth_report::summary_text(profile, &name, SUMMARY_SITES, commands::stderr_style())
    );
    if let Some(Ok(output)) = &report {
        eprintln!("Report: {}  (open it in a browser)", output.display());
    }
}

/// Reports how the program ended and what the capture holds, then ends this
/// process the same way the program ended.
fn finish(args: &RunArgs, capture: &Path, status: ExitStatus) -> Result<i32> {
    report_end(args, capture, status);
    exit_like(status)
}

/// Says how the program ended, and summarises its capture (unless told
/// not to); returns the capture's analysis when it was made.
fn report_end(args: &RunArgs, capture: &Path, status: ExitStatus) -> Option<Profile> {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        eprintln!(
            "memsleuth: the program was killed by signal {sig} ({})",
            signal_name(sig)
        );
    }
    let limit_code = status.code() == Some(memsleuth_format::EXIT_LIMIT) && args.limit.is_some();
    let mut profile = None;
    if capture.exists() && (limit_code || !(args.quiet && args.no_report)) {
        profile = summarise(args, capture);
    }
    let stop = profile.as_ref().and_then(|p| p.limit_stop);
    if let Some(stop) = stop.filter(|_| limit_code) {
        eprintln!(
            "memsleuth: stopped the program at {:.2} s: its RSS reached {}, past --limit {}; \
             the capture{} complete (exit status {})",
            stop.time_s,
            memsleuth_report::human_bytes(stop.rss_bytes),
            memsleuth_report::human_bytes(stop.limit_bytes),
            if args.no_report {
                " is"
            } else {
                " and the report are"
            },
            memsleuth_format::EXIT_LIMIT
        );
    }
    profile
}

/// This process's exit status: the program's, or death by the same signal,
/// so a shell or supervisor sees what it would have seen without memsleuth.
fn exit_like(status: ExitStatus) -> Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        return Ok(128 + sig);
    }
    Ok(status.code().unwrap_or(1))
}
