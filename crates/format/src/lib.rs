//! The memsleuth capture format: what a capture file holds and how it is laid
//! out on disk, byte by byte (`docs/capture-format.md` is the prose version).
//!
//! A capture is a header followed by self-delimiting, checksummed chunks,
//! compressed with zstd when that makes them smaller. The tracker appends chunks while the profiled program runs, so a
//! process killed at any instant leaves a file whose complete chunks all read
//! back; [`reader::CaptureReader`] says how many bytes after the last complete
//! chunk were lost.
//!
//! # Design constraints
//! - No unsafe code and no Python: this crate is shared by the tracker (which
//!   writes from inside the profiled process) and by every analysis tool.
//! - Chunks decode independently of each other's byte encoding (delta state
//!   resets at each chunk), so a damaged chunk never garbles the ones before it.
//! - Never panic on input: every malformed byte sequence is an [`Error`].
#![forbid(unsafe_code)]

mod codec;
mod error;
pub mod reader;
mod records;
pub mod writer;

pub use error::Error;
pub use records::{
    AllocKind, CodeDef, Domain, EdgeName, FrameDef, GarbageGroup, GcState, HeapEdge, HeapObjectDef,
    HeapRootDef, LineTableFormat, MallocStats, Metadata, ModuleDef, NativeFrameDef, ProcessMemory,
    PymallocStats, Record, SizeClassStats, ThreadDef,
};

/// The first eight bytes of every capture.
pub const MAGIC: [u8; 8] = *b"MSLEUTH\0";
/// The format version this crate writes, and the newest it reads.
pub const FORMAT_VERSION: u16 = 4;
/// The code id of a frame that stands for the interpreter running with no
/// Python frame (start-up, shutdown, a thread starting) on a thread that has
/// a Python thread state. Real code ids start at 1.
pub const INTERPRETER_CODE: u32 = 0;
/// The exit status of a process memsleuth stopped at its RSS limit, after
/// writing a [`Record::LimitReached`] (`memsleuth run --limit`).
pub const EXIT_LIMIT: i32 = 99;
/// The four bytes that open every chunk.
pub const CHUNK_MAGIC: [u8; 4] = *b"MSCK";
/// Bytes in a chunk header: magic, codec, 3 reserved, stored and raw lengths, CRC.
pub const CHUNK_HEADER_LEN: usize = 4 + 1 + 3 + 4 + 4 + 4;
/// A chunk larger than this is treated as corruption rather than allocated.
pub const MAX_CHUNK_LEN: u32 = 256 * 1024 * 1024;
