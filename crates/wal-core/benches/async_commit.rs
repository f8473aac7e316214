//! Async committers beside committing threads: 10,000 tasks, each awaiting one durable
//! 256 B record (`append_durable`), on a tokio runtime of 2 workers; beside W4 of
//! `benches/engine.rs` (8 threads x 500 blocking `append`s of 256 B). Both on
//! `Options::default()` (`Durability::Commit`), each in a fresh directory.
//!
//! Here rather than in `wal-benches` because it needs nothing but `wal-core` and its
//! dev-dependencies, so it builds in seconds. `cargo bench -p wal-core --bench async_commit`
//! (`WAL_BENCH_DIR` for the file system, default the temporary directory; `WAL_BENCH_SCALE`
//! divides the counts, for a quick run).
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use wal_core::{Options, Tag, Wal};

const TAG: Tag = match Tag::user(0x40) {
    Some(tag) => tag,
    None => panic!("0x40 is a user tag"),
};
const RECORD: [u8; 256] = [9; 256];

fn main() {
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let scale: usize =
        std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    println!("| workload | commits/s | p50 | p99 | syncs | committers per sync |");
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let threads = threads(&open(dir.path()), 8, 500 / scale.min(4));
    report("W4: 8 threads x 500 blocking commits", &threads);
    let dir = tempfile::tempdir_in(&base).expect("bench directory");
    let tasks = tasks(open(dir.path()), 10_000 / scale);
    report("10,000 async committers, 2 tokio workers", &tasks);
    println!("\nasync / W4: {:.2} (in {})", tasks.rate / threads.rate, base.display());
}

fn open(dir: &std::path::Path) -> Wal {
    let (wal, _) = Wal::open(dir.join("log"), Options::default()).expect("open");
    // Warm the first chunk out of the measurement.
    wal.append(TAG, &RECORD).expect("append");
    wal
}

/// What a run measured.
struct Run {
    rate: f64,
    latencies: Vec<Duration>,
    syncs: u64,
    per_sync: f64,
}

fn report(name: &str, run: &Run) {
    let mut sorted = run.latencies.clone();
    sorted.sort_unstable();
    let at = |percent: usize| sorted[(sorted.len() - 1) * percent / 100].as_secs_f64() * 1e6;
    println!(
        "| {name} | {:.0} | {:.0} us | {:.0} us | {} | {:.1} |",
        run.rate,
        at(50),
        at(99),
        run.syncs,
        run.per_sync
    );
}

fn finish(wal: &Wal, started: Instant, latencies: Vec<Duration>, syncs_before: u64) -> Run {
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let stats = wal.stats();
    let per_sync = stats.group_waiters as f64 / stats.group_syncs.max(1) as f64;
    Run { rate, latencies, syncs: stats.syncs - syncs_before, per_sync }
}

/// `count` threads, each committing `each` records one after the other.
fn threads(wal: &Wal, count: usize, each: usize) -> Run {
    let syncs_before = wal.stats().syncs;
    let started = Instant::now();
    let latencies: Vec<Duration> = std::thread::scope(|scope| {
        let running: Vec<_> = (0..count)
            .map(|_| {
                scope.spawn(|| {
                    (0..each)
                        .map(|_| {
                            let at = Instant::now();
                            wal.append(TAG, &RECORD).expect("append");
                            at.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        running.into_iter().flat_map(|thread| thread.join().expect("committer")).collect()
    });
    finish(wal, started, latencies, syncs_before)
}

/// `count` tasks at once, each awaiting one durable record.
fn tasks(wal: Wal, count: usize) -> Run {
    let wal = Arc::new(wal);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let syncs_before = wal.stats().syncs;
    let started = Instant::now();
    let latencies = runtime.block_on(async {
        let running: Vec<_> = (0..count)
            .map(|_| {
                let wal = Arc::clone(&wal);
                tokio::spawn(async move {
                    let at = Instant::now();
                    wal.append_durable(TAG, &RECORD).await.expect("append");
                    at.elapsed()
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(count);
        for task in running {
            latencies.push(task.await.expect("committer"));
        }
        latencies
    });
    finish(&wal, started, latencies, syncs_before)
}
