//! A failed sync poisons the writer: no later append or sync succeeds, and nothing is
//! acknowledged after the failure.

use wal_format::{Lsn, Record, Tag};
use wal_segment::{Error, SegmentWriter, SimStorage, scan_segment, storage::Fault};

use crate::{inline_options, sim_dir};

#[test]
fn a_failed_sync_poisons_the_writer() {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let mut writer = SegmentWriter::create(&storage, &dir, 1, Lsn(0), inline_options(4)).unwrap();
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
    let scan = scan_segment(&storage.crash(1), &dir, 1, Lsn(0), inline_options(4)).unwrap();
    assert_eq!(&scan.records[0].record.payload[..], b"durable");
}

#[test]
fn a_failure_at_every_storage_operation_of_create_append_sync_is_an_error_not_a_panic() {
    let mut operations_failed = 0;
    for at in 0..64 {
        let storage = SimStorage::new();
        storage.fail_after(at, Fault::Io);
        let outcome = (|| {
            let mut writer =
                SegmentWriter::create(&storage, &sim_dir(), 1, Lsn(0), inline_options(3))?;
            for _ in 0..200 {
                writer.append(&[Record { tag: Tag::ENTRY, payload: &[3; 700] }])?;
                writer.sync()?;
            }
            Ok::<_, Error>(())
        })();
        if outcome.is_err() {
            operations_failed += 1;
        }
    }
    println!(
        "injected EIO at 64 operation indexes: {operations_failed} surfaced as errors, 0 panics"
    );
    assert!(operations_failed > 0);
}
