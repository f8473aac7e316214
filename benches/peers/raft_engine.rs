//! `raft-engine` (0.4, TiKV's log store), without compression (`batch_compression_threshold`
//! 0) so it writes the same bytes as the others. Entries must be protobuf messages: each record
//! is a `BytesValue` holding its 8-byte index and the payload. Each writer thread appends to a
//! region of its own (raft-engine's unit of a log; threads sharing one would race on its
//! indexes). Non-durable cells write with `sync = false`, and the end is a small write with
//! `sync = true` (`Engine::sync` writes an empty batch, which returns before syncing); durable
//! cells write every record with `sync = true` (pwrite and `fdatasync`, shared by concurrent
//! writers through its write group).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use protobuf::well_known_types::BytesValue;
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};

#[derive(Clone)]
struct Bytes;

impl MessageExt for Bytes {
    type Entry = BytesValue;

    fn index(entry: &BytesValue) -> u64 {
        u64::from_le_bytes(entry.value[..8].try_into().expect("8 bytes of index"))
    }
}

fn entry(index: u64, payload: &[u8]) -> BytesValue {
    let mut value = Vec::with_capacity(8 + payload.len());
    value.extend_from_slice(&index.to_le_bytes());
    value.extend_from_slice(payload);
    BytesValue { value, ..BytesValue::default() }
}

fn engine(dir: &Path) -> Engine {
    let config = Config {
        dir: dir.to_str().expect("a UTF-8 path").to_owned(),
        batch_compression_threshold: ReadableSize(0),
        ..Config::default()
    };
    Engine::open(config).expect("open")
}

pub(crate) struct RaftEngine {
    engine: Engine,
    durable: bool,
    next_region: AtomicU64,
}

/// A writer thread's region and the next index in it.
pub(crate) struct Region<'a> {
    system: &'a RaftEngine,
    id: u64,
    next: u64,
}

impl Region<'_> {
    fn write(&mut self, payloads: &[&[u8]]) {
        let entries: Vec<BytesValue> = payloads
            .iter()
            .enumerate()
            .map(|(n, payload)| entry(self.next + n as u64, payload))
            .collect();
        self.next += payloads.len() as u64;
        let mut batch = LogBatch::with_capacity(1);
        batch.add_entries::<Bytes>(self.id, &entries).expect("add");
        self.system.engine.write(&mut batch, self.system.durable).expect("write");
    }
}

impl super::System for RaftEngine {
    type Writer<'a> = Region<'a>;

    fn open(dir: &Path, durable: bool, _writers: usize) -> Self {
        RaftEngine { engine: engine(dir), durable, next_region: AtomicU64::new(1) }
    }

    fn writer(&self) -> Region<'_> {
        Region { system: self, id: self.next_region.fetch_add(1, Ordering::Relaxed), next: 1 }
    }

    fn finish(&self) {
        let mut batch = LogBatch::default();
        batch.put(0, b"sync".to_vec(), Vec::new()).expect("put");
        self.engine.write(&mut batch, true).expect("sync");
    }

    fn read_all(dir: &Path) -> Option<u64> {
        let engine = engine(dir);
        let (mut read, mut entries) = (0, Vec::new());
        for region in engine.raft_groups() {
            let (Some(first), Some(last)) = (engine.first_index(region), engine.last_index(region))
            else {
                continue;
            };
            let mut at = first;
            while at <= last {
                let end = (at + 10_000).min(last + 1);
                entries.clear();
                engine
                    .fetch_entries_to::<Bytes>(region, at, end, None, &mut entries)
                    .expect("read");
                read += entries.iter().map(|entry| u64::from(entry.value.len() > 8)).sum::<u64>();
                at = end;
            }
        }
        Some(read)
    }
}

impl super::Writer for Region<'_> {
    fn append(&mut self, payload: &[u8]) {
        self.write(&[payload]);
    }

    fn append_batch(&mut self, payloads: &[&[u8]]) {
        self.write(payloads);
    }
}
