//! A log describes itself: reopened with other chunk options it keeps the layout its files
//! state (never "corrupt"), and what recovery accepts the inspector (`wal verify`) accepts too;
//! the record size limit is the one this log's chunk size sets, and errors state it.

use std::path::Path;

use wal_core::inspect::{Inspector, SegmentOutcome};
use wal_core::{ChunkPreparation, Durability, Error, Lsn, Options, RecordLimit, SegmentError, Wal};

use crate::support::TAG;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn options(chunk_bytes: usize) -> Options {
    Options::default()
        .with_chunk_bytes(chunk_bytes)
        .with_chunks_per_segment(2)
        .with_durability(Durability::Buffered)
        .with_preparation(ChunkPreparation::Inline)
        .with_housekeeping(None)
}

/// Records of `len` bytes, each with its number in front, enough to fill `chunks` chunks of
/// `chunk_bytes`.
fn payloads(chunk_bytes: usize, chunks: u32) -> Vec<Vec<u8>> {
    let len = chunk_bytes / 7;
    (0..chunks * 7 + 3)
        .map(|n| [n.to_le_bytes().to_vec(), vec![n.to_le_bytes()[0]; len]].concat())
        .collect()
}

/// What the inspector (the judge `wal verify` uses) says of the log in `dir`: `Ok` with each
/// segment's chunk size if recovery would find no damage, else the findings.
fn inspect(dir: &Path) -> Result<Vec<usize>, String> {
    let inspector = Inspector::open(dir).unwrap();
    let plan = inspector.plan().unwrap();
    if !plan.unreadable.is_empty() || !plan.plan.problems.is_empty() {
        return Err(format!("{:?} {:?}", plan.unreadable, plan.plan.problems));
    }
    let mut sizes = Vec::new();
    for &id in inspector.segment_ids() {
        let segment = inspector.segment(id).unwrap();
        match segment.outcome {
            SegmentOutcome::Checked(check) if check.damage.is_none() => {}
            SegmentOutcome::Empty => {}
            other => return Err(format!("segment {id}: {other:?}")),
        }
        sizes.extend(segment.chunk_bytes);
    }
    Ok(sizes)
}

/// Writes a log with `written` chunks, reopens it with `reopened` (and with the default
/// options), and checks that every open agrees with the inspector and keeps `written`.
fn check_reopen(written: usize, reopened: usize) {
    let dir = tempfile::tempdir().unwrap();
    let records = payloads(written, 3);
    let (wal, _) = Wal::open(dir.path(), options(written)).unwrap();
    for payload in &records {
        wal.append(TAG, payload).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(inspect(dir.path()), Ok(vec![written; 2]), "{written} written");

    let (wal, report) = Wal::open(dir.path(), options(reopened))
        .unwrap_or_else(|error| panic!("{written} reopened as {reopened}: {error}"));
    assert_eq!(report.records, records.len() as u64);
    assert_eq!(wal.chunk_bytes(), written);
    let read: Vec<Vec<u8>> =
        wal.read_from(Lsn(1)).unwrap().map(|record| record.unwrap().payload.to_vec()).collect();
    assert_eq!(read, records);
    // New segments continue the log's layout.
    for payload in &records {
        wal.append(TAG, payload).unwrap();
    }
    wal.sync().unwrap();
    drop(wal);
    let sizes = inspect(dir.path()).unwrap();
    assert!(sizes.len() >= 4 && sizes.iter().all(|&size| size == written), "{sizes:?}");

    let default = Options::default().with_housekeeping(None);
    let (wal, report) = Wal::open(dir.path(), default).unwrap();
    assert_eq!((report.records, wal.chunk_bytes()), (2 * records.len() as u64, written));
}

#[test]
fn a_log_reopened_with_other_chunk_options_keeps_its_own() {
    // Smaller, larger, and the case (1 MiB chunks reopened with the default 16 MiB).
    check_reopen(64 * KIB, 256 * KIB);
    check_reopen(256 * KIB, 64 * KIB);
    check_reopen(MIB, 16 * MIB);
}

#[test]
fn an_empty_log_takes_the_chunk_size_of_the_options() {
    let dir = tempfile::tempdir().unwrap();
    drop(Wal::open(dir.path(), options(64 * KIB)).unwrap());
    let (wal, _) = Wal::open(dir.path(), options(MIB)).unwrap();
    assert_eq!(wal.chunk_bytes(), MIB);
}

/// The largest payload of a log with chunks of `chunk_bytes`, from format.md's "Seal record":
/// the chunk less 136 bytes, or the format's 4 MiB - 24 if smaller.
fn expected_max(chunk_bytes: usize) -> usize {
    (chunk_bytes - 136).min((4 << 20) - 24)
}

/// Appends a record and a delta of exactly the limit (accepted, read back) and one byte more
/// (refused, the error stating this log's figures).
fn check_limit(wal: &Wal, chunk_bytes: usize) {
    let max = expected_max(chunk_bytes);
    assert_eq!((wal.max_record_bytes(), wal.max_delta_bytes()), (max, max - 9));
    let lsn = wal.append(TAG, &vec![7; max]).unwrap();
    assert_eq!(wal.get(lsn).unwrap().unwrap().payload.len(), max);
    let mut txn = wal.begin().unwrap();
    txn.delta(TAG, &vec![8; max - 9]).unwrap();
    let refusals = [
        (wal.append(TAG, &vec![7; max + 1]).unwrap_err(), max + 1, max),
        (txn.delta(TAG, &vec![8; max - 8]).unwrap_err(), max - 8, max - 9),
    ];
    txn.commit().unwrap();
    // Below 8 MiB the chunk sets the limit, from 8 MiB up the format does.
    let set_by = if chunk_bytes < 8 * MIB {
        RecordLimit::Chunk { chunk_bytes }
    } else {
        RecordLimit::Format
    };
    for (error, len, limit) in refusals {
        let Error::Segment(SegmentError::RecordTooLarge { len: found, max: stated, limit: by }) =
            &error
        else {
            panic!("{error:?}");
        };
        assert_eq!((*found, *stated, *by), (len, limit, set_by));
        let message = error.to_string();
        assert!(message.contains(&format!("{limit} bytes")), "{message}");
        let cause = match set_by {
            RecordLimit::Format => "the format's limit".to_owned(),
            _ => format!("a chunk of {chunk_bytes} bytes"),
        };
        assert!(message.contains(&cause), "{message}");
    }
}

#[test]
fn a_record_of_exactly_the_limit_is_taken_and_one_byte_more_refused() {
    for chunk_bytes in [64 * KIB, MIB, 16 * MIB] {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), options(chunk_bytes)).unwrap();
        check_limit(&wal, chunk_bytes);
        drop(wal);
        assert_eq!(inspect(dir.path()).map(|sizes| sizes[0]), Ok(chunk_bytes));
    }
}

#[test]
fn the_limit_follows_the_log_not_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), options(MIB)).unwrap();
    wal.append(TAG, b"first").unwrap();
    drop(wal);
    let (wal, _) = Wal::open(dir.path(), options(16 * MIB)).unwrap();
    check_limit(&wal, MIB);
}
