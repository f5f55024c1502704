//! Measures what the process's memory managers hold (a `MemoryState`
//! record): RSS by kind from `/proc/self/status`, pymalloc's statistics,
//! glibc's, and the bytes memsleuth itself holds.

use memsleuth_format::{GcState, MallocStats, ProcessMemory, PymallocStats, SizeClassStats};

use crate::sys::heap_walk::Gil;
use crate::sys::{mem_stats, own_heap};
use crate::writer;

/// Measures the process now. `original_object_allocator` is the allocator our
/// object-domain hook wraps (pymalloc reports only while it is in place).
pub(crate) fn measure(
    gil: &Gil<'_>,
    original_object_allocator: &pyo3_ffi::PyMemAllocatorEx,
    label: &str,
    gc: GcState,
) -> ProcessMemory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| status_field(&status, field).unwrap_or(0) * 1024;
    ProcessMemory {
        time_ns: writer::elapsed_ns(),
        label: label.to_string(),
        rss: kib("VmRSS"),
        rss_anon: kib("RssAnon"),
        rss_file: kib("RssFile"),
        rss_shmem: kib("RssShmem"),
        threads: status_field(&status, "Threads").unwrap_or(0) as u32,
        tracker_heap_bytes: own_heap::own_bytes(),
        pymalloc: mem_stats::pymalloc_report(gil, original_object_allocator)
            .and_then(|text| parse_pymalloc(&text)),
        malloc: malloc_stats(),
        gc,
    }
}

/// A `Name:   value` line of `/proc/self/status`, its first number.
fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn malloc_stats() -> Option<MallocStats> {
    let info = mem_stats::mallinfo2()?;
    let arenas = mem_stats::malloc_info_xml().map_or(1, |xml| count_heaps(&xml));
    Some(MallocStats {
        arena_bytes: info.arena as u64,
        mmap_bytes: info.hblkhd as u64,
        mmap_chunks: info.hblks as u64,
        in_use_bytes: info.uordblks as u64,
        free_bytes: info.fordblks as u64,
        releasable_bytes: info.keepcost as u64,
        arenas,
    })
}

/// The arenas `malloc_info` lists, one `<heap nr="…">` element each.
fn count_heaps(xml: &str) -> u32 {
    xml.matches("<heap nr=").count().max(1) as u32
}

/// The number after the last `=` of a line, commas removed.
fn value_after_equals(line: &str) -> Option<u64> {
    let (_, value) = line.rsplit_once('=')?;
    value.trim().replace(',', "").parse().ok()
}

/// Reads the text of `_PyObject_DebugMallocStats`, stable from CPython 3.9
/// to 3.13: a table of size classes, then `# name = value` totals.
pub(crate) fn parse_pymalloc(text: &str) -> Option<PymallocStats> {
    let mut s = PymallocStats::default();
    let mut saw_total = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 5 && words.iter().all(|w| w.parse::<u64>().is_ok()) {
            let n = |i: usize| words[i].parse::<u64>().unwrap_or(0);
            s.classes.push(SizeClassStats {
                size: n(1) as u32,
                pools: n(2),
                blocks_in_use: n(3),
                blocks_free: n(4),
            });
            continue;
        }
        let value = value_after_equals(line);
        if line.starts_with("# arenas allocated total") {
            s.arenas_allocated_total = value?;
        } else if line.starts_with("# arenas reclaimed") {
            s.arenas_reclaimed = value?;
        } else if line.starts_with("# arenas highwater mark") {
            s.arenas_highwater = value?;
        } else if line.starts_with("# arenas allocated current") {
            s.arenas_current = value?;
        } else if line.contains(" bytes/arena") {
            s.arena_size = words.get(3)?.parse().ok()?;
        } else if line.starts_with("# bytes in allocated blocks") {
            s.allocated_bytes = value?;
        } else if line.starts_with("# bytes in available blocks") {
            s.available_bytes = value?;
        } else if line.contains(" unused pools * ") {
            s.unused_pools = words.first()?.parse().ok()?;
            s.pool_size = words.get(4)?.parse().ok()?;
        } else if line.starts_with("# bytes lost to pool headers") {
            s.pool_header_bytes = value?;
        } else if line.starts_with("# bytes lost to quantization") {
            s.quantization_bytes = value?;
        } else if line.starts_with("# bytes lost to arena alignment") {
            s.alignment_bytes = value?;
        } else if line.starts_with("Total") {
            saw_total = true;
            break;
        }
    }
    saw_total.then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1             106           915
    1     32           8            3969            99

# arenas allocated total           =                    4
# arenas reclaimed                 =                    0
# arenas highwater mark            =                    4
# arenas allocated current         =                    4
4 arenas * 1048576 bytes/arena     =            4,194,304

# bytes in allocated blocks        =            3,494,832
# bytes in available blocks        =              327,648
17 unused pools * 16384 bytes      =              278,528
# bytes lost to pool headers       =               11,280
# bytes lost to quantization       =               16,480
# bytes lost to arena alignment    =               65,536
Total                              =            4,194,304

arena map counts
# arena map mid nodes              =                    1
";

    #[test]
    fn reads_every_figure_of_the_report() {
        let s = parse_pymalloc(REPORT).expect("parses");
        assert_eq!(s.arena_size, 1_048_576);
        assert_eq!(s.pool_size, 16_384);
        assert_eq!(
            (
                s.arenas_allocated_total,
                s.arenas_current,
                s.arenas_highwater
            ),
            (4, 4, 4)
        );
        assert_eq!(s.allocated_bytes, 3_494_832);
        assert_eq!(s.available_bytes, 327_648);
        assert_eq!(s.unused_pools, 17);
        assert_eq!(s.pool_header_bytes, 11_280);
        assert_eq!(s.quantization_bytes, 16_480);
        assert_eq!(s.alignment_bytes, 65_536);
        assert_eq!(
            s.classes,
            vec![
                SizeClassStats {
                    size: 16,
                    pools: 1,
                    blocks_in_use: 106,
                    blocks_free: 915
                },
                SizeClassStats {
                    size: 32,
                    pools: 8,
                    blocks_in_use: 3969,
                    blocks_free: 99
                }
            ]
        );
    }

    #[test]
    fn a_cut_report_is_not_read() {
        let cut = &REPORT[..REPORT.find("Total").unwrap_or(0)];
        assert_eq!(parse_pymalloc(cut), None);
    }

    #[test]
    fn status_fields_and_heaps_are_counted() {
        let status = "Name:\tpython\nVmRSS:\t   12345 kB\nRssAnon:\t    100 kB\nThreads:\t3\n";
        assert_eq!(status_field(status, "VmRSS"), Some(12345));
        assert_eq!(status_field(status, "Threads"), Some(3));
        assert_eq!(status_field(status, "RssFile"), None);
        let xml =
            "<malloc version=\"1\">\n<heap nr=\"0\">\n</heap>\n<heap nr=\"1\">\n</heap>\n</malloc>";
        assert_eq!(count_heaps(xml), 2);
    }
}
