//! Records appended through mapped chunks read back exactly, on both storages.

use wal_format::{Lsn, Record, Tag};
use wal_segment::SegmentId;
use wal_segment::storage::{MappedRegion, SegmentFile};
use wal_segment::{
    CHUNK_HEADER_BYTES, DirLock, Error, RealStorage, SegmentEnd, SegmentOptions, SegmentWriter,
    SimStorage, SpaceFill, Storage, scan_segment,
};

use crate::{CHUNK, Written, assert_prefix, options, payload, sim_dir};

/// Mixed sizes that cross several chunk boundaries, with syncs in between.
fn workload() -> Vec<Written> {
    (0..400u64)
        .map(|lsn| {
            let len = [0, 1, 7, 8, 100, 1000, 5000][lsn as usize % 7];
            let tag = [Tag::TXN_BEGIN, Tag::DELTA, Tag::DELTA, Tag::TXN_COMMIT][lsn as usize % 4];
            Written::new(tag, payload(lsn, len))
        })
        .collect()
}

fn write_and_read_back<S: Storage>(storage: &S, dir: &std::path::Path, fill: SpaceFill) {
    let _lock = DirLock::acquire(storage, dir).unwrap();
    let written = workload();
    let options_filled = SegmentOptions { space_fill: fill, ..options(8) };
    let mut writer =
        SegmentWriter::create(storage, dir, SegmentId(3), Lsn(500), options_filled).unwrap();
    for (index, batch) in written.chunks(7).enumerate() {
        let records: Vec<Record<'_>> = batch.iter().map(Written::record).collect();
        writer.append(&records).unwrap();
        if index % 5 == 0 {
            writer.sync().unwrap();
        }
    }
    writer.sync().unwrap();
    assert_eq!(writer.durable_lsn(), Lsn(900));
    // While the writer lives, a scan's views would alias the bytes it writes: refused.
    assert!(matches!(
        scan_segment(storage, dir, SegmentId(3), Lsn(500), options(8)),
        Err(Error::LiveWriter { .. })
    ));
    drop(writer);
    let scan = scan_segment(storage, dir, SegmentId(3), Lsn(500), options(8)).unwrap();
    assert_prefix(&scan, &written, Lsn(500), written.len());
    assert!(scan.records.iter().map(|r| r.chunk).max().unwrap() >= 2, "crossed chunks");
    assert!(
        matches!(scan.end, SegmentEnd::Unwritten | SegmentEnd::UnstartedChunk),
        "{:?}",
        scan.end
    );
}

#[test]
fn real_files_round_trip_across_chunks() {
    for fill in [SpaceFill::Reserved, SpaceFill::Zeroed] {
        let dir = tempfile::tempdir().unwrap();
        write_and_read_back(&RealStorage, dir.path(), fill);
    }
}

#[test]
fn simulated_files_round_trip_across_chunks() {
    for fill in [SpaceFill::Reserved, SpaceFill::Zeroed] {
        write_and_read_back(&SimStorage::new(), &sim_dir(), fill);
    }
}

/// `SpaceFill::Zeroed` writes zeros only past the file's old end: space the file already held
/// (a chunk allocated again after a failed preparation) keeps its bytes, which a mapping may
/// be viewing.
#[test]
fn zero_filling_never_writes_over_bytes_the_file_held() {
    let dir = tempfile::tempdir().unwrap();
    let file = RealStorage.create(&dir.path().join("held")).unwrap();
    file.allocate(0, CHUNK as u64, SpaceFill::Reserved).unwrap();
    let map = file.map(0, CHUNK).unwrap();
    // SAFETY: the mapping is this test's alone and covers CHUNK bytes.
    unsafe { std::ptr::write_bytes(map.as_ptr(), 0xA5, CHUNK) };
    // Again over the held chunk and one chunk more: only the new chunk is written.
    file.allocate(0, 2 * CHUNK as u64, SpaceFill::Zeroed).unwrap();
    // SAFETY: as above.
    let held = unsafe { std::slice::from_raw_parts(map.as_ptr(), CHUNK) };
    assert!(held.iter().all(|&byte| byte == 0xA5), "bytes under a mapping were overwritten");
    assert_eq!(file.len_bytes().unwrap(), 2 * CHUNK as u64);
}

#[test]
fn a_full_segment_and_an_oversized_record_are_typed_errors_and_a_full_segment_still_seals() {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let mut writer =
        SegmentWriter::create(&storage, &dir, SegmentId(1), Lsn(0), options(2)).unwrap();
    let max = options(2).max_payload_bytes();
    let seal_frame = wal_format::frame_len(wal_segment::SEAL_PAYLOAD_BYTES).unwrap();
    assert_eq!(max, CHUNK - CHUNK_HEADER_BYTES - wal_format::HEADER_SIZE_BYTES - seal_frame);
    let big = vec![1u8; max + 1];
    assert!(matches!(
        writer.append(&[Record { tag: Tag::ENTRY, payload: &big }]),
        Err(Error::RecordTooLarge { len, .. }) if len == max + 1
    ));
    assert!(matches!(
        writer.append(&[Record { tag: Tag::SEAL, payload: b"" }]),
        Err(Error::Format(wal_format::Error::ReservedTag { .. }))
    ));
    // Every chunk keeps room for the seal frame (24 B header + 24 B payload): the largest
    // record fills a chunk up to it.
    writer.append(&[Record { tag: Tag::ENTRY, payload: &vec![2u8; max] }]).unwrap();
    writer.append(&[Record { tag: Tag::ENTRY, payload: &vec![3u8; max] }]).unwrap();
    assert!(matches!(
        writer.append(&[Record { tag: Tag::ENTRY, payload: b"x" }]),
        Err(Error::SegmentFull { .. })
    ));
    let sealed = writer.seal().unwrap();
    assert_eq!(sealed.record_count, 2);
    let scan = scan_segment(&storage, &dir, SegmentId(1), Lsn(0), options(2)).unwrap();
    assert_eq!(scan.records.len(), 3);
    assert_eq!(scan.records[2].record.tag, Tag::SEAL);
}

#[test]
fn invalid_options_are_refused() {
    let storage = SimStorage::new();
    for chunk_bytes in [0, 1000, 32 << 10, 2 << 30, (64 << 10) + 8] {
        let options =
            SegmentOptions { chunk_bytes, chunks_per_segment: 1, ..SegmentOptions::default() };
        assert!(matches!(
            SegmentWriter::create(&storage, &sim_dir(), SegmentId(1), Lsn(0), options),
            Err(Error::InvalidOptions { .. })
        ));
    }
    let options =
        SegmentOptions { chunk_bytes: CHUNK, chunks_per_segment: 0, ..SegmentOptions::default() };
    assert!(matches!(
        SegmentWriter::create(&storage, &sim_dir(), SegmentId(1), Lsn(0), options),
        Err(Error::InvalidOptions { .. })
    ));
}
