//! Ties the snapshot header to its table in `docs/format.md`: each row's offset and size hold
//! exactly that field in what `SnapshotHeader::encode` writes.

use wal_core::Lsn;
use wal_snapshot::{SNAPSHOT_HEADER_BYTES, SNAPSHOT_VERSION, SnapshotHeader};

const SPEC: &str = include_str!("../../../../docs/format.md");

#[test]
fn snapshot_header_table_matches_the_encoding() {
    let section = SPEC.split("## Snapshot files").nth(1).expect("a snapshot section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|line| line.starts_with("| ") && line.contains('`'))
        .map(|line| line.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    let header = SnapshotHeader {
        next_lsn: Lsn(0x1111_2222_3333_4444),
        replay_from: Lsn(0x0101_0202_0303_0404),
        last_commit_lsn: Lsn(0x0A0B_0C0D_0E0F_1011),
        units: 0x5555_6666_7777_8888,
        body_len: 0x1234_5678_9ABC_DEF0,
        body_crc: 0xCAFE_F00D,
    };
    let bytes = header.encode();
    let expected: &[(&str, u64)] = &[
        ("version", u64::from(SNAPSHOT_VERSION)),
        ("header_len", SNAPSHOT_HEADER_BYTES as u64),
        ("next_lsn", header.next_lsn.0),
        ("replay_from", header.replay_from.0),
        ("last_commit_lsn", header.last_commit_lsn.0),
        ("units", header.units),
        ("body_len", header.body_len),
        ("body_crc", u64::from(header.body_crc)),
        ("header_crc", u64::from(crc32fast::hash(&bytes[..60]))),
    ];
    let mut end = 0;
    for row in &rows {
        let (offset, size): (usize, usize) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        assert_eq!(offset, end, "{row:?} follows the previous field");
        end = offset + size;
        let field = row[3].trim_matches('`');
        let raw = &bytes[offset..offset + size];
        if field == "magic" {
            assert_eq!(raw, wal_snapshot::SNAPSHOT_MAGIC);
            continue;
        }
        let value = raw.iter().rev().fold(0u64, |value, &byte| value << 8 | u64::from(byte));
        let want = expected.iter().find(|(name, _)| *name == field).map(|(_, v)| *v);
        assert_eq!(Some(value), want, "field {field} at {offset}");
    }
    assert_eq!(end, SNAPSHOT_HEADER_BYTES);
    assert_eq!(rows.len(), expected.len() + 1);
    assert_eq!(SnapshotHeader::decode(&bytes), Ok(header));
}
