//! Following a capture while the tracker appends to it, like `tail -f`: a
//! thread reads records as they arrive and hands them to a
//! [`LiveAnalysis`] the screen asks for frames.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memsleuth_analysis::{LiveAnalysis, LiveFrame};
use memsleuth_format::reader::CaptureReader;
use memsleuth_format::{Metadata, Record};

use crate::Error;

/// How long to wait at the end of the file before reading again.
pub const POLL: Duration = Duration::from_millis(100);
/// Records applied to the analysis per lock: one lock per record would
/// cost as much as replaying it.
const BATCH: usize = 4096;

/// Where the follower is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowState {
    /// The capture does not exist yet.
    WaitingForFile,
    /// Reading, or waiting at the end of the file for more.
    Reading,
    /// The End record was read: tracking stopped cleanly.
    Ended,
    /// The writer is gone and everything it wrote was read, without an End
    /// record; `lost_bytes` were a chunk it did not finish.
    Cut { lost_bytes: u64 },
    /// The writer is gone and never created the capture.
    NeverCreated,
    /// The file cannot be read as a capture; the sentence says why.
    Failed(String),
}

/// What the reading thread and the screen share.
struct Shared {
    analysis: Mutex<LiveAnalysis>,
    metadata: Mutex<Option<Metadata>>,
    state: Mutex<FollowState>,
    /// Set by the screen: stop reading and end the thread.
    stop: AtomicBool,
    /// Set when the program that writes the capture has ended: nothing
    /// more will come, so the end of the file is the end.
    writer_gone: AtomicBool,
    /// Set once the reader first reached the end of the file: what was
    /// written before the view opened has been read.
    caught_up: AtomicBool,
    started: Instant,
    /// Milliseconds after `started` at which bytes last arrived.
    last_data_ms: AtomicU64,
}

/// A poisoned lock only means the other thread panicked mid-update; what
/// it guards is still the best there is to show.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn set_state(&self, state: FollowState) {
        *lock(&self.state) = state;
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn writer_gone(&self) -> bool {
        self.writer_gone.load(Ordering::Acquire)
    }

    fn saw_data(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_data_ms.store(ms, Ordering::Relaxed);
    }
}

/// A file read as it grows: at its end, `on_wait` runs, then the read is
/// tried again [`POLL`] later, until the writer is gone or the follower is
/// stopped. A chunk half written simply waits for its rest.
pub(crate) struct FollowReader<F: FnMut()> {
    file: File,
    shared: Arc<Shared>,
    on_wait: F,
}

impl<F: FnMut()> Read for FollowReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Read after looking: whatever the writer wrote before it was
            // gone is on disk by the time the flag is seen.
            let gone = self.shared.writer_gone();
            let n = self.file.read(buf)?;
            if n > 0 {
                self.shared.saw_data();
                return Ok(n);
            }
            if gone || self.shared.stopping() || buf.is_empty() {
                return Ok(0);
            }
            (self.on_wait)();
            self.shared.caught_up.store(true, Ordering::Release);
            std::thread::sleep(POLL);
        }
    }
}

/// Reads a capture on a thread of its own while it is written.
pub struct Follower {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Follower {
    /// Starts following `path`; a capture that does not exist yet is waited for.
    pub fn start(path: &Path) -> Result<Follower, Error> {
        let shared = Arc::new(Shared {
            analysis: Mutex::new(LiveAnalysis::new()),
            metadata: Mutex::new(None),
            state: Mutex::new(FollowState::WaitingForFile),
            stop: AtomicBool::new(false),
            writer_gone: AtomicBool::new(false),
            caught_up: AtomicBool::new(false),
            started: Instant::now(),
            last_data_ms: AtomicU64::new(0),
        });
        let path = path.to_path_buf();
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("memsleuth-follow".into())
            .spawn(move || follow(&path, &for_thread))
            .map_err(Error::Thread)?;
        Ok(Follower {
            shared,
            thread: Some(thread),
        })
    }

    pub fn state(&self) -> FollowState {
        lock(&self.shared.state).clone()
    }

    pub fn metadata(&self) -> Option<Metadata> {
        lock(&self.shared.metadata).clone()
    }

    /// Whether what the capture held when following started has been read
    /// (or reading stopped).
    pub fn caught_up(&self) -> bool {
        self.shared.caught_up.load(Ordering::Acquire)
            || !matches!(
                self.state(),
                FollowState::Reading | FollowState::WaitingForFile
            )
    }

    /// Records read so far.
    pub fn records(&self) -> u64 {
        lock(&self.shared.analysis).records()
    }

    /// What is live now (see [`LiveAnalysis::frame`]).
    pub fn frame(&self) -> LiveFrame {
        lock(&self.shared.analysis).frame()
    }

    /// How long ago bytes last arrived (or following started).
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.shared.last_data_ms.load(Ordering::Relaxed));
        self.shared.started.elapsed().saturating_sub(last)
    }

    /// Tells the follower that the program writing the capture has ended.
    pub fn writer_gone(&self) {
        self.shared.writer_gone.store(true, Ordering::Release);
    }

    /// Stops reading and waits for the thread to end (within [`POLL`]).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: waits for the file, then reads it to its End record.
