//! Ties the code to `docs/format.md`: the header table, the limits table and the tag table must
//! say exactly what the constants say, so the spec cannot drift from the bytes.

use wal_format::{
    ALIGNMENT_BYTES, FORMAT_VERSION, HEADER_FIELDS, HEADER_SIZE_BYTES, MAX_FRAME_BYTES,
    MAX_PAYLOAD_BYTES, SALT_SIZE_BYTES, Tag,
};

const SPEC: &str = include_str!("../../../../docs/format.md");

/// The rows of the first markdown table after `heading`, as trimmed cells, header row excluded.
fn table(heading: &str) -> Vec<Vec<String>> {
    let start =
        SPEC.find(heading).unwrap_or_else(|| panic!("format.md has no heading {heading:?}"));
    SPEC[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the column names and the |---| line
        .map(|line| line.trim_matches('|').split('|').map(|cell| cell.trim().to_string()).collect())
        .collect()
}

fn unquote(cell: &str) -> &str {
    cell.trim_matches('`')
}

#[test]
fn header_table_matches_the_struct() {
    let rows = table("### Frame header");
    let documented: Vec<(String, usize, usize)> = rows
        .iter()
        .map(|row| (unquote(&row[3]).to_string(), row[0].parse().unwrap(), row[1].parse().unwrap()))
        .collect();
    let code: Vec<(String, usize, usize)> =
        HEADER_FIELDS.iter().map(|f| (f.name.to_string(), f.offset, f.size)).collect();
    assert_eq!(documented, code);
}

#[test]
fn limits_table_matches_the_constants() {
    let code = [
        ("FORMAT_VERSION", FORMAT_VERSION as usize),
        ("ALIGNMENT_BYTES", ALIGNMENT_BYTES),
        ("HEADER_SIZE_BYTES", HEADER_SIZE_BYTES),
        ("MAX_PAYLOAD_BYTES", MAX_PAYLOAD_BYTES),
        ("MAX_FRAME_BYTES", MAX_FRAME_BYTES),
        ("SALT_SIZE_BYTES", SALT_SIZE_BYTES),
    ];
    let documented: Vec<(String, usize)> = table("## Limits")
        .iter()
        .map(|row| (unquote(&row[0]).to_string(), row[1].parse().unwrap()))
        .collect();
    let code: Vec<(String, usize)> = code.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!(documented, code);
}

#[test]
fn tag_table_lists_exactly_the_system_tags() {
    let documented: Vec<(u8, String, bool)> = table("System tags of version 1")
        .iter()
        .map(|row| {
            let byte = u8::from_str_radix(row[0].trim_start_matches("0x"), 16).unwrap();
            (byte, unquote(&row[1]).to_string(), row[2] == "yes")
        })
        .collect();
    let code: Vec<(u8, String, bool)> = Tag::SYSTEM
        .iter()
        .map(|(tag, name)| (tag.byte(), name.to_string(), *tag != Tag::PADDING))
        .collect();
    assert_eq!(documented, code);
}

#[test]
fn version_history_ends_with_the_current_version() {
    let rows = table("## Version history");
    assert_eq!(rows.last().unwrap()[0], FORMAT_VERSION.to_string());
}

#[test]
fn the_documented_crc_check_value_holds() {
    assert!(SPEC.contains("crc32fast::hash(b\"123456789\") == 0xCBF43926"));
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}
