//! A crash at every step of a checkpoint, on simulated storage: writing the temporary file,
//! syncing it, renaming it, syncing the directory, deleting the older snapshot, moving the
//! log's start and deleting its segments. Each storage operation of the checkpoint in turn
//! fails (the process stops there), then the machine loses power with several seeds (unsynced
//! pages, names and renames kept, lost or torn). Recovery must always give the state of every
//! acknowledged transaction.

use wal_core::SimStorage;
use wal_core::storage::Fault;

use crate::support::{Model, execute, open, options};

const SEEDS: u64 = 6;

/// The scenario: 60 transactions, a checkpoint, 60 more; then the checkpoint under test.
/// Returns the storage, the model, and the first checkpoint's point.
fn prepare() -> (SimStorage, Model, wal_core::Lsn) {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options().with_keep(1));
    let mut model = Model::default();
    execute(&durable, &mut model, 0..60);
    let first = durable.checkpoint().expect("first checkpoint").header.next_lsn;
    execute(&durable, &mut model, 60..120);
    drop(durable);
    (storage, model, first)
}

#[test]
fn a_crash_at_every_step_of_a_checkpoint_recovers_every_acknowledged_transaction() {
    // How many storage operations the checkpoint under test makes.
    let (storage, _, _) = prepare();
    let (durable, _) = open(&storage, options().with_keep(1));
    let before = storage.operations();
    durable.checkpoint().expect("clean checkpoint");
    let steps = storage.operations() - before;
    drop(durable);
    assert!(steps >= 8, "temp file, writes, sync, rename, dir sync, delete, anchor, segments");

    let (mut failed, mut from_new, mut from_old, mut recoveries) = (0u64, 0u64, 0u64, 0u64);
    for step in 0..=steps {
        let (storage, model, first) = prepare();
        let (durable, _) = open(&storage, options().with_keep(1));
        storage.fail_after(step, Fault::Io);
        let outcome = durable.checkpoint();
        failed += u64::from(outcome.is_err());
        drop(durable);
        for seed in 0..SEEDS {
            let crashed = storage.crash(step * 1000 + seed);
            let (recovered, report) = open(&crashed, options().with_keep(1));
            assert!(
                recovered.read(|kv| model.matches(kv)),
                "step {step} seed {seed}: state differs from the acknowledged transactions ({report:?})"
            );
            recoveries += 1;
            match &report.snapshot {
                Some((_, header)) if header.next_lsn > first => from_new += 1,
                _ => from_old += 1,
            }
            // The recovered state keeps working: more transactions, another checkpoint.
            let mut model = model.clone();
            execute(&recovered, &mut model, 500..510);
            recovered.checkpoint().expect("checkpoint after recovery");
            assert!(recovered.read(|kv| model.matches(kv)));
        }
    }
    println!(
        "checkpoint of {steps} storage operations: a failure at each ({failed} surfaced as \
         errors), {recoveries} power losses: every one recovered every acknowledged \
         transaction ({from_new} from the new snapshot, {from_old} from the older one or the log)"
    );
}
