//! The model of the log the model-based test and the `op_model` fuzz target check against:
//! a plain list of the records written, and how many of them are acknowledged durable.
//!
//! After every reopen or crash, the records the log holds must be a prefix of what was written
//! (nothing invented, nothing reordered, no hole), and that prefix must contain every record
//! acknowledged as durable. Under `Durability::Commit` that is every committed record.
//!
//! Self-contained but for `TAG`, `open_sim` and `small` from the parent module, so that the
//! fuzz target (`fuzz/fuzz_targets/op_model.rs`) includes this very file.

use std::sync::atomic::{AtomicU64, Ordering};

use wal_core::{Durability, EntryKind, Lsn, SimStorage, Wal};

use super::{TAG, open_sim, small};

#[derive(Clone, Debug)]
pub(crate) enum Op {
    Append(usize),
    Txn {
        deltas: Vec<usize>,
        commit: bool,
    },
    /// A transaction left open by the crash that follows.
    OpenTxnThenCrash {
        deltas: usize,
        seed: u64,
    },
    Sync,
    /// Keep the records up to the one at this index (modulo the count held).
    TruncateAfter(usize),
    /// Drop the records before the one at this index (modulo the count held).
    TruncateBefore(usize),
    Reopen,
    Crash(u64),
}

/// A record as the model knows it: what it is and its bytes (LSNs are the log's business).
type Seen = (EntryKind, Vec<u8>);

fn payload(len: usize, salt: u64) -> Vec<u8> {
    (0..len).map(|i| (i as u64 ^ salt).to_le_bytes()[0]).collect()
}

fn read_all(wal: &Wal<SimStorage>) -> Vec<(Lsn, Seen)> {
    let start = wal.start_lsn();
    wal.read_from(start)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.lsn, (entry.kind, entry.payload.to_vec()))
        })
        .collect()
}

/// Power losses simulated so far, by every model in the process.
pub(crate) static CRASHES: AtomicU64 = AtomicU64::new(0);

pub(crate) struct Model {
    storage: SimStorage,
    wal: Option<Wal<SimStorage>>,
    durability: Durability,
    /// Every record the log should hold, from its start.
    records: Vec<Seen>,
    /// How many of `records` are acknowledged durable.
    durable: usize,
    salt: u64,
}

impl Model {
    /// A fresh log on simulated storage under `durability`.
    pub(crate) fn new(durability: Durability) -> Model {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, small(durability));
        Model { storage, wal: Some(wal), durability, records: Vec::new(), durable: 0, salt: 0 }
    }

    fn wal(&self) -> &Wal<SimStorage> {
        self.wal.as_ref().unwrap()
    }

    fn push(&mut self, kind: EntryKind, bytes: Vec<u8>) {
        self.records.push((kind, bytes));
    }

    fn acknowledge_commit(&mut self) {
        if self.durability == Durability::Commit {
            self.durable = self.records.len();
        }
    }

    fn reopen(&mut self, storage: SimStorage, crashed: bool) {
        drop(self.wal.take());
        self.storage = storage;
        let (wal, _) = open_sim(&self.storage, small(self.durability));
        let held = read_all(&wal);
        // The common prefix with what was written; after it, only the aborts recovery appends
        // for transactions a crash left open may follow.
        let prefix_len = held
            .iter()
            .zip(&self.records)
            .take_while(|((_, seen), written)| seen == *written)
            .count();
        assert!(
            prefix_len >= self.durable,
            "lost acknowledged records: {prefix_len} kept of {} durable (crashed: {crashed})",
            self.durable
        );
        // Records after the common prefix may only be the aborts recovery appended.
        for (_, (kind, _)) in &held[prefix_len..] {
            assert!(matches!(kind, EntryKind::Abort { .. }), "unexpected {kind:?}");
        }
        self.records = held.into_iter().map(|(_, seen)| seen).collect();
        self.durable = self.records.len();
        self.wal = Some(wal);
    }

    /// Runs one operation and checks the log against the model after every reopen.
    pub(crate) fn run(&mut self, op: Op) {
        self.salt += 1;
        let salt = self.salt;
        match op {
            Op::Append(len) => {
                let bytes = payload(len, salt);
                self.wal().append(TAG, &bytes).unwrap();
                self.push(EntryKind::Record { tag: TAG }, bytes);
                self.acknowledge_commit();
            }
            Op::Txn { deltas, commit } => {
                let mut txn = self.wal().begin().unwrap();
                let id = txn.id();
                self.push(EntryKind::Begin { txn: id }, Vec::new());
                for len in deltas {
                    let bytes = payload(len, salt ^ len as u64);
                    txn.delta(TAG, &bytes).unwrap();
                    self.push(EntryKind::Delta { txn: id, tag: TAG }, bytes);
                }
                if commit {
                    txn.commit().unwrap();
                    self.push(EntryKind::Commit { txn: id }, Vec::new());
                    self.acknowledge_commit();
                } else {
                    txn.abort().unwrap();
                    self.push(EntryKind::Abort { txn: id }, Vec::new());
                }
            }
            Op::OpenTxnThenCrash { deltas, seed } => {
                let mut txn = self.wal().begin().unwrap();
                let id = txn.id();
                self.push(EntryKind::Begin { txn: id }, Vec::new());
                for n in 0..deltas {
                    let bytes = payload(n * 100, salt);
                    txn.delta(TAG, &bytes).unwrap();
                    self.push(EntryKind::Delta { txn: id, tag: TAG }, bytes);
                }
                let crashed = self.storage.crash(seed);
                // The process died with the transaction open: the crashed image holds no end
                // for it. (Its drop appends an abort to the old log, which is discarded.)
                drop(txn);
                CRASHES.fetch_add(1, Ordering::Relaxed);
                self.reopen(crashed, true);
            }
            Op::Sync => {
                self.wal().sync().unwrap();
                self.durable = self.records.len();
            }
            Op::TruncateAfter(index) => {
                let held = read_all(self.wal());
                if held.is_empty() {
                    return;
                }
                let keep = index % held.len() + 1;
                self.wal().truncate_after(held[keep - 1].0).unwrap();
                self.records.truncate(keep);
                self.durable = keep;
                assert_eq!(read_all(self.wal()).len(), keep);
            }
            Op::TruncateBefore(index) => {
                let held = read_all(self.wal());
                if held.is_empty() {
                    return;
                }
                let drop = index % held.len();
                self.wal().truncate_before(held[drop].0).unwrap();
                self.records.drain(..drop);
                self.durable = self.durable.saturating_sub(drop);
                assert_eq!(self.wal().start_lsn(), held[drop].0);
            }
            Op::Reopen => {
                let same = self.storage.clone();
                self.reopen(same, false);
            }
            Op::Crash(seed) => {
                let crashed = self.storage.crash(seed);
                CRASHES.fetch_add(1, Ordering::Relaxed);
                self.reopen(crashed, true);
            }
        }
    }
}
