//! The engine on workloads W1 to W5 of `shared/BENCHMARKS.md`, each beside a baseline or a
//! physical limit measured in the same run, reported as ratios. A harness of its own rather
//! than criterion: each cell is one long run (a million records, two thousand syncs), where
//! criterion's repeated sampling would multiply the run time without adding information.
//!
//! Cells (on `WAL_BENCH_DIR`, default: the system temp directory):
//! - W1: 1,000,000 records of 128 B, one per `append`, `Durability::Buffered`, one sync at the
//!   end; beside a naive log: `BufWriter` of length + CRC-32 + payload per record, one
//!   `fdatasync` at the end; and beside memcpy of the same bytes.
//! - W1b: the same records, 1,000 per `append_batch`.
//! - W2: 20,000 records of 64 KiB, one sync at the end; beside the naive log.
//! - W3: 2,000 commits of one 256 B record, each durable before the next (`Durability::Commit`);
//!   beside `pwrite` + `fdatasync` of 256 B into zero-filled space (the floor for a durable
//!   write on this file system).
//! - W4: 8 threads x 500 such commits at once; beside W3.
//! - W5: reopen W1's log with its pages dropped from the cache (`posix_fadvise(DONTNEED)`) and
//!   read every record; beside reading the naive log back the same way.
//!
//! Each cell runs in a process of its own, in a fresh directory. `WAL_BENCH_SCALE` (default 1)
//! divides the record counts, for a quick run.
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use wal_core::{Durability, Options, Record, Tag, Wal};

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};

#[path = "measure.rs"]
#[allow(dead_code, reason = "this bench reports no memory peaks")]
mod measure;

use measure::{Cell, drop_cache, percentiles, run_in_process, timed_threads};

/// Runs every cell in a process of its own (a fresh page cache state and heap for each, as
/// `BENCHMARKS.md` asks), one after the other, and prints the table and the ratios.
fn main() {
    if let Ok(cell) = std::env::var("WAL_BENCH_CELL") {
        run_cell(&cell);
        return;
    }
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let scale = scale();
    let cells = [
        ("w1", "W1 append 128 B, one per call", "records/s"),
        ("w1-naive", "W1 naive log (BufWriter + CRC + fdatasync)", "records/s"),
        ("w1-memcpy", "W1 memcpy of the payloads", "records/s"),
        ("w1b", "W1b append_batch of 1,000", "records/s"),
        ("w2", "W2 append 64 KiB", "MB/s"),
        ("w2-naive", "W2 naive log", "MB/s"),
        ("w3", "W3 durable commits, one writer", "commits/s"),
        ("floor", "floor: pwrite + fdatasync 256 B into written space", "writes/s"),
        ("w4", "W4 8 threads x 500 durable commits", "commits/s"),
        ("w5-open", "W5 open (recovery) of W1's log, cold cache", "opens/s"),
        ("w5", "W5 read every record of W1's log, cold cache", "records/s"),
        ("w5-naive", "W5 naive log read back, cold cache", "records/s"),
    ];
    let mut rates = std::collections::HashMap::new();
    println!("| workload | figure | unit | p50 | p99 |\n|---|---|---|---|---|");
    for (cell, name, unit) in cells {
        let (fields, text) = run_in_process(cell, base.as_ref());
        let (p50, p99) = match fields[..] {
            [_, p50, p99] => (format!("{p50:.0} us"), format!("{p99:.0} us")),
            _ => (String::new(), String::new()),
        };
        let figure = if fields[0] < 100.0 {
            format!("{:.2}", fields[0])
        } else {
            format!("{:.0}", fields[0])
        };
        println!("| {name} | {figure} | {unit} | {p50} | {p99} |");
        for extra in text.lines().filter(|line| line.starts_with("NOTE ")) {
            println!("<!-- {cell}: {} -->", &extra[5..]);
        }
        rates.insert(cell, fields[0]);
    }
    let ratio = |a: &str, b: &str| rates[a] / rates[b];
    println!("\n| ratio | value |\n|---|---|");
    println!("| W1 / naive log | {:.2} |", ratio("w1", "w1-naive"));
    println!("| W1 / memcpy | {:.3} |", ratio("w1", "w1-memcpy"));
    println!("| W1b / naive log | {:.2} |", ratio("w1b", "w1-naive"));
    println!("| W2 / naive log | {:.2} |", ratio("w2", "w2-naive"));
    println!("| W3 / durable-write floor | {:.2} |", ratio("w3", "floor"));
    println!("| W4 / W3 | {:.2} |", ratio("w4", "w3"));
    println!("| W5 read / naive read | {:.2} |", ratio("w5", "w5-naive"));
    println!("\n(measured in {}, scale 1/{scale}, each cell in its own process)", base.display());
}

