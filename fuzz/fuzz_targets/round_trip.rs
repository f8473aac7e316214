//! Arbitrary records encoded as a batch and scanned back must come back unchanged.
//!
//! Input layout: 4 bytes salt, 8 bytes first LSN, then records of
//! `tag: u8, len: u16 little-endian, payload: [u8; len]` (payloads are capped by the input's size).
//! Tags are mapped onto writable ones, so every input exercises the round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{Error, FrameEncoder, Frames, Lsn, Record, Salt, Tag, batch_len};

fuzz_target!(|data: &[u8]| {
    if data.len() < 12 {
        return;
    }
    let salt = Salt(u32::from_le_bytes(data[..4].try_into().unwrap()));
    let first = Lsn(u64::from_le_bytes(data[4..12].try_into().unwrap()));
    let mut records = Vec::new();
    let mut rest = &data[12..];
    while let [tag, len_low, len_high, tail @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*len_low, *len_high])).min(tail.len());
        records.push(Record { tag: writable(*tag), payload: &tail[..len] });
        rest = &tail[len..];
    }
    let needed = batch_len(&records).expect("writable tags and small payloads");
    let mut chunk = vec![0u8; needed];
    match FrameEncoder::new(salt).encode_batch(&mut chunk, first, &records) {
        Ok(written) => assert_eq!(written, needed),
        Err(Error::LsnExhausted) => {
            assert!(first.checked_add(records.len() as u64).is_none());
            return;
        }
        Err(other) => panic!("unexpected encode error {other}"),
    }
    let decoded: Vec<_> = Frames::new(&chunk[..], salt, first).map(Result::unwrap).collect();
    assert_eq!(decoded.len(), records.len());
    for (index, (record, original)) in decoded.iter().zip(&records).enumerate() {
        assert_eq!(record.lsn.0, first.0 + index as u64);
        assert_eq!((record.tag, record.payload), (original.tag, original.payload));
    }
});

/// Maps any byte onto a tag an application may write, keeping user tags as they are.
fn writable(byte: u8) -> Tag {
    let tag = Tag::from_byte(byte);
    if tag.is_writable() { tag } else { Tag::from_byte(0x02 + byte % 7) }
}
