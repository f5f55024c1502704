//! Renders what `memsleuth-analysis` computed: the end-of-run summary, site
//! tables for the terminal, their JSON form (schemas in `docs/json.md`), and
//! collapsed stacks.
//!
//! # Design constraints
//! - Rendering only: every number shown is computed by the analysis crate;
//!   this crate formats, truncates and orders, and never re-derives.
//! - No unsafe code, no I/O beyond the `String`s it returns.
#![forbid(unsafe_code)]

mod json;
mod text;
mod units;

pub use json::{summary_json, table_json, SummaryJson, TableJson};
pub use text::{summary_text, table_text};
pub use units::human_bytes;
