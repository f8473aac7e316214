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
//! `WAL_BENCH_SCALE` (default 1) divides the record counts, for a quick run.
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use wal_core::{Durability, Lsn, Options, Record, Tag, Wal};

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};

fn main() {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let scale: usize =
        std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = dir.path();
    let mut rows = Vec::new();

    let records = 1_000_000 / scale;
    let payload = [0xA5u8; 128];
    if std::env::var_os("WAL_BENCH_ONLY_W34").is_some() {
        let (w3, l3) = w3(dir, 2000);
        let (w4, l4) = w4(dir, 8, 500);
        println!(
            "W3 {w3:.0}/s p50 {} p99 {}; W4 {w4:.0}/s p50 {} p99 {}",
            us(l3.0),
            us(l3.1),
            us(l4.0),
            us(l4.1)
        );
        return;
    }
    if std::env::var_os("WAL_BENCH_ONLY_W1").is_some() {
        let engine = w1_engine(dir, records, &payload);
        println!("W1: {:.0} records/s", records as f64 / engine);
        return;
    }
    let (w1, w1_baseline, w1_memcpy) = w1(dir, records, &payload);
    rows.push(row("W1 append 128 B, one per call", records, w1, "records/s"));
    rows.push(row("W1 naive log (BufWriter + CRC + fdatasync)", records, w1_baseline, "records/s"));
    rows.push(row("W1 memcpy of the payloads", records, w1_memcpy, "records/s"));
    let w1b = w1_batched(dir, records, &payload);
    rows.push(row("W1b append_batch of 1,000", records, w1b, "records/s"));

    let big = vec![0x5Au8; 64 << 10];
    let count = 20_000 / scale;
    let (w2, w2_baseline) = w2(dir, count, &big);
    let megabytes = count * big.len() / 1_000_000;
    rows.push(row("W2 append 64 KiB", megabytes, w2, "MB/s"));
    rows.push(row("W2 naive log", megabytes, w2_baseline, "MB/s"));

    let commits = 2000 / scale.min(4);
    let (w3, w3_latency) = w3(dir, commits);
    let (floor, floor_latency) = durable_write_floor(dir, commits);
    let (w4, w4_latency) = w4(dir, 8, 500 / scale.min(4));

    let (w5_open, w5_read, w5_baseline) = w5(dir);

    println!("\n| workload | figure | unit |\n|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!(
        "| W3 durable commits, one writer | {:.0} | commits/s, p50 {} p99 {} |",
        w3,
        us(w3_latency.0),
        us(w3_latency.1)
    );
    println!(
        "| floor: pwrite + fdatasync 256 B | {:.0} | writes/s, p50 {} p99 {} |",
        floor,
        us(floor_latency.0),
        us(floor_latency.1)
    );
    println!(
        "| W4 8 threads x durable commits | {:.0} | commits/s, p50 {} p99 {} |",
        w4,
        us(w4_latency.0),
        us(w4_latency.1)
    );
    println!("| W5 open (recovery) of W1's log, cold | {:.1} | ms |", w5_open.as_secs_f64() * 1e3);
    println!("| W5 read every record, cold | {w5_read:.0} | records/s |");
    println!("| W5 naive log read back, cold | {w5_baseline:.0} | records/s |");
    println!("\n| ratio | value |\n|---|---|");
    // W1 and W2 figures are seconds for the same work: the ratio of rates is the inverse.
    println!("| W1 / naive log | {:.2} |", w1_baseline / w1);
    println!("| W1 / memcpy | {:.3} |", w1_memcpy / w1);
    println!("| W1b / naive log | {:.2} |", w1_baseline / w1b);
    println!("| W2 / naive log | {:.2} |", w2_baseline / w2);
    println!("| W3 / durable-write floor | {:.2} |", w3 / floor);
    println!("| W4 / W3 | {:.2} |", w4 / w3);
    println!("| W5 read / naive read | {:.2} |", w5_read / w5_baseline);
    println!("\n(measured in {}, scale 1/{scale})", base.display());
}

fn row(name: &str, amount: usize, seconds: f64, unit: &str) -> String {
    format!("| {name} | {:.0} | {unit} |", amount as f64 / seconds)
}

fn us(duration: Duration) -> String {
    format!("{:.0} us", duration.as_secs_f64() * 1e6)
}

fn buffered() -> Options {
    Options::default().with_durability(Durability::Buffered)
}

