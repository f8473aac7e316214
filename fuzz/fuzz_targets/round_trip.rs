//! Arbitrary records encoded as a batch and scanned back must come back unchanged.
//!
//! Input layout: 8 bytes salt, 8 bytes first LSN, then records of
//! `tag: u8, len: u8, payload: [u8; len]` (payloads are capped by the input's size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wal_format::{FrameEncoder, Frames, Lsn, Record, Salt, Tag, batch_len};

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let salt = Salt(u64::from_le_bytes(data[..8].try_into().unwrap()));
    let first = Lsn(u64::from_le_bytes(data[8..16].try_into().unwrap()));
    let mut records = Vec::new();
    let mut rest = &data[16..];
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        records.push(Record { tag: Tag::from_byte(*tag), payload: &tail[..len] });
        rest = &tail[len..];
    }
    let Ok(needed) = batch_len(&records) else {
        // An unwritable tag: the encoder must refuse it too.
        let mut dst = vec![0u8; 1 << 16];
        assert!(FrameEncoder::new(salt).encode_batch(&mut dst, first, &records).is_err());
        return;
    };
    let mut chunk = vec![0u8; needed];
    match FrameEncoder::new(salt).encode_batch(&mut chunk, first, &records) {
        Ok(written) => assert_eq!(written, needed),
        Err(_) => return, // LSN range exhausted
    }
    let decoded: Vec<_> = Frames::new(&chunk, salt, first).map(Result::unwrap).collect();
    assert_eq!(decoded.len(), records.len());
    for (frame, record) in decoded.iter().zip(&records) {
        assert_eq!((frame.tag, frame.payload), (record.tag, record.payload));
    }
});
