//! The live view's analysis: records are handed in one at a time while a
//! capture is still being written, and a [`LiveFrame`] (what is live now,
//! by line) can be asked for at any moment.
//!
//! It replays events on the same [`LiveSet`] as [`crate::analyze`], so the
//! live bytes it shows for a finished capture are exactly the leaks a
//! report shows. Per-line totals are computed from the live set when a
//! frame is asked for (about once a second), never per event: the hot path
//! is one live-set update and two comparisons.

use std::collections::VecDeque;

use memsleuth_format::Record;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::replay::{is_event, LiveSet, SiteKey, StackStats};
use crate::sites::site_frame;
use crate::symbols::{Frame, Symbols};

/// How far back growth looks, in capture time.
const GROWTH_WINDOW_NS: u64 = 60_000_000_000;
/// Seconds of tracked-bytes history kept for the sparkline.
const HISTORY_SECONDS: usize = 600;
const NS_PER_S: u64 = 1_000_000_000;

/// A line of the program, as `table --group line` names a site.
type LineKey = (String, u32);

/// One line's live memory in a [`LiveFrame`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveLine {
    pub file: String,
    pub line: u32,
    /// The function of the line's largest stack.
    pub function: String,
    pub bytes: u64,
    pub blocks: u64,
    /// Bytes per minute this line's live memory changed over the growth
    /// window; `None` until two frames at different capture times exist.
    pub growth_per_min: Option<f64>,
    /// The line's largest stack (by live bytes), innermost frame first.
    pub stack: Vec<Frame>,
}

/// What the capture says is live at the last record handed in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveFrame {
    /// Capture time of the last record that carries one.
    pub time_s: f64,
    pub tracked_bytes: u64,
    /// The most tracked bytes at any event so far.
    pub peak_bytes: u64,
    /// RSS at the last Sample record (0 before the first).
    pub rss_bytes: u64,
    /// The End record was read: tracking stopped cleanly.
    pub ended: bool,
    pub records: u64,
    /// The most tracked bytes in each second of capture time, oldest first,
    /// the last [`HISTORY_SECONDS`] seconds at most.
    pub history: Vec<u64>,
    /// Lines by live bytes, largest first.
    pub lines: Vec<LiveLine>,
}

/// Line totals at one past frame, to measure growth against.
struct PastFrame {
    time_ns: u64,
    bytes: FxHashMap<LineKey, u64>,
}

/// Consumes a capture's records one at a time; see the module docs.
#[derive(Default)]
pub struct LiveAnalysis {
    symbols: Symbols,
    live: LiveSet,
    peak_bytes: u64,
    rss_bytes: u64,
    time_ns: u64,
    ended: bool,
    records: u64,
    /// Per second of capture time, the most tracked bytes seen in it.
    history: VecDeque<u64>,
    history_second: u64,
    past: VecDeque<PastFrame>,
}

impl LiveAnalysis {
    pub fn new() -> LiveAnalysis {
        LiveAnalysis::default()
    }

    /// Takes in the capture's next record.
    pub fn push(&mut self, record: &Record) {
        self.records += 1;
        if is_event(record) {
            self.live.apply(record);
            let bytes = self.live.bytes();
            self.peak_bytes = self.peak_bytes.max(bytes);
            if let Some(last) = self.history.back_mut() {
                *last = (*last).max(bytes);
            }
            return;
        }
        if self.symbols.learn(record) {
            return;
        }
        match *record {
            Record::Sample { time_ns, rss_bytes } => {
                self.rss_bytes = rss_bytes;
                self.advance_clock(time_ns);
            }
            Record::End { time_ns } => {
                self.ended = true;
                self.advance_clock(time_ns);
            }
            _ => {}
        }
    }

    /// Moves capture time on, opening a history slot for each new second.
    fn advance_clock(&mut self, time_ns: u64) {
        self.time_ns = self.time_ns.max(time_ns);
        let second = self.time_ns / NS_PER_S;
        let bytes = self.live.bytes();
        if self.history.is_empty() {
            self.history.push_back(bytes);
            self.history_second = second;
        }
        while self.history_second < second {
            // A second with no sample holds what was live at its start.
            self.history.push_back(bytes);
            self.history_second += 1;
            if self.history.len() > HISTORY_SECONDS {
                self.history.pop_front();
            }
        }
    }

