//! A pprof profile (`profile.proto`, gzipped) with the sample types of Go's
//! heap profiles, so that `go tool pprof` and every pprof viewer read it as
//! a heap profile: `alloc_objects`/`alloc_space` (every allocation of the
//! run) and `inuse_objects`/`inuse_space` (what was live at the moment
//! [`InUse`] names). Nothing is sampled: the period is 1.
//!
//! Each allocation site is one sample, leaf first, labelled with its layer
//! (`-tagfocus layer=python-obj`). A location is one (function, file, line).

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use memsleuth_analysis::{Frame, Profile};
use rustc_hash::FxHashMap;

use super::proto::Message;
use super::{site_rows, SiteRow};

/// Which moment the "in use" values describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InUse {
    /// Live at the peak of tracked memory.
    Peak,
    /// Still live when tracking stopped.
    Leaks,
}

const SAMPLE_TYPES: [(&str, &str); 4] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
];

// profile.proto's field numbers.
const PROFILE_SAMPLE_TYPE: u32 = 1;
const PROFILE_SAMPLE: u32 = 2;
const PROFILE_LOCATION: u32 = 4;
const PROFILE_FUNCTION: u32 = 5;
const PROFILE_STRING_TABLE: u32 = 6;
const PROFILE_TIME_NANOS: u32 = 9;
const PROFILE_DURATION_NANOS: u32 = 10;
const PROFILE_PERIOD_TYPE: u32 = 11;
const PROFILE_PERIOD: u32 = 12;
const PROFILE_COMMENT: u32 = 13;
const PROFILE_DEFAULT_SAMPLE_TYPE: u32 = 14;
const VALUE_TYPE_TYPE: u32 = 1;
const VALUE_TYPE_UNIT: u32 = 2;
const SAMPLE_LOCATION_ID: u32 = 1;
const SAMPLE_VALUE: u32 = 2;
const SAMPLE_LABEL: u32 = 3;
const LABEL_KEY: u32 = 1;
const LABEL_STR: u32 = 2;
const LOCATION_ID: u32 = 1;
const LOCATION_LINE: u32 = 4;
const LINE_FUNCTION_ID: u32 = 1;
const LINE_LINE: u32 = 2;
const FUNCTION_ID: u32 = 1;
const FUNCTION_NAME: u32 = 2;
const FUNCTION_SYSTEM_NAME: u32 = 3;
const FUNCTION_FILENAME: u32 = 4;

/// The string table, interned; entry 0 is "" as the format requires.
struct Strings {
    table: Vec<String>,
    index: FxHashMap<String, u64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings {
            table: Vec::new(),
            index: FxHashMap::default(),
        };
        s.id("");
        s
    }

    fn id(&mut self, s: &str) -> u64 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.table.len() as u64;
        self.table.push(s.to_string());
        self.index.insert(s.to_string(), id);
        id
    }
}

/// Functions and locations, numbered from 1 in order of first use.
struct Locations {
    functions: FxHashMap<(String, String), u64>,
    locations: FxHashMap<(u64, u32), u64>,
    out: Vec<Message>,
    function_defs: Vec<Message>,
}

impl Locations {
    fn new() -> Self {
        Locations {
            functions: FxHashMap::default(),
            locations: FxHashMap::default(),
            out: Vec::new(),
            function_defs: Vec::new(),
        }
    }

    fn function(&mut self, frame: &Frame, strings: &mut Strings) -> u64 {
        let key = (frame.function.clone(), frame.file.clone());
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name = strings.id(&frame.function);
        let mut def = Message::default();
        def.int(FUNCTION_ID, id)
            .int(FUNCTION_NAME, name)
            .int(FUNCTION_SYSTEM_NAME, name)
            .int(FUNCTION_FILENAME, strings.id(&frame.file));
        self.function_defs.push(def);
        self.functions.insert(key, id);
        id
    }

