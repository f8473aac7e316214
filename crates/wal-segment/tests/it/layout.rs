//! A segment states its own layout: read back with [`read_segment_layout`]; opened with other
//! chunk options it is a typed `LayoutMismatch` naming both sizes, never `Corrupt`; a later
//! chunk that states another size than chunk 0 is damage.

use wal_format::{Lsn, Record, Tag};
use wal_segment::{
    CHUNK_HEADER_BYTES, ChunkIdentity, Error, RealStorage, SegmentId, SegmentLayout,
    read_segment_layout, recover_segment, segment_first_lsn,
};

use crate::{CHUNK, inline_options, segment_path};

/// A sealed segment 1 of two 64 KiB chunks, from LSN 5, in a new directory.
fn two_chunk_segment() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = wal_segment::SegmentWriter::create(
        &RealStorage,
        dir.path(),
        SegmentId(1),
        Lsn(5),
        inline_options(2),
    )
    .unwrap();
    for n in 0..12u8 {
        writer.append(&[Record { tag: Tag::ENTRY, payload: &vec![n; CHUNK / 8] }]).unwrap();
    }
    writer.seal().unwrap();
    dir
}

#[test]
fn a_segment_read_with_another_chunk_size_is_a_layout_mismatch() {
    let dir = two_chunk_segment();
    let layout = read_segment_layout(&RealStorage, dir.path(), SegmentId(1)).unwrap();
    assert_eq!(layout, Some(SegmentLayout { chunk_bytes: CHUNK, chunks: 2, first_lsn: Lsn(5) }));
    let other = wal_segment::SegmentOptions { chunk_bytes: 2 * CHUNK, ..inline_options(2) };
    let mismatch = |error: Error| match error {
        Error::LayoutMismatch { field, on_disk, requested, .. } => {
            assert_eq!(
                (field, on_disk, requested),
                ("chunk_bytes", CHUNK as u64, 2 * CHUNK as u64)
            );
        }
        other => panic!("{other:?}"),
    };
    mismatch(segment_first_lsn(&RealStorage, dir.path(), SegmentId(1), other).unwrap_err());
    mismatch(recover_segment(&RealStorage, dir.path(), SegmentId(1), Lsn(5), other).unwrap_err());
    // With the layout it states, it is whole and sealed.
    let options = layout.unwrap().options(other);
    let recovered =
        recover_segment(&RealStorage, dir.path(), SegmentId(1), Lsn(5), options).unwrap();
    assert!(recovered.sealed.is_some());
    assert_eq!(recovered.scan.records.len(), 13);
}

#[test]
fn a_later_chunk_of_another_size_is_corrupt() {
    let dir = two_chunk_segment();
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let header = &mut bytes[CHUNK..CHUNK + CHUNK_HEADER_BYTES];
    let expected = ChunkIdentity {
        chunk_size_log2: 16,
        segment_id: SegmentId(1),
        chunk_index: 1,
        salt: wal_format::Salt(0),
        first_lsn: Lsn(0),
    };
    let identity = ChunkIdentity::decode(header, &expected).unwrap();
    header.copy_from_slice(&ChunkIdentity { chunk_size_log2: 17, ..identity }.encode());
    std::fs::write(&path, &bytes).unwrap();
    let opened = recover_segment(&RealStorage, dir.path(), SegmentId(1), Lsn(5), inline_options(2));
    match opened {
        Err(Error::Corrupt { chunk: 1, reason, .. }) => {
            assert!(reason.contains("2^17"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
