//! Reads a capture back, chunk by chunk, tolerating a file that was cut short.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::codec::{Decoder, DeltaState};
use crate::writer::{CODEC_RAW, CODEC_ZSTD};
use crate::{
    Error, Metadata, Record, CHUNK_HEADER_LEN, CHUNK_MAGIC, FORMAT_VERSION, MAGIC, MAX_CHUNK_LEN,
};

/// How the end of the file looked once everything readable was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// The tracker wrote its final `End` record: tracking stopped cleanly.
    pub ended_cleanly: bool,
    /// Bytes after the last complete chunk: a chunk the process was writing
    /// when it died. Zero for a complete file.
    pub lost_bytes: u64,
    pub chunks: u64,
}

/// The chunk being read: records are decoded one per call, as they are
/// asked for. A chunk holds a few hundred thousand records; decoding them
/// all into a list first would write and read back tens of megabytes that
/// fit in no cache.
struct Chunk {
    /// Where the chunk starts in the file, for error messages.
    offset: u64,
    /// The decompressed records; the buffer is kept from chunk to chunk.
    payload: Vec<u8>,
    /// Where the next record starts in `payload`.
    pos: usize,
    state: DeltaState,
}

/// Reads the header on construction, then yields records in file order.
pub struct CaptureReader<R: Read> {
    input: R,
    metadata: Metadata,
    offset: u64,
    chunk: Chunk,
    /// The chunk as stored, kept from chunk to chunk like the payload.
    stored: Vec<u8>,
    completeness: Completeness,
    done: bool,
    decompressor: zstd::bulk::Decompressor<'static>,
}

impl CaptureReader<BufReader<File>> {
    /// Opens a capture file and reads its header.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path)?;
        CaptureReader::new(BufReader::with_capacity(1 << 20, file))
    }
}

