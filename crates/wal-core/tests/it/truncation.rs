//! Truncation and pruning: on record boundaries, durable, and crash-safe at every step.

use wal_core::{Durability, Error, Force, Lsn, SimStorage, Wal};
use wal_segment::storage::Fault;

use crate::support::{TAG, open_sim, segment_files, small};

fn payloads(wal: &Wal<SimStorage>) -> Vec<Vec<u8>> {
    wal.read_from(wal.start_lsn()).unwrap().map(|e| e.unwrap().payload.to_vec()).collect()
}

fn fill(wal: &Wal<SimStorage>, count: u32) -> Vec<Lsn> {
    (0..count).map(|n| wal.append(TAG, &n.to_le_bytes().repeat(50)).unwrap()).collect()
}

#[test]
fn truncate_after_drops_the_tail_across_segments_and_the_log_continues() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns = fill(&wal, 2000);
    let before = payloads(&wal);
    for keep in [1900usize, 1000, 10] {
        wal.truncate_after(lsns[keep - 1]).unwrap();
        assert_eq!(payloads(&wal), before[..keep]);
        assert_eq!(wal.next_lsn(), Lsn(lsns[keep - 1].0 + 1));
        assert!(wal.get(lsns[keep]).unwrap().is_none());
    }
    let next = wal.append(TAG, b"after").unwrap();
    assert_eq!(next, Lsn(lsns[9].0 + 1));
    drop(wal);
    let (wal, report) = open_sim(&storage, small(Durability::Buffered));
    let mut expected = before[..10].to_vec();
    expected.push(b"after".to_vec());
    assert_eq!(payloads(&wal), expected);
    assert_eq!(report.records, 11);
    let beyond = Lsn(wal.next_lsn().0 + 5);
    assert!(matches!(wal.truncate_after(beyond), Err(Error::OutOfRange { .. })));
    // Dropping everything after LSN 0 empties the log.
    wal.truncate_after(Lsn(0)).unwrap();
    assert!(payloads(&wal).is_empty());
}

#[test]
fn truncate_before_moves_the_start_durably_and_deletes_whole_files() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns = fill(&wal, 2000);
    let files = segment_files(&storage).len();
    wal.truncate_before(lsns[1500]).unwrap();
    assert!(segment_files(&storage).len() < files);
    assert_eq!(wal.start_lsn(), lsns[1500]);
    assert!(matches!(wal.get(lsns[1499]), Err(Error::OutOfRange { .. })));
    assert!(matches!(wal.read_from(lsns[0]), Err(Error::OutOfRange { .. })));
    assert_eq!(payloads(&wal).len(), 500);
    wal.sync().unwrap();
    let crashed = storage.crash(3);
    drop(wal);
    let (wal, report) = open_sim(&crashed, small(Durability::Buffered));
    assert_eq!((report.start, report.records), (lsns[1500], 500));
    assert_eq!(payloads(&wal).len(), 500);
}

#[test]
fn pruning_to_a_budget_stops_at_the_retention_floor_unless_forced() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns = fill(&wal, 3000);
    wal.set_retention_floor(Some(lsns[1000]));
    let report = wal.prune(0, Force::No).unwrap();
    assert_eq!(report.held_by_floor, Some(lsns[1000]));
    assert!(report.start <= lsns[1000] && report.segments_deleted > 0, "{report:?}");
    let forced = wal.prune(0, Force::Yes).unwrap();
    assert!(forced.start > lsns[1000] && forced.held_by_floor.is_none(), "{forced:?}");
    // Pruning stops at a segment boundary: the records from the new start are all there.
    let kept = payloads(&wal).len() as u64;
    assert_eq!(kept, wal.next_lsn().0 - forced.start.0);
}

