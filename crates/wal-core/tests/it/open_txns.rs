//! Open transactions against every way records leave the log (size-limit pruning, forced
//! prunes, `truncate_before`, `truncate_after`) and against the log being dropped: a commit is
//! acknowledged only if replay yields it, now and after a reopen.

use std::sync::Arc;
use std::sync::Barrier;

use wal_core::{Durability, Error, Force, Lsn, SimStorage, Wal};

use crate::support::{TAG, committed_payloads, open_sim, small};

/// The options of the reproduction: 64 KiB chunks, 2 per segment, a 512 KiB size limit.
fn limited() -> wal_core::Options {
    small(Durability::Commit).with_size_limit_bytes(Some(512 << 10))
}

fn has_unit(wal: &Wal<SimStorage>, first: &[u8], last: &[u8]) -> bool {
    committed_payloads(wal).iter().any(|unit| unit == &[first.to_vec(), last.to_vec()])
}

#[test]
fn size_limit_pruning_never_removes_the_begin_of_an_open_transaction() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, limited());
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"first").unwrap();
    for n in 0u32..6000 {
        wal.append(TAG, &n.to_le_bytes().repeat(40)).unwrap();
    }
    assert!(wal.start_lsn() <= txn.begin_lsn(), "the prune stopped at the begin record");
    txn.delta(TAG, b"last").unwrap();
    txn.commit().unwrap();
    assert!(has_unit(&wal, b"first", b"last"), "replay yields the acknowledged transaction");
    drop(wal);
    let (wal, _) = open_sim(&storage, limited());
    assert!(has_unit(&wal, b"first", b"last"), "and so does a replay after reopening");
    // Once it ended, the floor is gone: the next roll prunes back to the limit.
    for n in 0u32..3000 {
        wal.append(TAG, &n.to_le_bytes().repeat(40)).unwrap();
    }
    let held: u64 = crate::support::segment_files(&storage).len() as u64 * (128 << 10);
    assert!(held <= (512 << 10) + (128 << 10), "pruned to the limit again: {held} bytes");
}

#[test]
fn a_forced_prune_past_an_open_transaction_fails_its_commit() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"first").unwrap();
    for n in 0u32..3000 {
        wal.append(TAG, &n.to_le_bytes().repeat(40)).unwrap();
    }
    let report = wal.prune(0, Force::No).unwrap();
    assert_eq!(report.held_by_floor, Some(txn.begin_lsn()), "{report:?}");
    assert!(matches!(
        wal.truncate_before(wal.next_lsn()),
        Err(Error::HeldByTransaction { begin, .. }) if begin == txn.begin_lsn()
    ));
    let report = wal.prune(0, Force::Yes).unwrap();
    assert!(report.start > txn.begin_lsn(), "{report:?}");
    assert!(matches!(txn.delta(TAG, b"more"), Err(Error::TransactionPruned { .. })));
    assert!(matches!(txn.commit(), Err(Error::TransactionPruned { .. })));
    // Other work goes on.
    let mut next = wal.begin().unwrap();
    next.delta(TAG, b"a").unwrap();
    next.delta(TAG, b"b").unwrap();
    next.commit().unwrap();
    assert!(has_unit(&wal, b"a", b"b"));
}

#[test]
fn a_commit_after_a_cut_below_its_records_fails_as_truncated() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let kept = wal.append(TAG, b"kept").unwrap();
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, b"first").unwrap();
    txn.delta(TAG, b"second").unwrap();
    wal.truncate_after(kept).unwrap();
    assert!(matches!(txn.commit(), Err(Error::Truncated { at }) if at == Lsn(kept.0 + 1)));
    assert!(committed_payloads(&wal).iter().all(|unit| unit.len() == 1));

    // A cut between its deltas: the transaction is no longer whole either.
    let mut txn = wal.begin().unwrap();
    let first = txn.delta(TAG, b"first").unwrap();
    txn.delta(TAG, b"second").unwrap();
    wal.truncate_after(first).unwrap();
    assert!(matches!(txn.commit(), Err(Error::Truncated { .. })));
    // A cut after every record of an open transaction leaves it whole.
    let mut txn = wal.begin().unwrap();
    let last = txn.delta(TAG, b"x").unwrap();
    wal.append(TAG, b"dropped").unwrap();
    wal.truncate_after(last).unwrap();
    txn.delta(TAG, b"y").unwrap();
    txn.commit().unwrap();
    assert!(has_unit(&wal, b"x", b"y"));
}