    fn location(&mut self, frame: &Frame, strings: &mut Strings) -> u64 {
        let function = self.function(frame, strings);
        let key = (function, frame.line);
        if let Some(&id) = self.locations.get(&key) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        let mut line = Message::default();
        line.int(LINE_FUNCTION_ID, function)
            .int(LINE_LINE, frame.line.into());
        let mut def = Message::default();
        def.int(LOCATION_ID, id).message(LOCATION_LINE, &line);
        self.out.push(def);
        self.locations.insert(key, id);
        id
    }
}

fn value_type(strings: &mut Strings, kind: &str, unit: &str) -> Message {
    let mut m = Message::default();
    m.int(VALUE_TYPE_TYPE, strings.id(kind))
        .int(VALUE_TYPE_UNIT, strings.id(unit));
    m
}

fn sample(
    row: &SiteRow,
    in_use: InUse,
    locations: &mut Locations,
    strings: &mut Strings,
) -> Message {
    let live = match in_use {
        InUse::Peak => row.peak,
        InUse::Leaks => row.leaks,
    };
    let ids: Vec<u64> = row
        .frames
        .iter()
        .rev()
        .map(|f| locations.location(f, strings))
        .collect();
    let mut label = Message::default();
    label
        .int(LABEL_KEY, strings.id("layer"))
        .int(LABEL_STR, strings.id(row.layer));
    let mut m = Message::default();
    m.packed(SAMPLE_LOCATION_ID, &ids)
        .packed(
            SAMPLE_VALUE,
            &[
                row.allocated.count,
                row.allocated.bytes,
                live.count,
                live.bytes,
            ],
        )
        .message(SAMPLE_LABEL, &label);
    m
}

/// What the "in use" values mean, for pprof's comment lines.
fn in_use_comment(profile: &Profile, in_use: InUse) -> String {
    match in_use {
        InUse::Peak => format!(
            "memsleuth: inuse_* is what was live at the peak of tracked memory, {:.3} s into the run",
            profile.peak_time_s
        ),
        InUse::Leaks => "memsleuth: inuse_* is what was still live when tracking stopped".into(),
    }
}

/// The profile, serialized and not yet compressed.
fn encode(profile: &Profile, in_use: InUse) -> Vec<u8> {
    let mut strings = Strings::new();
    let mut locations = Locations::new();
    let mut m = Message::default();
    for (kind, unit) in SAMPLE_TYPES {
        m.message(PROFILE_SAMPLE_TYPE, &value_type(&mut strings, kind, unit));
    }
    for row in site_rows(profile) {
        let values = [row.allocated, row.peak, row.leaks];
        if values.iter().all(|s| s.bytes == 0 && s.count == 0) {
            continue;
        }
        m.message(
            PROFILE_SAMPLE,
            &sample(&row, in_use, &mut locations, &mut strings),
        );
    }
    for location in &locations.out {
        m.message(PROFILE_LOCATION, location);
    }
    for function in &locations.function_defs {
        m.message(PROFILE_FUNCTION, function);
    }
    let comment = strings.id(&in_use_comment(profile, in_use));
    let default_type = strings.id("inuse_space");
    let period_type = value_type(&mut strings, "space", "bytes");
    m.int(PROFILE_TIME_NANOS, profile.metadata.start_time_unix_ns)
        .int(PROFILE_DURATION_NANOS, (profile.duration_s * 1e9) as u64)
        .message(PROFILE_PERIOD_TYPE, &period_type)
        .int(PROFILE_PERIOD, 1)
        .packed(PROFILE_COMMENT, &[comment])
        .int(PROFILE_DEFAULT_SAMPLE_TYPE, default_type);
    // The string table goes last: every id above must be in it.
    for s in &strings.table {
        m.string(PROFILE_STRING_TABLE, s);
    }
    m.into_bytes()
}

/// Writes the gzipped profile to `out`.
pub fn write_pprof(profile: &Profile, in_use: InUse, out: &mut impl Write) -> io::Result<()> {
    let mut gz = GzEncoder::new(out, Compression::default());
    gz.write_all(&encode(profile, in_use))?;
    gz.finish()?;
    Ok(())
}