/// Every step of a truncation fails in turn, then the power goes: the log holds either the
/// state before the truncation or after it, never a mix, and nothing before the cut is lost.
#[test]
fn a_failure_and_crash_at_every_step_of_a_truncation_leaves_before_or_after() {
    let mut checked = 0;
    for truncate_after in [true, false] {
        let at = 700;
        let truncate = |wal: &Wal<SimStorage>, lsns: &[Lsn]| {
            if truncate_after {
                wal.truncate_after(lsns[at - 1])
            } else {
                wal.truncate_before(lsns[at])
            }
        };
        let setup = |storage: &SimStorage| {
            let (wal, _) = open_sim(storage, small(Durability::Buffered));
            let lsns = fill(&wal, 1200);
            wal.sync().unwrap();
            (wal, lsns)
        };
        let operations = {
            let storage = SimStorage::new();
            let (wal, lsns) = setup(&storage);
            let before = storage.operations();
            truncate(&wal, &lsns).unwrap();
            storage.operations() - before
        };
        for step in 0..operations {
            let storage = SimStorage::new();
            let (wal, lsns) = setup(&storage);
            let all = payloads(&wal);
            storage.fail_after(step, Fault::Io);
            let result = truncate(&wal, &lsns);
            let crashed = storage.crash(step);
            drop(wal);
            let after = if truncate_after { all[..at].to_vec() } else { all[at..].to_vec() };
            {
                let (wal, _) = open_sim(&crashed, small(Durability::Buffered));
                let held = payloads(&wal);
                assert!(held == all || held == after, "step {step}: {} records", held.len());
                if result.is_ok() {
                    assert_eq!(held, after, "step {step}: an acknowledged truncation was undone");
                }
            }
            // Or the process restarts in the same boot (the failed sync's pages clean in the
            // page cache, never written), works on, and then the power goes: what the reopen
            // trusted must still be there.
            let (wal, _) = open_sim(&storage, small(Durability::Buffered));
            let mut trusted = payloads(&wal);
            assert!(trusted == all || trusted == after, "step {step}: reopen in the same boot");
            wal.append(TAG, b"after the reopen").unwrap();
            wal.sync().unwrap();
            trusted.push(b"after the reopen".to_vec());
            let crashed = storage.crash(step + 1000);
            drop(wal);
            let (wal, _) = open_sim(&crashed, small(Durability::Buffered));
            assert_eq!(payloads(&wal), trusted, "step {step}: the power loss after the reopen");
            checked += 1;
        }
    }
    println!(
        "truncation: {checked} failure points, each followed by a power loss, and by a reopen \
         in the same boot then a power loss: before or after, and what the reopen trusted kept"
    );
}

/// `truncate_after` makes its cut durable twice: in the next segment's first chunk header and in
/// the anchor. If that header is lost while the segment is still empty (media damage), the
/// segment reads as empty and is deleted, and only the anchor keeps the cut records from
/// coming back.
#[test]
fn a_cut_survives_losing_the_header_of_the_segment_that_begins_at_it() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns = fill(&wal, 1000);
    let all = payloads(&wal);
    wal.truncate_after(lsns[599]).unwrap();
    drop(wal);
    let newest = segment_files(&storage).pop().unwrap();
    storage.edit_file(&newest, |bytes| bytes[8] ^= 0x01); // inside the header: now torn
    let (wal, report) = open_sim(&storage, small(Durability::Buffered));
    assert_eq!(payloads(&wal), all[..600], "{report:?}");
    assert_eq!(wal.next_lsn(), Lsn(lsns[599].0 + 1));
}

/// Segment ids only grow. Once every segment file has been deleted, a new segment must not get
/// an id below the anchor's last cut, or the cut would apply to it and hide records synced
/// there. (Found by the model test at 2,000 cases.)
#[test]
fn a_log_emptied_after_a_cut_keeps_what_is_appended_next() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let lsns = fill(&wal, 3);
    wal.truncate_after(lsns[0]).unwrap();
    wal.truncate_before(wal.next_lsn()).unwrap();
    drop(wal);
    // The first reopen deletes the last segment (it holds nothing after the start); the second
    // finds no segment file at all.
    for _ in 0..2 {
        drop(open_sim(&storage, small(Durability::Commit)));
    }
    assert!(segment_files(&storage).is_empty());
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    let kept = wal.append(TAG, b"after everything").unwrap();
    drop(wal);
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    assert_eq!(wal.get(kept).unwrap().unwrap().payload.as_ref(), b"after everything");
}