/// W1: seconds for the engine, the naive log, and memcpy.
fn w1(dir: &Path, records: usize, payload: &[u8]) -> (f64, f64, f64) {
    let engine = w1_engine(dir, records, payload);
    let baseline = naive_log(&dir.join("w1.naive"), records, payload);
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
    (engine, baseline, started.elapsed().as_secs_f64())
}

fn w1_engine(dir: &Path, records: usize, payload: &[u8]) -> f64 {
    let (wal, _) = Wal::open(dir.join("w1"), buffered()).expect("open");
    let started = Instant::now();
    for _ in 0..records {
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

fn w2(dir: &Path, count: usize, payload: &[u8]) -> (f64, f64) {
    let (wal, _) = Wal::open(dir.join("w2"), buffered()).expect("open");
    let started = Instant::now();
    for _ in 0..count {
        wal.append(TAG, payload).expect("append");
    }
    wal.sync().expect("sync");
    let engine = started.elapsed().as_secs_f64();
    (engine, naive_log(&dir.join("w2.naive"), count, payload))
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

/// W3: commits/s and (p50, p99) latency.
fn w3(dir: &Path, commits: usize) -> (f64, (Duration, Duration)) {
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
    (commits as f64 / started.elapsed().as_secs_f64(), percentiles(latencies))
}

/// W4: `threads` writers committing at once.
fn w4(dir: &Path, threads: usize, per_thread: usize) -> (f64, (Duration, Duration)) {
    let (wal, _) = Wal::open(dir.join("w4"), Options::default()).expect("open");
    let record = [9u8; 256];
    wal.append(TAG, &record).expect("append");
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let wal = &wal;
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let at = Instant::now();
                            wal.append(TAG, &record).expect("append");
                            at.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|worker| worker.join().expect("worker")).collect()
    });
    let rate = (threads * per_thread) as f64 / started.elapsed().as_secs_f64();
    let stats = wal.stats();
    println!(
        "W4: {} syncs for {} commits, {:.2} committers waiting per sync",
        stats.syncs,
        threads * per_thread,
        stats.group_waiters as f64 / stats.group_syncs.max(1) as f64
    );
    (rate, percentiles(latencies))
}

/// The durable-write floor: 256 B `pwrite` + `fdatasync` into zero-filled space.
fn durable_write_floor(dir: &Path, commits: usize) -> (f64, (Duration, Duration)) {
    let path = dir.join("floor");
    let file = OpenOptions::new().create(true).read(true).write(true).open(&path).expect("open");
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
    (commits as f64 / started.elapsed().as_secs_f64(), percentiles(latencies))
}

/// W5: (time to open, records/s read by the engine, records/s read from the naive log).
fn w5(dir: &Path) -> (Duration, f64, f64) {
    let log = dir.join("w1");
    drop_cache(&log);
    let started = Instant::now();
    let (wal, report) = Wal::open(&log, buffered()).expect("open");
    let open = started.elapsed();
    let started = Instant::now();
    let mut count = 0u64;
    let mut sum = 0u64;
    for entry in wal.read_from(wal.start_lsn().max(Lsn(1))).expect("read") {
        let entry = entry.expect("record");
        sum += u64::from(entry.payload[0]);
        count += 1;
    }
    let engine = count as f64 / started.elapsed().as_secs_f64();
    assert_eq!(count, report.records);
    std::hint::black_box(sum);

    let naive = dir.join("w1.naive");
    drop_cache(&naive);
    let started = Instant::now();
    let mut input = BufReader::with_capacity(1 << 20, File::open(&naive).expect("open"));
    let mut header = [0u8; 8];
    let mut payload = Vec::new();
    let mut read = 0u64;
    while input.read_exact(&mut header).is_ok() {
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        payload.resize(len, 0);
        input.read_exact(&mut payload).expect("payload");
        assert_eq!(crc32fast::hash(&payload).to_le_bytes(), header[4..]);
        read += 1;
    }
    let baseline = read as f64 / started.elapsed().as_secs_f64();
    (open, engine, baseline)
}

/// Drops the cached pages of every file under `path` (a file or a directory).
fn drop_cache(path: &Path) {
    let files: Vec<_> = if path.is_dir() {
        std::fs::read_dir(path).expect("list").map(|e| e.expect("entry").path()).collect()
    } else {
        vec![path.to_owned()]
    };
    for file in files {
        let file = File::open(&file).expect("open");
        file.sync_all().expect("sync");
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    }
}

fn percentiles(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}
