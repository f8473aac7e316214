//! An open that refuses the state decides before it writes: the log is left holding exactly
//! what it held (no abort record, no new segment), so the user can still repair it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use wal_core::{SimStorage, Storage, Tag, Wal};
use wal_snapshot::{Durable, Error, kv::KvStore};

use crate::support::{Model, dir, execute, open, options};

/// The log's segment files and their bytes.
fn segments(storage: &SimStorage) -> BTreeMap<PathBuf, Vec<u8>> {
    storage
        .list(dir())
        .unwrap()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "wal"))
        .map(|path| {
            let bytes = storage.read_file(&path);
            (path, bytes)
        })
        .collect()
}

#[test]
fn an_open_refused_as_ahead_of_the_log_writes_nothing_to_it() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_prune(false));
    let mut model = Model::default();
    execute(&durable, &mut model, 0..60);
    let checkpoint = durable.checkpoint().unwrap();
    drop(durable);
    // The log loses its tail below the snapshot's point, and a crash leaves a transaction
    // open in it: an open that went on would write an abort for it and a new segment.
    let (wal, _) = Wal::open_in(storage.clone(), dir(), options().wal).unwrap();
    wal.truncate_after(wal_core::Lsn(checkpoint.header.next_lsn.0 - 20)).unwrap();
    let mut txn = wal.begin().unwrap();
    txn.delta(Tag::user(0x40).unwrap(), b"left open").unwrap();
    wal.sync().unwrap();
    let crashed = storage.crash(3);
    drop(txn);
    drop(wal);

    let before = segments(&crashed);
    match Durable::<KvStore, _>::open_in(crashed.clone(), dir(), options()) {
        Err(Error::AheadOfLog { .. }) => {}
        Err(other) => panic!("expected AheadOfLog, got {other}"),
        Ok(_) => panic!("a snapshot ahead of its log was accepted"),
    }
    assert_eq!(segments(&crashed), before, "the refused open changed the log's segments");
}
