//! The model of the log the model-based test and the `op_model` fuzz target check against:
//! a plain list of the records written, and how many of them are acknowledged durable.
//!
//! After every reopen or crash, the records the log holds must be a prefix of what was written
//! (nothing invented, nothing reordered, no hole), and that prefix must contain every record
//! acknowledged as durable. Under `Durability::Commit` that is every committed record.
//!
//! A transaction can stay open across any other operation (appends that roll segments and,
//! with a size limit, prune them; forced and unforced prunes; cuts on either side; reopens and
//! crashes that drop the log under it). Its begin record must never be pruned unless forced;
//! a commit that returns `Ok` must be yielded by replay; a commit after a removal of any of its
//! records must fail.
//!
//! Self-contained but for `TAG`, `open_sim` and `small` from the parent module, so that the
//! fuzz target (`fuzz/fuzz_targets/op_model.rs`) includes this very file.

use std::sync::atomic::{AtomicU64, Ordering};

use wal_core::{Durability, EntryKind, Error, Force, Lsn, SimStorage, Txn, Wal};

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
    /// Appends this many 900-byte records: enough to roll segments (and prune, with a limit).
    Fill(usize),
    /// Begins the open transaction (if none is open).
    Begin,
    /// A delta of this length in the open transaction.
    Delta(usize),
    /// Commits the open transaction.
    Commit,
    /// Aborts the open transaction.
    Abort,
    /// Prunes to an empty budget, forced or not.
    Prune {
        force: bool,
    },
}

/// The transaction the model keeps open across other operations.
struct OpenTxn {
    txn: Txn<SimStorage>,
    id: u64,
    begin: Lsn,
    last: Lsn,
    /// A forced prune or a cut removed some of its records: it can never commit.
    removed: bool,
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
    size_limit_bytes: Option<u64>,
    open: Option<OpenTxn>,
}

impl Model {
    /// A fresh log that prunes itself to `size_limit_bytes` bytes at every roll.
    pub(crate) fn with_size_limit(durability: Durability, size_limit_bytes: Option<u64>) -> Model {
        let storage = SimStorage::new();
        let options = small(durability).with_size_limit_bytes(size_limit_bytes);
        let (wal, _) = open_sim(&storage, options);
        Model {
            storage,
            wal: Some(wal),
            durability,
            records: Vec::new(),
            durable: 0,
            salt: 0,
            size_limit_bytes,
            open: None,
        }
    }

    fn options(&self) -> wal_core::Options {
        small(self.durability).with_size_limit_bytes(self.size_limit_bytes)
    }

    /// The log may have pruned its front: the model drops the same records, and checks that
    /// the log holds exactly the rest, and that an open transaction's begin was kept unless
    /// a forced prune removed it.
    fn follow_start(&mut self) {
        let held = read_all(self.wal());
        assert!(held.len() <= self.records.len(), "the log holds records never written");
        let gone = self.records.len() - held.len();
        let rest: Vec<&Seen> = held.iter().map(|(_, seen)| seen).collect();
        assert!(self.records[gone..].iter().eq(rest), "the log is not the model's suffix");
        self.records.drain(..gone);
        self.durable = self.durable.saturating_sub(gone);
        let start = self.wal().start_lsn();
        if let Some(open) = self.open.as_ref().filter(|open| !open.removed) {
            assert!(open.begin >= start, "the begin of an open transaction was pruned");
        }
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
        // The log goes first, under its open transaction (whose drop then finds it closed).
        let open = self.open.take();
        drop(self.wal.take());
        drop(open);
        self.storage = storage;
        let (wal, _) = open_sim(&self.storage, self.options());
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
        self.apply(op);
        // Any write may have rolled a segment and pruned the log to its size limit.
        self.follow_start();
    }

    fn apply(&mut self, op: Op) {
        self.salt += 1;
        let salt = self.salt;
        match op {
            Op::Append(len) => {
                let bytes = payload(len, salt);
                self.wal().append(TAG, &bytes).unwrap();
                self.push(EntryKind::Record { tag: TAG }, bytes);
                self.acknowledge_commit();
            }
            Op::Fill(count) => {
                for n in 0..count {
                    let bytes = payload(900, salt ^ n as u64);
                    self.wal().append(TAG, &bytes).unwrap();
                    self.push(EntryKind::Record { tag: TAG }, bytes);
                    self.acknowledge_commit();
                }
            }
            Op::Begin => {
                if self.open.is_some() {
                    return;
                }
                let txn = self.wal().begin().unwrap();
                let (id, begin) = (txn.id(), txn.begin_lsn());
                self.push(EntryKind::Begin { txn: id }, Vec::new());
                self.open = Some(OpenTxn { txn, id, begin, last: begin, removed: false });
            }
            Op::Delta(len) => {
                let Some(open) = self.open.as_mut() else { return };
                let bytes = payload(len, salt);
                match open.txn.delta(TAG, &bytes) {
                    Ok(lsn) => {
                        assert!(!open.removed, "a delta of a removed transaction was written");
                        open.last = lsn;
                        let id = open.id;
                        self.push(EntryKind::Delta { txn: id, tag: TAG }, bytes);
                    }
                    Err(Error::Truncated { .. } | Error::TransactionPruned { .. }) => {
                        assert!(open.removed, "a delta of a whole transaction refused");
                    }
                    Err(other) => panic!("delta: {other}"),
                }
            }
            Op::Commit => {
                let Some(open) = self.open.take() else { return };
                let removed = open.removed;
                let id = open.id;
                match open.txn.commit() {
                    Ok(lsn) => {
                        assert!(!removed, "a removed transaction committed");
                        self.push(EntryKind::Commit { txn: id }, Vec::new());
                        self.acknowledge_commit();
                        let replayed = self.wal().replay().unwrap().any(|unit| {
                            let unit = unit.unwrap();
                            unit.txn == Some(id) && unit.commit_lsn == lsn
                        });
                        assert!(replayed, "an acknowledged commit is not replayed");
                    }
                    Err(Error::Truncated { .. } | Error::TransactionPruned { .. }) => {
                        assert!(removed, "the commit of a whole transaction refused");
                    }
                    Err(other) => panic!("commit: {other}"),
                }
            }
            Op::Abort => {
                let Some(open) = self.open.take() else { return };
                let id = open.id;
                open.txn.abort().unwrap();
                self.push(EntryKind::Abort { txn: id }, Vec::new());
            }
            Op::Prune { force } => {
                let report =
                    self.wal().prune(0, if force { Force::Yes } else { Force::No }).unwrap();
                let intact = self.open.as_mut().filter(|open| !open.removed);
                if let Some(open) = intact.filter(|open| open.begin < report.start) {
                    assert!(force, "an unforced prune passed an open transaction's begin");
                    open.removed = true;
                }
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
                let cut = held[keep - 1].0;
                self.wal().truncate_after(cut).unwrap();
                if let Some(open) = self.open.as_mut().filter(|open| open.last > cut) {
                    open.removed = true;
                }
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
                let floor = self.open.as_ref().filter(|open| !open.removed).map(|open| open.begin);
                if let Some(begin) = floor.filter(|&begin| begin < held[drop].0) {
                    match self.wal().truncate_before(held[drop].0) {
                        Err(Error::HeldByTransaction { begin: held_at, .. }) => {
                            assert_eq!(held_at, begin);
                        }
                        other => panic!("truncate_before past an open transaction: {other:?}"),
                    }
                    return;
                }
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