fn scale() -> usize {
    std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1)
}

/// Runs one cell in this process and prints `RESULT rate [p50_us p99_us]`.
fn run_cell(cell: &str) {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = dir.path();
    let scale = scale();
    let records = 1_000_000 / scale;
    let payload = [0xA5u8; 128];
    let big = vec![0x5Au8; 64 << 10];
    let count = 20_000 / scale;
    let megabytes = (count * big.len()) as f64 / 1e6;
    let commits = 2000 / scale.min(4);
    let per_thread = 500 / scale.min(4);
    let result = match cell {
        "w1" => {
            Cell { rate: records as f64 / append_each(dir, "w1", records, &payload), latency: None }
        }
        "w1-naive" => {
            let seconds = naive_log(&dir.join("naive"), records, &payload);
            Cell { rate: records as f64 / seconds, latency: None }
        }
        "w1-memcpy" => Cell { rate: records as f64 / memcpy(records, &payload), latency: None },
        "w1b" => Cell { rate: records as f64 / w1_batched(dir, records, &payload), latency: None },
        "w2" => Cell { rate: megabytes / append_each(dir, "w2", count, &big), latency: None },
        "w2-naive" => {
            Cell { rate: megabytes / naive_log(&dir.join("naive"), count, &big), latency: None }
        }
        "w3" => w3(dir, commits),
        "floor" => durable_write_floor(dir, commits),
        "w4" => w4(dir, 8, per_thread),
        "w5-open" | "w5" => {
            append_each(dir, "w1", records, &payload);
            let (open, read) = w5_engine(dir);
            if cell == "w5" { read } else { Cell { rate: 1.0 / open.as_secs_f64(), latency: None } }
        }
        "w5-naive" => {
            let path = dir.join("naive");
            naive_log(&path, records, &payload);
            w5_naive(&path)
        }
        other => panic!("unknown cell {other}"),
    };
    result.report();
}

fn buffered() -> Options {
    Options::default().with_durability(Durability::Buffered)
}

/// Seconds to memcpy the payloads into a reused 16 MiB buffer (the copy's floor).
fn memcpy(records: usize, payload: &[u8]) -> f64 {
    let mut buffer = vec![0u8; 16 << 20];
    let started = Instant::now();
    let mut at = 0;
    for _ in 0..records {
        if at + payload.len() > buffer.len() {
            at = 0;
        }
        buffer[at..at + payload.len()].copy_from_slice(std::hint::black_box(payload));
        at += payload.len();
    }
    std::hint::black_box(&buffer);
    started.elapsed().as_secs_f64()
}

/// Seconds to append `count` copies of `payload`, one per call, into a fresh log `name`, and
/// sync once at the end (W1 and W2).
fn append_each(dir: &Path, name: &str, count: usize, payload: &[u8]) -> f64 {
    let (wal, _) = Wal::open(dir.join(name), buffered()).expect("open");
    let started = Instant::now();
    for _ in 0..count {
        wal.append(TAG, payload).expect("append");
    }
    wal.sync().expect("sync");
    started.elapsed().as_secs_f64()
}

fn w1_batched(dir: &Path, records: usize, payload: &[u8]) -> f64 {
    let (wal, _) = Wal::open(dir.join("w1b"), buffered()).expect("open");
    let batch = vec![Record { tag: TAG, payload }; 1000];
    let started = Instant::now();
    for _ in 0..records / 1000 {
        wal.append_batch(&batch).expect("append");
    }
    wal.sync().expect("sync");
    started.elapsed().as_secs_f64()
}

