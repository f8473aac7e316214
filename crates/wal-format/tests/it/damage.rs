//! Damaged input: every decoding error, each at the check that must catch it, and exhaustive
//! single-bit flips over frames of every padding length.

use wal_format::{
    Error, FrameEncoder, Frames, Lsn, MAX_PAYLOAD_BYTES, Record, Salt, Stop, Tag, decode_frame,
};

use crate::encode_all;

const SALT: Salt = Salt(0xDEAD_F00D);

/// A chunk holding `ENTRY "hello"` at LSN 7 (32 bytes), then 32 zero bytes.
fn chunk() -> Vec<u8> {
    let mut chunk = encode_all(SALT, Lsn(7), &[Record { tag: Tag::ENTRY, payload: b"hello" }]);
    chunk.resize(64, 0);
    chunk
}

/// Damages a fresh chunk, decodes at `offset` expecting LSN 7 under `salt`, and checks the error.
fn check(damage: impl FnOnce(&mut Vec<u8>), offset: usize, salt: Salt, expected: &Error) {
    let mut bytes = chunk();
    damage(&mut bytes);
    let result = decode_frame(&bytes, offset, salt, Lsn(7));
    match result {
        Err(ref actual) if actual == expected => {}
        Err(ref actual) if std::mem::discriminant(actual) == std::mem::discriminant(expected) => {
            // Checksum values are not worth spelling out; the variant and offset are.
            if let (
                Error::ChecksumMismatch { offset: a, .. },
                Error::ChecksumMismatch { offset: b, .. },
            ) = (actual, expected)
            {
                assert_eq!(a, b);
            } else {
                panic!("expected {expected:?}, got {result:?}");
            }
        }
        _ => panic!("expected {expected:?}, got {result:?}"),
    }
}

fn mismatch(offset: usize) -> Error {
    Error::ChecksumMismatch { offset, stored: 0, computed: 0 }
}

#[test]
fn each_kind_of_damage_gets_its_own_error() {
    let nothing = |_: &mut Vec<u8>| {};
    check(nothing, 4, SALT, &Error::Misaligned { offset: 4 });
    check(nothing, 32, SALT, &Error::Zeroed { offset: 32 });
    check(nothing, 48, SALT, &Error::Truncated { offset: 48, needed: 24, available: 16 });
    check(nothing, 1000, SALT, &Error::Truncated { offset: 1000, needed: 24, available: 0 });
    check(|c| c.truncate(20), 0, SALT, &Error::Truncated { offset: 0, needed: 24, available: 20 });
    check(|c| c.truncate(31), 0, SALT, &Error::Truncated { offset: 0, needed: 32, available: 31 });
    check(
        |c| c[4..8].copy_from_slice(&u32::MAX.to_le_bytes()),
        0,
        SALT,
        &Error::ImpossibleLength { offset: 0, len: u32::MAX },
    );
    let just_too_long = u32::try_from(MAX_PAYLOAD_BYTES + 1).unwrap();
    check(
        |c| c[4..8].copy_from_slice(&just_too_long.to_le_bytes()),
        0,
        SALT,
        &Error::ImpossibleLength { offset: 0, len: just_too_long },
    );
    check(|c| c[26] ^= 0x01, 0, SALT, &mismatch(0));
    // A stale frame of an earlier epoch: intact bytes, different salt.
    check(nothing, 0, Salt(SALT.0 + 1), &mismatch(0));
    // A torn header: the first sector of a write landed, the rest is still zero.
    check(|c| c[8..32].fill(0), 0, SALT, &mismatch(0));
}

#[test]
fn a_valid_frame_in_the_wrong_place_is_out_of_sequence() {
    let bytes = chunk();
    assert_eq!(
        decode_frame(&bytes, 0, SALT, Lsn(8)),
        Err(Error::LsnOutOfSequence { offset: 0, expected: Lsn(8), found: Lsn(7) })
    );
    // The same frame copied to a later position of its chunk, where LSN 8 belongs.
    let mut moved = bytes.clone();
    moved.copy_within(0..32, 32);
    let mut frames = Frames::new(&moved[..], SALT, Lsn(7));
    assert!(frames.next().unwrap().is_ok());
    assert_eq!(
        frames.next(),
        Some(Err(Error::LsnOutOfSequence { offset: 32, expected: Lsn(8), found: Lsn(7) }))
    );
}

#[test]
fn every_single_bit_flip_of_every_frame_shape_is_detected() {
    // Payload lengths 0..=16 cover every amount of alignment padding twice; 128 is the W1 record.
    // A valid frame follows each one, so a flip that lengthens the frame meets real bytes.
    let mut flips = 0;
    for payload_len in (0..=16).chain([128, 1000]) {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 37 % 251) as u8).collect();
        let next = vec![0x3Cu8; 2000];
        let chunk = encode_all(
            SALT,
            Lsn(42),
            &[
                Record { tag: Tag::DELTA, payload: &payload },
                Record { tag: Tag::ENTRY, payload: &next },
            ],
        );
        let frame_end = wal_format::frame_len(payload_len).unwrap();
        for bit in 0..frame_end * 8 {
            let mut damaged = chunk.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let decoded = decode_frame(&damaged, 0, SALT, Lsn(42));
            assert!(decoded.is_err(), "payload {payload_len}, bit {bit}: {decoded:?}");
            flips += 1;
        }
    }
    println!("single-bit flips tried: {flips}, undetected: 0");
}

#[test]
fn a_scan_ends_cleanly_at_a_chunk_tail_too_short_for_a_header() {
    for tail in [8, 16] {
        let mut bytes = chunk();
        bytes.truncate(32 + tail);
        bytes[32..].fill(0x77); // stale bytes of an earlier use: never read
        let mut frames = Frames::new(&bytes[..], SALT, Lsn(7));
        assert_eq!(frames.next().unwrap().unwrap().payload, b"hello");
        assert_eq!(frames.next(), None);
        assert_eq!(frames.stop(), Some(Stop::ChunkTail));
        assert_eq!(frames.offset(), 32);
    }
}

#[test]
fn a_zeroed_sector_in_the_middle_of_a_batch_stops_the_scan_there() {
    let payload = [0xA5u8; 200];
    let records: Vec<_> = (0..10).map(|_| Record { tag: Tag::ENTRY, payload: &payload }).collect();
    let mut log = encode_all(SALT, Lsn(0), &records);
    log[512..1024].fill(0);
    let mut frames = Frames::new(&log[..], SALT, Lsn(0));
    let good = frames.by_ref().take_while(Result::is_ok).count();
    // Frames are 224 bytes; the third (bytes 448..672) is the first one the sector touches.
    assert_eq!(good, 2);
    assert_eq!(frames.offset(), 448);
    assert_eq!(frames.stop(), Some(Stop::Error));
    let mut again = Frames::resume(&log[..], SALT, 448, Lsn(2));
    assert!(matches!(again.next(), Some(Err(Error::ChecksumMismatch { offset: 448, .. }))));
}

#[test]
fn encoding_into_a_too_small_buffer_fails_cleanly() {
    let encoder = FrameEncoder::new(SALT);
    let mut dst = [0u8; 31];
    assert_eq!(
        encoder.encode(&mut dst, Lsn(0), Record { tag: Tag::ENTRY, payload: b"hello" }),
        Err(Error::NoSpace { needed: 32, available: 31 })
    );
}
