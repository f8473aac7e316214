//! Annotated hex dumps of each frame kind, pinned with insta. A changed byte in a snapshot is a
//! format change: it needs a `docs/format.md` edit and a version bump, never a blind accept. (A
//! change only in how the dump is laid out is not, and says so in its commit.)

use wal_format::{FrameEncoder, Lsn, Record, Salt, Tag, annotate_frame};

use crate::encode_all;

const SALT: Salt = Salt(0x5A17_5A17);

fn dump(tag: Tag, payload: &[u8]) -> String {
    annotate_frame(&encode_all(SALT, Lsn(7), &[Record { tag, payload }]), 0)
}

#[test]
fn frame_kinds() {
    insta::assert_snapshot!("txn_begin", dump(Tag::TXN_BEGIN, &42u64.to_le_bytes()));
    insta::assert_snapshot!("delta", dump(Tag::DELTA, b"set x = 1"));
    insta::assert_snapshot!("txn_commit", dump(Tag::TXN_COMMIT, &42u64.to_le_bytes()));
    insta::assert_snapshot!("txn_abort", dump(Tag::TXN_ABORT, &42u64.to_le_bytes()));
    insta::assert_snapshot!("entry_empty", dump(Tag::ENTRY, b""));
    insta::assert_snapshot!("checkpoint", dump(Tag::CHECKPOINT, &6u64.to_le_bytes()));
    insta::assert_snapshot!("seal", dump(Tag::SEAL, b""));
    insta::assert_snapshot!("user_skippable", dump(Tag::user(0xC3).unwrap(), b"app v2 hint"));
    let w1_record: Vec<u8> = (0..128u8).collect();
    insta::assert_snapshot!("entry_128_bytes", dump(Tag::ENTRY, &w1_record));
}

#[test]
fn padding_frame() {
    let mut chunk = [0u8; 24];
    assert_eq!(FrameEncoder::new(SALT).encode_padding(&mut chunk, Lsn(8)), 24);
    insta::assert_snapshot!("padding", annotate_frame(&chunk, 0));
}

#[test]
fn damaged_frames_dump_without_panicking() {
    let frame = encode_all(SALT, Lsn(7), &[Record { tag: Tag::DELTA, payload: b"set x = 1" }]);
    insta::assert_snapshot!("torn_in_payload", annotate_frame(&frame[..28], 0));
    insta::assert_snapshot!("torn_in_header", annotate_frame(&frame[..13], 0));
    let mut huge = frame.clone();
    huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    insta::assert_snapshot!("impossible_length", annotate_frame(&huge, 0));
}
