//! Reads a capture back, chunk by chunk, tolerating a file that was cut short.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::codec::Decoder;
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

/// Reads the header on construction, then yields records in file order.
pub struct CaptureReader<R: Read> {
    input: R,
    metadata: Metadata,
    offset: u64,
    chunk: std::vec::IntoIter<Record>,
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
        Ok(CaptureReader {
            input,
            metadata,
            offset: (fixed.len() + rest.len()) as u64,
            chunk: Vec::new().into_iter(),
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
        let mut stored = vec![0u8; stored_len as usize];
        let got = read_full(&mut self.input, &mut stored)?;
        if got < stored.len() {
            self.lose_rest(head.len() + got)?;
            return Ok(false);
        }
        let chunk_len = (head.len() + stored.len()) as u64;
        if crc32fast::hash(&stored).to_le_bytes() != crc.to_le_bytes() {
            return Err(corrupt("a chunk's checksum does not match its contents"));
        }
        let payload = match codec {
            CODEC_RAW => stored,
            CODEC_ZSTD => self
                .decompressor
                .decompress(&stored, raw_len as usize)
                .map_err(|e| corrupt(&format!("a chunk does not decompress ({e})")))?,
            _ => return Err(corrupt("a chunk uses an unknown compression")),
        };
        if payload.len() != raw_len as usize {
            return Err(corrupt("a chunk decompresses to the wrong length"));
        }
        let mut records = Vec::new();
        let mut decoder = Decoder::new(&payload, self.metadata.native_stacks);
        loop {
            match decoder.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err((pos, reason)) => {
                    return Err(corrupt(&format!(
                        "{reason} (at byte {pos} of the chunk's contents)"
                    )))
                }
            }
        }
        self.offset += chunk_len;
        self.completeness.chunks += 1;
        self.chunk = records.into_iter();
        Ok(true)
    }

    /// The next record, `Ok(None)` at the end of what can be read.
    pub fn next_record(&mut self) -> Result<Option<Record>, Error> {
        loop {
            if let Some(r) = self.chunk.next() {
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
