//! This log beside its peers on the workloads of `shared/BENCHMARKS.md`, and the machine's
//! physical limits, each cell in a fresh directory and a process of its own, in one run; a
//! markdown table with the ratios to the best library peer, to the naive log and to the limit,
//! and an SVG plot (`WAL_BENCH_PLOT=path`).
//!
//! Each system lives in a module of its own, which says how it is made as durable as each cell
//! demands. `WAL_BENCH_SCALE` divides the record counts (`cargo xtask ci` runs 1/100 as a smoke
//! test of the harness); `WAL_BENCH_ONLY=w3,w4` runs only some workloads.
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

#[path = "../measure.rs"]
mod measure;

mod commitlog_log;
mod limits;
mod naive;
mod okay;
mod ours;
mod raft_engine;
mod raft_log;
mod report;
mod sled_log;
mod sqlite;
mod walrus;

use std::path::Path;
use std::time::Instant;

use measure::{Cell, drop_cache, run_in_process, timed_threads};

/// The systems, in table order: this log, the naive log, then the library peers.
const SYSTEMS: [&str; 9] =
    ["wal", "naive", "sqlite", "sled", "okaywal", "raft-engine", "commitlog", "raft-log", "walrus"];

/// A workload: its id, its description, its unit, and the physical limit its ratio is taken to.
struct Workload {
    id: &'static str,
    name: &'static str,
    unit: &'static str,
    limit: limits::Bound,
}

/// W1's append phase: until the last append returns, before the final sync (measured by the
/// W1 cells).
const W1_APPEND_PHASE: Workload = Workload {
    id: "w1-append",
    name: "W1, append phase only (until the last append returns)",
    unit: "records/s",
    limit: limits::Bound::Memcpy(RECORD),
};

const WORKLOADS: [Workload; 8] = [
    Workload {
        id: "w1",
        name: "W1: 1M x 128 B, one per call, one sync at the end",
        unit: "records/s",
        limit: limits::Bound::Write(RECORD),
    },
    Workload {
        id: "w1b",
        name: "W1b: the same, 1,000 per batch",
        unit: "records/s",
        limit: limits::Bound::Write(RECORD),
    },
    Workload {
        id: "w2",
        name: "W2: 20,000 x 64 KiB, one per call, one sync at the end",
        unit: "MB/s",
        limit: limits::Bound::Write(1_000_000),
    },
    Workload {
        id: "w3",
        name: "W3: 2,000 durable commits of 256 B, one writer",
        unit: "commits/s",
        limit: limits::Bound::DurableCommit,
    },
    Workload {
        id: "w4",
        name: "W4: 8 threads x 500 durable commits of 256 B",
        unit: "commits/s",
        limit: limits::Bound::DurableCommit,
    },
    Workload {
        id: "w5",
        name: "W5: reopen W1's data with a cold cache and read it all",
        unit: "records/s",
        limit: limits::Bound::ColdRead(RECORD),
    },
    Workload {
        id: "w6",
        name: "W6: recover a 1 GiB log (1 KiB records) with a cold cache: open and read it all",
        unit: "MB/s",
        limit: limits::Bound::ColdRead(1_000_000),
    },
    Workload {
        id: "w6-4g",
        name: "W6 at 4 GiB: the same with a log four times larger (what grows with the log)",
        unit: "MB/s",
        limit: limits::Bound::ColdRead(1_000_000),
    },
];

/// W1's and W5's record size.
const RECORD: usize = 128;
/// W2's record size.
const LARGE_RECORD: usize = 64 << 10;
/// W6's record size.
const RECOVERY_RECORD: usize = 1 << 10;

/// A log under test: opened on a directory, written through writers (one per thread).
trait System: Sync + Sized {
    type Writer<'a>: Writer
    where
        Self: 'a;
    /// Opens a new log in `dir`; `durable`: every append is durable before it returns;
    /// `writers`: how many threads will append at once.
    fn open(dir: &Path, durable: bool, writers: usize) -> Self;
    fn writer(&self) -> Self::Writer<'_>;
    /// Makes everything appended durable (the end of W1).
    fn finish(&self);
    /// Reopens the log in `dir` and reads every record; returns how many, or `None` if the
    /// system does not keep records to read back (the cell is then left empty).
    fn read_all(dir: &Path) -> Option<u64>;
}

trait Writer {
    fn append(&mut self, payload: &[u8]);
    fn append_batch(&mut self, payloads: &[&[u8]]);
}

fn main() {
    if let Ok(cell) = std::env::var("WAL_BENCH_CELL") {
        let (system, workload) = cell.split_once('/').expect("system/workload");
        let fields = match system {
            "limit" => limits::run(workload),
            "wal" => run::<ours::Ours>(workload),
            "naive" => run::<naive::Naive>(workload),
            "sqlite" => run::<sqlite::Sqlite>(workload),
            "sled" => run::<sled_log::Sled>(workload),
            "okaywal" => run::<okay::Okay>(workload),
            "raft-engine" => run::<raft_engine::RaftEngine>(workload),
            "commitlog" => run::<commitlog_log::CommitLog>(workload),
            "raft-log" => run::<raft_log::RaftLog>(workload),
            "walrus" => run::<walrus::Walrus>(workload),
            other => panic!("unknown system {other}"),
        };
        measure::report_fields(&fields);
        return;
    }
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let only = std::env::var("WAL_BENCH_ONLY").ok();
    let selected = |id: &str| only.as_ref().is_none_or(|only| only.split(',').any(|w| w == id));
    let limits = limits::measure_all(base.as_ref());
    let mut table = Vec::new();
    for workload in WORKLOADS.iter().filter(|workload| selected(workload.id)) {
        let row: report::Row = SYSTEMS
            .iter()
            .map(|system| run_in_process(&format!("{system}/{}", workload.id), base.as_ref()).0)
            .collect();
        if workload.id == "w1" {
            // W1's cells also hold the append phase alone: a row of its own.
            let appended =
                row.iter().map(|fields| vec![fields.get(1).copied().unwrap_or(f64::NAN)]);
            let appended = appended.collect();
            table.push((workload, row));
            table.push((&W1_APPEND_PHASE, appended));
        } else {
            table.push((workload, row));
        }
    }
    report::limits_table(&limits);
    report::table(&table, &limits);
    if let Some(path) = std::env::var_os("WAL_BENCH_PLOT") {
        std::fs::write(&path, report::plot(&table)).expect("write the plot");
        println!("\n(plot written to {})", Path::new(&path).display());
    }
    let scale = scale();
    println!("\n(measured in {}, scale 1/{scale}, each cell in its own process)", base.display());
}

