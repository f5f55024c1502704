//! The `--json` outputs. Field names are a public interface documented in
//! `docs/json.md`: add fields freely, never rename or remove one.

use memsleuth_analysis::{Grouping, LayerTotals, LimitStop, Measure, Profile, Site};
use serde::Serialize;

#[derive(Serialize)]
pub struct ThreadJson {
    pub native_id: u64,
    pub is_main: bool,
}

#[derive(Serialize)]
pub struct SummaryJson {
    pub capture: String,
    pub program: Vec<String>,
    pub python_version: String,
    pub pid: u32,
    pub duration_s: f64,
    pub peak_bytes: u64,
    pub peak_time_s: f64,
    pub total_allocated_bytes: u64,
    pub allocation_count: u64,
    pub leaked_bytes: u64,
    pub leak_count: u64,
    pub complete: bool,
    pub lost_bytes: u64,
    pub threads: Vec<ThreadJson>,
    pub native_memory: bool,
    pub native_stacks: bool,
    /// One layer's totals each; `docs/definitions.md` says what the layers are.
    pub layers: Vec<LayerTotals>,
    /// Complete heap snapshots in the capture.
    pub snapshots: u32,
    /// Set when memsleuth stopped the program at its `--limit`.
    pub limit_stop: Option<LimitStop>,
    pub peak_sites: Vec<Site>,
    pub leak_sites: Vec<Site>,
}

pub fn summary_json(profile: &Profile, capture: &str, limit: usize) -> SummaryJson {
    let top = |m| {
        memsleuth_analysis::sites(profile, m, Grouping::Stack)
            .into_iter()
            .take(limit)
            .collect()
    };
    SummaryJson {
        capture: capture.to_string(),
        program: profile.metadata.argv.clone(),
        python_version: profile.metadata.python_version.clone(),
        pid: profile.metadata.pid,
        duration_s: profile.duration_s,
        peak_bytes: profile.peak_bytes,
        peak_time_s: profile.peak_time_s,
        total_allocated_bytes: profile.total_allocated_bytes,
        allocation_count: profile.allocation_count,
        leaked_bytes: profile.leaked_bytes,
        leak_count: profile.leak_count,
        complete: profile.completeness.ended_cleanly,
        lost_bytes: profile.completeness.lost_bytes,
        threads: profile
            .threads()
            .into_iter()
            .map(|t| ThreadJson {
                native_id: t.native_id,
                is_main: t.is_main,
            })
            .collect(),
        native_memory: profile.metadata.native_memory,
        native_stacks: profile.metadata.native_stacks,
        layers: profile.layers.clone(),
        snapshots: profile.snapshots,
        limit_stop: profile.limit_stop,
        peak_sites: top(Measure::Peak),
        leak_sites: top(Measure::Leaks),
    }
}

#[derive(Serialize)]
pub struct TableJson {
    pub by: &'static str,
    pub group: &'static str,
    pub rows: Vec<Site>,
}

pub fn table_json(rows: Vec<Site>, measure: Measure, grouping: Grouping) -> TableJson {
    TableJson {
        by: measure.name(),
        group: grouping.name(),
        rows,
    }
}
