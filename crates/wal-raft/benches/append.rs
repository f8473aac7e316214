//! Append + flush throughput of openraft log stores, in one run: this crate's `WalLogStore`,
//! `raft-log` (0.4, by openraft's maintainer) behind a minimal adapter, and an in-memory
//! `BTreeMap` store in the manner of openraft's `mem-log` example (no disk: the ceiling).
//!
//! Each store gets the same entries (a 256 B key-value write each, encoded with postcard):
//! - `pipelined`: 100,000 entries appended in batches of 64 without waiting, as a leader
//!   streams them, then every flush callback awaited: entries/s;
//! - `one by one`: 2,000 appends of one entry, each awaited before the next (a lone
//!   follower's worst case): appends/s and latency.
//!
//! `WAL_BENCH_SCALE` divides the counts; `WAL_BENCH_DIR` is where the stores live.
#![expect(clippy::cast_precision_loss, reason = "counts and nanoseconds far below 2^52")]

#[path = "../tests/it/kv.rs"]
#[allow(dead_code, reason = "the bench uses the types, not the cluster")]
mod kv;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use openraft::type_config::alias::EntryOf;
use wal_raft::WalLogStore;

use kv::{Request, TypeConfig};

type Entry = EntryOf<TypeConfig>;

/// A store under test: append `entries`, calling `done` once they are durable.
trait Store {
    fn append(&mut self, entries: Vec<Entry>, done: IOFlushed<TypeConfig>);
}

struct Ours(WalLogStore<TypeConfig>, tokio::runtime::Handle);

impl Store for Ours {
    fn append(&mut self, entries: Vec<Entry>, done: IOFlushed<TypeConfig>) {
        let store = &mut self.0;
        self.1.block_on(store.append(entries, done)).expect("append");
    }
}

/// `raft-log` holding postcard-encoded entries; its flush thread calls the callback after
/// `fdatasync`.
struct RaftLog(raft_log::RaftLog<RaftLogTypes>);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct RaftLogTypes;

struct Flushed(IOFlushed<TypeConfig>);

impl raft_log::Callback for Flushed {
    fn send(self, result: Result<(), io::Error>) {
        self.0.io_completed(result);
    }
}

impl raft_log::Types for RaftLogTypes {
    type LogId = u64;
    type LogPayload = Vec<u8>;
    type Vote = u64;
    type Callback = Flushed;
    type UserData = ();

    fn log_index(log_id: &u64) -> u64 {
        *log_id
    }

    fn payload_size(payload: &Vec<u8>) -> u64 {
        payload.len() as u64
    }
}

impl Store for RaftLog {
    fn append(&mut self, entries: Vec<Entry>, done: IOFlushed<TypeConfig>) {
        use raft_log::api::raft_log_writer::RaftLogWriter;
        let records = entries
            .iter()
            .map(|entry| (entry.index(), postcard::to_allocvec(entry).expect("encode")));
        self.0.append(records).expect("append");
        self.0.flush(true, Some(Flushed(done))).expect("flush");
    }
}

/// openraft's `mem-log` example in miniature: a map behind a mutex, flushed at once.
#[derive(Default)]
struct Memory(Arc<Mutex<BTreeMap<u64, Entry>>>);

impl Store for Memory {
    fn append(&mut self, entries: Vec<Entry>, done: IOFlushed<TypeConfig>) {
        let mut log = self.0.lock().expect("lock");
        for entry in entries {
            log.insert(entry.index(), entry);
        }
        done.io_completed(Ok(()));
    }
}

fn entry(index: u64) -> Entry {
    let request = Request::Set { key: format!("key-{index:08}"), value: "v".repeat(240) };
    Entry::new_normal(log_id::<TypeConfig>(1, 1, index), request)
}

