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
    /// Do not write the HTML report (accepted for forward compatibility; no report is written yet).
    #[arg(long)]
    pub no_report: bool,
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

#[derive(Args)]
pub struct SummaryArgs {
    /// A capture written by `memsleuth run`.
    pub capture: PathBuf,
    /// Print JSON (schema in docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// How many sites to list in each section.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ByArg {
    Peak,
    Leaks,
    Allocated,
    Count,
}

impl From<ByArg> for Measure {
    fn from(b: ByArg) -> Measure {
        match b {
            ByArg::Peak => Measure::Peak,
            ByArg::Leaks => Measure::Leaks,
            ByArg::Allocated => Measure::Allocated,
            ByArg::Count => Measure::Count,
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
    /// How many rows to print (0 for all).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AtArg {
    Peak,
    Leaks,
    All,
}

#[derive(Args)]
pub struct StacksArgs {
    pub capture: PathBuf,
    /// Which bytes to count: live at the peak, leaked, or all allocated.
    #[arg(long, value_enum, default_value = "peak")]
    pub at: AtArg,
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
            let first = text.lines().next().unwrap_or("invalid arguments");
            let sentence = first.trim_start_matches("error: ");
            eprintln!("memsleuth: error: {sentence}; see `memsleuth --help`");
            crate::EXIT_BAD_INPUT
        }
    }
}
