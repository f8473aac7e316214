//! The API on the happy path: records, transactions, reads, tailing, reopening.

use std::time::Duration;

use wal_core::{Durability, EntryKind, Error, Lsn, Options, Record, SimStorage, Tag, Wal};

use crate::support::{TAG, committed_payloads, open_sim, small};

#[test]
fn records_and_transactions_read_back_in_order_after_reopen() {
    let storage = SimStorage::new();
    let (wal, report) = open_sim(&storage, small(Durability::Commit));
    assert_eq!((report.records, report.start, report.end), (0, Lsn(1), Lsn(1)));
    let first = wal.append(TAG, b"alone").unwrap();
    let mut a = wal.begin().unwrap();
    let mut b = wal.begin().unwrap();
    a.delta(TAG, b"a1").unwrap();
    b.delta(TAG, b"b1").unwrap();
    a.delta(TAG, b"a2").unwrap();
    b.abort().unwrap();
    a.commit().unwrap();
    let c = wal.begin().unwrap();
    drop(c); // writes an abort
    let batch = [Record { tag: TAG, payload: b"x" }, Record { tag: Tag::ENTRY, payload: b"y" }];
    wal.append_batch(&batch).unwrap();
    let expected: Vec<Vec<Vec<u8>>> = vec![
        vec![b"alone".to_vec()],
        vec![b"a1".to_vec(), b"a2".to_vec()],
        vec![b"x".to_vec()],
        vec![b"y".to_vec()],
    ];
    assert_eq!(committed_payloads(&wal), expected);
    assert_eq!(wal.get(first).unwrap().unwrap().payload.as_ref(), b"alone");
    let kinds: Vec<EntryKind> = wal.read_from(first).unwrap().map(|e| e.unwrap().kind).collect();
    assert_eq!(kinds.len(), 12);
    assert!(matches!(kinds[1], EntryKind::Begin { .. }));
    drop(wal);

    let (wal, report) = open_sim(&storage, small(Durability::Commit));
    assert_eq!((report.committed, report.aborted, report.unfinished), (1, 2, 0));
    assert_eq!((report.self_contained, report.records), (3, 12));
    assert_eq!(committed_payloads(&wal), expected);
    // Transaction ids are never reused after a reopen.
    let txn = wal.begin().unwrap();
    assert!(txn.id() >= 3, "{}", txn.id());
}

#[test]
fn application_tags_only() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    for tag in [Tag::TXN_BEGIN, Tag::SEAL, Tag::PADDING, Tag::CHECKPOINT, Tag::from_byte(0x09)] {
        assert!(matches!(wal.append(tag, b"no"), Err(Error::NotAnApplicationTag { .. })));
        let mut txn = wal.begin().unwrap();
        assert!(matches!(txn.delta(tag, b"no"), Err(Error::NotAnApplicationTag { .. })));
    }
    let huge = vec![0u8; 64 << 10];
    assert!(matches!(
        wal.append(TAG, &huge),
        Err(Error::Segment(wal_segment::Error::RecordTooLarge { .. }))
    ));
}

#[test]
fn many_segments_roll_over_and_every_record_stays_readable() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered));
    let payload = |n: u32| n.to_le_bytes().repeat(1 + n as usize % 300);
    let lsns: Vec<Lsn> = (0..3000).map(|n| wal.append(TAG, &payload(n)).unwrap()).collect();
    assert!(wal.stats().segments_rolled >= 10, "{:?}", wal.stats());
    for (n, &lsn) in (0..3000).zip(&lsns).step_by(7) {
        assert_eq!(wal.get(lsn).unwrap().unwrap().payload.as_ref(), payload(n));
    }
    let read: Vec<Vec<u8>> =
        wal.read_from(lsns[0]).unwrap().map(|e| e.unwrap().payload.to_vec()).collect();
    assert_eq!(read, (0..3000).map(payload).collect::<Vec<_>>());
    wal.sync().unwrap();
    drop(wal);
    let (wal, report) = open_sim(&storage, small(Durability::Buffered));
    assert_eq!(report.records, 3000);
    let again: Vec<Vec<u8>> =
        wal.read_from(lsns[0]).unwrap().map(|e| e.unwrap().payload.to_vec()).collect();
    assert_eq!(again, read);
}

#[test]
fn a_tailing_reader_sees_records_as_they_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default().with_durability(Durability::Buffered);
    let (wal, _) = Wal::open(dir.path(), options).unwrap();
    let mut tail = wal.tail_from(wal.next_lsn()).unwrap();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut seen = Vec::new();
            while seen.len() < 1000 {
                if let Some(entry) = tail.next_timeout(Duration::from_secs(10)).unwrap() {
                    seen.push(entry.payload.to_vec());
                } else {
                    panic!("no record within 10 s after {}", seen.len());
                }
            }
            seen
        });
        for n in 0u32..1000 {
            wal.append(TAG, &n.to_le_bytes()).unwrap();
        }
        let seen = reader.join().unwrap();
        assert_eq!(seen, (0u32..1000).map(|n| n.to_le_bytes().to_vec()).collect::<Vec<_>>());
    });
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_wal, _) = Wal::open(dir.path(), Options::default()).unwrap();
    let second = Wal::open(dir.path(), Options::default());
    assert!(matches!(second, Err(Error::Segment(wal_segment::Error::Locked { .. }))));
}

#[test]
fn periodic_durability_syncs_in_the_background() {
    let storage = SimStorage::new();
    let options = small(Durability::Periodic { interval: Duration::from_millis(5) });
    let (wal, _) = open_sim(&storage, options);
    let lsn = wal.append(TAG, b"soon durable").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wal.durable_lsn() <= lsn {
        assert!(std::time::Instant::now() < deadline, "never synced");
        // sleep: polls for the periodic syncer, which signals nothing (a sync of our own
        // would do its work for it)
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(wal.stats().syncs >= 1);
}

#[test]
fn invalid_options_are_refused() {
    let storage = SimStorage::new();
    for options in [
        small(Durability::Periodic { interval: Duration::ZERO }),
        small(Durability::Commit).with_chunk_bytes(1000),
        small(Durability::Commit).with_chunks_per_segment(0),
    ] {
        let opened = Wal::open_in(storage.clone(), "/log", options);
        assert!(opened.is_err(), "{options:?}");
    }
}

/// Every chunk keeps room for a seal; a seal written into that room can leave fewer bytes than
/// a frame header at the chunk's end, which closes it without padding. A reader must move on to
/// the next segment there. (An earlier writer could close any chunk that way, and the reader
/// then rescanned the tail forever; since every chunk keeps the seal's room, only a seal can.)
#[test]
fn a_reader_crosses_a_chunk_that_ends_in_a_tail_too_short_for_a_frame() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered).with_chunks_per_segment(1));
    // 64 KiB chunk - 64 B header - 24 B frame header - 64 B left: the seal (48 B) then leaves 16.
    let big = vec![9u8; (64 << 10) - 64 - 24 - 64];
    let first = wal.append(TAG, &big).unwrap();
    // Does not fit in the 16 bytes the seal leaves: rolls to a new segment.
    wal.append(TAG, b"next segment").unwrap();
    assert_eq!(wal.stats().segments_rolled, 1);
    let (sender, receiver) = std::sync::mpsc::channel();
    let reader = wal.read_from(first).unwrap();
    std::thread::spawn(move || {
        let lens: Vec<usize> = reader.map(|e| e.unwrap().payload.len()).collect();
        sender.send(lens).unwrap();
    });
    let lens = receiver.recv_timeout(Duration::from_secs(30)).expect("the reader finished");
    assert_eq!(lens, vec![big.len(), 12]);
}
