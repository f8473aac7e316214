//! Compatibility: a log written by a "newer" encoder, with tags and header bits version 1 does
//! not know. Skippable frames are verified and skipped, critical ones stop the scan with an error.

use wal_format::{Error, FrameHasher, FrameHeader, Frames, Lsn, Salt, Stop, Tag, frame_len};
use zerocopy::IntoBytes;

/// Encodes like a future version would: any tag byte, any reserved bytes. Checksums are valid.
pub(crate) fn newer_frame(
    salt: Salt,
    lsn: u64,
    tag: u8,
    reserved: [u8; 7],
    payload: &[u8],
) -> Vec<u8> {
    let header = FrameHeader {
        checksum: 0.into(),
        payload_len: u32::try_from(payload.len()).unwrap().into(),
        lsn: lsn.into(),
        tag,
        reserved,
    };
    let mut frame = header.as_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame.resize(frame_len(payload.len()).unwrap(), 0);
    let checksum = FrameHasher::new(salt).checksum(&frame);
    frame[..4].copy_from_slice(&checksum.to_le_bytes());
    frame
}

#[test]
fn an_old_reader_skips_what_it_may_and_refuses_what_it_must() {
    let salt = Salt(0xC0FFEE);
    let frames: Vec<Vec<u8>> = vec![
        newer_frame(salt, 1, Tag::ENTRY.byte(), [0; 7], b"v1 record"),
        newer_frame(salt, 2, 0x81, [0; 7], b"future statistics, safe to ignore"),
        newer_frame(salt, 3, 0xC5, [0; 7], b"user skippable: delivered"),
        newer_frame(salt, 4, Tag::ENTRY.byte(), [1, 2, 3, 4, 5, 6, 7], b"future header bits"),
        newer_frame(salt, 5, 0x09, [0; 7], b"future critical meaning"),
        newer_frame(salt, 6, Tag::ENTRY.byte(), [0; 7], b"never reached"),
    ];
    let critical_at: usize = frames[..4].iter().map(Vec::len).sum();
    let log = frames.concat();

    let mut frames = Frames::new(&log[..], salt, Lsn(1));
    let delivered: Vec<_> = frames.by_ref().take(3).map(Result::unwrap).collect();
    let summary: Vec<_> = delivered.iter().map(|frame| (frame.lsn.0, frame.tag.byte())).collect();
    assert_eq!(summary, [(1, 0x06), (3, 0xC5), (4, 0x06)]);
    assert_eq!(delivered[2].payload, b"future header bits");
    assert_eq!(frames.skipped(), 1);

    assert_eq!(
        frames.next(),
        Some(Err(Error::UnsupportedTag {
            offset: critical_at,
            lsn: Lsn(5),
            tag: Tag::from_byte(0x09)
        }))
    );
    assert_eq!(frames.next(), None, "a scan never reads past a critical frame it does not know");
    assert_eq!(frames.stop(), Some(Stop::Error));
    assert_eq!(frames.offset(), critical_at);
}

#[test]
fn a_skippable_frame_with_a_bad_checksum_is_still_an_error() {
    let salt = Salt(3);
    let mut frame = newer_frame(salt, 1, 0x9F, [0; 7], b"ignored, but verified");
    frame[30] ^= 0x10;
    let mut frames = Frames::new(&frame[..], salt, Lsn(1));
    assert!(matches!(frames.next(), Some(Err(Error::ChecksumMismatch { offset: 0, .. }))));
}

#[test]
fn tag_zero_with_a_valid_checksum_is_unsupported_not_zeroed() {
    let salt = Salt(4);
    let frame = newer_frame(salt, 1, 0x00, [0; 7], b"x");
    let mut frames = Frames::new(&frame[..], salt, Lsn(1));
    assert!(matches!(frames.next(), Some(Err(Error::UnsupportedTag { .. }))));
}

#[test]
fn a_record_with_the_largest_lsn_is_rejected() {
    // The encoder never assigns u64::MAX, so a valid-looking frame carrying it is out of sequence
    // even where the reader expects it; only a padding frame may name it as the next LSN.
    let salt = Salt(5);
    let record = newer_frame(salt, u64::MAX, Tag::ENTRY.byte(), [0; 7], b"last");
    let mut frames = Frames::new(&record[..], salt, Lsn::MAX);
    assert_eq!(
        frames.next(),
        Some(Err(Error::LsnOutOfSequence { offset: 0, expected: Lsn::MAX, found: Lsn::MAX }))
    );
    let padding = newer_frame(salt, u64::MAX, Tag::PADDING.byte(), [0; 7], b"");
    let mut frames = Frames::new(&padding[..], salt, Lsn::MAX);
    assert_eq!(frames.next(), None);
    assert_eq!(frames.stop(), Some(Stop::Padding));
}

#[test]
fn a_padding_payload_is_covered_by_the_checksum_and_ignored() {
    let salt = Salt(6);
    let mut chunk = newer_frame(salt, 9, Tag::PADDING.byte(), [0; 7], b"future padding notes");
    let mut frames = Frames::new(&chunk[..], salt, Lsn(9));
    assert_eq!(frames.next(), None);
    assert_eq!(frames.stop(), Some(Stop::Padding));
    chunk[30] ^= 1;
    let mut frames = Frames::new(&chunk[..], salt, Lsn(9));
    assert!(matches!(frames.next(), Some(Err(Error::ChecksumMismatch { .. }))));
}
