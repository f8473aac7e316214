//! A failed sync poisons the writer: no later append or sync succeeds, and nothing is
//! acknowledged after the failure.

use wal_format::{Lsn, Record, Tag};
use wal_segment::SegmentId;
use wal_segment::{
    Error, SegmentWriter, SimStorage, Storage, recover_segment, scan_segment, storage::Fault,
};

use crate::{inline_options, sim_dir};

#[test]
fn a_failed_sync_poisons_the_writer() {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let mut writer =
        SegmentWriter::create(&storage, &dir, SegmentId(1), Lsn(0), inline_options(4)).unwrap();
    writer.append(&[Record { tag: Tag::ENTRY, payload: b"durable" }]).unwrap();
    writer.sync().unwrap();
    writer.append(&[Record { tag: Tag::ENTRY, payload: b"in doubt" }]).unwrap();
    storage.fail_after(0, Fault::Io);
    assert!(matches!(writer.sync(), Err(Error::Io { op: "msync", .. })));
    assert_eq!(writer.durable_lsn(), Lsn(1), "nothing acknowledged by the failed sync");
    assert!(matches!(writer.sync(), Err(Error::Poisoned { .. })), "never retried into success");
    assert!(matches!(
        writer.append(&[Record { tag: Tag::ENTRY, payload: b"later" }]),
        Err(Error::Poisoned { .. })
    ));
    let scan =
        scan_segment(&storage.crash(1), &dir, SegmentId(1), Lsn(0), inline_options(4)).unwrap();
    assert_eq!(&scan.records[0].record.payload[..], b"durable");
}

/// Creates a segment and appends 7,000-byte records with a sync after each, until `limit`
/// records or the first error; returns how many syncs succeeded and the error, if any.
fn run(storage: &SimStorage, limit: usize) -> (usize, Option<Error>) {
    let record = [Record { tag: Tag::ENTRY, payload: &[3; 7000] }];
    let mut writer =
        match SegmentWriter::create(storage, &sim_dir(), SegmentId(1), Lsn(0), inline_options(3)) {
            Ok(writer) => writer,
            Err(error) => return (0, Some(error)),
        };
    for acknowledged in 0..limit {
        if let Err(error) = writer.append(&record).and_then(|_| writer.sync()) {
            // After any failure, a sync never reports success again.
            if matches!(error, Error::Io { op: "msync", .. }) {
                assert!(matches!(writer.sync(), Err(Error::Poisoned { .. })));
            }
            return (acknowledged, Some(error));
        }
    }
    (limit, None)
}

#[test]
fn an_io_error_at_every_storage_operation_loses_nothing_acknowledged() {
    // 20 records of 7,000 bytes cross both chunk boundaries of a 3-chunk segment.
    const RECORDS: usize = 20;
    let clean = SimStorage::new();
    assert!(run(&clean, RECORDS).1.is_none());
    let operations = clean.operations();
    let mut surfaced = 0;
    for at in 0..operations {
        let storage = SimStorage::new();
        storage.fail_after(at, Fault::Io);
        let (acknowledged, error) = run(&storage, RECORDS);
        if error.is_none() {
            continue; // the fault hit a best-effort step (preparing a chunk ahead) and was retried
        }
        surfaced += 1;
        for seed in 0..4 {
            let crashed = storage.crash(seed);
            if acknowledged == 0 && crashed.open(&crate::segment_path(&sim_dir(), 1)).is_err() {
                continue; // the segment was never created
            }
            let recovered =
                recover_segment(&crashed, &sim_dir(), SegmentId(1), Lsn(0), inline_options(3))
                    .unwrap_or_else(|e| panic!("fault at {at}, seed {seed}: {e}"));
            assert!(recovered.scan.records.len() >= acknowledged, "fault at {at}, seed {seed}");
        }
    }
    println!(
        "EIO at each of {operations} storage operations: {surfaced} surfaced as errors (the rest \
         hit the index, a hint, or a chunk prepared ahead and retried), acknowledged records \
         lost 0, panics 0"
    );
    assert!(surfaced > operations / 2);
}

/// Two syncs in flight at once (the engine's `syncs_in_flight` above 1). A plan that finishes
/// first is not trusted while a later one still runs: on Linux that one could have taken the
/// write-back error of the first one's pages. And once a plan failed, a plan finishing after it
/// records nothing, whatever its own `msync` returned.
#[test]
fn an_overlapping_sync_is_trusted_only_once_those_beside_it_finished() {
    let storage = SimStorage::new();
    let mut writer =
        SegmentWriter::create(&storage, &sim_dir(), SegmentId(1), Lsn(0), inline_options(4))
            .unwrap();
    let record = [Record { tag: Tag::ENTRY, payload: &[7; 300] }];
    // Both succeed, the earlier one finishing first: nothing is durable until the later one
    // has finished too.
    writer.append(&record).unwrap();
    let mut first = writer.begin_sync().unwrap();
    writer.append(&record).unwrap();
    let mut second = writer.begin_sync().unwrap();
    first.run().unwrap();
    writer.finish_sync(first).unwrap().write();
    assert_eq!(writer.durable_lsn(), Lsn(0), "trusted while the sync beside it still runs");
    second.run().unwrap();
    writer.finish_sync(second).unwrap().write();
    assert_eq!(writer.durable_lsn(), Lsn(2));
    // The later one fails and finishes first: the earlier one, whose own msync succeeded,
    // records nothing.
    writer.append(&record).unwrap();
    let mut first = writer.begin_sync().unwrap();
    writer.append(&record).unwrap();
    let mut second = writer.begin_sync().unwrap();
    storage.fail_after(0, Fault::Io);
    assert!(second.run().is_err());
    assert!(matches!(writer.finish_sync(second), Err(Error::Io { op: "msync", .. })));
    first.run().unwrap();
    assert!(matches!(writer.finish_sync(first), Err(Error::Poisoned { .. })));
    assert_eq!(writer.durable_lsn(), Lsn(2), "nothing acknowledged after the failure");
}
