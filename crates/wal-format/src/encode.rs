//! Encoding frames straight into a caller's buffer (normally a mapped chunk).
//!
//! Nothing is allocated: the header is written in place through zerocopy, the payload is copied
//! once, the alignment padding is zeroed, and the checksum is computed over the bytes where they
//! now lie. A batch is validated first (sizes, tags, LSN range, space) and then written in one
//! pass, so an error leaves the destination untouched. Deciding *where* in a chunk to write, and
//! what to do when a chunk is full, is the segment layer's job.

use zerocopy::FromBytes;

use crate::checksum::{FrameHasher, Salt};
use crate::error::Error;
use crate::header::FrameHeader;
use crate::limits::{ALIGNMENT_BYTES, HEADER_SIZE_BYTES, frame_len};
use crate::lsn::Lsn;
use crate::tag::Tag;

/// One record to encode: its tag and payload. Its LSN is assigned by position in the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The tag; must satisfy [`Tag::is_writable`].
    pub tag: Tag,
    /// The payload, at most `MAX_PAYLOAD_BYTES`.
    pub payload: &'a [u8],
}

/// Encodes frames for one chunk, reusing the chunk's salted checksum state.
#[derive(Clone, Debug)]
pub struct FrameEncoder {
    hasher: FrameHasher,
}

impl FrameEncoder {
    /// An encoder for the chunk with this salt.
    #[must_use]
    pub fn new(salt: Salt) -> FrameEncoder {
        FrameEncoder { hasher: FrameHasher::new(salt) }
    }

    /// Encodes one record with LSN `lsn` at the start of `dst`; returns the frame length.
    ///
    /// # Errors
    /// `PayloadTooLarge`, `ReservedTag`, `LsnExhausted` or `NoSpace`; `dst` is then untouched.
    pub fn encode(&self, dst: &mut [u8], lsn: Lsn, record: Record<'_>) -> Result<usize, Error> {
        self.encode_batch(dst, lsn, &[record])
    }

