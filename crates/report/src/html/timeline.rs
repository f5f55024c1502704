//! The timeline as the page draws it: columns of samples (RSS, tracked
//! bytes, each layer's live bytes, pymalloc's live blocks), thinned to a cap while keeping each
//! bucket's highest tracked point, so no spike vanishes.

use memsleuth_analysis::TimelinePoint;
use memsleuth_format::Domain;
use serde::Serialize;

#[derive(Serialize, Debug, PartialEq)]
pub struct TimelineJson {
    pub time_s: Vec<f64>,
    pub rss_bytes: Vec<u64>,
    pub tracked_bytes: Vec<u64>,
    /// Live bytes of each layer at the same samples, in the capture's layer
    /// order; layers that hold nothing throughout are left out.
    pub layers: Vec<LayerSeries>,
    /// Live pymalloc blocks, each rounded up to its size class, at the same
    /// samples: with the `pymalloc-arena` layer, the page draws the arenas'
    /// free space (arena bytes minus these, at least 0).
    pub pymalloc_block_bytes: Vec<u64>,
    /// Samples in the capture; more than `time_s.len()` when thinned.
    pub samples: usize,
}

#[derive(Serialize, Debug, PartialEq)]
pub struct LayerSeries {
    /// `python-object`, `pymalloc-arena`...
    pub layer: &'static str,
    /// False for pymalloc's arenas: their bytes are capacity the objects
    /// already counted live in, not more memory in use.
    pub in_total: bool,
    pub bytes: Vec<u64>,
}

pub fn timeline(points: &[TimelinePoint], cap: usize) -> TimelineJson {
    let kept: Vec<&TimelinePoint> = thinned(points, cap);
    TimelineJson {
        time_s: kept.iter().map(|p| p.time_s).collect(),
        rss_bytes: kept.iter().map(|p| p.rss_bytes).collect(),
        tracked_bytes: kept.iter().map(|p| p.tracked_bytes).collect(),
        layers: layers(&kept),
        pymalloc_block_bytes: kept.iter().map(|p| p.pymalloc_block_bytes).collect(),
        samples: points.len(),
    }
}

/// At most about `cap` points: each stretch of samples keeps its highest
/// tracked point, so every column shows the same instants.
fn thinned(points: &[TimelinePoint], cap: usize) -> Vec<&TimelinePoint> {
    let bucket = points.len().div_ceil(cap.max(1)).max(1);
    points
        .chunks(bucket)
        .filter_map(|chunk| chunk.iter().max_by_key(|p| p.tracked_bytes))
        .collect()
}

fn layers(kept: &[&TimelinePoint]) -> Vec<LayerSeries> {
    Domain::ALL
        .iter()
        .enumerate()
        .map(|(i, &domain)| LayerSeries {
            layer: domain.layer_name(),
            in_total: domain.counts_in_total(),
            bytes: kept.iter().map(|p| p.layer_bytes[i]).collect(),
        })
        .filter(|series| series.bytes.iter().any(|&b| b > 0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: u64, tracked: u64) -> TimelinePoint {
        TimelinePoint {
            time_s: i as f64,
            rss_bytes: 0,
            tracked_bytes: tracked,
            // Blocks a hundred times the index, to tell them from the rest.
            pymalloc_block_bytes: 100 * i,
            // python-object holds the tracked bytes, arenas ten times the index.
            layer_bytes: [0, 0, tracked, 0, 0, 10 * i],
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
    fn layers_are_thinned_at_the_same_samples_and_empty_ones_left_out() {
        let points: Vec<_> = (0..10)
            .map(|i| point(i, if i == 7 { 99 } else { i }))
            .collect();
        let t = timeline(&points, 3);
        let names: Vec<_> = t.layers.iter().map(|l| (l.layer, l.in_total)).collect();
        assert_eq!(names, [("python-object", true), ("pymalloc-arena", false)]);
        assert_eq!(t.layers[0].bytes, vec![3, 99, 9]);
        assert_eq!(t.layers[1].bytes, vec![30, 70, 90]);
    }

    #[test]
    fn pymalloc_blocks_are_thinned_at_the_same_samples() {
        let points: Vec<_> = (0..10)
            .map(|i| point(i, if i == 7 { 99 } else { i }))
            .collect();
        let t = timeline(&points, 3);
        assert_eq!(t.pymalloc_block_bytes, vec![300, 700, 900]);
    }

    #[test]
    fn short_timelines_are_kept_whole() {
        let points: Vec<_> = (0..4).map(|i| point(i, i)).collect();
        assert_eq!(timeline(&points, 100).tracked_bytes, vec![0, 1, 2, 3]);
    }
}
