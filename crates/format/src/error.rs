use std::io;

/// Everything that can be wrong with a capture file. Each message is one
/// sentence a user can act on; the CLI prints it as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("it is not a memsleuth capture (its first bytes are not the memsleuth magic); pass a file written by `memsleuth run`")]
    NotACapture,
    #[error("it was written in capture format version {found}, newer than the version {supported} this memsleuth reads; upgrade memsleuth to read it")]
    NewerVersion { found: u16, supported: u16 },
    #[error("it was written in capture format version {found} by an older memsleuth; this one reads version {supported}, so analyse it with the memsleuth that wrote it, or record it again")]
    OlderVersion { found: u16, supported: u16 },
    #[error("it ends inside its header ({len} bytes), so nothing in it can be read; the program was probably killed as tracking started")]
    TruncatedHeader { len: u64 },
    #[error("it is corrupted at byte {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    #[error("it could not be read: {0}")]
    Io(#[from] io::Error),
}
