//! How fast the follower consumes a capture: follows it as `memsleuth live`
//! does (batches, a frame once a second) without a terminal, and prints
//! records per second once it is read to its end.
//!
//! `cargo run --release -p memsleuth-live --example follow_speed -- CAPTURE`

use std::path::PathBuf;
use std::time::{Duration, Instant};

use memsleuth_live::{FollowState, Follower};

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: follow_speed CAPTURE");
        std::process::exit(2);
    };
    let started = Instant::now();
    let follower = match Follower::start(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("follow_speed: {e}");
            std::process::exit(2);
        }
    };
    let mut frames = 0u32;
    let mut frame_time = Duration::ZERO;
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let state = follower.state();
        if frames == 0 || started.elapsed() >= Duration::from_secs(u64::from(frames)) {
            let t = Instant::now();
            let frame = follower.frame();
            frame_time += t.elapsed();
            frames += 1;
            if frames == 1 {
                eprintln!("first frame: {} lines", frame.lines.len());
            }
        }
        match state {
            FollowState::Reading | FollowState::WaitingForFile => continue,
            FollowState::Failed(reason) => {
                eprintln!("follow_speed: {reason}");
                std::process::exit(2);
            }
            _ => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let frame = follower.frame();
    println!(
        "{} records in {elapsed:.2} s: {:.2} M records/s; {} lines, {} frames taking {:.1} ms each",
        frame.records,
        frame.records as f64 / elapsed / 1e6,
        frame.lines.len(),
        frames,
        frame_time.as_secs_f64() * 1e3 / f64::from(frames.max(1)),
    );
}
