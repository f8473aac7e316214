//! `raft-log` (0.4, by openraft's maintainer): `append` only buffers; `flush(sync, callback)`
//! hands the buffer to its flush thread, which writes it and, if asked, `fdatasync`s, then calls
//! the callback. A durable append waits for that callback (outside the mutex the log sits behind,
//! so concurrent writers share a sync). The flush thread waits `flush_batch_wait` for more
//! requests before syncing: zero for one writer (any wait only adds latency), 100 us for several
//! (with zero it never gathers a group). Chunks of 256 MiB bound the payload cache it keeps.

use std::io;
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raft_log::api::raft_log_writer::RaftLogWriter;
use raft_log::{Config, Types};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bytes;

impl Types for Bytes {
    type LogId = u64;
    type LogPayload = Vec<u8>;
    type Vote = u64;
    type Callback = SyncSender<io::Result<()>>;
    type UserData = ();

    fn log_index(log_id: &u64) -> u64 {
        *log_id
    }

    fn payload_size(payload: &Vec<u8>) -> u64 {
        payload.len() as u64
    }
}

type Log = raft_log::RaftLog<Bytes>;

fn log(dir: &Path, batch_wait: Duration) -> Log {
    std::fs::create_dir_all(dir).expect("dir");
    let mut config = Config::new(dir.to_str().expect("a UTF-8 path"));
    config.wal.chunk_max_size = Some(256 << 20);
    config.wal.flush_batch_wait = Some(batch_wait);
    Log::open(Arc::new(config)).expect("open")
}

pub(crate) struct RaftLog {
    /// The log and the index of its next entry.
    log: Mutex<(Log, u64)>,
    durable: bool,
}

impl RaftLog {
    /// Appends `payloads`; when `sync`, returns once they are durable.
    fn append(&self, payloads: &[&[u8]], sync: bool) {
        let waiter = {
            let mut guard = self.log.lock().expect("lock");
            let (log, next) = &mut *guard;
            let first = *next;
            *next += payloads.len() as u64;
            log.append(payloads.iter().enumerate().map(|(n, p)| (first + n as u64, p.to_vec())))
                .expect("append");
            if sync {
                let (done, waiter) = sync_channel(1);
                log.flush(true, Some(done)).expect("flush");
                Some(waiter)
            } else {
                None
            }
        };
        if let Some(waiter) = waiter {
            waiter.recv().expect("the flush thread answers").expect("durable");
        }
    }
}

impl super::System for RaftLog {
    type Writer<'a> = &'a RaftLog;

    fn open(dir: &Path, durable: bool, writers: usize) -> Self {
        let wait = if writers > 1 { Duration::from_micros(100) } else { Duration::ZERO };
        RaftLog { log: Mutex::new((log(dir, wait), 1)), durable }
    }

    fn writer(&self) -> &RaftLog {
        self
    }

    fn finish(&self) {
        self.append(&[], true);
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let log = log(dir, Duration::ZERO);
        let read = log.read(0, u64::MAX).map(|entry| u64::from(!entry.expect("read").1.is_empty()));
        Some(read.sum())
    }
}

impl super::Writer for &RaftLog {
    fn append(&mut self, payload: &[u8]) {
        RaftLog::append(self, &[payload], self.durable);
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        RaftLog::append(self, payloads, self.durable);
    }
}
