//! The sidecar index: deleted, truncated at every offset, bit-flipped, stale, or ahead of the
//! data, recovery must equal a full scan and leave a correct index; and with the index present,
//! damage inside durable data is an error that names where, never a silently shorter log.

use wal_format::{Lsn, Record, Tag};
use wal_segment::SegmentId;
use wal_segment::{
    Error, IndexStatus, SegmentIndex, SegmentWriter, SimStorage, Storage, index_file_name,
    recover_segment, scan_segment, segment_first_lsn, storage::SegmentFile,
};

use crate::{Written, assert_prefix, inline_options, payload, segment_path, sim_dir};

const FIRST: Lsn = Lsn(1000);

/// A segment of `count` records, synced every 5, and the records; also the index file's bytes
/// and the segment's bytes as they were after `capture_at` records.
fn build_capturing(
    storage: &SimStorage,
    count: u64,
    capture_at: u64,
) -> (Vec<Written>, Vec<u8>, Vec<u8>) {
    let written: Vec<Written> =
        (0..count).map(|i| Written::new(Tag::ENTRY, payload(i, (i as usize * 53) % 700))).collect();
    let mut writer =
        SegmentWriter::create(storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    let mut captured = (Vec::new(), Vec::new());
    for (index, batch) in written.chunks(5).enumerate() {
        let records: Vec<Record<'_>> = batch.iter().map(Written::record).collect();
        writer.append(&records).unwrap();
        writer.sync().unwrap();
        if (index as u64 + 1) * 5 == capture_at {
            let index_bytes = storage.open(&index_path()).unwrap().read_to_end().unwrap();
            captured = (index_bytes, storage.read_file(&segment_path(&sim_dir(), 1)));
        }
    }
    (written, captured.0, captured.1)
}

fn build(storage: &SimStorage, count: u64) -> Vec<Written> {
    build_capturing(storage, count, 0).0
}

fn index_path() -> std::path::PathBuf {
    sim_dir().join(index_file_name(SegmentId(1)))
}

fn replace_index(storage: &SimStorage, bytes: &[u8]) {
    let file = storage.open(&index_path()).unwrap();
    file.set_len(0).unwrap();
    file.write_at(0, bytes).unwrap();
    file.sync_data().unwrap();
}

/// Recovers on a copy of the storage and checks the result equals a full scan, with an index
/// that lists exactly the scanned records.
fn check_equals_full_scan(storage: &SimStorage, written: &[Written], context: &str) -> IndexStatus {
    let full = scan_segment(storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    let recovered = recover_segment(storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4))
        .unwrap_or_else(|error| panic!("{context}: {error}"));
    assert_eq!(recovered.scan.records, full.records, "{context}");
    assert_prefix(&recovered.scan, written, FIRST, written.len());
    let on_disk = storage.open(&index_path()).unwrap().read_to_end().unwrap();
    assert_eq!(
        SegmentIndex::decode(&on_disk, SegmentId(1), FIRST),
        recovered.index,
        "{context}: index file"
    );
    for (record, entry) in full.records.iter().zip(recovered.index.entries()) {
        assert_eq!(recovered.index.lookup(record.record.lsn), Some(*entry));
        assert_eq!((entry.chunk, entry.offset as usize), (record.chunk, record.record.offset));
    }
    recovered.index_status
}

#[test]
fn an_intact_index_is_confirmed_and_looks_up_every_record() {
    let storage = SimStorage::new();
    let written = build(&storage, 120);
    assert_eq!(check_equals_full_scan(&storage, &written, "intact"), IndexStatus::Confirmed);
}

#[test]
fn a_deleted_index_is_rebuilt() {
    let storage = SimStorage::new();
    let written = build(&storage, 60);
    storage.remove(&index_path()).unwrap();
    assert_eq!(
        check_equals_full_scan(&storage, &written, "deleted"),
        IndexStatus::Rebuilt { kept: 0 }
    );
    assert_eq!(check_equals_full_scan(&storage, &written, "after rebuild"), IndexStatus::Confirmed);
}

#[test]
fn an_index_truncated_at_every_offset_or_with_any_bit_flipped_gives_the_full_scan() {
    let storage = SimStorage::new();
    let written = build(&storage, 40);
    let original = storage.open(&index_path()).unwrap().read_to_end().unwrap();
    let mut cases = 0;
    for cut in 0..original.len() {
        replace_index(&storage, &original[..cut]);
        check_equals_full_scan(&storage, &written, &format!("cut at {cut}"));
        cases += 1;
    }
    for bit in 0..original.len() * 8 {
        let mut flipped = original.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        replace_index(&storage, &flipped);
        check_equals_full_scan(&storage, &written, &format!("bit {bit}"));
        cases += 1;
    }
    println!(
        "damaged index: {cases} cases (every cut, every bit), recovery equal to a full scan in all"
    );
}

/// A multi-chunk index (version 2: chunk marks and 4-byte offsets) with any one word zeroed,
/// or any 512-byte sector zeroed (a lost write): recovery never calls it damage, and equals a
/// full scan. (A zeroed word reads as an offset of 0 or a mark's zero field; neither can make
/// an entry whose frame validates in place with the LSN it claims.)
#[test]
fn an_index_with_any_word_or_sector_zeroed_gives_the_full_scan() {
    let storage = SimStorage::new();
    let written = build(&storage, 400);
    let original = storage.open(&index_path()).unwrap().read_to_end().unwrap();
    let full = scan_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    let chunks = full.records.iter().map(|record| record.chunk).max().unwrap() + 1;
    assert!(chunks >= 3, "the index spans chunks: {chunks}");
    let mut cases = 0;
    let words = (original.len() - wal_segment::INDEX_HEADER_BYTES) / 4;
    for word in 0..words {
        let mut zeroed = original.clone();
        let at = wal_segment::INDEX_HEADER_BYTES + word * 4;
        zeroed[at..at + 4].fill(0);
        replace_index(&storage, &zeroed);
        check_equals_full_scan(&storage, &written, &format!("word {word} zeroed"));
        cases += 1;
    }
    for sector in 0..original.len().div_ceil(512) {
        let mut zeroed = original.clone();
        let end = (sector * 512 + 512).min(zeroed.len());
        zeroed[sector * 512..end].fill(0);
        replace_index(&storage, &zeroed);
        check_equals_full_scan(&storage, &written, &format!("sector {sector} zeroed"));
        cases += 1;
    }
    println!("index of {chunks} chunks: {cases} words or sectors zeroed, a full scan each time");
}

#[test]
fn a_stale_index_and_an_index_ahead_of_the_data_give_the_full_scan() {
    // Stale: the index as it was after 20 of the 40 records.
    let storage = SimStorage::new();
    let (written, early_index, early_data) = build_capturing(&storage, 40, 20);
    let late_index = storage.open(&index_path()).unwrap().read_to_end().unwrap();
    replace_index(&storage, &early_index);
    assert_eq!(
        check_equals_full_scan(&storage, &written, "stale"),
        IndexStatus::Rebuilt { kept: 20 }
    );

    // Ahead: the data as it was after 20 records, the index of all 40: the extra entries point
    // at space that held nothing then, so they are dropped.
    storage.edit_file(&segment_path(&sim_dir(), 1), |bytes| {
        bytes[..early_data.len()].copy_from_slice(&early_data);
    });
    replace_index(&storage, &late_index);
    let early_written: Vec<Written> = written[..20].to_vec();
    assert_eq!(
        check_equals_full_scan(&storage, &early_written, "ahead"),
        IndexStatus::Rebuilt { kept: 20 }
    );
}

#[test]
fn a_damaged_chunk_header_under_indexed_records_is_an_error() {
    let storage = SimStorage::new();
    build(&storage, 400);
    let full = scan_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    let last_chunk = full.records.last().unwrap().chunk;
    assert!(last_chunk > 0, "the workload spans chunks");
    let header_at = last_chunk as usize * crate::CHUNK + 20;
    storage.edit_file(&segment_path(&sim_dir(), 1), |bytes| bytes[header_at] ^= 1);
    match recover_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)) {
        Err(Error::Corrupt { chunk, .. }) => assert_eq!(chunk, last_chunk),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Found by the engine's corruption test: a zeroed first chunk header read as "never started",
/// and recovery deleted the segment as an empty newest one, losing its synced records.
#[test]
fn a_missing_first_chunk_header_under_indexed_records_is_an_error_not_an_empty_segment() {
    for what in ["zeroed", "bit flipped"] {
        let storage = SimStorage::new();
        build(&storage, 40);
        storage.edit_file(&segment_path(&sim_dir(), 1), |bytes| match what {
            "zeroed" => bytes[..64].fill(0),
            _ => bytes[9] ^= 4,
        });
        match segment_first_lsn(&storage, &sim_dir(), SegmentId(1), inline_options(4)) {
            Err(Error::Corrupt { chunk: 0, reason, .. }) => {
                assert!(reason.contains("index lists"), "{what}: {reason}");
            }
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
        // With no index entries the same header means a segment that never held a record.
        replace_index(&storage, &[]);
        assert_eq!(
            segment_first_lsn(&storage, &sim_dir(), SegmentId(1), inline_options(4)).unwrap(),
            None
        );
    }
}

#[test]
fn damage_inside_durable_data_is_an_error_naming_where() {
    let storage = SimStorage::new();
    let written = build(&storage, 60);
    let full = scan_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    let victim = &full.records[30];
    let at = victim.chunk as usize * crate::CHUNK + victim.record.offset + 30;
    storage.edit_file(&segment_path(&sim_dir(), 1), |bytes| bytes[at] ^= 0x20);
    match recover_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)) {
        Err(Error::Corrupt { chunk, reason, .. }) => {
            assert_eq!(chunk, victim.chunk);
            assert!(reason.contains(&format!("offset {}", victim.record.offset)), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Without the index, nothing can tell this damage from a torn tail: the scan stops there.
    storage.remove(&index_path()).unwrap();
    let recovered =
        recover_segment(&storage, &sim_dir(), SegmentId(1), FIRST, inline_options(4)).unwrap();
    assert_prefix(&recovered.scan, &written, FIRST, 30);
}
