//! `walrus` (walrus-rust 0.2): configured through the environment (`WALRUS_DATA_DIR`, set here
//! before the first instance; `WALRUS_QUIET`) and a fsync schedule fixed per process by the
//! first instance. Each writer thread appends to a topic of its own. Durable cells use
//! `SyncEach` (files opened `O_SYNC`, and an fsync after every append; no group commit).
//! Non-durable cells use `NoFsync` and the harness `fdatasync`s every file at the end (walrus
//! has no call to sync); its batch call fsyncs every batch whatever the schedule, so W1b and
//! the fill of W6 sync once per 1,000 records. Reading moves a cursor (`AtLeastOnce`,
//! never persisted, so reading costs no sync). Each instance keeps a thread and creates a new
//! sparse 1 GiB file; every cell is its own process, so this does not pile up.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use walrus_rust::{FsyncSchedule, ReadConsistency, Walrus as Log};

const KEY: &str = "bench";

fn log(dir: &Path, schedule: FsyncSchedule) -> Log {
    std::fs::create_dir_all(dir).expect("dir");
    // SAFETY: each cell opens one walrus instance, before it starts any thread, so nothing reads
    // the environment concurrently.
    unsafe {
        std::env::set_var("WALRUS_DATA_DIR", dir);
        std::env::set_var("WALRUS_QUIET", "1");
    }
    let consistency = ReadConsistency::AtLeastOnce { persist_every: u32::MAX };
    Log::with_consistency_and_schedule_for_key(KEY, consistency, schedule).expect("open")
}

pub(crate) struct Walrus {
    log: Log,
    dir: PathBuf,
    next_topic: AtomicU64,
}

pub(crate) struct Topic<'a> {
    log: &'a Log,
    name: String,
}

impl super::System for Walrus {
    type Writer<'a> = Topic<'a>;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        let schedule = if durable { FsyncSchedule::SyncEach } else { FsyncSchedule::NoFsync };
        let log = log(dir, schedule);
        // Its files' directory entries (it syncs the files it creates, not their directory).
        crate::measure::sync_tree(dir);
        Walrus { log, dir: dir.to_owned(), next_topic: AtomicU64::new(0) }
    }

    fn writer(&self) -> Topic<'_> {
        Topic {
            log: &self.log,
            name: format!("t{}", self.next_topic.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn finish(&self) {
        crate::measure::sync_tree(&self.dir);
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let log = log(dir, FsyncSchedule::NoFsync);
        let mut read = 0;
        loop {
            let entries = log.batch_read_for_topic("t0", 8 << 20, true).expect("read");
            if entries.is_empty() {
                return Some(read);
            }
            read += entries.iter().map(|entry| u64::from(!entry.data.is_empty())).sum::<u64>();
        }
    }
}

impl super::Writer for Topic<'_> {
    fn append(&mut self, payload: &[u8]) {
        self.log.append_for_topic(&self.name, payload).expect("append");
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        self.log.batch_append_for_topic(&self.name, payloads).expect("append");
    }
}
