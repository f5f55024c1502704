//! The HTML report: one self-contained page (script, styles and data inline,
//! nothing fetched) with the overview, timeline, flamegraphs, site tables
//! and heap snapshot views of a capture. `docs/report.md` documents the
//! embedded data and its caps.
//!
//! The page must open fast whatever the size of the capture, so what is
//! embedded is aggregated and capped here ([`Caps`]), and every cut is
//! counted in the data so the page can say what it leaves out.

mod data;
mod domtree;
mod flame;
mod heap;
mod page;
mod timeline;

pub use data::{report_data, Caps, ReportData};
pub use heap::{heap_section, HeapSection};
pub use page::render_html;