    /// Encodes `records` back to back at the start of `dst`, with LSNs `first_lsn`,
    /// `first_lsn + 1`, ...; returns the bytes written. All or nothing.
    ///
    /// # Errors
    /// As [`FrameEncoder::encode`], for the first offending record or the batch as a whole.
    pub fn encode_batch(
        &self,
        dst: &mut [u8],
        first_lsn: Lsn,
        records: &[Record<'_>],
    ) -> Result<usize, Error> {
        let needed = batch_len(records)?;
        check_lsn_range(first_lsn, records.len())?;
        let Some(dst) = dst.get_mut(..needed) else {
            return Err(Error::NoSpace { needed, available: dst.len() });
        };
        Ok(self.encode_prechecked(dst, first_lsn, records))
    }

    /// As [`FrameEncoder::encode_batch`] without its checks, for a batch its writer already
    /// checked when it reserved the space: every tag writable and every payload within bounds
    /// (`batch_len` succeeded), the LSNs in range, and `dst` exactly as long as the frames
    /// (checked in debug builds; a bounds check still stops a longer batch). Returns the bytes
    /// written.
    ///
    /// # Panics
    /// If `dst` is shorter than the frames.
    #[doc(hidden)]
    pub fn encode_prechecked(
        &self,
        dst: &mut [u8],
        first_lsn: Lsn,
        records: &[Record<'_>],
    ) -> usize {
        debug_assert_eq!(batch_len(records).ok(), Some(dst.len()));
        debug_assert!(check_lsn_range(first_lsn, records.len()).is_ok());
        let mut offset = 0;
        let mut lsn = first_lsn;
        for record in records {
            offset += self.write_frame(&mut dst[offset..], lsn, record.tag, record.payload);
            // The range was checked: the LSN after the last record still exists.
            lsn = Lsn(lsn.0 + 1);
        }
        offset
    }

    /// Closes a chunk: writes a padding frame at the start of `dst` (the rest of the chunk) and
    /// returns its length. `next_lsn` is the LSN the next record, in the next chunk, will have.
    /// Returns 0 and writes nothing when fewer than `HEADER_SIZE_BYTES` remain, because a reader
    /// treats such a short chunk tail as empty.
    #[must_use]
    pub fn encode_padding(&self, dst: &mut [u8], next_lsn: Lsn) -> usize {
        if dst.len() < HEADER_SIZE_BYTES {
            return 0;
        }
        self.write_frame(dst, next_lsn, Tag::PADDING, &[])
    }

    /// Writes one frame whose arguments were validated by the caller.
    #[inline]
    fn write_frame(&self, dst: &mut [u8], lsn: Lsn, tag: Tag, payload: &[u8]) -> usize {
        let len = frame_len(payload.len()).expect("payload length validated by the caller");
        let frame = &mut dst[..len];
        // Zero the last 8 bytes first: that covers the 0..=7 bytes of alignment padding with one
        // fixed-size store instead of a variable-length fill; header and payload overwrite the rest.
        let tail = len - ALIGNMENT_BYTES;
        frame[tail..].copy_from_slice(&[0; ALIGNMENT_BYTES]);
        let (header, body) =
            FrameHeader::mut_from_prefix(frame).expect("a validated frame holds a header");
        *header = FrameHeader {
            checksum: 0.into(),
            payload_len: u32::try_from(payload.len()).expect("bounded by MAX_PAYLOAD_BYTES").into(),
            lsn: lsn.0.into(),
            tag: tag.byte(),
            reserved: [0; 7],
        };
        body[..payload.len()].copy_from_slice(payload);
        let checksum = self.hasher.checksum(frame);
        let (header, _) = FrameHeader::mut_from_prefix(frame).expect("checked above");
        header.checksum = checksum.into();
        #[cfg(debug_assertions)]
        self.check_written(frame, lsn, tag, payload);
        len
    }

    /// Debug builds decode every frame just written and compare it with what was asked for:
    /// an encoder bug shows up at the write, not at the next recovery.
    #[cfg(debug_assertions)]
    fn check_written(&self, frame: &[u8], lsn: Lsn, tag: Tag, payload: &[u8]) {
        let decoded = crate::decode::decode_with(frame, &self.hasher, lsn);
        match decoded {
            Ok((crate::Decoded::Record(record), len)) => {
                debug_assert!(len == frame.len() && record.tag == tag && record.payload == payload);
            }
            Ok((crate::Decoded::Padding { next_lsn }, _)) => {
                debug_assert!(tag == Tag::PADDING && next_lsn == lsn);
            }
            Ok((crate::Decoded::Skipped { .. }, _)) => {}
            Err(error) => panic!("a frame just encoded does not decode: {error}"),
        }
    }
}

/// Total length of the frames that would carry `records`, after checking each one's size and tag.
///
/// # Errors
/// `PayloadTooLarge` or `ReservedTag` for the first record that breaks a rule.
pub fn batch_len(records: &[Record<'_>]) -> Result<usize, Error> {
    records.iter().try_fold(0usize, |total, record| {
        if !record.tag.is_writable() {
            return Err(Error::ReservedTag { tag: record.tag });
        }
        let len = frame_len(record.payload.len())
            .ok_or(Error::PayloadTooLarge { len: record.payload.len() })?;
        // The payloads all lie in memory, so their frames' total cannot overflow usize.
        Ok(total + len)
    })
}

/// Records get `first`, `first + 1`, ...; the last must stay below `Lsn::MAX`, never assigned.
fn check_lsn_range(first: Lsn, count: usize) -> Result<(), Error> {
    let count = u64::try_from(count).map_err(|_| Error::LsnExhausted)?;
    first.checked_add(count).map(|_| ()).ok_or(Error::LsnExhausted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tag: Tag, payload: &[u8]) -> Record<'_> {
        Record { tag, payload }
    }

    #[test]
    fn errors_leave_the_destination_untouched() {
        let encoder = FrameEncoder::new(Salt(5));
        let mut dst = [0xAAu8; 64];
        let too_big = vec![0u8; crate::MAX_PAYLOAD_BYTES + 1];
        let reserved = |byte| Error::ReservedTag { tag: Tag::from_byte(byte) };
        let cases = [
            (Lsn(1), vec![record(Tag::DELTA, b"ok"), record(Tag::PADDING, b"")], reserved(0x01)),
            (Lsn(1), vec![record(Tag::from_byte(0x00), b"zero")], reserved(0x00)),
            (Lsn(1), vec![record(Tag::from_byte(0x09), b"future")], reserved(0x09)),
            (Lsn(1), vec![record(Tag::from_byte(0x81), b"future")], reserved(0x81)),
            (
                Lsn(1),
                vec![record(Tag::ENTRY, &too_big)],
                Error::PayloadTooLarge { len: too_big.len() },
            ),
            (
                Lsn(1),
                vec![record(Tag::ENTRY, &[1; 41])],
                Error::NoSpace { needed: 72, available: 64 },
            ),
            (
                Lsn(1),
                vec![record(Tag::ENTRY, b"a"); 3],
                Error::NoSpace { needed: 96, available: 64 },
            ),
            (Lsn(u64::MAX - 1), vec![record(Tag::ENTRY, b"a"); 2], Error::LsnExhausted),
            (Lsn::MAX, vec![record(Tag::ENTRY, b"a")], Error::LsnExhausted),
        ];
        for (lsn, records, expected) in cases {
            assert_eq!(encoder.encode_batch(&mut dst, lsn, &records), Err(expected), "{records:?}");
            assert!(dst.iter().all(|&b| b == 0xAA), "{records:?} wrote into dst");
        }
        assert_eq!(encoder.encode_padding(&mut dst[..16], Lsn(3)), 0);
        assert!(dst.iter().all(|&b| b == 0xAA), "a short chunk tail is left alone");
    }

    #[test]
    fn the_last_assignable_lsn_is_max_minus_one() {
        let encoder = FrameEncoder::new(Salt(0));
        let mut dst = [0u8; 32];
        assert!(encoder.encode(&mut dst, Lsn(u64::MAX - 1), record(Tag::ENTRY, b"x")).is_ok());
        assert_eq!(
            encoder.encode(&mut dst, Lsn::MAX, record(Tag::ENTRY, b"x")),
            Err(Error::LsnExhausted)
        );
    }

    #[test]
    fn stale_bytes_in_the_alignment_padding_are_overwritten() {
        let encoder = FrameEncoder::new(Salt(0));
        let mut dst = [0xFFu8; 32];
        assert_eq!(encoder.encode(&mut dst, Lsn(0), record(Tag::ENTRY, b"abc")), Ok(32));
        assert_eq!(&dst[24..27], b"abc");
        assert_eq!(&dst[27..32], &[0; 5]);
    }
}
