//! Property tests: whatever is encoded decodes to the same records, through both scanners.

use bytes::Bytes;
use proptest::prelude::*;
use wal_format::{
    Decoded, FrameEncoder, Frames, Lsn, Record, RecordRef, Salt, Stop, Tag, annotate_frame,
    decode_frame, frame_len,
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
        salt in any::<u32>(),
        first in 0u64..u64::MAX - 64,
        tail in 0usize..40,
    ) {
        let records = as_records(&owned);
        let mut buf = encode_all(Salt(salt), Lsn(first), &records);
        let data_end = buf.len();
        // A chunk may end exactly after the last frame or with a short unwritten tail.
        buf.resize(data_end + tail / 8 * 8 % 24, 0xEE);
        let expected_stop = if buf.len() == data_end { Stop::ChunkEnd } else { Stop::ChunkTail };

        let mut borrowed = Frames::new(&buf[..], Salt(salt), Lsn(first));
        let decoded: Vec<RecordRef<'_>> = borrowed.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(decoded.len(), records.len());
        let mut offset = 0;
        for (index, (record, original)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(record.offset, offset);
            prop_assert_eq!(record.lsn, Lsn(first + index as u64));
            prop_assert_eq!(record.tag, original.tag);
            prop_assert_eq!(record.payload, original.payload);
            offset += frame_len(original.payload.len()).unwrap();
        }
        prop_assert_eq!(borrowed.stop(), Some(expected_stop));
        prop_assert_eq!(borrowed.offset(), data_end);
        prop_assert_eq!(borrowed.next_lsn(), Lsn(first + records.len() as u64));

        let shared = Bytes::from(buf.clone());
        let mut owned_scan = Frames::new(shared.clone(), Salt(salt), Lsn(first));
        let owned_records: Vec<_> = owned_scan.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(owned_records.len(), records.len());
        for (record, borrowed) in owned_records.iter().zip(&decoded) {
            prop_assert_eq!((record.offset, record.lsn, record.tag), (borrowed.offset, borrowed.lsn, borrowed.tag));
            prop_assert_eq!(&record.payload[..], borrowed.payload);
            // Zero-copy: the payload points into the shared buffer.
            let inside = shared.as_ptr_range();
            prop_assert!(record.payload.is_empty() || inside.contains(&record.payload.as_ptr()));
        }
        prop_assert_eq!(owned_scan.stop(), Some(expected_stop));
        prop_assert_eq!(owned_scan.offset(), data_end);
    }

    #[test]
    fn a_scan_resumed_at_any_record_boundary_continues_exactly(
        owned in records(),
        salt in any::<u32>(),
        at in any::<prop::sample::Index>(),
    ) {
        let records = as_records(&owned);
        let buf = encode_all(Salt(salt), Lsn(100), &records);
        let all: Vec<_> = Frames::new(&buf[..], Salt(salt), Lsn(100)).collect::<Result<_, _>>().unwrap();
        let skip = if all.is_empty() { 0 } else { at.index(all.len()) };
        let offset = all.get(skip).map_or(buf.len(), |record| record.offset);
        let resumed: Vec<_> = Frames::resume(&buf[..], Salt(salt), offset, Lsn(100 + skip as u64))
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(&resumed[..], &all[skip..]);
    }

    #[test]
    fn damage_never_yields_a_record_that_was_not_written(
        owned in records(),
        salt in any::<u32>(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        // Overwrite a few bytes of a valid chunk anywhere. Whatever the scan returns before it
        // stops must be exactly the record written at that LSN: never wrong data, never a panic.
        let records = as_records(&owned);
        let mut buf = encode_all(Salt(salt), Lsn(7), &records);
        buf.resize(buf.len() + 64, 0);
        for (at, byte) in &damage {
            let at = at.index(buf.len());
            buf[at] = *byte;
        }
        let mut frames = Frames::new(&buf[..], Salt(salt), Lsn(7));
        for (index, record) in frames.by_ref().enumerate() {
            let Ok(record) = record else { break };
            let original = records.get(index);
            prop_assert!(original.is_some(), "a record beyond those written: {:?}", record);
            let original = original.unwrap();
            prop_assert_eq!((record.tag, record.payload), (original.tag, original.payload));
        }
        prop_assert!(frames.stop().is_some());
    }

    #[test]
    fn single_frames_round_trip_at_any_aligned_offset(
        tag in writable_tag(),
        payload in prop::collection::vec(any::<u8>(), 0..2000),
        salt in any::<u32>(),
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
        prop_assert_eq!(decoded, Decoded::Record(RecordRef { offset, lsn: Lsn(lsn), tag, payload: &payload }));
        // Bytes past the frame were not touched.
        prop_assert!(chunk[offset + len..].iter().all(|&b| b == 0xEE));
    }

    #[test]
    fn arbitrary_bytes_decode_to_ok_or_a_typed_error(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        offset in 0usize..600,
        salt in any::<u32>(),
        lsn in any::<u64>(),
    ) {
        // Must not panic, whatever the offset (even past the end or misaligned).
        let _ = decode_frame(&bytes, offset, Salt(salt), Lsn(lsn));
        let _ = annotate_frame(&bytes, offset);
        let mut frames = Frames::new(&bytes[..], Salt(salt), Lsn(lsn));
        for record in frames.by_ref().flatten() {
            prop_assert!(record.offset + record.payload.len() <= bytes.len());
        }
        prop_assert!(frames.stop().is_some());
        prop_assert!(frames.offset() <= bytes.len());
    }

    #[test]
    fn random_bit_flips_are_detected(
        tag in writable_tag(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        salt in any::<u32>(),
        lsn in 0u64..u64::MAX - 1,
        bit in any::<prop::sample::Index>(),
    ) {
        // A valid next frame follows, so a flip that lengthens the frame is checked by the
        // checksum over real bytes, not just caught as `Truncated`.
        let records = [Record { tag, payload: &payload }, Record { tag: Tag::ENTRY, payload: b"next" }];
        let mut chunk = encode_all(Salt(salt), Lsn(lsn), &records);
        let frame_end = frame_len(payload.len()).unwrap();
        let bit = bit.index(frame_end * 8);
        chunk[bit / 8] ^= 1 << (bit % 8);
        let decoded = decode_frame(&chunk, 0, Salt(salt), Lsn(lsn));
        prop_assert!(decoded.is_err(), "flip of bit {} went undetected: {:?}", bit, decoded);
    }
}

#[test]
fn a_padding_frame_ends_the_scan_and_consumes_no_lsn() {
    let salt = Salt(77);
    let mut chunk = encode_all(salt, Lsn(10), &[Record { tag: Tag::ENTRY, payload: b"last" }]);
    let data_end = chunk.len();
    chunk.resize(data_end + 64, 0);
    assert_eq!(FrameEncoder::new(salt).encode_padding(&mut chunk[data_end..], Lsn(11)), 24);
    // Whatever follows a padding frame is never read.
    chunk[data_end + 24..].fill(0x5A);

    let (padding, _) = decode_frame(&chunk, data_end, salt, Lsn(11)).unwrap();
    assert_eq!(padding, Decoded::Padding { next_lsn: Lsn(11) });

    let mut frames = Frames::new(&chunk[..], salt, Lsn(10));
    assert_eq!(frames.next().unwrap().unwrap().payload, b"last");
    assert!(frames.next().is_none());
    assert_eq!(frames.stop(), Some(Stop::Padding));
    assert_eq!(frames.offset(), data_end);
    assert_eq!(frames.next_lsn(), Lsn(11));
}