    /// Records handed in so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether the End record was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// What is live now, by line. Also remembers this frame's line totals
    /// so that later frames can tell growth.
    pub fn frame(&mut self) -> LiveFrame {
        let mut lines = self.lines_now();
        let totals: FxHashMap<LineKey, u64> = lines
            .iter()
            .map(|l| ((l.file.clone(), l.line), l.bytes))
            .collect();
        self.forget_old_frames();
        if let Some(base) = self.past.front().filter(|p| p.time_ns < self.time_ns) {
            let minutes = (self.time_ns - base.time_ns) as f64 / (60.0 * NS_PER_S as f64);
            for line in &mut lines {
                let then = base
                    .bytes
                    .get(&(line.file.clone(), line.line))
                    .copied()
                    .unwrap_or(0);
                line.growth_per_min = Some((line.bytes as f64 - then as f64) / minutes);
            }
        }
        if self.past.back().is_none_or(|p| p.time_ns < self.time_ns) {
            self.past.push_back(PastFrame {
                time_ns: self.time_ns,
                bytes: totals,
            });
        }
        LiveFrame {
            time_s: self.time_ns as f64 / NS_PER_S as f64,
            tracked_bytes: self.live.bytes(),
            peak_bytes: self.peak_bytes,
            rss_bytes: self.rss_bytes,
            ended: self.ended,
            records: self.records,
            history: self.history.iter().copied().collect(),
            lines,
        }
    }

    /// Drops the past frames that fell out of the growth window, keeping
    /// the oldest one still inside it as the base.
    fn forget_old_frames(&mut self) {
        let start = self.time_ns.saturating_sub(GROWTH_WINDOW_NS);
        while self.past.len() > 1 && self.past.front().is_some_and(|p| p.time_ns < start) {
            self.past.pop_front();
        }
    }

    /// The live blocks of the counted layers, summed by line, largest first.
    fn lines_now(&self) -> Vec<LiveLine> {
        let mut lines: FxHashMap<LineKey, (StackStats, u64, Vec<Frame>)> = FxHashMap::default();
        // Arenas hold the blocks the Python layers already count.
        let counted = self
            .live
            .by_stack()
            .into_iter()
            .filter(|(key, _)| key.layer.counts_in_total());
        for (key, stats) in counted {
            let frames = self.frames_of(key);
            let leaf = site_frame(&frames);
            let entry = lines
                .entry((leaf.file.clone(), leaf.line))
                .or_insert_with(|| (StackStats::default(), 0, Vec::new()));
            entry.0.bytes += stats.bytes;
            entry.0.count += stats.count;
            if stats.bytes > entry.1 || entry.2.is_empty() {
                entry.1 = stats.bytes;
                entry.2 = frames;
            }
        }
        let mut out: Vec<LiveLine> = lines
            .into_iter()
            .map(|((file, line), (stats, _, stack))| LiveLine {
                function: site_frame(&stack).function.clone(),
                file,
                line,
                bytes: stats.bytes,
                blocks: stats.count,
                growth_per_min: None,
                stack,
            })
            .collect();
        out.sort_by(|a, b| {
            (b.bytes, b.blocks)
                .cmp(&(a.bytes, a.blocks))
                .then_with(|| (&a.file, a.line).cmp(&(&b.file, b.line)))
        });
        out
    }

