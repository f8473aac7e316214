//! Many threads committing transactions at once under `Durability::Commit`, on real files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use wal_core::{Durability, EntryKind, Lsn, Options, TxnId, Wal};

use crate::support::TAG;

const THREADS: u64 = 8;

/// A commit's LSN and its deltas.
type Commit = (Lsn, Vec<Vec<u8>>);
const TXNS_PER_THREAD: u64 = 150;

#[test]
fn eight_threads_of_transactions_keep_order_density_and_every_acknowledged_commit() {
    let dir = tempfile::tempdir().unwrap();
    // Small chunks and segments: the threads cross chunk and segment boundaries constantly.
    let options = Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_durability(Durability::Commit);
    let acknowledged: Mutex<BTreeMap<TxnId, Commit>> = Mutex::new(BTreeMap::new());
    let (wal, _) = Wal::open(dir.path(), options).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (wal, acknowledged) = (&wal, &acknowledged);
            scope.spawn(move || {
                for n in 0..TXNS_PER_THREAD {
                    let mut txn = wal.begin().unwrap();
                    let deltas: Vec<Vec<u8>> = (0..1 + (n % 4))
                        .map(|d| {
                            format!("t{thread} n{n} d{d} {}", "x".repeat((n * 37 % 500) as usize))
                                .into_bytes()
                        })
                        .collect();
                    for delta in &deltas {
                        txn.delta(TAG, delta).unwrap();
                    }
                    let id = txn.id();
                    if n % 5 == 4 {
                        txn.abort().unwrap();
                    } else {
                        let lsn = txn.commit().unwrap();
                        acknowledged.lock().unwrap().insert(id, (lsn, deltas));
                    }
                }
            });
        }
    });
    let stats = wal.stats();
    let end = wal.next_lsn();
    drop(wal);

    let (wal, report) = Wal::open(dir.path(), options).unwrap();
    let acknowledged = acknowledged.into_inner().unwrap();
    assert_eq!(report.committed, acknowledged.len() as u64);
    assert_eq!(report.unfinished, 0);
    // Order: each transaction's begin, deltas in order, then its commit; LSNs increase.
    let mut open: HashMap<TxnId, (Lsn, Vec<Vec<u8>>)> = HashMap::new();
    let mut committed = BTreeMap::new();
    let mut last = Lsn(0);
    let mut lsns = Vec::new();
    for entry in wal.read_from(wal.start_lsn()).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.lsn > last);
        last = entry.lsn;
        lsns.push(entry.lsn);
        match entry.kind {
            EntryKind::Begin { txn } => {
                assert!(open.insert(txn, (entry.lsn, Vec::new())).is_none())
            }
            EntryKind::Delta { txn, .. } => {
                open.get_mut(&txn).unwrap().1.push(entry.payload.to_vec())
            }
            EntryKind::Commit { txn } => {
                let (begin, deltas) = open.remove(&txn).unwrap();
                assert!(begin < entry.lsn);
                committed.insert(txn, (entry.lsn, deltas));
            }
            EntryKind::Abort { txn } => {
                open.remove(&txn).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(open.is_empty());
    assert_eq!(committed, acknowledged, "every acknowledged commit, deltas in order");
    // Density: every LSN from the start to the end is a record, or a segment seal (unreadable).
    let mut gaps = 0;
    let mut seen = lsns.iter().peekable();
    for lsn in wal.start_lsn().0..end.0 {
        if seen.peek() == Some(&&Lsn(lsn)) {
            seen.next();
        } else {
            assert!(wal.get(Lsn(lsn)).unwrap().is_none(), "LSN {lsn} missing");
            gaps += 1;
        }
    }
    assert_eq!(gaps, stats.segments_rolled, "only seals are not readable");
    let per_sync = stats.group_waiters as f64 / stats.group_syncs.max(1) as f64;
    println!(
        "stress: {THREADS} threads, {} commits acknowledged and recovered, {} records, {} syncs, \
         {per_sync:.2} committers waiting per group sync, {} segments rolled",
        acknowledged.len(),
        lsns.len(),
        stats.syncs,
        stats.segments_rolled
    );
}

/// `sync_below(next_lsn())` while other threads append: on return everything below the point
/// is durable, including records that were still being copied when the point was read.
#[test]
fn sync_below_covers_records_still_being_copied() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .with_chunk_bytes(64 << 10)
        .with_chunks_per_segment(2)
        .with_durability(Durability::Buffered);
    let (wal, _) = Wal::open(dir.path(), options).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut checks = 0;
    std::thread::scope(|scope| {
        for thread in 0..3u8 {
            let (wal, done) = (&wal, &done);
            scope.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    wal.append(TAG, &[thread; 3000]).unwrap();
                }
            });
        }
        for _ in 0..500 {
            let point = wal.next_lsn();
            wal.sync_below(point).unwrap();
            assert!(wal.durable_lsn() >= point, "{:?} < {point:?}", wal.durable_lsn());
            checks += 1;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let beyond = Lsn(wal.next_lsn().0 + 1);
    assert!(matches!(wal.sync_below(beyond), Err(wal_core::Error::OutOfRange { .. })));
    println!("sync_below: {checks} points fixed under 3 appending threads, each durable on return");
}
