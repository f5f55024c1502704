//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use memsleuth_analysis::{Grouping, Measure};

#[derive(Parser)]
#[command(
    name = "memsleuth",
    version,
    about = "A memory profiler and leak hunter for Python."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a Python program and record every allocation it makes.
    Run(RunArgs),
    /// Print the peak, totals, and the top sites at the peak and at exit.
    Summary(SummaryArgs),
    /// Print sites ranked by a measure.
    Table(TableArgs),
    /// Print collapsed stacks ("frame;frame;frame BYTES") for flamegraph tools.
    Stacks(StacksArgs),
    /// Show what a heap snapshot holds and who keeps it: leak suspects, types, biggest objects.
    Heap(HeapArgs),
    /// Show what grew between two heap snapshots of one process.
    Diff(DiffArgs),
    /// Find the lines whose live memory grows steadily over the run, with their trend,
    /// allocating stacks and, from the last heap snapshot, what keeps it alive.
    Leaks(LeaksArgs),
    /// Write a capture's data in another tool's format: pprof, speedscope, collapsed stacks,
    /// JSON, a heap snapshot for Chrome DevTools.
    Export(ExportArgs),
    /// Write the HTML report of a capture: one self-contained page.
    Report(ReportArgs),
    /// Explain why the process is bigger than its objects: where the RSS goes, pymalloc's
    /// arenas, the garbage collector, glibc's heap, and recommendations.
    Memory(MemoryArgs),
    /// Watch a capture while it is written: what is live now, by line, and what grows.
    Live(LiveArgs),
}

#[derive(Args)]
#[command(
    override_usage = "memsleuth run [OPTIONS] SCRIPT [ARGS]...\n       memsleuth run [OPTIONS] -m MODULE [ARGS]...\n       memsleuth run [OPTIONS] -c CODE [ARGS]..."
)]
pub struct RunArgs {
    /// Where to write the capture [default: memsleuth-<script>-<pid>.msl]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Overwrite the capture if it exists.
    #[arg(long)]
    pub force: bool,
    /// Also record native stacks (C, C++ and Rust frames, merged with the Python frames).
    #[arg(long, conflicts_with = "python_only")]
    pub native: bool,
    /// Record only CPython's allocators, not the C heap and mmap (less overhead for C-heavy programs).
    #[arg(long)]
    pub python_only: bool,
    /// Print no summary when the program ends.
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not write the HTML report beside the capture.
    #[arg(long)]
    pub no_report: bool,
    /// Show the live terminal view while the program runs (its output goes to a file
    /// beside the capture, its stdin is /dev/null); quitting the view leaves it running.
    #[arg(long, conflicts_with = "follow_children")]
    pub live: bool,
    /// Take a heap snapshot when the program ends (after its exit handlers).
    #[arg(long, value_name = "WHEN", value_enum)]
    pub snapshot_at: Option<SnapshotAt>,
    /// Take a heap snapshot each time this signal arrives (e.g. SIGUSR2).
    #[arg(long, value_name = "SIGNAL", value_parser = parse_signal)]
    pub snapshot_on: Option<String>,
    /// Take a heap snapshot at this interval (e.g. 30s, 500ms, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub snapshot_every: Option<u64>,
    /// At exit, ask the C library to return its free memory (malloc_trim) and
    /// record RSS before and after: what trimming would give back.
    #[arg(long)]
    pub trim_probe: bool,
    /// Stop the program once its RSS reaches this size (e.g. 2GB, 512MiB), with the capture
    /// and report written and exit status 99, before the kernel's OOM killer would.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub limit: Option<u64>,
    /// Also track every process the program starts (fork, multiprocessing, Python
    /// subprocesses): one capture per process, named with its pid, in one directory
    /// (-o names it) [default: memsleuth-<script>-<pid>/].
    #[arg(long)]
    pub follow_children: bool,
    /// How often to sample RSS for the timeline, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub sample_interval: u64,
    /// Run a library module as a script, like `python -m`.
    #[arg(short = 'm', value_name = "MODULE", conflicts_with = "code")]
    pub module: Option<String>,
    /// Run a program passed as a string, like `python -c`.
    #[arg(short = 'c', value_name = "CODE")]
    pub code: Option<String>,
    /// The script (unless -m or -c is given) and the program's arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SCRIPT_AND_ARGS"
    )]
    pub target: Vec<String>,
}

