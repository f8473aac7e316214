//! Sealing, truncating and deleting segments, including a crash or failure at every step of a
//! truncation: recovery finds either the whole segment or the cut one, never damage.

use wal_format::{Lsn, Record, Tag};
use wal_segment::SegmentId;
use wal_segment::{
    Error, IndexStatus, SegmentEnd, SegmentWriter, SimStorage, Storage, delete_segment,
    index_file_name, recover_segment, storage::Fault,
};

use crate::{Written, assert_prefix, inline_options, payload, segment_path, sim_dir};

const FIRST: Lsn = Lsn(50);

/// A writer holding `count` records of mixed sizes across chunks, all synced.
/// Recovers segment 1 as this file's writers lay it out.
fn recover_one(storage: &SimStorage) -> wal_segment::RecoveredSegment {
    recover_segment(storage, &sim_dir(), SegmentId(1), FIRST, inline_options(8)).unwrap()
}

fn writer_with(storage: &SimStorage, count: u64) -> (SegmentWriter<SimStorage>, Vec<Written>) {
    let written: Vec<Written> = (0..count)
        .map(|i| Written::new(Tag::DELTA, payload(i, (i as usize * 997) % 9000)))
        .collect();
    let mut writer =
        SegmentWriter::create(storage, &sim_dir(), SegmentId(1), FIRST, inline_options(8)).unwrap();
    for record in &written {
        writer.append(&[record.record()]).unwrap();
    }
    writer.sync().unwrap();
    (writer, written)
}

#[test]
fn a_sealed_segment_is_recognised_with_its_count() {
    let storage = SimStorage::new();
    let (writer, written) = writer_with(&storage, 40);
    let info = writer.seal().unwrap();
    assert_eq!((info.seal_lsn, info.record_count), (Lsn(FIRST.0 + 40), 40));
    let mut with_seal = written.clone();
    with_seal.push(Written::new(Tag::SEAL, info.encode().to_vec()));
    for seed in 0..5 {
        let recovered = recover_one(&storage.crash(seed));
        assert_eq!(recovered.sealed, Some(info));
        assert_eq!(
            recovered.index_status,
            IndexStatus::Confirmed,
            "a seal makes the index durable"
        );
        assert_prefix(&recovered.scan, &with_seal, FIRST, 41);
    }
}

#[test]
fn truncating_before_any_lsn_cuts_exactly_there() {
    let mut cases = 0;
    for keep in (FIRST.0..=FIRST.0 + 30).step_by(3) {
        let storage = SimStorage::new();
        let (writer, written) = writer_with(&storage, 30);
        writer.truncate(Lsn(keep)).unwrap();
        for crash_seed in 0..3 {
            let recovered = recover_one(&storage.crash(crash_seed));
            let kept = (keep - FIRST.0) as usize;
            assert_prefix(&recovered.scan, &written, FIRST, kept);
            if kept < written.len() {
                // A cut rewrites the index durably; with nothing to cut, it may lag after a crash.
                assert_eq!(recovered.index_status, IndexStatus::Confirmed, "keep {keep}");
                assert_eq!(recovered.scan.end, SegmentEnd::Unwritten);
            }
            cases += 1;
        }
        // The log continues in a new segment from the cut.
        let mut next =
            SegmentWriter::create(&storage, &sim_dir(), SegmentId(2), Lsn(keep), inline_options(2))
                .unwrap();
        next.append(&[Record { tag: Tag::ENTRY, payload: b"after the cut" }]).unwrap();
        next.sync().unwrap();
    }
    println!("truncation at 11 points x 3 crash seeds: {cases} cases, cut exactly in all");
}

#[test]
fn a_truncation_point_outside_the_segment_is_refused() {
    let storage = SimStorage::new();
    let (writer, _) = writer_with(&storage, 5);
    assert!(matches!(writer.truncate(Lsn(FIRST.0 - 1)), Err(Error::TruncateOutOfRange { .. })));
    let (writer, _) = writer_with(&SimStorage::new(), 5);
    assert!(matches!(writer.truncate(Lsn(FIRST.0 + 6)), Err(Error::TruncateOutOfRange { .. })));
}

#[test]
fn a_failure_and_crash_at_every_step_of_a_truncation_leaves_whole_or_cut() {
    let keep = Lsn(FIRST.0 + 12);
    // Count the storage operations of one truncation, to fail each of them in turn.
    let clean = SimStorage::new();
    let (writer, _) = writer_with(&clean, 25);
    let before = clean.operations();
    writer.truncate(keep).unwrap();
    let steps = clean.operations() - before;
    let mut outcomes = [0usize; 2];
    for step in 0..steps {
        for crash_seed in 0..20 {
            let storage = SimStorage::new();
            let (writer, written) = writer_with(&storage, 25);
            storage.fail_after(step, Fault::Io);
            assert!(writer.truncate(keep).is_err(), "step {step} failed nothing");
            let recovered = recover_segment(
                &storage.crash(crash_seed),
                &sim_dir(),
                SegmentId(1),
                FIRST,
                inline_options(8),
            )
            .unwrap_or_else(|error| panic!("step {step}, seed {crash_seed}: {error}"));
            let count = recovered.scan.records.len();
            assert!(count == 12 || count == 25, "step {step}, seed {crash_seed}: {count} records");
            assert_prefix(&recovered.scan, &written, FIRST, count);
            outcomes[usize::from(count == 12)] += 1;
        }
    }
    println!(
        "truncation failed at each of its {steps} storage operations, then crashed with 20 seeds: \
         {} whole, {} cut, 0 other",
        outcomes[0], outcomes[1]
    );
}

#[test]
fn a_truncation_seen_in_the_page_cache_is_made_durable_by_recovery() {
    // The process dies after the cut's header was zeroed in the page cache but before it was
    // synced; the same boot recovers (and sees the cut); then the power fails.
    let storage = SimStorage::new();
    let (writer, written) = writer_with(&storage, 25);
    let before = storage.operations();
    let clean = SimStorage::new();
    let (probe, _) = writer_with(&clean, 25);
    let base = clean.operations();
    probe.truncate(Lsn(FIRST.0 + 12)).unwrap();
    let last_step = clean.operations() - base - 1; // the msync of the zeroed header
    storage.fail_after(last_step, Fault::Io);
    assert!(writer.truncate(Lsn(FIRST.0 + 12)).is_err());
    assert!(storage.operations() > before);
    let same_boot = recover_one(&storage);
    assert_prefix(&same_boot.scan, &written, FIRST, 12);
    for seed in 0..20 {
        let after_power_loss = recover_one(&storage.crash(seed));
        assert_prefix(&after_power_loss.scan, &written, FIRST, 12);
    }
}

#[test]
fn a_deleted_segment_stays_deleted_after_a_crash() {
    let storage = SimStorage::new();
    let (writer, _) = writer_with(&storage, 3);
    writer.seal().unwrap();
    delete_segment(&storage, &sim_dir(), SegmentId(1)).unwrap();
    for seed in 0..10 {
        let crashed = storage.crash(seed);
        assert!(crashed.open(&segment_path(&sim_dir(), 1)).is_err());
        assert!(crashed.open(&sim_dir().join(index_file_name(SegmentId(1)))).is_err());
    }
}
