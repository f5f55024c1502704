//! Why one file could not be used. These never reach the caller as errors:
//! they end up inside the sentences of `Symbolizer::problems`, so each one
//! names the file it is about.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{} could not be read ({source})", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not an ELF file this tool can read ({source})", path.display())]
    Parse {
        path: PathBuf,
        source: object::Error,
    },
    #[error("the debug information in {} is damaged ({source})", path.display())]
    Dwarf { path: PathBuf, source: gimli::Error },
}
