//! Renders what `memsleuth-analysis` computed: the end-of-run summary, site
//! tables for the terminal, their JSON form (schemas in `docs/json.md`),
//! collapsed stacks, pprof and speedscope profiles (`docs/exports.md`), heap
//! snapshot tables and diffs, Chrome DevTools heap snapshots
//! (`docs/heapsnapshot.md`), the memory managers' view with its
//! recommendations (`memsleuth memory`), growing lines (`memsleuth leaks`)
//! and the HTML report.
//!
//! # Design constraints
//! - Rendering only: every number shown is computed by the analysis crate;
//!   this crate formats, truncates and orders, and never re-derives.
//! - No unsafe code, no I/O beyond the `String`s it returns and the writer
//!   a caller hands to a streaming export (a heap snapshot is gigabytes).
#![forbid(unsafe_code)]

mod export;
mod growth;
mod heap;
mod heapsnapshot;
mod html;
mod json;
mod memory;
mod processes;
mod style;
mod text;
mod units;

pub use export::{write_pprof, write_speedscope, InUse};
pub use growth::{growth_json, growth_text, GrowthJson, GrowthRuleJson};
pub use heap::{
    diff_text, heap_json, heap_text, heap_type_json, heap_type_text, join_path, DiffJson,
    DiffSideJson, HeapJson, HeapTypeJson, SnapshotJson,
};
pub use heapsnapshot::write_heapsnapshot;
pub use html::{heap_section, render_html, report_data, Caps, HeapSection, ReportData};
pub use json::{summary_json, table_json, SummaryJson, TableJson};
pub use memory::memory_text;
pub use processes::{processes_html, processes_text, ProcessJson, ProcessRow, ProcessesJson};
pub use style::TextStyle;
pub use text::{summary_text, table_text};
pub use units::human_bytes;
