//! Opening a capture and analysing it, with errors that name the file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use memsleuth_analysis::Profile;
use memsleuth_format::reader::CaptureReader;

pub fn analyze(path: &Path) -> Result<Profile> {
    if !path.exists() {
        bail!(
            "capture {} does not exist; pass the path of a .msl file written by `memsleuth run`",
            path.display()
        );
    }
    if path.is_dir() {
        bail!(
            "{} is a directory; pass the path of a .msl file written by `memsleuth run`",
            path.display()
        );
    }
    memsleuth_analysis::analyze(|| {
        let reader = CaptureReader::open(path)?;
        Ok((reader.metadata().clone(), reader))
    })
    .with_context(|| format!("cannot read capture {}", path.display()))
}