#[test]
fn a_reader_waiting_at_the_end_of_a_segment_cut_short_is_never_moved_past_a_record() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    // Fill the first segment until it is sealed, and note where its seal sits.
    let first_segment_end = loop {
        wal.append(TAG, &[1; 300]).unwrap();
        if crate::support::segment_files(&storage).len() > 1 {
            break wal.next_lsn();
        }
    };
    // Cut inside the sealed segment: the seal goes with the cut records.
    let cut_after = Lsn(first_segment_end.0 - 10);
    wal.truncate_after(cut_after).unwrap();
    // A reader that has read every kept record but the last, `cut_after`: it waits there.
    let mut reader = wal.read_from(wal.start_lsn()).unwrap();
    let before_last = usize::try_from(cut_after.0 - wal.start_lsn().0).unwrap();
    let read: Vec<_> = reader.by_ref().take(before_last).map(|entry| entry.unwrap().lsn).collect();
    assert_eq!(read.last(), Some(&Lsn(cut_after.0 - 1)));
    // New records, then the start moves to just past the cut segment: the record the reader
    // waits for is gone, and it must hear so, not be moved on as if it waited at a seal.
    let next = wal.append(TAG, b"after the cut").unwrap();
    assert_eq!(next, Lsn(cut_after.0 + 1));
    wal.truncate_before(next).unwrap();
    match reader.next() {
        Some(Err(Error::OutOfRange { lsn, .. })) => assert_eq!(lsn, cut_after),
        other => panic!("expected OutOfRange at {cut_after}, got {other:?}"),
    }
}

/// Committers race the drop of the log (a `Txn` outlives its `Wal`): every commit that returned
/// `Ok` is durable (it survives a power loss right after the drop), and the others fail with
/// `Closed`, never hang.
#[test]
fn a_commit_racing_the_drop_of_the_log_is_never_acknowledged_without_a_sync() {
    let rounds = crate::support::reliability_count(200, 2000);
    let (mut acknowledged, mut refused) = (0, 0);
    for round in 0..rounds {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, small(Durability::Commit));
        let start = Arc::new(Barrier::new(4));
        let committers: Vec<_> = (0..3u8)
            .map(|thread| {
                let mut txn = wal.begin().unwrap();
                txn.delta(TAG, &[thread, 1]).unwrap();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    match txn.commit() {
                        Ok(_) => Some(thread),
                        Err(Error::Closed) => None,
                        Err(other) => panic!("unexpected {other}"),
                    }
                })
            })
            .collect();
        start.wait();
        if round % 2 == 1 {
            std::thread::yield_now();
        }
        drop(wal);
        let acked: Vec<u8> = committers.into_iter().filter_map(|t| t.join().unwrap()).collect();
        let crashed = storage.crash(round);
        let (wal, _) = open_sim(&crashed, small(Durability::Commit));
        let recovered = committed_payloads(&wal);
        for thread in &acked {
            assert!(
                recovered.contains(&vec![vec![*thread, 1]]),
                "round {round}: the acknowledged commit of thread {thread} was lost"
            );
        }
        acknowledged += acked.len();
        refused += 3 - acked.len();
    }
    println!(
        "log dropped under committers: {rounds} rounds, {acknowledged} commits acknowledged \
         (0 lost after a power loss), {refused} refused with Closed"
    );
}
