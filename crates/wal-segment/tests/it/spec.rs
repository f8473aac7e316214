//! Ties the on-disk structs of the segment layer to their tables in `docs/format.md`, field by
//! field: the chunk header, the index header, the index entry and the seal record's payload;
//! and the index file of both versions to golden files written by hand from those tables.

use std::mem::offset_of;

use wal_format::{Lsn, Salt};
use wal_segment::{
    CHUNK_HEADER_BYTES, CHUNK_MAGIC, CHUNK_OVERHEAD_BYTES, ChunkHeader, INDEX_CHUNK_MARK,
    INDEX_ENTRY_BYTES, INDEX_FORMAT_VERSION, INDEX_HEADER_BYTES, INDEX_MAGIC, INDEX_SKIP_MARK,
    INDEX_WORD_BYTES, IndexEntry, IndexEntryBytes, IndexHeader, SEAL_PAYLOAD_BYTES,
    SEGMENT_FORMAT_VERSION, SealPayload, SegmentId, SegmentIndex,
};

const SPEC: &str = include_str!("../../../../docs/format.md");

/// The text of the section under `heading`, up to the next heading.
fn section(heading: &str) -> &'static str {
    let rest = SPEC.split(heading).nth(1).unwrap_or_else(|| panic!("no section {heading}"));
    rest.split("\n#").next().unwrap()
}

/// Checks the `nth` table of `text` lists exactly `fields` (name, offset, size), tiling `total`.
fn check_table(text: &str, nth: usize, fields: &[(&str, usize, usize)], total: usize) {
    let tables: Vec<Vec<&str>> = text
        .split("\n\n")
        .map(|block| block.lines().filter(|l| l.starts_with("| ") && l.contains('`')).collect())
        .filter(|rows: &Vec<&str>| !rows.is_empty())
        .collect();
    let rows = &tables[nth];
    assert_eq!(rows.len(), fields.len(), "one row per field: {rows:?}");
    let mut end = 0;
    for ((name, offset, size), row) in fields.iter().zip(rows) {
        let prefix = format!("| {offset} | {size} |");
        assert!(row.starts_with(&prefix) && row.contains(&format!("`{name}`")), "{name}: {row}");
        assert_eq!(*offset, end, "{name} follows the previous field");
        end = offset + size;
    }
    assert_eq!(end, total);
}

#[test]
fn chunk_header_table_matches_the_struct() {
    let text = section("### Chunk header");
    check_table(
        text,
        0,
        &[
            ("magic", offset_of!(ChunkHeader, magic), 8),
            ("format_version", offset_of!(ChunkHeader, format_version), 4),
            ("chunk_size_log2", offset_of!(ChunkHeader, chunk_size_log2), 1),
            ("reserved_a", offset_of!(ChunkHeader, reserved_a), 3),
            ("segment_id", offset_of!(ChunkHeader, segment_id), 8),
            ("chunk_index", offset_of!(ChunkHeader, chunk_index), 4),
            ("salt", offset_of!(ChunkHeader, salt), 4),
            ("first_lsn", offset_of!(ChunkHeader, first_lsn), 8),
            ("reserved_b", offset_of!(ChunkHeader, reserved_b), 20),
            ("checksum", offset_of!(ChunkHeader, checksum), 4),
        ],
        CHUNK_HEADER_BYTES,
    );
    assert!(text.contains(&format!("`{}`", std::str::from_utf8(&CHUNK_MAGIC).unwrap())));
    assert!(text.contains(&format!("| {SEGMENT_FORMAT_VERSION} |")));
}

