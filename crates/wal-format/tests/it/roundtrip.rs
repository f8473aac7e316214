//! Property tests: whatever is encoded decodes to the same records, through both scanners.

use bytes::Bytes;
use proptest::prelude::*;
use wal_format::{
    Decoded, FrameDecoder, FrameEncoder, FrameRef, Frames, Lsn, Record, Salt, Stop, Tag,
    annotate_frame, decode_frame, frame_len,
};

use crate::encode_all;

/// Every tag an application may write: known system tags but padding, and both user ranges.
pub(crate) fn writable_tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        (0x02u8..=0x08).prop_map(Tag::from_byte),
        (0x40u8..=0x7F).prop_map(Tag::from_byte),
        (0xC0u8..=0xFF).prop_map(Tag::from_byte),
    ]
}

pub(crate) fn records() -> impl Strategy<Value = Vec<(Tag, Vec<u8>)>> {
    prop::collection::vec((writable_tag(), prop::collection::vec(any::<u8>(), 0..300)), 0..40)
}

fn as_records(owned: &[(Tag, Vec<u8>)]) -> Vec<Record<'_>> {
    owned.iter().map(|(tag, payload)| Record { tag: *tag, payload }).collect()
}

proptest! {
    #[test]
    fn batches_round_trip_through_both_scanners(
        owned in records(),
        salt in any::<u64>(),
        first in 0u64..u64::MAX - 64,
    ) {
        let records = as_records(&owned);
        let buf = encode_all(Salt(salt), Lsn(first), &records);

        let mut borrowed = Frames::new(&buf, Salt(salt), Lsn(first));
        let decoded: Vec<FrameRef<'_>> = borrowed.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        for (index, (frame, record)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(frame.lsn, Lsn(first + index as u64));
            prop_assert_eq!(frame.tag, record.tag);
            prop_assert_eq!(frame.payload, record.payload);
        }
        prop_assert_eq!(borrowed.stop(), Some(Stop::EndOfBuffer));
        prop_assert_eq!(borrowed.offset(), buf.len());
        prop_assert_eq!(borrowed.next_lsn(), Lsn(first + records.len() as u64));

        let shared = Bytes::from(buf.clone());
        let owned_frames: Vec<_> =
            FrameDecoder::new(shared.clone(), Salt(salt), Lsn(first)).collect::<Result<_, _>>().unwrap();
        for (frame, record) in owned_frames.iter().zip(&records) {
            prop_assert_eq!(&frame.payload[..], record.payload);
            // Zero-copy: the payload points into the shared buffer.
            let inside = shared.as_ptr_range();
            prop_assert!(frame.payload.is_empty() || inside.contains(&frame.payload.as_ptr()));
        }
    }

    #[test]
    fn single_frames_round_trip_at_any_aligned_offset(
        tag in writable_tag(),
        payload in prop::collection::vec(any::<u8>(), 0..2000),
        salt in any::<u64>(),
        lsn in 0u64..u64::MAX,
        slot in 0usize..64,
    ) {
        let offset = slot * 8;
        let len = frame_len(payload.len()).unwrap();
        let mut chunk = vec![0xEEu8; offset + len + 8];
        let encoder = FrameEncoder::new(Salt(salt));
        prop_assert_eq!(encoder.encode(&mut chunk[offset..], Lsn(lsn), Record { tag, payload: &payload }), Ok(len));
        let (decoded, decoded_len) = decode_frame(&chunk, offset, Salt(salt), Lsn(lsn)).unwrap();
        prop_assert_eq!(decoded_len, len);
        prop_assert_eq!(decoded, Decoded::Record(FrameRef { lsn: Lsn(lsn), tag, payload: &payload }));
        // Bytes past the frame were not touched.
        prop_assert!(chunk[offset + len..].iter().all(|&b| b == 0xEE));
    }

    #[test]
    fn arbitrary_bytes_decode_to_ok_or_a_typed_error(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        offset in 0usize..600,
        salt in any::<u64>(),
        lsn in any::<u64>(),
    ) {
        // Must not panic, whatever the offset (even past the end or misaligned).
        let _ = decode_frame(&bytes, offset, Salt(salt), Lsn(lsn));
        let _ = annotate_frame(&bytes, offset);
        let mut frames = Frames::new(&bytes, Salt(salt), Lsn(lsn));
        let mut count = 0;
        for frame in frames.by_ref() {
            count += 1;
            prop_assert!(count <= bytes.len() / 24 + 1, "the scan must make progress");
            if let Ok(frame) = frame {
                prop_assert!(frame.payload.len() <= bytes.len());
            }
        }
        prop_assert!(frames.stop().is_some());
        prop_assert!(frames.offset() <= bytes.len());
    }

    #[test]
    fn random_bit_flips_are_detected(
        tag in writable_tag(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        salt in any::<u64>(),
        lsn in 0u64..u64::MAX,
        bit in any::<prop::sample::Index>(),
    ) {
        let mut frame = encode_all(Salt(salt), Lsn(lsn), &[Record { tag, payload: &payload }]);
        let bit = bit.index(frame.len() * 8);
        frame[bit / 8] ^= 1 << (bit % 8);
        let decoded = decode_frame(&frame, 0, Salt(salt), Lsn(lsn));
        prop_assert!(decoded.is_err(), "flip of bit {} went undetected: {:?}", bit, decoded);
    }
}

#[test]
fn a_padding_frame_ends_the_scan_and_consumes_no_lsn() {
    let salt = Salt(77);
    let mut chunk = encode_all(salt, Lsn(10), &[Record { tag: Tag::ENTRY, payload: b"last" }]);
    let data_end = chunk.len();
    chunk.resize(data_end + 64, 0);
    FrameEncoder::new(salt).encode_padding(&mut chunk[data_end..], Lsn(11)).unwrap();
    // Whatever follows a padding frame is never read.
    chunk[data_end + 24..].fill(0x5A);

    let (padding, _) = decode_frame(&chunk, data_end, salt, Lsn(11)).unwrap();
    assert_eq!(padding, Decoded::Padding { next_lsn: Lsn(11) });

    let mut frames = Frames::new(&chunk, salt, Lsn(10));
    assert_eq!(frames.next().unwrap().unwrap().payload, b"last");
    assert!(frames.next().is_none());
    assert_eq!(frames.stop(), Some(Stop::Padding));
    assert_eq!(frames.offset(), data_end);
    assert_eq!(frames.next_lsn(), Lsn(11));
}
