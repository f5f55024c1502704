//! The `memsleuth` command line as a library: argument parsing and the glue
//! between the capture reader, the analysis and the renderers. The Python
//! entry point (`python -m memsleuth`, the `memsleuth` script) hands it argv.
//!
//! # Design constraints
//! - Orchestration only: what is computed lives in `memsleuth-analysis`, how
//!   it is shown in `memsleuth-report`.
//! - Every failure the user can cause ends as one line, `memsleuth: error:
//!   <sentence>`, and exit status 2; never a panic or a traceback.

mod args;
mod commands;
mod export;
mod heap;
mod leaks;
mod live;
mod load;
mod memory;
mod processes;
mod progress;
mod report;
mod run;

use std::path::Path;

use clap::Parser;

/// Exit status for bad input (a wrong flag, a missing or unreadable capture).
pub const EXIT_BAD_INPUT: i32 = 2;

/// Runs the command line and returns the process exit status. `python` is
/// the interpreter `memsleuth run` uses for the profiled program.
pub fn main_with_args(args: Vec<String>, python: &Path) -> i32 {
    let argv = std::iter::once(String::from("memsleuth")).chain(args);
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => return args::report_parse_error(&e),
    };
    let result = match cli.command {
        args::Command::Run(r) => exit_after(run::run(&r, python)),
        args::Command::Summary(s) => commands::summary(&s),
        args::Command::Table(t) => commands::table(&t),
        args::Command::Stacks(s) => commands::stacks(&s),
        args::Command::Heap(h) => heap::heap(&h),
        args::Command::Diff(d) => heap::diff_command(&d),
        args::Command::Leaks(l) => leaks::leaks(&l),
        args::Command::Export(e) => export::export(&e),
        args::Command::Report(r) => report::report(&r),
        args::Command::Memory(m) => memory::memory(&m),
        args::Command::Live(l) => live::live(&l),
    };
    exit_status(result)
}

/// The exit status of a command's result, printing its error if it failed.
fn exit_status(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        // A reader that stopped early (`memsleuth stacks … | head`) got what
        // it wanted: that is not an error.
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("memsleuth: error: {}", one_line(&e));
            EXIT_BAD_INPUT
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Ends the process with `run`'s status instead of returning to the caller.
///
/// While the program ran, terminal signals (Ctrl-C) reached this process too;
/// an embedding interpreter noted them and would raise them the moment
/// control returned to it, printing a traceback the user did not cause.
fn exit_after(result: anyhow::Result<i32>) -> ! {
    use std::io::Write;
    let code = exit_status(result);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

/// An error and its causes as one sentence: `context: cause: cause`.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}
