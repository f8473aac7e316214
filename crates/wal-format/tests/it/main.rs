//! Integration tests of the frame codec, in one binary: round trips, damage, compatibility with
//! newer writers, golden files of each format version, annotated dumps and the spec tables.
#![allow(clippy::cast_possible_truncation, reason = "test data are byte patterns that wrap")]

mod compat;
mod damage;
mod dumps;
mod golden;
mod roundtrip;
mod spec;

use wal_format::{FrameEncoder, Lsn, Record, Salt, batch_len};

/// Encodes `records` from LSN `first` into a buffer of exactly their length.
pub(crate) fn encode_all(salt: Salt, first: Lsn, records: &[Record<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; batch_len(records).expect("valid records")];
    let written = FrameEncoder::new(salt).encode_batch(&mut buf, first, records).expect("fits");
    assert_eq!(written, buf.len());
    buf
}