/// A prune whose file deletion fails has still taken effect: it succeeds, the files stay
/// queued, and the next housekeeping round deletes them, even when the failed attempt had
/// already removed some of them.
#[test]
fn a_failed_deletion_does_not_fail_the_prune_and_is_retried_by_housekeeping() {
    let log = |storage: &SimStorage| {
        let (wal, _) = open_sim(storage, small(Durability::Buffered).with_housekeeping(None));
        fill(&wal, 3000);
        wal
    };
    let undisturbed = log(&SimStorage::new());
    undisturbed.prune(0, Force::Yes).unwrap();
    let expected = payloads(&undisturbed);
    let (mut retried, mut prunes_ok) = (0, 0);
    for step in 0..40 {
        let storage = SimStorage::new();
        let wal = log(&storage);
        storage.fail_after(step, Fault::Io);
        let pruned = wal.prune(0, Force::Yes);
        storage.cancel_fault();
        let Ok(report) = pruned else { continue };
        prunes_ok += 1;
        assert!(report.held_back.is_empty(), "step {step}: {report:?}");
        // Files left behind, or removed while the directory sync failed: the retry succeeds
        // either way (a deletion that finds its files gone is done).
        retried += usize::from(segment_files(&storage).len() > 1);
        wal.housekeep().unwrap_or_else(|e| panic!("step {step}: the retry failed: {e}"));
        let files: Vec<_> = wal_core::Storage::list(&storage, crate::support::dir()).unwrap();
        let count =
            |ext: &str| files.iter().filter(|p| p.extension().is_some_and(|e| e == ext)).count();
        assert_eq!((count("wal"), count("idx")), (1, 1), "step {step}: only the active segment");
        assert!(payloads(&wal) == expected, "step {step}: the records after the prune differ");
        wal.append(TAG, b"after").unwrap();
    }
    assert!(retried > 0 && prunes_ok > retried, "{retried} retried of {prunes_ok}");
    println!("prune with a failure at each of 40 storage steps: {retried} deletions retried");
}

/// `truncate_before_closed` moves a closed log's start up (never down), refuses an open log,
/// and the next open drops the segments wholly before the start without reading them.
#[test]
fn truncate_before_closed_moves_the_start_of_a_closed_log_up_only() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns = fill(&wal, 3000);
    let start = lsns[2000];
    let locked = Wal::truncate_before_closed(&storage, crate::support::dir(), start);
    assert!(matches!(locked, Err(Error::Segment(wal_core::SegmentError::Locked { .. }))));
    let expected: Vec<Vec<u8>> = payloads(&wal)[2000..].to_vec();
    let files = segment_files(&storage).len();
    drop(wal);
    // The oldest segment damaged: the cut start passes it, so recovery never reads it.
    let oldest = segment_files(&storage)[0].clone();
    storage.edit_file(&oldest, |bytes| bytes[30_000] ^= 0x10);
    let before = Wal::truncate_before_closed(&storage, crate::support::dir(), start).unwrap();
    assert_eq!(before, lsns[0]);
    let lower = Wal::truncate_before_closed(&storage, crate::support::dir(), lsns[10]).unwrap();
    assert_eq!(lower, start, "never moved down");
    let (wal, report) = open_sim(&storage, small(Durability::Buffered));
    assert_eq!((wal.start_lsn(), report.start), (start, start));
    assert!(report.segments_deleted > 0 && segment_files(&storage).len() < files, "{report}");
    assert!(payloads(&wal) == expected);
}
