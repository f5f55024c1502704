//! Checkpoints: what was live at a few moments spread over a run, so that a
//! report can answer "what held the memory at 12 s?" without replaying the
//! capture when the question is asked.
//!
//! One pass over the events, with a live set of its own: a checkpoint is
//! taken at chosen timeline samples (the records that carry time), and each
//! keeps only its largest sites, so memory stays proportional to the live
//! blocks plus `count × top` rows, never to the number of events.

use memsleuth_format::Record;
use serde::Serialize;

use crate::replay::{is_event, LiveSet};
use crate::sites::{by_line, LineSite};
use crate::symbols::Symbols;

/// One line's live bytes at a checkpoint.
pub type LiveSite = LineSite;

/// What was live at one timeline sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checkpoint {
    pub time_s: f64,
    /// The tracked total then (every layer but pymalloc's arenas).
    pub tracked_bytes: u64,
    /// The largest lines by live bytes, largest first.
    pub sites: Vec<LiveSite>,
    /// Lines beyond `sites`, and their bytes, so a reader knows what was cut.
    pub other_sites: u64,
    pub other_bytes: u64,
}

/// Which of `samples` timeline samples to stop at: `count` of them, evenly
/// spread, first and last included.
fn chosen_samples(samples: usize, count: usize) -> Vec<usize> {
    if samples == 0 || count == 0 {
        return Vec::new();
    }
    if samples <= count {
        return (0..samples).collect();
    }
    let mut out: Vec<usize> = (0..count)
        .map(|i| i * (samples - 1) / (count - 1).max(1))
        .collect();
    out.dedup();
    out
}

/// The lines of the live stacks, largest first, cut to `top`.
fn live_sites(live: &LiveSet, symbols: &Symbols, top: usize) -> (Vec<LiveSite>, u64, u64) {
    // Arenas hold the blocks the Python layers count.
    let counted = live
        .by_stack()
        .into_iter()
        .filter(|(key, _)| key.layer.counts_in_total())
        .map(|(key, stats)| (key, stats.bytes, stats.count));
    let mut sites = by_line(counted, symbols);
    let rest = sites.split_off(top.min(sites.len()));
    let other_bytes = rest.iter().map(|s| s.bytes).sum();
    (sites, rest.len() as u64, other_bytes)
}

/// Checkpoints at `count` timeline samples spread over the run (of the
/// `samples` the capture holds, as `Profile::timeline` counts them), each
/// with its `top` lines by live bytes. `symbols` must be the capture's, as
/// the analysis learnt them.
pub fn checkpoints<I, E>(
    records: I,
    symbols: &Symbols,
    samples: usize,
    count: usize,
    top: usize,
) -> Result<Vec<Checkpoint>, E>
where
    I: Iterator<Item = Result<Record, E>>,
{
    let chosen = chosen_samples(samples, count);
    let mut next = chosen.iter().copied().peekable();
    let mut live = LiveSet::default();
    let mut out = Vec::with_capacity(chosen.len());
    let mut sample = 0usize;
    for record in records {
        let record = record?;
        if is_event(&record) {
            live.apply(&record);
            continue;
        }
        let Record::Sample { time_ns, .. } = record else {
            continue;
        };
        if next.peek() == Some(&sample) {
            next.next();
            let (sites, other_sites, other_bytes) = live_sites(&live, symbols, top);
            out.push(Checkpoint {
                time_s: time_ns as f64 / 1e9,
                tracked_bytes: live.bytes(),
                sites,
                other_sites,
                other_bytes,
            });
            if next.peek().is_none() {
                break;
            }
        }
        sample += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::chosen_samples;

    #[test]
    fn samples_are_spread_with_both_ends() {
        assert_eq!(chosen_samples(101, 5), vec![0, 25, 50, 75, 100]);
        assert_eq!(chosen_samples(3, 24), vec![0, 1, 2]);
        assert!(chosen_samples(0, 24).is_empty());
        assert_eq!(chosen_samples(10, 1), vec![0]);
    }
}
