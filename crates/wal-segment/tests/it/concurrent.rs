//! Appends from many threads through reservations: published in order, readable exactly up to
//! what is published, and a reserved range never written (a hole) ends recovery there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wal_segment::SegmentId;

use wal_format::{Frames, Lsn, Record, Tag};
use wal_segment::{DirLock, SegmentWriter, SimStorage, recover_segment};

use crate::{Written, assert_prefix, inline_options, payload, sim_dir};

/// A later reservation can be written before an earlier one, but is published only after it;
/// if the process dies with the earlier one unwritten, recovery ends at the hole, and the later
/// record (never acknowledged: its `complete` had not returned) is not recovered.
#[test]
fn a_hole_left_by_an_unwritten_reservation_ends_recovery_there() {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let _lock = DirLock::acquire(&storage, &dir).unwrap();
    let mut writer =
        SegmentWriter::create(&storage, &dir, SegmentId(0), Lsn(1), inline_options(2)).unwrap();
    let written: Vec<Written> =
        (1..=3).map(|lsn| Written::new(Tag::ENTRY, payload(lsn, 100))).collect();
    let first = [written[0].record()];
    writer.append(&first).unwrap();
    writer.sync().unwrap();
    let (hole, later) = ([written[1].record()], [written[2].record()]);
    let hole = writer.reserve(&hole).unwrap();
    let later = writer.reserve(&later).unwrap();
    assert_eq!((hole.first_lsn(), later.first_lsn()), (Lsn(2), Lsn(3)));
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let finished = Arc::clone(&done);
        // Writes its frame at once, then waits for the hole to be published.
        let completing = scope.spawn(move || {
            let result = later.complete();
            finished.store(true, Ordering::SeqCst);
            result
        });
        // sleep: gives the completing thread time to publish wrongly; absence has no event
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(Ordering::SeqCst), "published before the hole was");
        assert_eq!(writer.published_lsn(), Lsn(2));
        // Readers see only what is published.
        let chunk = writer.chunk(0).unwrap();
        let header = wal_segment::CHUNK_HEADER_BYTES;
        let visible = Frames::resume(chunk.published_bytes(), chunk.salt(), header, Lsn(1)).count();
        assert_eq!(visible, 1);
        // The power goes now: the later frame may be on disk, the hole is zero.
        let crashed = storage.crash(11);
        let recovered =
            recover_segment(&crashed, &dir, SegmentId(0), Lsn(1), inline_options(2)).unwrap();
        assert_prefix(&recovered.scan, &written, Lsn(1), 1);
        // In this process, writing the hole lets the later reservation publish too.
        hole.complete().unwrap();
        completing.join().unwrap().unwrap();
    });
    assert_eq!(writer.published_lsn(), Lsn(4));
}

/// A reservation dropped without being written poisons the segment instead of leaving the
/// reservations after it waiting forever.
#[test]
fn an_abandoned_reservation_poisons_the_segment_and_releases_its_successors() {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let _lock = DirLock::acquire(&storage, &dir).unwrap();
    let mut writer =
        SegmentWriter::create(&storage, &dir, SegmentId(0), Lsn(1), inline_options(2)).unwrap();
    let records = [Record { tag: Tag::ENTRY, payload: b"abandoned" }];
    let later_records = [Record { tag: Tag::ENTRY, payload: b"later" }];
    let abandoned = writer.reserve(&records).unwrap();
    let later = writer.reserve(&later_records).unwrap();
    drop(abandoned);
    assert!(matches!(later.complete(), Err(wal_segment::Error::Abandoned)));
    assert!(matches!(writer.append(&records), Err(wal_segment::Error::Poisoned { .. })));
}
