//! The timeline as the page draws it: columns of samples, thinned to a cap
//! while keeping each bucket's highest tracked point, so no spike vanishes.

use memsleuth_analysis::TimelinePoint;
use serde::Serialize;

#[derive(Serialize, Debug, PartialEq)]
pub struct TimelineJson {
    pub time_s: Vec<f64>,
    pub rss_bytes: Vec<u64>,
    pub tracked_bytes: Vec<u64>,
    /// Samples in the capture; more than `time_s.len()` when thinned.
    pub samples: usize,
}

pub fn timeline(points: &[TimelinePoint], cap: usize) -> TimelineJson {
    let mut out = TimelineJson {
        time_s: Vec::new(),
        rss_bytes: Vec::new(),
        tracked_bytes: Vec::new(),
        samples: points.len(),
    };
    let bucket = points.len().div_ceil(cap.max(1)).max(1);
    for chunk in points.chunks(bucket) {
        let Some(p) = chunk.iter().max_by_key(|p| p.tracked_bytes) else {
            continue;
        };
        out.time_s.push(p.time_s);
        out.rss_bytes.push(p.rss_bytes);
        out.tracked_bytes.push(p.tracked_bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: u64, tracked: u64) -> TimelinePoint {
        TimelinePoint {
            time_s: i as f64,
            rss_bytes: 0,
            tracked_bytes: tracked,
        }
    }

    #[test]
    fn thinning_keeps_each_buckets_highest_point() {
        let points: Vec<_> = (0..10)
            .map(|i| point(i, if i == 7 { 99 } else { i }))
            .collect();
        let t = timeline(&points, 3);
        assert_eq!(t.samples, 10);
        assert_eq!(t.tracked_bytes, vec![3, 99, 9]);
        assert_eq!(t.time_s, vec![3.0, 7.0, 9.0]);
    }

    #[test]
    fn short_timelines_are_kept_whole() {
        let points: Vec<_> = (0..4).map(|i| point(i, i)).collect();
        assert_eq!(timeline(&points, 100).tracked_bytes, vec![0, 1, 2, 3]);
    }
}