fn follow(path: &Path, shared: &Arc<Shared>) {
    let Some(file) = wait_for_file(path, shared) else {
        return;
    };
    shared.set_state(FollowState::Reading);
    shared.saw_data();
    let pending: Rc<RefCell<Vec<Record>>> = Rc::default();
    let flush = {
        let (pending, shared) = (Rc::clone(&pending), Arc::clone(shared));
        move || apply(&shared, &mut pending.borrow_mut())
    };
    let reader = FollowReader {
        file,
        shared: Arc::clone(shared),
        on_wait: flush.clone(),
    };
    let mut capture = match CaptureReader::new(reader) {
        Ok(capture) => capture,
        Err(e) => return fail_unless_stopped(shared, &e),
    };
    *lock(&shared.metadata) = Some(capture.metadata().clone());
    loop {
        match capture.next_record() {
            Ok(Some(record)) => {
                let end = matches!(record, Record::End { .. });
                pending.borrow_mut().push(record);
                if end {
                    flush();
                    return shared.set_state(FollowState::Ended);
                }
                if pending.borrow().len() >= BATCH {
                    flush();
                }
            }
            Ok(None) => {
                flush();
                let lost_bytes = capture.completeness().lost_bytes;
                return shared.set_state(FollowState::Cut { lost_bytes });
            }
            Err(e) => {
                flush();
                return fail_unless_stopped(shared, &e);
            }
        }
    }
}

/// A header cut short by a stop is no fault of the file.
fn fail_unless_stopped(shared: &Shared, e: &memsleuth_format::Error) {
    if !shared.stopping() {
        shared.set_state(FollowState::Failed(e.to_string()));
    }
}

fn apply(shared: &Shared, pending: &mut Vec<Record>) {
    if pending.is_empty() {
        return;
    }
    let mut analysis = lock(&shared.analysis);
    for record in pending.drain(..) {
        analysis.push(&record);
    }
}

/// Opens the capture once it exists; `None` if following stopped first.
fn wait_for_file(path: &Path, shared: &Shared) -> Option<File> {
    loop {
        // Looked at before trying: a writer gone before the file was
        // tried will never create it.
        let gone = shared.writer_gone();
        match File::open(path) {
            Ok(file) => return Some(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                shared.set_state(FollowState::Failed(format!("it could not be read: {e}")));
                return None;
            }
        }
        if gone {
            shared.set_state(FollowState::NeverCreated);
            return None;
        }
        if shared.stopping() {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use memsleuth_format::writer::CaptureWriter;
    use memsleuth_format::{AllocKind, Domain, Metadata, Record};

    use super::{FollowState, Follower};

    fn chunk(records: &[Record]) -> Vec<u8> {
        let mut writer = CaptureWriter::new(Vec::new(), &Metadata::default()).unwrap();
        let header_len = writer.bytes_written() as usize;
        records.iter().for_each(|r| writer.push(r));
        writer.finish().unwrap()[header_len..].to_vec()
    }

    fn header() -> Vec<u8> {
        CaptureWriter::new(Vec::new(), &Metadata::default())
            .unwrap()
            .finish()
            .unwrap()
    }

    fn alloc(addr: u64) -> Record {
        Record::Alloc {
            domain: Domain::Native,
            kind: AllocKind::Malloc,
            addr,
            size: 100,
            stack: 0,
            native: 0,
        }
    }

    fn wait_for(follower: &Follower, what: impl Fn(&Follower) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !what(follower) {
            assert!(Instant::now() < deadline, "state: {:?}", follower.state());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_capture_is_waited_for_and_read_as_it_grows_until_its_end() {
        let dir = std::env::temp_dir().join(format!("memsleuth-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("growing.msl");
        let _ = std::fs::remove_file(&path);
        let follower = Follower::start(&path).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(follower.state(), FollowState::WaitingForFile);

        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&header()).unwrap();
        file.write_all(&chunk(&[alloc(0x10), alloc(0x20)])).unwrap();
        wait_for(&follower, |f| f.records() == 2);

        // Half a chunk waits for its rest instead of counting as lost.
        let second = chunk(&[alloc(0x30), Record::End { time_ns: 5 }]);
        file.write_all(&second[..10]).unwrap();
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(follower.state(), FollowState::Reading);
        file.write_all(&second[10..]).unwrap();
        wait_for(&follower, |f| f.state() == FollowState::Ended);
        let frame = follower.frame();
        assert_eq!((frame.tracked_bytes, frame.records), (300, 4));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn once_the_writer_is_gone_the_end_of_the_file_is_the_end() {
        let dir = std::env::temp_dir().join(format!("memsleuth-gone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cut.msl");
        let mut bytes = header();
        bytes.extend(chunk(&[alloc(0x10)]));
        bytes.extend(&chunk(&[alloc(0x20)])[..7]);
        std::fs::write(&path, &bytes).unwrap();
        let follower = Follower::start(&path).unwrap();
        wait_for(&follower, |f| f.records() == 1);
        follower.writer_gone();
        wait_for(&follower, |f| {
            f.state() == FollowState::Cut { lost_bytes: 7 }
        });

        let never = Follower::start(&dir.join("never.msl")).unwrap();
        never.writer_gone();
        wait_for(&never, |f| f.state() == FollowState::NeverCreated);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_capture_fails_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("memsleuth-notcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notes.txt");
        std::fs::write(&path, "just some text, long enough for a header").unwrap();
        let follower = Follower::start(&path).unwrap();
        wait_for(&follower, |f| matches!(f.state(), FollowState::Failed(_)));
        let FollowState::Failed(reason) = follower.state() else {
            unreachable!()
        };
        assert!(
            reason.starts_with("it is not a memsleuth capture"),
            "{reason}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