#[test]
fn index_tables_match_the_structs() {
    let text = section("### Sidecar index");
    check_table(
        text,
        0,
        &[
            ("magic", offset_of!(IndexHeader, magic), 8),
            ("format_version", offset_of!(IndexHeader, format_version), 4),
            ("reserved", offset_of!(IndexHeader, reserved), 4),
            ("segment_id", offset_of!(IndexHeader, segment_id), 8),
        ],
        INDEX_HEADER_BYTES,
    );
    check_table(
        text,
        1,
        &[
            ("lsn", offset_of!(IndexEntryBytes, lsn), 8),
            ("chunk", offset_of!(IndexEntryBytes, chunk), 4),
            ("offset", offset_of!(IndexEntryBytes, offset), 4),
            ("salt", offset_of!(IndexEntryBytes, salt), 4),
        ],
        INDEX_ENTRY_BYTES,
    );
    assert!(text.contains(&format!("`{}`", std::str::from_utf8(&INDEX_MAGIC).unwrap())));
}

#[test]
fn seal_table_matches_the_struct() {
    check_table(
        section("### Seal record"),
        0,
        &[
            ("seal_lsn", offset_of!(SealPayload, seal_lsn), 8),
            ("record_count", offset_of!(SealPayload, record_count), 8),
            ("index_crc", offset_of!(SealPayload, index_crc), 4),
            ("reserved", offset_of!(SealPayload, reserved), 4),
        ],
        SEAL_PAYLOAD_BYTES,
    );
    assert!(section("### Seal record").contains(&format!("{SEAL_PAYLOAD_BYTES}-byte payload")));
}

/// The recipe both golden index files hold: segment 7 from LSN 100; LSN 102 is a skipped
/// frame; chunk 1 holds no record.
fn golden_recipe() -> SegmentIndex {
    let entry =
        |lsn, chunk, offset, salt| IndexEntry { lsn: Lsn(lsn), chunk, offset, salt: Salt(salt) };
    SegmentIndex::new(vec![
        entry(100, 0, 64, 0xA1),
        entry(101, 0, 96, 0xA1),
        entry(103, 0, 160, 0xA1),
        entry(104, 2, 64, 0xC3),
        entry(105, 2, 200, 0xC3),
    ])
}

fn golden(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Version 2 is what this version writes, byte for byte; version 1, written by earlier
/// versions, still reads back to the same entries.
#[test]
fn index_files_of_both_versions_match_their_golden_files() {
    let recipe = golden_recipe();
    assert_eq!(recipe.encode(SegmentId(7)), golden("index-v2.idx"), "this version writes v2");
    for (name, version) in [("index-v1.idx", 1), ("index-v2.idx", 2)] {
        let bytes = golden(name);
        assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), version);
        assert_eq!(SegmentIndex::decode(&bytes, SegmentId(7), Lsn(100)), recipe, "{name}");
    }
    assert_eq!(INDEX_FORMAT_VERSION, 2);
    let text = section("### Sidecar index");
    assert!(text.contains(&format!("| {INDEX_FORMAT_VERSION} |")), "the header table's version");
    for (mark, name) in [(INDEX_CHUNK_MARK, "chunk mark"), (INDEX_SKIP_MARK, "skip mark")] {
        assert!(text.contains(&format!("`{mark:#010X}`")), "{name} {mark:#010X} in format.md");
    }
    assert_eq!(INDEX_WORD_BYTES, 4);
}

#[test]
fn the_record_limit_is_the_one_the_seal_section_states() {
    let text = section("### Seal record");
    assert!(text.contains(&format!("`chunk_bytes` minus {CHUNK_OVERHEAD_BYTES} bytes")), "{text}");
    assert!(section("## Limits").contains(&format!("`chunk_bytes` minus {CHUNK_OVERHEAD_BYTES}")));
    for (chunk_bytes, max) in [
        (64 << 10, (64 << 10) - 136),
        (1 << 20, (1 << 20) - 136),
        (4 << 20, (4 << 20) - 136),
        (8 << 20, wal_format::MAX_PAYLOAD_BYTES),
        (1 << 30, wal_format::MAX_PAYLOAD_BYTES),
    ] {
        let options = wal_segment::SegmentOptions { chunk_bytes, ..Default::default() };
        assert_eq!(options.max_payload_bytes(), max, "{chunk_bytes}");
    }
}
