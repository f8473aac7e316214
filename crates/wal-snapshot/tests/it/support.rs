//! Helpers shared by the tests: a simulated log of key-value transactions and its model.

use std::collections::BTreeMap;
use std::path::Path;

use wal_core::{ChunkPreparation, Durability, Options, SimStorage};
use wal_snapshot::kv::{KvChange, KvStore};
use wal_snapshot::{Durable, OpenReport, SnapshotOptions};

pub(crate) fn dir() -> &'static Path {
    Path::new("/state")
}

/// Small chunks and segments, every storage step in a fixed order.
pub(crate) fn options() -> SnapshotOptions {
    SnapshotOptions::default().with_wal(
        Options::default()
            .with_chunk_bytes(64 << 10)
            .with_chunks_per_segment(1)
            .with_durability(Durability::Commit)
            .with_preparation(ChunkPreparation::Inline)
            .with_housekeeping(None),
    )
}

pub(crate) fn open(
    storage: &SimStorage,
    options: SnapshotOptions,
) -> (Durable<KvStore, SimStorage>, OpenReport) {
    Durable::open_in(storage.clone(), dir(), options).expect("open")
}

/// One operation of a workload, as the model sees it.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Op {
    pub(crate) fn change(&self) -> KvChange {
        match self {
            Op::Put(key, value) => KvStore::put(key, value),
            Op::Delete(key) => KvStore::delete(key),
        }
    }
}

/// What the state must be: every acknowledged transaction applied to a plain map.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Model(pub(crate) BTreeMap<Vec<u8>, Vec<u8>>);

impl Model {
    /// Transaction `n` of a workload: two puts and a delete, keys reused so deletes matter.
    pub(crate) fn transaction(n: u64) -> Vec<Op> {
        let key = |k: u64| format!("key-{:04}", k % 97).into_bytes();
        let value = format!("value-{n}-{}", "x".repeat((n % 13) as usize * 20)).into_bytes();
        vec![
            Op::Put(key(n), value.clone()),
            Op::Put(key(n * 7 + 3), value[..value.len() / 2].to_vec()),
            Op::Delete(key(n * 3 + 1)),
        ]
    }

    pub(crate) fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Put(key, value) => {
                    self.0.insert(key.clone(), value.clone());
                }
                Op::Delete(key) => {
                    self.0.remove(key);
                }
            }
        }
    }

    pub(crate) fn matches(&self, store: &KvStore) -> bool {
        store.len() == self.0.len()
            && store
                .iter()
                .zip(&self.0)
                .all(|((k, v), (mk, mv))| k == mk.as_slice() && v == mv.as_slice())
    }
}

/// Executes transaction `n` on `durable`.
pub(crate) fn execute_one(
    durable: &Durable<KvStore, SimStorage>,
    ops: &[Op],
) -> Result<wal_core::Lsn, wal_snapshot::Error> {
    let changes: Vec<KvChange> = ops.iter().map(Op::change).collect();
    let borrowed: Vec<_> = changes.iter().map(KvChange::as_change).collect();
    durable.execute(&borrowed)
}

/// Executes transactions `range` and records them in `model`.
pub(crate) fn execute(
    durable: &Durable<KvStore, SimStorage>,
    model: &mut Model,
    range: std::ops::Range<u64>,
) {
    for n in range {
        let ops = Model::transaction(n);
        execute_one(durable, &ops).expect("execute");
        model.apply(&ops);
    }
}