/// Reads up to `buf.len()` bytes; fewer only at end of input.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> CaptureReader<R> {
    pub fn new(mut input: R) -> Result<Self, Error> {
        let mut fixed = [0u8; 16];
        let n = read_full(&mut input, &mut fixed)?;
        if n < MAGIC.len() || fixed[..MAGIC.len()] != MAGIC {
            // A file shorter than the magic that matches its prefix was cut short, not foreign.
            return if n < MAGIC.len() && n > 0 && fixed[..n] == MAGIC[..n] {
                Err(Error::TruncatedHeader { len: n as u64 })
            } else {
                Err(Error::NotACapture)
            };
        }
        if n < fixed.len() {
            return Err(Error::TruncatedHeader { len: n as u64 });
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version == 0 {
            return Err(Error::Corrupt {
                offset: 8,
                reason: "its format version is 0, which no writer uses".into(),
            });
        }
        if version < FORMAT_VERSION {
            return Err(Error::OlderVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version > FORMAT_VERSION {
            return Err(Error::NewerVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let json_len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        if json_len > MAX_CHUNK_LEN {
            return Err(Error::Corrupt {
                offset: 12,
                reason: "the header length is absurd".into(),
            });
        }
        let mut rest = vec![0u8; json_len as usize + 4];
        let got = read_full(&mut input, &mut rest)?;
        if got < rest.len() {
            return Err(Error::TruncatedHeader {
                len: (fixed.len() + got) as u64,
            });
        }
        let (json, crc) = rest.split_at(json_len as usize);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed[MAGIC.len()..]);
        hasher.update(json);
        if hasher.finalize().to_le_bytes() != crc {
            return Err(Error::Corrupt {
                offset: 0,
                reason: "the header checksum does not match".into(),
            });
        }
        let metadata: Metadata = serde_json::from_slice(json).map_err(|e| Error::Corrupt {
            offset: 16,
            reason: format!("the header metadata is not valid JSON ({e})"),
        })?;
        let native_stacks = metadata.native_stacks;
        Ok(CaptureReader {
            input,
            metadata,
            offset: (fixed.len() + rest.len()) as u64,
            chunk: Chunk {
                offset: 0,
                payload: Vec::new(),
                pos: 0,
                state: DeltaState::new(native_stacks),
            },
            stored: Vec::new(),
            completeness: Completeness::default(),
            done: false,
            decompressor: zstd::bulk::Decompressor::new()?,
        })
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Valid once the records are exhausted.
    pub fn completeness(&self) -> &Completeness {
        &self.completeness
    }

    /// Counts what remains of a chunk that the file ends inside.
    fn lose_rest(&mut self, already: usize) -> Result<(), Error> {
        let mut lost = already as u64;
        lost += io::copy(&mut self.input, &mut io::sink())?;
        self.completeness.lost_bytes = lost;
        self.done = true;
        Ok(())
    }

    /// Reads the next chunk into `self.chunk`. Returns false at end of input.
    fn load_chunk(&mut self) -> Result<bool, Error> {
        // Whatever happens below, nothing of the previous chunk is left to decode.
        self.chunk.payload.clear();
        self.chunk.pos = 0;
        let start = self.offset;
        let mut head = [0u8; CHUNK_HEADER_LEN];
        let n = read_full(&mut self.input, &mut head)?;
        if n == 0 {
            self.done = true;
            return Ok(false);
        }
        if n < head.len() {
            self.lose_rest(n)?;
            return Ok(false);
        }
        let corrupt = |reason: &str| Error::Corrupt {
            offset: start,
            reason: reason.into(),
        };
        if head[..4] != CHUNK_MAGIC {
            return Err(corrupt("a chunk does not start with the chunk marker"));
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (codec, stored_len, raw_len, crc) = (head[4], word(8), word(12), word(16));
        if stored_len > MAX_CHUNK_LEN || raw_len > MAX_CHUNK_LEN {
            return Err(corrupt("a chunk claims an impossible length"));
        }
        self.stored.resize(stored_len as usize, 0);
        let got = read_full(&mut self.input, &mut self.stored)?;
        if got < self.stored.len() {
            self.lose_rest(head.len() + got)?;
            return Ok(false);
        }
        let chunk_len = (head.len() + self.stored.len()) as u64;
        if crc32fast::hash(&self.stored).to_le_bytes() != crc.to_le_bytes() {
            return Err(corrupt("a chunk's checksum does not match its contents"));
        }
        let chunk = &mut self.chunk;
        match codec {
            CODEC_RAW => std::mem::swap(&mut chunk.payload, &mut self.stored),
            CODEC_ZSTD => {
                chunk.payload.clear();
                chunk.payload.reserve(raw_len as usize);
                self.decompressor
                    .decompress_to_buffer(&self.stored, &mut chunk.payload)
                    .map_err(|e| corrupt(&format!("a chunk does not decompress ({e})")))?;
            }
            _ => return Err(corrupt("a chunk uses an unknown compression")),
        }
        if chunk.payload.len() != raw_len as usize {
            return Err(corrupt("a chunk decompresses to the wrong length"));
        }
        chunk.offset = start;
        chunk.pos = 0;
        chunk.state.reset();
        self.offset += chunk_len;
        self.completeness.chunks += 1;
        Ok(true)
    }

    /// The next record of the current chunk, `Ok(None)` once it is used up.
    fn next_in_chunk(&mut self) -> Result<Option<Record>, Error> {
        let chunk = &mut self.chunk;
        let mut decoder = Decoder::resume(&chunk.payload, chunk.pos, &mut chunk.state);
        let decoded = decoder.next_record();
        chunk.pos = decoder.pos();
        decoded.map_err(|(pos, reason)| {
            // The rest of the chunk cannot be decoded without this record.
            chunk.pos = chunk.payload.len();
            Error::Corrupt {
                offset: chunk.offset,
                reason: format!("{reason} (at byte {pos} of the chunk's contents)"),
            }
        })
    }

    /// The next record, `Ok(None)` at the end of what can be read.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        loop {
            if let Some(r) = self.next_in_chunk()? {
                if matches!(r, Record::End { .. }) {
                    self.completeness.ended_cleanly = true;
                }
                return Ok(Some(r));
            }
            if self.done || !self.load_chunk()? {
                return Ok(None);
            }
        }
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Record, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