fn scale() -> u64 {
    std::env::var("WAL_BENCH_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1).max(1)
}

/// Entries per second appending `total` entries in batches of `batch`, awaiting every flush
/// at the end.
fn pipelined(
    store: &mut dyn Store,
    runtime: &tokio::runtime::Runtime,
    total: u64,
    batch: u64,
) -> f64 {
    let started = Instant::now();
    let mut waiters = Vec::new();
    for first in (1..=total).step_by(usize::try_from(batch).expect("small")) {
        let (done, waiter) = TypeConfig::oneshot();
        store.append((first..first + batch).map(entry).collect(), IOFlushed::signal(done));
        waiters.push(waiter);
    }
    runtime.block_on(async {
        for waiter in waiters {
            waiter.await.expect("answered").expect("durable");
        }
    });
    total as f64 / started.elapsed().as_secs_f64()
}

/// Appends per second, p50 and p99, appending one entry at a time from `first`, each awaited.
fn one_by_one(
    store: &mut dyn Store,
    runtime: &tokio::runtime::Runtime,
    first: u64,
    count: u64,
) -> (f64, Duration, Duration) {
    let mut latencies = Vec::new();
    let started = Instant::now();
    for index in first..first + count {
        let at = Instant::now();
        let (done, waiter) = TypeConfig::oneshot();
        store.append(vec![entry(index)], IOFlushed::signal(done));
        runtime.block_on(waiter).expect("answered").expect("durable");
        latencies.push(at.elapsed());
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |percent: usize| latencies[(latencies.len() - 1) * percent / 100];
    (rate, at(50), at(99))
}

/// Opens store `name` in `dir`; `pipelined`: tuned for many appends in flight rather than one.
fn open(
    name: &str,
    dir: &Path,
    runtime: &tokio::runtime::Runtime,
    pipelined: bool,
) -> Box<dyn Store> {
    let dir = dir.join(name);
    match name {
        "wal-raft" => {
            Box::new(Ours(WalLogStore::open(&dir).expect("open"), runtime.handle().clone()))
        }
        "raft-log" => {
            std::fs::create_dir_all(&dir).expect("dir");
            let mut config = raft_log::Config::new(dir.to_str().expect("UTF-8"));
            // Its flush thread waits this long for more requests before syncing (default 1 ms):
            // 100 us gathers pipelined appends into one sync; zero serves a lone append fastest
            // (with zero it never gathers a group).
            let wait = if pipelined { Duration::from_micros(100) } else { Duration::ZERO };
            config.wal.flush_batch_wait = Some(wait);
            Box::new(RaftLog(raft_log::RaftLog::open(Arc::new(config)).expect("open")))
        }
        _ => Box::new(Memory::default()),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let base = std::env::var_os("WAL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let (total, lone) = ((100_000 / scale()).max(64) / 64 * 64, 2_000 / scale().min(10));
    println!("openraft log stores: append + flush, 256 B entries (one process, one run)\n");
    println!(
        "| store | pipelined, batches of 64: entries/s | one by one: appends/s | p50 us | p99 us |"
    );
    println!("|---|---|---|---|---|");
    let mut rows = Vec::new();
    for name in ["wal-raft", "raft-log", "memory (mem-log style, not durable)"] {
        let dir = tempfile::tempdir_in(&base).expect("bench directory");
        let mut store = open(name, &dir.path().join("pipelined"), &runtime, true);
        let rate = pipelined(store.as_mut(), &runtime, total, 64);
        drop(store);
        let mut store = open(name, &dir.path().join("one"), &runtime, false);
        let (lone_rate, p50, p99) = one_by_one(store.as_mut(), &runtime, 1, lone);
        println!(
            "| {name} | {rate:.0} | {lone_rate:.0} | {:.0} | {:.0} |",
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
        rows.push((rate, lone_rate));
        drop(store);
    }
    println!(
        "\nwal-raft / raft-log: pipelined {:.2}, one by one {:.2}",
        rows[0].0 / rows[1].0,
        rows[0].1 / rows[1].1
    );
}
