//! `memsleuth live` and `run --live`: glue between the command line, the
//! program `run` started and the view in `memsleuth-live`.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};
use memsleuth_format::reader::CaptureReader;
use memsleuth_live::ProgramWatch;
use nix::sys::signal::Signal;

use crate::args::{LiveArgs, RunArgs};

pub fn live(args: &LiveArgs) -> Result<i32> {
    let capture = &args.capture;
    let name = capture.display();
    if !args.wait && !capture.exists() {
        bail!("capture {name} does not exist; pass --wait to wait for it to appear");
    }
    if capture.exists() {
        check_capture(capture)?;
    }
    if !std::io::stdout().is_terminal() {
        bail!("memsleuth live needs a terminal and standard output is not one; for the capture so far in text, use `memsleuth summary {name}`");
    }
    memsleuth_live::show(capture, None)?;
    Ok(0)
}

/// Refuses a file that is not a capture before the screen is taken over. A
/// header not yet complete is fine: the view waits for the rest.
fn check_capture(capture: &Path) -> Result<()> {
    if capture.is_dir() {
        bail!(
            "{} is a directory; pass a capture file (.msl)",
            capture.display()
        );
    }
    match CaptureReader::open(capture) {
        Ok(_) | Err(memsleuth_format::Error::TruncatedHeader { .. }) => Ok(()),
        Err(memsleuth_format::Error::NotACapture) if file_len(capture) == 0 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read capture {}", capture.display())),
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `run --live`, between deciding the command and starting it.
pub(crate) struct LiveRun {
    /// Where the program's stdout and stderr go.
    output: PathBuf,
    /// The capture `-o` named; without it, the name holds the child's pid.
    named: Option<PathBuf>,
    default_prefix: String,
}

/// For `run --live`: the program reads /dev/null and writes to a file
/// beside the capture, since the view owns the terminal. `None` without `--live`.
pub(crate) fn prepare(
    args: &RunArgs,
    cmd: &mut Command,
    default_prefix: &str,
) -> Result<Option<LiveRun>> {
    if !args.live {
        return Ok(None);
    }
    if !std::io::stdout().is_terminal() {
        bail!("run --live needs a terminal and standard output is not one; run without --live and watch the capture with `memsleuth live CAPTURE` from a terminal");
    }
    let output = match &args.output {
        Some(capture) => capture.with_extension("out"),
        // Renamed once the child's pid, and so the capture's name, is known.
        None => PathBuf::from(format!("{default_prefix}live-{}.out", std::process::id())),
    };
    if let Some(capture) = args.output.as_ref().filter(|c| args.force && c.is_file()) {
        // The view must not open the old capture before the program replaces it.
        std::fs::remove_file(capture)
            .with_context(|| format!("cannot replace capture {}", capture.display()))?;
    }
    let file = File::create(&output).with_context(|| {
        format!(
            "cannot create {} for the program's output",
            output.display()
        )
    })?;
    let stderr = file.try_clone().with_context(|| {
        format!(
            "cannot create {} for the program's output",
            output.display()
        )
    })?;
    cmd.stdin(Stdio::null()).stdout(file).stderr(stderr);
    Ok(Some(LiveRun {
        output,
        named: args.output.clone(),
        default_prefix: default_prefix.to_string(),
    }))
}

impl LiveRun {
    /// Shows the view on the program's capture until the user quits, then
    /// waits for the program as plain `run` does.
    pub(crate) fn watch(self, child: &mut Child) -> Result<ExitStatus> {
        let pid = child.id();
        let capture = self
            .named
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}{pid}.msl", self.default_prefix)));
        let output = self.output_named_for(pid);
        let mut watched = Watched {
            child,
            output: output.display().to_string(),
        };
        let shown = memsleuth_live::show(&capture, Some(&mut watched));
        // Written, not `eprintln!`ed: after a hang-up the terminal is gone,
        // and a failed write must not end this process before the program.
        let mut stderr = std::io::stderr();
        if let Err(e) = &shown {
            let _ = writeln!(stderr, "memsleuth: error: {e}");
        }
        let ended = shown.ok().and_then(|o| o.program_ended);
        if ended.is_none() {
            let _ = writeln!(
                stderr,
                "memsleuth: the program (pid {pid}) keeps running and tracked into {}; its output goes to {}",
                capture.display(),
                output.display()
            );
        } else {
            let _ = writeln!(
                stderr,
                "memsleuth: the program's output is in {}",
                output.display()
            );
        }
        watched.child.wait().context("cannot wait for the program")
    }

    /// The output file, renamed after the capture once the pid is known;
    /// if renaming fails, the file keeps its first name.
    fn output_named_for(&self, pid: u32) -> PathBuf {
        if self.named.is_some() {
            return self.output.clone();
        }
        let named = PathBuf::from(format!("{}{pid}.out", self.default_prefix));
        match std::fs::rename(&self.output, &named) {
            Ok(()) => named,
            Err(_) => self.output.clone(),
        }
    }
}

/// The program as the view sees it: its pid, its output, whether it ended.
struct Watched<'a> {
    child: &'a mut Child,
    output: String,
}

impl ProgramWatch for Watched<'_> {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        self.output.clone()
    }

    fn poll_exit(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(describe(status))
    }
}

/// "exit status 3", or "killed by SIGKILL".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {}", s.as_str()),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => String::from("ended"),
    }
}
