//! Every cut point: for every byte offset inside the last 3 records of 3 workloads, cut the
//! segment there (truncate the file, zero-fill from there, or write garbage from there); the
//! scan must return exactly the longest run of records still intact (frame and chunk header
//! unchanged: usually those wholly before the cut, plus a record whose zero alignment padding
//! was "zeroed"), and never panic.

use bytes::Bytes;
use wal_format::{Lsn, Tag, frame_len};
use wal_segment::SegmentId;
use wal_segment::{CHUNK_HEADER_BYTES, SegmentEnd, SegmentWriter, SimStorage, scan_chunks};

use crate::{CHUNK, Written, assert_prefix, inline_options, payload, segment_path, sim_dir};

const FIRST: Lsn = Lsn(10);

/// Tiny records only.
fn tiny() -> Vec<Written> {
    (0..300).map(|lsn| Written::new(Tag::ENTRY, payload(lsn, (lsn % 9) as usize))).collect()
}

/// Transactions with begin/delta/commit/abort markers and mixed sizes.
fn mixed() -> Vec<Written> {
    let tags = [
        Tag::TXN_BEGIN,
        Tag::DELTA,
        Tag::DELTA,
        Tag::TXN_COMMIT,
        Tag::TXN_BEGIN,
        Tag::DELTA,
        Tag::TXN_ABORT,
    ];
    (0..210)
        .map(|lsn| Written::new(tags[lsn as usize % 7], payload(lsn, (lsn as usize * 37) % 300)))
        .collect()
}

/// Fills chunk 0 up to the room every chunk keeps for a seal record (closed by a padding frame
/// there), then two records in chunk 1: the last three records end at, and start after, a chunk
/// boundary.
fn boundary() -> Vec<Written> {
    let room = CHUNK - CHUNK_HEADER_BYTES - seal_frame();
    let frame = frame_len(1000).unwrap();
    let mut records: Vec<Written> =
        (0..room / frame).map(|lsn| Written::new(Tag::ENTRY, payload(lsn as u64, 1000))).collect();
    let last_frame = room - records.len() * frame;
    let last_payload = last_frame - wal_format::HEADER_SIZE_BYTES;
    assert_eq!(frame_len(last_payload), Some(last_frame));
    records.push(Written::new(Tag::ENTRY, payload(records.len() as u64, last_payload)));
    records.push(Written::new(Tag::DELTA, payload(1000, 300)));
    records.push(Written::new(Tag::TXN_COMMIT, payload(1001, 5)));
    records
}

/// Bytes of a seal record's frame, which every chunk keeps free.
fn seal_frame() -> usize {
    frame_len(wal_segment::SEAL_PAYLOAD_BYTES).unwrap()
}

/// Where a record lies in the segment: its chunk's start, and its frame's start and end.
#[derive(Clone, Copy)]
struct Placed {
    chunk_start: usize,
    start: usize,
    end: usize,
}

/// How many records, from the first, are intact in `damaged`: their frame and their chunk's
/// header byte-for-byte as in `original`.
fn intact_prefix(original: &[u8], damaged: &[u8], placed: &[Placed]) -> usize {
    let same = |from: usize, to: usize| damaged.get(from..to) == Some(&original[from..to]);
    placed
        .iter()
        .take_while(|p| {
            same(p.chunk_start, p.chunk_start + CHUNK_HEADER_BYTES) && same(p.start, p.end)
        })
        .count()
}

/// The segment's bytes after writing `records`, and where each record lies in them.
fn image(records: &[Written]) -> (Vec<u8>, Vec<Placed>) {
    let storage = SimStorage::new();
    let dir = sim_dir();
    let mut writer =
        SegmentWriter::create(&storage, &dir, SegmentId(1), FIRST, inline_options(4)).unwrap();
    for written in records {
        writer.append(&[written.record()]).unwrap();
    }
    writer.sync().unwrap();
    let bytes = storage.read_file(&segment_path(&dir, 1));
    let scan = scan(&bytes);
    assert_prefix(&scan, records, FIRST, records.len());
    let placed = scan
        .records
        .iter()
        .map(|record| {
            let chunk_start = record.chunk as usize * CHUNK;
            let start = chunk_start + record.record.offset;
            Placed {
                chunk_start,
                start,
                end: start + frame_len(record.record.payload.len()).unwrap(),
            }
        })
        .collect();
    (bytes, placed)
}

fn scan(bytes: &[u8]) -> wal_segment::SegmentScan {
    let chunks = bytes.chunks(CHUNK).map(Bytes::copy_from_slice);
    scan_chunks(&segment_path(&sim_dir(), 1), SegmentId(1), FIRST, inline_options(4), chunks)
        .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    Truncate,
    Zero,
    Garbage,
}

fn cut(bytes: &[u8], at: usize, how: Cut) -> Vec<u8> {
    let mut damaged = bytes.to_vec();
    match how {
        Cut::Truncate => damaged.truncate(at),
        Cut::Zero => damaged[at..].fill(0),
        Cut::Garbage => {
            for (index, byte) in damaged[at..].iter_mut().enumerate() {
                *byte =
                    ((index as u64 + at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
            }
        }
    }
    damaged
}

fn every_cut(name: &str, records: &[Written]) -> usize {
    let (bytes, placed) = image(records);
    let last_three_start = placed[records.len() - 3].start;
    let end = placed[records.len() - 1].end;
    let mut cases = 0;
    for at in last_three_start..=end {
        let before_cut = placed.iter().take_while(|p| p.end <= at).count();
        for how in [Cut::Truncate, Cut::Zero, Cut::Garbage] {
            let damaged = cut(&bytes, at, how);
            let intact = intact_prefix(&bytes, &damaged, &placed);
            assert!(intact >= before_cut && intact <= before_cut + 1, "{name} {how:?} {at}");
            let scan = scan(&damaged);
            assert_eq!(scan.records.len(), intact, "{name}: cut {how:?} at {at}: {:?}", scan.end);
            assert_prefix(&scan, records, FIRST, intact);
            assert!(!matches!(scan.end, SegmentEnd::StaleChunk { .. }), "{name} {how:?} {at}");
            cases += 1;
        }
    }
    println!(
        "every cut, {name}: {cases} cases ({} offsets x 3 ways), committed prefix in all",
        cases / 3
    );
    cases
}

#[test]
fn every_cut_of_tiny_records() {
    assert!(every_cut("tiny records", &tiny()) > 3 * 3 * 24);
}

#[test]
fn every_cut_of_mixed_transactions() {
    assert!(every_cut("mixed transactions", &mixed()) > 3 * 3 * 24);
}

#[test]
fn every_cut_around_a_chunk_boundary() {
    let records = boundary();
    let cases = every_cut("records at a chunk boundary", &records);
    assert!(cases > 3 * CHUNK_HEADER_BYTES);
}

#[test]
fn the_boundary_workload_really_fills_chunk_zero() {
    let records = boundary();
    let (_, placed) = image(&records);
    let end = CHUNK - seal_frame();
    assert_eq!(placed[records.len() - 3].end, end, "the third-last record ends at the seal's room");
    assert_eq!(placed[records.len() - 2].start, CHUNK + CHUNK_HEADER_BYTES);
}