    /// A site's frames, never empty.
    fn frames_of(&self, key: SiteKey) -> Vec<Frame> {
        let (frames, _) = self.symbols.resolve(key);
        if frames.is_empty() {
            vec![Frame::no_python()]
        } else {
            frames
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use memsleuth_format::reader::CaptureReader;
    use memsleuth_format::writer::CaptureWriter;
    use memsleuth_format::{
        AllocKind, CodeDef, Domain, FrameDef, LineTableFormat, Metadata, Record, ThreadDef,
    };

    use super::LiveAnalysis;
    use crate::{analyze, sites, Grouping, Measure};

    fn code(id: u32, file: &str, line: u32) -> Record {
        Record::Code(CodeDef {
            id,
            filename: file.into(),
            name: format!("f{id}"),
            first_line: line,
            linetable_format: LineTableFormat::Lnotab,
            linetable: Vec::new(),
        })
    }

    fn frame(id: u32, parent: u32, code: u32) -> Record {
        Record::Frame(FrameDef {
            id,
            parent,
            code,
            offset: 0,
            entry: true,
        })
    }

    fn alloc(domain: Domain, addr: u64, size: u64, stack: u32) -> Record {
        Record::Alloc {
            domain,
            kind: AllocKind::Malloc,
            addr,
            size,
            stack,
            native: 0,
        }
    }

    /// Three lines (two stacks end at line 10 of a.py), frees, a realloc,
    /// a mapping cut by an unmap and an arena, over three seconds, each
    /// second in a chunk of its own.
    fn records() -> Vec<Vec<Record>> {
        let defs = vec![
            Record::Thread(ThreadDef {
                root: 1,
                native_id: 7,
                is_main: true,
            }),
            code(1, "a.py", 10),
            code(2, "b.py", 20),
            code(3, "main.py", 1),
            frame(2, 1, 3),
            frame(3, 2, 1),
            frame(4, 1, 1),
            frame(5, 2, 2),
        ];
        let second = |t: u64, base: u64| {
            let mut r = vec![
                alloc(Domain::Object, base, 1000, 3),
                alloc(Domain::Mem, base + 0x1000, 500, 4),
                alloc(Domain::Native, base + 0x2000, 70, 5),
                Record::Free {
                    domain: Domain::Object,
                    addr: base,
                },
                Record::Realloc {
                    domain: Domain::Mem,
                    old_addr: base + 0x1000,
                    addr: base + 0x3000,
                    size: 800,
                    stack: 5,
                    native: 0,
                },
            ];
            r.push(Record::Sample {
                time_ns: t * 1_000_000_000,
                rss_bytes: 10_000 * (t + 1),
            });
            r
        };
        let mut first = defs;
        first.extend(second(0, 0x100000));
        first.push(alloc(Domain::Mmap, 0x7000_0000, 0x8000, 3));
        first.push(alloc(Domain::Arena, 0x9000_0000, 1 << 18, 4));
        let mut middle = second(1, 0x200000);
        middle.push(Record::Unmap {
            addr: 0x7000_2000,
            size: 0x1000,
        });
        let mut last = second(2, 0x300000);
        last.push(Record::End {
            time_ns: 2_500_000_000,
        });
        vec![first, middle, last]
    }

    fn capture() -> Vec<u8> {
        let mut writer = CaptureWriter::new(Vec::new(), &Metadata::default()).unwrap();
        for chunk in records() {
            for r in &chunk {
                writer.push(r);
            }
            writer.flush_chunk().unwrap();
        }
        writer.finish().unwrap()
    }

    fn reader(bytes: &[u8]) -> CaptureReader<Cursor<Vec<u8>>> {
        CaptureReader::new(Cursor::new(bytes.to_vec())).unwrap()
    }

    #[test]
    fn a_finished_capture_reads_as_analyze_reports_it() {
        let bytes = capture();
        let profile = analyze(|| {
            let r = reader(&bytes);
            Ok::<_, memsleuth_format::Error>((r.metadata().clone(), r))
        })
        .unwrap();
        let mut live = LiveAnalysis::new();
        for record in reader(&bytes) {
            live.push(&record.unwrap());
        }
        let frame = live.frame();
        assert!(frame.ended);
        assert_eq!(frame.tracked_bytes, profile.leaked_bytes);
        assert_eq!(frame.peak_bytes, profile.peak_bytes);
        assert_eq!(frame.rss_bytes, 30_000);
        assert_eq!(frame.time_s, 2.5);
        let ours: Vec<(String, u32, u64, u64)> = frame
            .lines
            .iter()
            .map(|l| (l.file.clone(), l.line, l.bytes, l.blocks))
            .collect();
        let theirs: Vec<(String, u32, u64, u64)> = sites(&profile, Measure::Leaks, Grouping::Line)
            .into_iter()
            .map(|s| (s.file, s.line.unwrap_or(0), s.bytes, s.count))
            .collect();
        assert_eq!(ours, theirs);
        assert_eq!(ours[0].0, "a.py");
        assert_eq!(ours.len(), 2, "two stacks end at a.py:10, one at b.py:20");
    }

    #[test]
    fn growth_is_bytes_per_minute_since_the_first_frame() {
        let mut live = LiveAnalysis::new();
        let chunks = records();
        chunks[0].iter().for_each(|r| live.push(r));
        let first = live.frame();
        assert!(first.lines.iter().all(|l| l.growth_per_min.is_none()));
        chunks[1].iter().for_each(|r| live.push(r));
        let second = live.frame();
        let b = second.lines.iter().find(|l| l.file == "b.py").unwrap();
        let before = first.lines.iter().find(|l| l.file == "b.py").unwrap();
        let per_min = (b.bytes - before.bytes) as f64 * 60.0;
        assert_eq!(b.growth_per_min, Some(per_min));
        assert_eq!(second.history.len(), 2);
    }

    #[test]
    fn growth_looks_back_one_minute_of_capture_time() {
        let mut live = LiveAnalysis::new();
        let chunks = records();
        chunks[0].iter().for_each(|r| live.push(r));
        for t in 1..=100u64 {
            live.push(&alloc(Domain::Native, 0x5000_0000 + t * 0x100, 60, 5));
            live.push(&Record::Sample {
                time_ns: t * 1_000_000_000,
                rss_bytes: 0,
            });
            live.frame();
        }
        let frame = live.frame();
        let b = frame.lines.iter().find(|l| l.file == "b.py").unwrap();
        assert_eq!(b.growth_per_min, Some(3600.0), "60 bytes a second");
    }
}