fn scale() -> usize {
    std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// Runs one workload on system `S` in a fresh directory; the numbers of its result.
fn run<S: System>(workload: &str) -> Vec<f64> {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    if workload == "reopen" {
        return reopen_here::<S>(base.as_ref());
    }
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = dir.path().join("log");
    let scale = scale();
    // Whole batches of 1,000, so W1, W1b and W5 write the same records.
    let records = (1_000_000 / scale).max(1000) / 1000 * 1000;
    let (commits, per_thread) = (2000 / scale.min(10), 500 / scale.min(10));
    let rate = |count: usize, seconds: f64| vec![count as f64 / seconds];
    match workload {
        "w1" => {
            // The total with the final sync, then the append phase alone.
            let filled = fill::<S>(&dir, records, RECORD, 1);
            vec![records as f64 / filled.total, records as f64 / filled.appended]
        }
        "w1b" => rate(records, fill::<S>(&dir, records, RECORD, 1000).total),
        "w2" => {
            let count = (20_000 / scale).max(10);
            rate(count * LARGE_RECORD, fill::<S>(&dir, count, LARGE_RECORD, 1).total * 1e6)
        }
        "w3" => durable::<S>(&dir, 1, commits).fields(),
        "w4" => durable::<S>(&dir, 8, per_thread).fields(),
        "w5" => {
            // W1's data: one record per call, as W1 writes it (the layout some systems keep).
            fill::<S>(&dir, records, RECORD, 1);
            drop_cache(&dir);
            let fields = reopen(&dir);
            if !fields[0].is_nan() {
                assert_eq!(fields[3], records as f64, "every record read back");
            }
            vec![fields[0]]
        }
        "w6" | "w6-4g" => {
            let gib = if workload == "w6" { 1 } else { 4 };
            let count = ((gib << 30) / RECOVERY_RECORD / scale).max(1000) / 1000 * 1000;
            fill::<S>(&dir, count, RECOVERY_RECORD, 1000);
            drop_cache(&dir);
            let fields = reopen(&dir);
            if fields[0].is_nan() {
                return fields;
            }
            assert_eq!(fields[3], count as f64, "every record read back");
            let (seconds, rss, anon, file) = (fields[1], fields[2], fields[4], fields[5]);
            vec![(count * RECOVERY_RECORD) as f64 / seconds / 1e6, seconds, rss, anon, file]
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Reads back the log in `dir` in a new process of this cell's system (a reopen as after a
/// restart, whose peak RSS is the reopen's alone): see `reopen_here`.
fn reopen(dir: &Path) -> Vec<f64> {
    let cell = std::env::var("WAL_BENCH_CELL").expect("a cell");
    let system = cell.split_once('/').expect("system/workload").0;
    run_in_process(&format!("{system}/reopen"), dir).0
}

/// Opens the log in `dir` and reads every record: records/s, seconds, peak RSS in MiB,
/// records read, then the peaks of anonymous and of file-mapped memory in MiB (all `NaN` if
/// the system keeps nothing to read back).
fn reopen_here<S: System>(dir: &Path) -> Vec<f64> {
    let memory = measure::MemoryPeaks::start();
    let started = Instant::now();
    let Some(read) = S::read_all(dir) else {
        return vec![f64::NAN; 6];
    };
    let seconds = started.elapsed().as_secs_f64();
    let (anon, file) = memory.finish();
    vec![read as f64 / seconds, seconds, measure::peak_rss_mib(), read as f64, anon, file]
}

/// How long a fill took.
struct Filled {
    /// Seconds until the last append returned.
    appended: f64,
    /// Seconds until everything appended was durable.
    total: f64,
}

/// Appends `records` of `size` bytes in batches of `batch` and makes them durable.
fn fill<S: System>(dir: &Path, records: usize, size: usize, batch: usize) -> Filled {
    let payload = vec![0xA5u8; size];
    let batch_of: Vec<&[u8]> = vec![&payload[..]; batch];
    let system = S::open(dir, false, 1);
    let mut writer = system.writer();
    let started = Instant::now();
    for _ in 0..records / batch {
        if batch == 1 {
            writer.append(&payload);
        } else {
            writer.append_batch(&batch_of);
        }
    }
    drop(writer);
    let appended = started.elapsed().as_secs_f64();
    system.finish();
    Filled { appended, total: started.elapsed().as_secs_f64() }
}

/// `threads` writers each making `per_thread` durable commits of 256 B at once.
fn durable<S: System>(dir: &Path, threads: usize, per_thread: usize) -> Cell {
    let system = S::open(dir, true, threads);
    let record = [7u8; 256];
    // Each writer makes one commit before the clock starts (first-write costs: a topic, a
    // region, a file's first page), which `timed_threads` leaves out of the measurement.
    let make = || {
        let mut writer = system.writer();
        writer.append(&record);
        writer
    };
    timed_threads(threads, per_thread, make, |writer| writer.append(&record))
}