/// When `--snapshot-at` takes its snapshot.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SnapshotAt {
    /// When the program ends, after its own exit handlers ran.
    Exit,
}

/// Signals a snapshot can be asked for with: those a program is not
/// expected to use for anything else.
const SNAPSHOT_SIGNALS: [&str; 2] = ["SIGUSR1", "SIGUSR2"];

fn parse_signal(s: &str) -> Result<String, String> {
    let name = s.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    if SNAPSHOT_SIGNALS.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(format!(
            "{s} is not a signal snapshots can use; use one of {}",
            SNAPSHOT_SIGNALS.join(", ")
        ))
    }
}

/// A size as people write it: `2GB`, `512MiB`, `1.5G`, `300000000`. Both
/// decimal and binary units mean powers of 1024, as `free -h` and most
/// memory tools do, so `2GB` and `2GiB` are the same limit.
fn parse_size(s: &str) -> Result<u64, String> {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => {
            return Err(format!(
                "{s} is not a size; write it like 2GB, 512MB or 1.5GiB"
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n * scale as f64 >= 1.0 => Ok((n * scale as f64) as u64),
        _ => Err(format!(
            "{s} is not a size; write it like 2GB, 512MB or 1.5GiB"
        )),
    }
}

/// A duration such as `30s`, `500ms`, `5m` or `1h` (a bare number is seconds), in milliseconds.
fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let scale = match unit {
        "ms" => 1.0,
        "" | "s" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3600e3,
        _ => {
            return Err(format!(
                "{s} is not a duration; write it like 30s, 500ms, 5m or 1h"
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n * scale >= 1.0 => Ok((n * scale) as u64),
        _ => Err(format!(
            "{s} is not a duration of at least 1ms; write it like 30s, 500ms, 5m or 1h"
        )),
    }
}

#[derive(Args)]
pub struct SummaryArgs {
    /// A capture written by `memsleuth run`, or the directory `run --follow-children` wrote.
    pub capture: PathBuf,
    /// Print JSON (schema in docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// How many sites to list in each section.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Show byte counts as exact integers instead of KiB, MiB and GiB.
    #[arg(long)]
    pub bytes: bool,
}

#[derive(Args)]
pub struct MemoryArgs {
    /// A capture written by `memsleuth run`.
    pub capture: PathBuf,
    /// Print JSON (schema in docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Show byte counts as exact integers instead of KiB, MiB and GiB.
    #[arg(long)]
    pub bytes: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ByArg {
    Peak,
    Leaks,
    Allocated,
    Count,
    /// Blocks freed before their thread allocated anything else (allocator churn).
    Temporary,
}

impl From<ByArg> for Measure {
    fn from(b: ByArg) -> Measure {
        match b {
            ByArg::Peak => Measure::Peak,
            ByArg::Leaks => Measure::Leaks,
            ByArg::Allocated => Measure::Allocated,
            ByArg::Count => Measure::Count,
            ByArg::Temporary => Measure::Temporary,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GroupArg {
    Stack,
    Line,
    Function,
    File,
}

impl From<GroupArg> for Grouping {
    fn from(g: GroupArg) -> Grouping {
        match g {
            GroupArg::Stack => Grouping::Stack,
            GroupArg::Line => Grouping::Line,
            GroupArg::Function => Grouping::Function,
            GroupArg::File => Grouping::File,
        }
    }
}

#[derive(Args)]
pub struct TableArgs {
    pub capture: PathBuf,
    /// What to rank sites by.
    #[arg(long, value_enum, default_value = "peak")]
    pub by: ByArg,
    /// What makes two allocations the same site.
    #[arg(long, value_enum, default_value = "line")]
    pub group: GroupArg,
    #[command(flatten)]
    pub output: TableOutput,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AtArg {
    Peak,
    Leaks,
    All,
}

impl From<AtArg> for Measure {
    fn from(a: AtArg) -> Measure {
        match a {
            AtArg::Peak => Measure::Peak,
            AtArg::Leaks => Measure::Leaks,
            AtArg::All => Measure::Allocated,
        }
    }
}

#[derive(Args)]
pub struct StacksArgs {
    pub capture: PathBuf,
    /// Which bytes to count: live at the peak, leaked, or all allocated.
    #[arg(long, value_enum, default_value = "peak")]
    pub at: AtArg,
}

/// How `table`, `heap` and `diff` print their tables.
#[derive(Args)]
pub struct TableOutput {
    /// How many rows in each table (0 for all).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Print JSON (schema in docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Show byte counts as exact integers instead of KiB, MiB and GiB.
    #[arg(long)]
    pub bytes: bool,
}

#[derive(Args)]
pub struct HeapArgs {
    /// A capture with heap snapshots (`memsleuth run --snapshot-at exit ...`).
    pub capture: PathBuf,
    /// Which snapshot, by id [default: the last complete one]
    #[arg(long, value_name = "N")]
    pub snapshot: Option<u32>,
    /// Show one type: its biggest instances, where they were allocated, what keeps them alive.
    #[arg(long = "type", value_name = "NAME")]
    pub type_name: Option<String>,
    #[command(flatten)]
    pub output: TableOutput,
}

#[derive(Args)]
#[command(
    override_usage = "memsleuth diff [OPTIONS] CAPTURE\n       memsleuth diff [OPTIONS] EARLIER LATER"
)]
pub struct DiffArgs {
    /// A capture: its first and last complete snapshots are compared.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// A later capture of the same process: the last snapshots of both are compared.
    #[arg(value_name = "LATER")]
    pub later: Option<PathBuf>,
    #[command(flatten)]
    pub output: TableOutput,
}

#[derive(Args)]
pub struct LeaksArgs {
    /// A capture written by `memsleuth run` (with `--snapshot-every 30s` or `--snapshot-at exit`,
    /// retainer paths too).
    pub capture: PathBuf,
    #[command(flatten)]
    pub output: TableOutput,
}

/// The formats `memsleuth export` writes; each is one variant here and its
/// arms in `export.rs`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A heap snapshot for Chrome DevTools (Memory tab → Load) and memlab.
    Heapsnapshot,
    /// A gzipped pprof profile (`go tool pprof`, pprof's web UI), with Go's heap sample types.
    Pprof,
    /// Collapsed stacks for flamegraph.pl and inferno.
    Collapsed,
    /// A speedscope file (https://www.speedscope.app): memory at the peak, leaked, allocated.
    Speedscope,
    /// The summary as JSON (schema in docs/json.md).
    Json,
}

#[derive(Args)]
pub struct ExportArgs {
    /// A capture written by `memsleuth run`.
    pub capture: PathBuf,
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Where to write [default: beside the capture, with the format's extension]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Which heap snapshot to export, by id [default: the last complete one]
    #[arg(long, value_name = "N")]
    pub snapshot: Option<u32>,
    /// Which bytes `collapsed` counts, and which are "in use" in `pprof`: live at the peak,
    /// leaked at exit, or (collapsed only) all allocated.
    #[arg(long, value_enum, default_value = "peak")]
    pub at: AtArg,
}

#[derive(Args)]
pub struct ReportArgs {
    /// A capture written by `memsleuth run`, or the directory `run --follow-children` wrote
    /// (a report per process and an index page).
    pub capture: PathBuf,
    /// Where to write the HTML report [default: beside the capture, with the extension .html;
    /// for a directory, its index.html]
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct LiveArgs {
    /// A capture being written by `memsleuth run` (or already finished).
    pub capture: PathBuf,
    /// Wait for the capture to appear if it does not exist yet.
    #[arg(long)]
    pub wait: bool,
}

/// The first line of clap's message; when it announces a list ("the
/// following required arguments were not provided:"), the list joined to it.
fn parse_error_sentence(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.trim_start_matches("error: ");
    match first.strip_suffix(':') {
        Some(head) => {
            let items: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
            format!("{head}: {}", items.join(", "))
        }
        None => first.to_string(),
    }
}

/// Prints help and version as clap does, and any other parse error as one line.
pub fn report_parse_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                crate::EXIT_BAD_INPUT
            } else {
                0
            }
        }
        _ => {
            let text = e.render().to_string();
            let sentence = parse_error_sentence(&text);
            eprintln!("memsleuth: error: {sentence}; see `memsleuth --help`");
            crate::EXIT_BAD_INPUT
        }
    }
}
