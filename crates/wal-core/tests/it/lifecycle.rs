//! Handles over time: closing the log under readers and transactions, readers across rolls and
//! truncations, empty batches, and a log directory interrupted at its creation. Each test pins
//! down a failure a review of the engine found.

use std::time::{Duration, Instant};

use wal_core::{Durability, Error, Force, Lsn, Options, SimStorage, Storage, Wal};

use crate::support::{TAG, dir, open_sim, segment_files, small};

#[test]
fn an_empty_batch_is_a_no_op_that_never_blocks_the_appends_after_it() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let next = wal.next_lsn();
    assert_eq!(wal.append_batch(&[]).unwrap(), next);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for n in 0..200u32 {
                    if n % 10 == 0 {
                        wal.append_batch(&[]).unwrap();
                    }
                    wal.append(TAG, &n.to_le_bytes()).unwrap();
                }
            });
        }
    });
    assert_eq!(wal.read_from(next).unwrap().count(), 800);
}

#[test]
fn a_seal_reads_as_nothing_and_a_tail_waiting_at_it_follows_the_log_through_rolls_and_prunes() {
    let storage = SimStorage::new();
    let options =
        small(Durability::Buffered).with_chunks_per_segment(1).with_size_limit_bytes(Some(0));
    let (wal, _) = open_sim(&storage, options);
    let mut tail = wal.tail_from(wal.next_lsn()).unwrap();
    let mut seen = 0u32;
    for n in 0..600u32 {
        wal.append(TAG, &[n.to_le_bytes()[0]; 400]).unwrap();
        // The tail stays caught up, so it often waits exactly at a seal when the segment rolls
        // (and the automatic prune bumps the readers' epoch).
        while let Some(entry) = tail.next_timeout(Duration::ZERO).unwrap() {
            assert_eq!(entry.payload[0], seen.to_le_bytes()[0]);
            seen += 1;
        }
    }
    assert_eq!(seen, 600);
    assert!(wal.stats().segments_rolled >= 3);
    // Without pruning, the seal of a segment rolled in this process reads as nothing.
    let other = SimStorage::new();
    let (wal, _) = open_sim(&other, small(Durability::Buffered).with_chunks_per_segment(1));
    let lsns: Vec<Lsn> = (0..400).map(|_| wal.append(TAG, &[0; 400]).unwrap()).collect();
    let seal = lsns.windows(2).find(|w| w[1].0 > w[0].0 + 1).map(|w| Lsn(w[0].0 + 1)).unwrap();
    assert!(wal.get(seal).unwrap().is_none());
    assert_eq!(wal.get(Lsn(seal.0 + 1)).unwrap().unwrap().payload.len(), 400);
}

#[test]
fn a_reader_past_a_truncate_after_is_told_and_continues_in_the_new_history() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns: Vec<Lsn> = (0..100u8).map(|n| wal.append(TAG, &[n]).unwrap()).collect();
    let mut reader = wal.read_from(lsns[0]).unwrap();
    for _ in 0..80 {
        reader.next().unwrap().unwrap();
    }
    wal.truncate_after(lsns[49]).unwrap();
    for n in 200..230u8 {
        wal.append(TAG, &[n]).unwrap();
    }
    assert!(matches!(reader.next(), Some(Err(Error::Truncated { at })) if at == lsns[50]));
    let rest: Vec<u8> = reader.map(|entry| entry.unwrap().payload[0]).collect();
    assert_eq!(rest, (200..230).collect::<Vec<u8>>());
}

#[test]
fn dropping_the_wal_releases_the_directory_even_while_readers_and_transactions_live() {
    let directory = tempfile::tempdir().unwrap();
    let options = Options::default().with_durability(Durability::Buffered);
    let (wal, _) = Wal::open(directory.path(), options).unwrap();
    let first = wal.append(TAG, b"kept").unwrap();
    let mut txn = wal.begin().unwrap();
    let reader = wal.read_from(first).unwrap();
    wal.sync().unwrap();
    drop(wal);
    // The reader still reads what it could see; the transaction can no longer write.
    assert!(matches!(txn.delta(TAG, b"too late"), Err(Error::Closed)));
    let (again, report) = Wal::open(directory.path(), options).unwrap();
    assert_eq!(report.records, 2); // the record and the transaction's begin
    assert_eq!(reader.count(), 2);
    drop(txn); // its abort cannot be written either; recovery closed it
    drop(again);
}

#[test]
fn a_log_whose_anchor_creation_was_interrupted_opens_as_a_new_log() {
    let storage = SimStorage::new();
    storage.create_dir_all(dir()).unwrap();
    // The anchor's directory entry survived a crash, its bytes did not.
    drop(storage.create(&dir().join(wal_core::ANCHOR_FILE_NAME)).unwrap());
    let (wal, report) = open_sim(&storage, small(Durability::Commit));
    assert_eq!(report.start, wal_core::FIRST_LSN);
    wal.append(TAG, b"fresh").unwrap();
}

#[test]
fn a_damaged_first_chunk_header_under_indexed_records_is_an_error_not_an_empty_segment() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Commit));
    for n in 0..50u8 {
        wal.append(TAG, &[n; 100]).unwrap();
    }
    drop(wal);
    let segments = segment_files(&storage);
    let newest = segments.last().unwrap().clone();
    storage.edit_file(&newest, |bytes| bytes[0] ^= 0xFF); // the chunk header's magic
    let error = Wal::open_in(storage.clone(), dir(), small(Durability::Commit)).err().unwrap();
    assert!(error.to_string().contains(&newest.display().to_string()), "{error}");
    // Nothing was deleted.
    assert!(storage.list(dir()).unwrap().contains(&newest));
}

