//! Golden files: chunks written by each released format version, decoded by every later version.
//!
//! `tests/golden/v1/chunk.bin` was written once by the version-1 encoder from the recipe below and
//! is never regenerated: if this test fails, the change broke the format, not the file. To add a
//! version, add a directory and a recipe; old ones stay. (`WAL_FORMAT_WRITE_GOLDEN=1` writes a
//! golden file only when it does not exist yet.)

use std::path::PathBuf;

use wal_format::{FrameEncoder, Frames, Lsn, Record, Salt, Stop, Tag};

const V1_SALT: Salt = Salt(0x89AB_CDEF);
const V1_FIRST_LSN: Lsn = Lsn(1000);
const V1_CHUNK_BYTES: usize = 1024;

/// The version-1 recipe: every system tag but padding, both user ranges, payloads of every
/// alignment remainder, then a padding frame followed by stale bytes that must never be read.
fn v1_recipe() -> Vec<(Tag, Vec<u8>)> {
    let mut recipe = vec![
        (Tag::TXN_BEGIN, b"txn 1".to_vec()),
        (Tag::DELTA, b"x=1".to_vec()),
        (Tag::DELTA, b"y=22".to_vec()),
        (Tag::TXN_COMMIT, b"txn 1".to_vec()),
        (Tag::TXN_BEGIN, b"txn 2".to_vec()),
        (Tag::DELTA, b"z=333".to_vec()),
        (Tag::TXN_ABORT, b"txn 2".to_vec()),
        (Tag::ENTRY, Vec::new()),
        (Tag::ENTRY, b"exactly8".to_vec()),
        (Tag::CHECKPOINT, 1003u64.to_le_bytes().to_vec()),
        (Tag::user(0x40).unwrap(), b"user critical".to_vec()),
        (Tag::user(0xFF).unwrap(), b"user skippable".to_vec()),
    ];
    for len in 1..=7 {
        recipe.push((Tag::ENTRY, vec![b'a' + len as u8; len]));
    }
    recipe.push((Tag::SEAL, Vec::new()));
    recipe
}

fn encode_v1() -> Vec<u8> {
    let recipe = v1_recipe();
    let records: Vec<_> =
        recipe.iter().map(|(tag, payload)| Record { tag: *tag, payload }).collect();
    let mut chunk = vec![0u8; V1_CHUNK_BYTES];
    let encoder = FrameEncoder::new(V1_SALT);
    let used = encoder.encode_batch(&mut chunk, V1_FIRST_LSN, &records).unwrap();
    let next = Lsn(V1_FIRST_LSN.0 + records.len() as u64);
    let padding = encoder.encode_padding(&mut chunk[used..], next);
    for (index, byte) in chunk[used + padding..].iter_mut().enumerate() {
        *byte = (index * 7 + 3) as u8; // stale bytes of an earlier epoch
    }
    chunk
}

fn golden_path(version: u32, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/v{version}/{name}"))
}

fn read_golden(version: u32, name: &str, fresh: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let path = golden_path(version, name);
    if !path.exists() && std::env::var_os("WAL_FORMAT_WRITE_GOLDEN").is_some() {
        std::fs::write(&path, fresh()).unwrap();
    }
    std::fs::read(&path).unwrap_or_else(|error| panic!("golden file {}: {error}", path.display()))
}

#[test]
fn version_1_chunk_decodes_forever() {
    let golden = read_golden(1, "chunk.bin", encode_v1);
    let mut frames = Frames::new(bytes::Bytes::from(golden), V1_SALT, V1_FIRST_LSN);
    let decoded: Vec<_> = frames.by_ref().map(Result::unwrap).collect();
    let expected = v1_recipe();
    assert_eq!(decoded.len(), expected.len());
    for (index, (frame, (tag, payload))) in decoded.iter().zip(&expected).enumerate() {
        assert_eq!(frame.lsn, Lsn(V1_FIRST_LSN.0 + index as u64));
        assert_eq!((frame.tag, &frame.payload[..]), (*tag, &payload[..]), "record {index}");
    }
    assert_eq!(frames.stop(), Some(Stop::Padding));
}

#[test]
fn the_encoder_still_writes_version_1_byte_for_byte() {
    let golden = read_golden(1, "chunk.bin", encode_v1);
    assert!(golden == encode_v1(), "the encoder's output differs from the version-1 golden file");
}