/// The naive log: length, CRC-32, payload per record through a `BufWriter`, one `fdatasync`.
fn naive_log(path: &Path, records: usize, payload: &[u8]) -> f64 {
    let file = File::create(path).expect("create");
    let mut out = BufWriter::with_capacity(64 << 10, file);
    let started = Instant::now();
    for _ in 0..records {
        let len = u32::try_from(payload.len()).expect("small");
        out.write_all(&len.to_le_bytes()).expect("write");
        out.write_all(&crc32fast::hash(payload).to_le_bytes()).expect("write");
        out.write_all(payload).expect("write");
    }
    let file = out.into_inner().expect("flush");
    file.sync_data().expect("sync");
    started.elapsed().as_secs_f64()
}

/// W3: durable commits one after another.
fn w3(dir: &Path, commits: usize) -> Cell {
    let (wal, _) = Wal::open(dir.join("w3"), Options::default()).expect("open");
    let record = [7u8; 256];
    // Warm the first chunk's extent conversion and the page tables out of the measurement.
    wal.append(TAG, &record).expect("append");
    let mut latencies = Vec::with_capacity(commits);
    let started = Instant::now();
    for _ in 0..commits {
        let at = Instant::now();
        wal.append(TAG, &record).expect("append");
        latencies.push(at.elapsed());
    }
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    Cell { rate, latency: Some(percentiles(latencies)) }
}

/// W4: `threads` writers committing at once.
fn w4(dir: &Path, threads: usize, per_thread: usize) -> Cell {
    let (wal, _) = Wal::open(dir.join("w4"), Options::default()).expect("open");
    let record = [9u8; 256];
    wal.append(TAG, &record).expect("append");
    let cell = timed_threads(
        threads,
        per_thread,
        || &wal,
        |wal| {
            wal.append(TAG, &record).expect("append");
        },
    );
    let stats = wal.stats();
    println!(
        "NOTE {} syncs for {} commits, {:.2} committers waiting per sync",
        stats.syncs,
        threads * per_thread,
        stats.group_waiters as f64 / stats.group_syncs.max(1) as f64
    );
    cell
}

/// The durable-write floor: 256 B `pwrite` + `fdatasync` into zero-filled space.
fn durable_write_floor(dir: &Path, commits: usize) -> Cell {
    let path = dir.join("floor");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("open");
    let zeros = vec![0u8; 1 << 20];
    for at in 0..16u64 {
        file.write_all_at(&zeros, at << 20).expect("zero-fill");
    }
    file.sync_all().expect("sync");
    let record = [3u8; 256];
    let mut latencies = Vec::with_capacity(commits);
    let started = Instant::now();
    for n in 0..commits {
        let at = Instant::now();
        file.write_all_at(&record, (n * 256) as u64).expect("write");
        file.sync_data().expect("sync");
        latencies.push(at.elapsed());
    }
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    Cell { rate, latency: Some(percentiles(latencies)) }
}

/// W5 for the engine: the time to open W1's log with a cold cache, and the read rate.
fn w5_engine(dir: &Path) -> (Duration, Cell) {
    let log = dir.join("w1");
    drop_cache(&log);
    let started = Instant::now();
    let (wal, report) = Wal::open(&log, buffered()).expect("open");
    let open = started.elapsed();
    let started = Instant::now();
    let mut count = 0u64;
    let mut sum = 0u64;
    for entry in wal.read_from(wal.start_lsn()).expect("read") {
        let entry = entry.expect("record");
        sum += u64::from(entry.payload[0]);
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    assert_eq!(count, report.records);
    std::hint::black_box(sum);
    (open, Cell { rate, latency: None })
}

/// W5 for the naive log: read it back with a cold cache, checking each CRC.
fn w5_naive(path: &Path) -> Cell {
    drop_cache(path);
    let started = Instant::now();
    let read = measure::read_naive_log(path);
    Cell { rate: read as f64 / started.elapsed().as_secs_f64(), latency: None }
}
