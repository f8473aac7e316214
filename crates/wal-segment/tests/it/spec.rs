//! Ties the chunk header struct to its table in `docs/format.md`, field by field.

use std::mem::offset_of;

use wal_segment::{CHUNK_HEADER_BYTES, CHUNK_MAGIC, ChunkHeader, SEGMENT_FORMAT_VERSION};

const SPEC: &str = include_str!("../../../../docs/format.md");

#[test]
fn chunk_header_table_matches_the_struct() {
    let section = SPEC.split("### Chunk header").nth(1).expect("a Chunk header section");
    let section = section.split("\n#").next().unwrap();
    let fields = [
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
    ];
    let rows: Vec<&str> =
        section.lines().filter(|line| line.starts_with("| ") && line.contains('`')).collect();
    assert_eq!(rows.len(), fields.len(), "one row per field");
    let mut end = 0;
    for ((name, offset, size), row) in fields.iter().zip(rows) {
        let prefix = format!("| {offset} | {size} |");
        assert!(row.starts_with(&prefix) && row.contains(&format!("`{name}`")), "{name}: {row}");
        assert_eq!(*offset, end, "{name} follows the previous field");
        end = offset + size;
    }
    assert_eq!(end, CHUNK_HEADER_BYTES);
    assert!(section.contains(&format!("`{}`", std::str::from_utf8(&CHUNK_MAGIC).unwrap())));
    assert!(section.contains(&format!("| {SEGMENT_FORMAT_VERSION} |")));
}
