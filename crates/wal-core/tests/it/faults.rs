//! Failures: a full disk, a failed sync, and an I/O error at every storage operation.

use wal_core::{Durability, Error, SimStorage, SpaceFill};
use wal_segment::storage::Fault;

use crate::support::{TAG, committed_payloads, open_sim, small};

#[test]
fn a_full_disk_is_a_typed_error_reads_keep_working_and_appends_resume_once_space_is_freed() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    // Room for the segments so far and nothing more.
    storage.set_capacity(Some(4 * (64 << 10)));
    let mut acknowledged = Vec::new();
    let error = loop {
        match wal.append(TAG, &[7; 900]) {
            Ok(lsn) => acknowledged.push(lsn),
            Err(error) => break error,
        }
    };
    assert!(error.is_out_of_space(), "{error}");
    for &lsn in &acknowledged {
        assert_eq!(wal.get(lsn).unwrap().unwrap().payload.len(), 900);
    }
    assert!(wal.append(TAG, &[7; 900]).unwrap_err().is_out_of_space());
    storage.set_capacity(None);
    let after = wal.append(TAG, b"space again").unwrap();
    assert_eq!(wal.get(after).unwrap().unwrap().payload.as_ref(), b"space again");
    drop(wal);
    let (wal, report) = open_sim(&storage, small(Durability::Commit));
    assert_eq!(report.records, acknowledged.len() as u64 + 1);
    assert_eq!(committed_payloads(&wal).len(), acknowledged.len() + 1);
    println!(
        "disk full after {} commits: typed error, 0 lost, appends resumed",
        acknowledged.len()
    );
}

#[test]
fn a_failed_sync_poisons_the_log_and_is_never_retried() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    wal.append(TAG, b"durable").unwrap();
    // The next storage operation is the commit's msync.
    storage.fail_after(0, Fault::Io);
    let failure = wal.append(TAG, b"in doubt").unwrap_err();
    assert!(
        matches!(&failure, Error::Segment(wal_core::SegmentError::Io { op: "msync", .. })),
        "{failure:?}"
    );
    for attempt in [wal.append(TAG, b"later"), wal.sync().map(|()| wal_core::Lsn(0))] {
        // Every later caller is told what poisoned the log: the first caller's error, typed.
        match attempt {
            Err(Error::Poisoned { cause }) => assert_eq!(cause.to_string(), failure.to_string()),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(wal.begin(), Err(Error::Poisoned { .. })));
    let crashed = storage.crash(1);
    drop(wal);
    let (wal, _) = open_sim(&crashed, small(Durability::Commit));
    let kept = committed_payloads(&wal);
    assert_eq!(kept[0], vec![b"durable".to_vec()]);
    assert!(kept.len() <= 2);
}

/// Every storage operation of a busy session fails in turn; then the power goes. Whatever
/// failed, every commit acknowledged is recovered. Both ways of preparing a chunk's space
/// (the zero-filled one has a step of its own that can fail after the reservation).
#[test]
fn an_io_error_at_every_storage_operation_loses_nothing_acknowledged() {
    for fill in [SpaceFill::Reserved, SpaceFill::Zeroed] {
        io_error_at_every_storage_operation(small(Durability::Commit).with_space_fill(Some(fill)));
    }
}

fn io_error_at_every_storage_operation(options: wal_core::Options) {
    let operations = {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, options);
        let before = storage.operations();
        assert_eq!(session(&wal), 120, "a clean session acknowledges every commit");
        storage.operations() - before
    };
    let (mut surfaced, mut reopened) = (0, 0);
    for step in 0..operations {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, options);
        storage.fail_after(step, Fault::Io);
        let acknowledged = session(&wal);
        surfaced += usize::from(acknowledged < 120);
        let crashed = storage.crash(step);
        drop(wal);
        {
            let (wal, _) = wal_core::Wal::open_in(crashed, crate::support::dir(), options)
                .unwrap_or_else(|e| panic!("step {step}: power loss after the failure: {e}"));
            let kept = committed_payloads(&wal).len();
            assert!(
                kept >= acknowledged,
                "step {step}: {kept} kept of {acknowledged} acknowledged"
            );
        }
        // Or the process restarts in the same boot: a failed sync left its pages clean in the
        // page cache but never written (as Linux does), so the reopen sees records the disk
        // may not have. Whatever it trusts, and the commit made after it, must survive the
        // power loss that follows.
        let (wal, _) = wal_core::Wal::open_in(storage.clone(), crate::support::dir(), options)
            .unwrap_or_else(|e| panic!("step {step}: reopen in the same boot: {e}"));
        let mut trusted = committed_payloads(&wal);
        assert!(trusted.len() >= acknowledged, "step {step}: reopen in the same boot");
        wal.append(TAG, b"after the reopen").unwrap();
        trusted.push(vec![b"after the reopen".to_vec()]);
        for seed in 0..3 {
            let crashed = storage.crash(step * 3 + seed);
            let (after, _) = wal_core::Wal::open_in(crashed, crate::support::dir(), options)
                .unwrap_or_else(|e| {
                    panic!("step {step}, seed {seed}: power loss after the reopen: {e}")
                });
            assert_eq!(committed_payloads(&after), trusted, "step {step}, seed {seed}");
        }
        reopened += 1;
    }
    println!(
        "faults ({:?}): an I/O error at each of {operations} storage operations ({surfaced} surfaced as \
         errors), then a power loss: 0 acknowledged commits lost; {reopened} reopens in the \
         same boot after the failure, each then 3 power losses: 0 trusted records lost",
        options.space_fill
    );
}

/// 120 commits, a third of them transactions; returns how many were acknowledged.
fn session(wal: &wal_core::Wal<SimStorage>) -> usize {
    let mut acknowledged = 0;
    for n in 0..120u32 {
        let ok = if n % 3 == 0 {
            wal.begin()
                .and_then(|mut txn| {
                    txn.delta(TAG, &n.to_le_bytes().repeat(200))?;
                    txn.commit()
                })
                .is_ok()
        } else {
            wal.append(TAG, &n.to_le_bytes().repeat(300)).is_ok()
        };
        // Failures that do not poison (a chunk that could not be prepared) let later commits
        // through: those are acknowledged too.
        acknowledged += usize::from(ok);
    }
    acknowledged
}

/// Committers racing a failed sync: each gets the sync's error itself or `Poisoned` naming it,
/// never a cause it did not have (a waiter woken by the failed sync must find the cause
/// recorded). Each round fails a different storage operation among four committing threads
/// (the failed sync among them; a failed preparation of space fails one append only).
#[test]
fn every_committer_after_a_failed_sync_is_told_its_cause() {
    let mut told = 0;
    for round in 0..20u64 {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, small(Durability::Commit));
        storage.fail_after(round, Fault::Io);
        // Bounded: a failed preparation of space is not poisonous, and appends go on.
        let errors: Vec<Error> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..200).find_map(|_| wal.append(TAG, &[3; 200]).err())))
                .collect();
            threads.into_iter().filter_map(|thread| thread.join().unwrap()).collect()
        });
        for error in errors {
            let cause = match &error {
                Error::Poisoned { cause } => cause.as_ref(),
                other => other,
            };
            assert!(
                matches!(cause, Error::Segment(wal_core::SegmentError::Io { .. })),
                "round {round}: {error:?}"
            );
            told += 1;
        }
    }
    println!("{told} committers after a failed sync: each told the sync's I/O error");
}
