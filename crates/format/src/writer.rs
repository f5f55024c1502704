//! Appends a capture: the header once, then one chunk per [`CaptureWriter::flush_chunk`].

use std::io::{self, Write};

use crate::codec::DeltaState;
use crate::{Metadata, Record, CHUNK_MAGIC, FORMAT_VERSION, MAGIC};

/// The chunk payload codec byte: how the stored payload is compressed.
pub(crate) const CODEC_RAW: u8 = 0;
pub(crate) const CODEC_ZSTD: u8 = 1;

/// zstd level 1 compresses our varint streams about as well as level 3 at a
/// fraction of the cost; the writer thread must keep up with the program.
const ZSTD_LEVEL: i32 = 1;

/// Writes a capture to any byte sink. Records accumulate in memory until
/// `flush_chunk`, which compresses them and writes the chunk with one
/// `write_all`, so that a killed process leaves at most one partial chunk.
pub struct CaptureWriter<W: Write> {
    out: W,
    payload: Vec<u8>,
    state: DeltaState,
    records_in_chunk: usize,
    bytes_written: u64,
    compressor: zstd::bulk::Compressor<'static>,
    frame: Vec<u8>,
}

impl<W: Write> CaptureWriter<W> {
    /// Writes the header and returns a writer ready for records.
    pub fn new(mut out: W, metadata: &Metadata) -> io::Result<Self> {
        let header = encode_header(metadata)?;
        out.write_all(&header)?;
        out.flush()?;
        Ok(CaptureWriter {
            out,
            payload: Vec::with_capacity(1 << 20),
            state: DeltaState::new(metadata.native_stacks),
            records_in_chunk: 0,
            bytes_written: header.len() as u64,
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            frame: Vec::new(),
        })
    }

    /// Adds a record to the chunk being built.
    pub fn push(&mut self, record: &Record) {
        self.state.encode(&mut self.payload, record);
        self.records_in_chunk += 1;
    }

    /// Uncompressed bytes waiting in the current chunk.
    pub fn pending_bytes(&self) -> usize {
        self.payload.len()
    }

    /// Bytes written to the sink so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Compresses and writes the current chunk, if it holds anything.
    pub fn flush_chunk(&mut self) -> io::Result<()> {
        if self.records_in_chunk == 0 {
            return Ok(());
        }
        let compressed = self.compressor.compress(&self.payload)?;
        let (codec, stored) = if compressed.len() < self.payload.len() {
            (CODEC_ZSTD, compressed.as_slice())
        } else {
            (CODEC_RAW, self.payload.as_slice())
        };
        let len =
            |n: usize| u32::try_from(n).map_err(|_| io::Error::other("chunk larger than 4 GiB"));
        self.frame.clear();
        self.frame.extend_from_slice(&CHUNK_MAGIC);
        self.frame.extend_from_slice(&[codec, 0, 0, 0]);
        self.frame
            .extend_from_slice(&len(stored.len())?.to_le_bytes());
        self.frame
            .extend_from_slice(&len(self.payload.len())?.to_le_bytes());
        self.frame
            .extend_from_slice(&crc32fast::hash(stored).to_le_bytes());
        self.frame.extend_from_slice(stored);
        self.out.write_all(&self.frame)?;
        self.out.flush()?;
        self.bytes_written += self.frame.len() as u64;
        self.payload.clear();
        self.state.reset();
        self.records_in_chunk = 0;
        Ok(())
    }

    /// Flushes the last chunk and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_chunk()?;
        Ok(self.out)
    }
}

/// Magic, version, flags, metadata length, metadata JSON, then a CRC-32 of
/// everything after the magic.
fn encode_header(metadata: &Metadata) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(metadata).map_err(io::Error::other)?;
    let json_len =
        u32::try_from(json.len()).map_err(|_| io::Error::other("metadata larger than 4 GiB"))?;
    let mut h = Vec::with_capacity(8 + 8 + json.len() + 4);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&json_len.to_le_bytes());
    h.extend_from_slice(&json);
    let crc = crc32fast::hash(&h[MAGIC.len()..]);
    h.extend_from_slice(&crc.to_le_bytes());
    Ok(h)
}