#[test]
fn a_truncate_before_past_what_a_crash_kept_leaves_a_log_that_prunes_and_reopens() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let lsns: Vec<Lsn> = (0..300u32).map(|n| wal.append(TAG, &n.to_le_bytes()).unwrap()).collect();
    wal.sync().unwrap();
    for n in 0..300u32 {
        wal.append(TAG, &n.to_le_bytes()).unwrap();
    }
    let beyond = Lsn(lsns[299].0 + 200);
    wal.truncate_before(beyond).unwrap();
    let crashed = storage.crash(5);
    drop(wal);
    let (wal, report) = open_sim(&crashed, small(Durability::Buffered));
    assert_eq!(report.start, beyond);
    for n in 0..50u32 {
        wal.append(TAG, &n.to_le_bytes()).unwrap();
    }
    wal.prune(0, Force::Yes).unwrap();
    assert!(wal.start_lsn() >= beyond);
    wal.sync().unwrap();
    drop(wal);
    let (wal, _) = open_sim(&crashed, small(Durability::Buffered));
    assert!(wal.start_lsn() >= beyond);
}

#[test]
fn dropping_a_wal_with_a_long_periodic_interval_does_not_wait_for_it() {
    let storage = SimStorage::new();
    let options = small(Durability::Periodic { interval: Duration::from_secs(3600) });
    let (wal, _) = open_sim(&storage, options);
    wal.append(TAG, b"x").unwrap();
    let started = Instant::now();
    drop(wal);
    // A generous bound: the syncer used to sleep out its whole interval before stopping.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

/// With segments prepared ahead on a background thread, an empty next segment exists on disk
/// most of the time; power losses at any point keep every acknowledged commit, and the empty
/// segment is deleted, not mistaken for damage.
#[test]
fn power_losses_while_segments_are_prepared_ahead_keep_every_acknowledged_commit() {
    let options =
        small(Durability::Commit).with_preparation(wal_core::ChunkPreparation::Background);
    let mut crashes = 0;
    for seed in 0..12u8 {
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, options);
        let count = 100 + usize::from(seed) * 40;
        for n in 0..count {
            wal.append(TAG, &[n.to_le_bytes()[0]; 700]).unwrap();
        }
        let crashed = storage.crash(u64::from(seed));
        drop(wal);
        let (wal, report) = open_sim(&crashed, options);
        assert_eq!(report.records, count as u64, "seed {seed}");
        let payloads: Vec<u8> =
            wal.read_from(wal.start_lsn()).unwrap().map(|e| e.unwrap().payload[0]).collect();
        assert_eq!(payloads, (0..count).map(|n| n.to_le_bytes()[0]).collect::<Vec<_>>());
        crashes += 1;
    }
    println!("segments prepared ahead: {crashes} power losses, 0 acknowledged commits lost");
}

/// Committers racing each other with up to three syncs in flight (`syncs_in_flight`), on
/// syncs of varying length (so overlapping ones finish out of order), across chunk and segment
/// boundaries, and power losses at many moments while syncs run: every commit acknowledged
/// before a power loss is recovered. A sync that finishes before an earlier one must
/// acknowledge nobody past the earlier one's range; the simulated storage keeps only what a
/// sync really wrote back, so such an acknowledgement is caught here.
#[test]
fn power_losses_under_overlapping_syncs_keep_every_acknowledged_commit() {
    use std::sync::Mutex;
    const THREADS: u8 = 4;
    let (mut checked, mut crashes) = (0, 0);
    for depth in 1..=3 {
        let options = small(Durability::Commit).with_syncs_in_flight(depth);
        let storage = SimStorage::new();
        let (wal, _) = open_sim(&storage, options);
        storage.set_sync_jitter(Duration::from_micros(300));
        let acknowledged: Mutex<Vec<(Lsn, u8, u16)>> = Mutex::new(Vec::new());
        let mut snapshots = Vec::new();
        std::thread::scope(|scope| {
            let running: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let (wal, acknowledged) = (&wal, &acknowledged);
                    scope.spawn(move || {
                        for n in 0..120u16 {
                            let mut payload = vec![thread; 300 + usize::from(n % 7) * 200];
                            payload[1..3].copy_from_slice(&n.to_le_bytes());
                            let lsn = wal.append(TAG, &payload).unwrap();
                            acknowledged.lock().unwrap().push((lsn, thread, n));
                            let pause = (u64::from(n) * 37 + u64::from(thread) * 101) % 250;
                            // sleep: staggered arrivals, so some commits come while a sync runs.
                            std::thread::sleep(Duration::from_micros(pause));
                        }
                    })
                })
                .collect();
            let mut seen = 0;
            while running.iter().any(|thread| !thread.is_finished()) {
                let acked = acknowledged.lock().unwrap();
                if acked.len() > seen {
                    seen = acked.len();
                    // Under the lock: every commit recorded so far returned before this.
                    snapshots.push((storage.crash(seen as u64), acked.clone()));
                }
                drop(acked);
                std::thread::yield_now();
            }
        });
        drop(wal);
        for (crashed, acked) in snapshots {
            let (wal, _) = open_sim(&crashed, options);
            for (lsn, thread, n) in &acked {
                let entry = wal.get(*lsn).unwrap().unwrap_or_else(|| {
                    panic!(
                        "{depth} in flight: acknowledged {lsn} lost ({} acknowledged)",
                        acked.len()
                    )
                });
                assert_eq!(entry.payload[0], *thread);
                assert_eq!(u16::from_le_bytes([entry.payload[1], entry.payload[2]]), *n);
            }
            checked += acked.len();
            crashes += 1;
        }
    }
    println!(
        "overlapping syncs (1 to 3 in flight): {crashes} power losses, {checked} acknowledged \
         commits checked, 0 lost"
    );
}
