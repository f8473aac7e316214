//! W6 of `shared/BENCHMARKS.md`: recovery of a 1 GiB log (unsealed tail) plus a snapshot, to a
//! ready state: seconds and peak memory. Beside it, in the same run: the same log recovered
//! from its beginning without the snapshot, and the machine's limit, a cold sequential read of
//! the log's files.
//!
//! The state is the key-value example (`wal_snapshot::kv::KvStore`): transactions of one put of
//! a 1 KiB value over 16,384 keys (a state of about 17 MB), `Durability::Buffered`, a
//! checkpoint after half of them (the log is not pruned, so it keeps its whole history), then
//! the other half; the last segment is left unsealed. Each cell runs in its own process with
//! the log's pages dropped from the page cache. Memory: the process's peak resident set
//! (`VmHWM`, which counts the log's mapped pages the scan touched) and the peak of its
//! anonymous memory (`RssAnon`, sampled every 2 ms: the heap, what the recovery itself holds).
//!
//! `WAL_BENCH_SCALE` divides the log's size (4 gives 256 MiB): compare the memory at two sizes
//! to see what grows with the log.
#![expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]

use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "measure.rs"]
#[allow(dead_code, reason = "this bench uses only the memory figures")]
mod measure;

use wal_core::{Durability, Options};
use wal_snapshot::kv::KvStore;
use wal_snapshot::{Durable, SnapshotOptions};

const VALUE_BYTES: usize = 1024;
const KEYS: u64 = 16_384;

fn main() {
    let scale: u64 =
        std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    if let Ok(cell) = std::env::var("WAL_BENCH_CELL") {
        let dir = PathBuf::from(std::env::var_os("WAL_BENCH_W6").expect("the log's directory"));
        run_cell(&cell, &dir);
        return;
    }
    let holder = tempfile::tempdir_in(&base).expect("bench directory");
    let dir = holder.path().join("w6");
    let target = (1u64 << 30) / scale;
    let built = Instant::now();
    let (transactions, bytes) = build(&dir, target);
    println!(
        "built: {transactions} transactions, {:.0} MiB of log in {:.1} s\n",
        bytes as f64 / (1 << 20) as f64,
        built.elapsed().as_secs_f64()
    );
    println!("| cell | seconds | peak RSS (MiB) | peak anonymous (MiB) | units replayed |");
    println!("|---|---|---|---|---|");
    let mut seconds = std::collections::HashMap::new();
    for (cell, name) in [
        ("read", "limit: cold sequential read of the log's files"),
        ("snapshot", "W6 open: snapshot + replay of the second half"),
        ("log-only", "open without the snapshot: replay of the whole log"),
    ] {
        let output = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("WAL_BENCH_CELL", cell)
            .env("WAL_BENCH_W6", &dir)
            .output()
            .expect("run a cell");
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap_or_else(|| {
            panic!("cell {cell} failed: {}", String::from_utf8_lossy(&output.stderr))
        });
        let fields: Vec<&str> = line.split(' ').collect();
        println!("| {name} | {} | {} | {} | {} |", fields[0], fields[1], fields[2], fields[3]);
        seconds.insert(cell, fields[0].parse::<f64>().expect("seconds"));
    }
    println!(
        "\n| ratio | value |\n|---|---|\n| W6 / cold read of the log | {:.2} |\n| W6 / recovery without the snapshot | {:.2} |",
        seconds["snapshot"] / seconds["read"],
        seconds["snapshot"] / seconds["log-only"]
    );
    println!("\n(scale 1/{scale}, each cell in its own process, cold cache)");
}

fn options() -> SnapshotOptions {
    SnapshotOptions::default()
        .with_prune(false)
        .with_wal(Options::default().with_durability(Durability::Buffered).with_housekeeping(None))
}

/// Writes the log and the snapshot; returns the transactions and the log's bytes.
fn build(dir: &Path, target: u64) -> (u64, u64) {
    let (store, _) = Durable::<KvStore>::open(dir, options()).expect("open");
    let value = vec![0x42u8; VALUE_BYTES];
    let per_transaction = VALUE_BYTES as u64 + 96; // three frames and their headers
    let transactions = target / per_transaction;
    for n in 0..transactions {
        let key = (n % KEYS).to_le_bytes();
        store.execute(&[KvStore::put(&key, &value).as_change()]).expect("execute");
        if n == transactions / 2 {
            store.checkpoint().expect("checkpoint");
        }
    }
    store.wal().sync().expect("sync");
    drop(store);
    let bytes = log_files(dir).iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    (transactions, bytes)
}

fn log_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).expect("list").map(|e| e.expect("entry").path()).collect()
}

/// Runs one cell and prints `RESULT seconds peak_rss_mib peak_anon_mib units`.
fn run_cell(cell: &str, dir: &Path) {
    for file in log_files(dir) {
        let file = std::fs::File::open(&file).expect("open");
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
    }
    let memory = measure::MemoryPeaks::start();
    let started = Instant::now();
    let units = match cell {
        "read" => {
            let mut buffer = vec![0u8; 1 << 20];
            for path in log_files(dir) {
                let mut file = std::fs::File::open(&path).expect("open");
                while std::io::Read::read(&mut file, &mut buffer).expect("read") > 0 {}
            }
            0
        }
        "snapshot" => open(dir),
        "log-only" => {
            // The snapshots step aside, so recovery replays the whole log.
            let aside = dir.with_extension("aside");
            std::fs::create_dir_all(&aside).expect("aside");
            let snapshots: Vec<PathBuf> = log_files(dir)
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "snap"))
                .collect();
            for path in &snapshots {
                std::fs::rename(path, aside.join(path.file_name().expect("name"))).expect("move");
            }
            let started = Instant::now();
            let units = open(dir);
            let took = started.elapsed();
            for path in &snapshots {
                std::fs::rename(aside.join(path.file_name().expect("name")), path).expect("back");
            }
            finish(took.as_secs_f64(), memory, units);
            return;
        }
        other => panic!("unknown cell {other}"),
    };
    finish(started.elapsed().as_secs_f64(), memory, units);
}

fn open(dir: &Path) -> u64 {
    let (store, report) = Durable::<KvStore>::open(dir, options()).expect("open");
    assert!(store.read(|kv| kv.len() as u64) <= KEYS);
    std::hint::black_box(&store);
    report.replayed
}

fn finish(seconds: f64, memory: measure::MemoryPeaks, units: u64) {
    let (anon, _) = memory.finish();
    let anon = anon.max(measure::status_kib("RssAnon:") as f64 / 1024.0);
    println!("RESULT {seconds:.3} {:.0} {anon:.0} {units}", measure::peak_rss_mib());
}
