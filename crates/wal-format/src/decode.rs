//! Decoding frames in place: one at a time, or as a scan through a chunk.
//!
//! Decoding reads the header where it lies, checks it in a fixed order (alignment, room for a
//! header, all-zero, length bound, room for the frame, checksum, LSN, tag) and returns payloads as
//! borrowed slices, or as zero-copy `Bytes` slices of the caller's buffer. It never panics and never
//! allocates, whatever the input: every length from the disk is compared with the bytes actually
//! present before it is used. It does not decide whether an error is a torn tail or corruption;
//! the caller knows where in the log the buffer sits.

use bytes::Bytes;
use zerocopy::{FromBytes, IntoBytes};

use crate::checksum::{FrameHasher, Salt};
use crate::error::Error;
use crate::header::FrameHeader;
use crate::limits::{ALIGNMENT_BYTES, HEADER_SIZE_BYTES, frame_len};
use crate::lsn::Lsn;
use crate::tag::{Tag, TagClass};

/// A record borrowed from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Offset of the record's frame in the buffer (the chunk).
    pub offset: usize,
    /// The record's LSN.
    pub lsn: Lsn,
    /// Its tag: a known system tag or a user tag.
    pub tag: Tag,
    /// Its payload, inside the decoded buffer.
    pub payload: &'a [u8],
}

/// A record whose payload is a zero-copy slice of a shared buffer (such as a mapped chunk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBytes {
    /// Offset of the record's frame in the buffer (the chunk).
    pub offset: usize,
    /// The record's LSN.
    pub lsn: Lsn,
    /// Its tag: a known system tag or a user tag.
    pub tag: Tag,
    /// Its payload; keeps the underlying buffer alive.
    pub payload: Bytes,
}

/// What one valid frame turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record to deliver. Consumes one LSN.
    Record(RecordRef<'a>),
    /// A frame with an unknown skippable system tag, verified and passed over. Consumes one LSN.
    Skipped {
        /// Its LSN.
        lsn: Lsn,
        /// Its tag.
        tag: Tag,
    },
    /// A padding frame: nothing more in this chunk. Consumes no LSN.
    Padding {
        /// The LSN the next record, in the next chunk, must have.
        next_lsn: Lsn,
    },
}

/// Decodes the frame at `offset` in `buf`, expecting LSN `expected`; returns it with its length.
///
/// For one random-access read. A scan through a chunk should use [`Frames`], which hashes the
/// salt once.
///
/// # Errors
/// Any decoding variant of [`Error`]; see the module documentation for the order of checks.
pub fn decode_frame(
    buf: &[u8],
    offset: usize,
    salt: Salt,
    expected: Lsn,
) -> Result<(Decoded<'_>, usize), Error> {
    decode_at(buf, offset, &FrameHasher::new(salt), expected)
}

/// [`decode_frame`] at offset 0 with a hasher already made (the encoder's debug check).
#[cfg(debug_assertions)]
pub(crate) fn decode_with<'a>(
    frame: &'a [u8],
    hasher: &FrameHasher,
    expected: Lsn,
) -> Result<(Decoded<'a>, usize), Error> {
    decode_at(frame, 0, hasher, expected)
}

#[inline]
fn decode_at<'a>(
    buf: &'a [u8],
    offset: usize,
    hasher: &FrameHasher,
    expected: Lsn,
) -> Result<(Decoded<'a>, usize), Error> {
    if !offset.is_multiple_of(ALIGNMENT_BYTES) {
        return Err(Error::Misaligned { offset });
    }
    let rest = buf.get(offset..).unwrap_or_default();
    let Ok((header, _)) = FrameHeader::ref_from_prefix(rest) else {
        return Err(Error::Truncated { offset, needed: HEADER_SIZE_BYTES, available: rest.len() });
    };
    // A valid frame never has tag 0, so only then is the all-zero test worth its cost.
    if header.tag == 0 && header.as_bytes().iter().all(|&byte| byte == 0) {
        return Err(Error::Zeroed { offset });
    }
    let len = header.payload_len.get();
    let payload_len = usize::try_from(len).unwrap_or(usize::MAX);
    let Some(frame_len) = frame_len(payload_len) else {
        return Err(Error::ImpossibleLength { offset, len });
    };
    let Some(frame) = rest.get(..frame_len) else {
        return Err(Error::Truncated { offset, needed: frame_len, available: rest.len() });
    };
    let computed = hasher.checksum(frame);
    let stored = header.checksum.get();
    if computed != stored {
        return Err(Error::ChecksumMismatch { offset, stored, computed });
    }
    let found = Lsn(header.lsn.get());
    let tag = Tag::from_byte(header.tag);
    // LSN u64::MAX is never assigned to a record, so `found + 1` below cannot overflow.
    if found != expected || (found == Lsn::MAX && tag != Tag::PADDING) {
        return Err(Error::LsnOutOfSequence { offset, expected, found });
    }
    let decoded = match tag.class() {
        TagClass::Known if tag == Tag::PADDING => Decoded::Padding { next_lsn: found },
        TagClass::Known | TagClass::User => Decoded::Record(RecordRef {
            offset,
            lsn: found,
            tag,
            payload: &frame[HEADER_SIZE_BYTES..HEADER_SIZE_BYTES + payload_len],
        }),
        TagClass::UnknownSkippable => Decoded::Skipped { lsn: found, tag },
        TagClass::UnknownCritical => return Err(Error::UnsupportedTag { offset, lsn: found, tag }),
    };
    Ok((decoded, frame_len))
}

/// Why a scan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The last frame ended exactly at the end of the chunk.
    ChunkEnd,
    /// Fewer than `HEADER_SIZE_BYTES` remain after the last frame: no frame fits there, so the
    /// writer left them unwritten and moved to the next chunk.
    ChunkTail,
    /// A padding frame at [`Frames::offset`] closed the chunk.
    Padding,
    /// The scan returned an error for the frame at [`Frames::offset`].
    Error,
}

/// A scan through the frames of one chunk, yielding its records in order.
///
/// The buffer is the whole chunk (or a view of it whose end is the chunk's end): the scan ends at
/// a padding frame, at the end of the buffer, or where fewer than `HEADER_SIZE_BYTES` remain. It
/// yields [`RecordRef`]s from a `&[u8]` and zero-copy [`RecordBytes`] from a [`Bytes`]. Unknown
/// skippable frames are verified, counted and passed over. After an error the scan yields nothing
/// more, and [`Frames::offset`] is where the bad frame starts.
#[derive(Clone, Debug)]
pub struct Frames<B> {
    buf: B,
    cursor: Cursor,
}

/// The position and expectations of a scan, apart from the buffer so both can be borrowed.
#[derive(Clone, Debug)]
struct Cursor {
    hasher: FrameHasher,
    offset: usize,
    next_lsn: Lsn,
    skipped: u64,
    stop: Option<Stop>,
}

impl<B: AsRef<[u8]>> Frames<B> {
    /// A scan of `chunk` from its start, whose first record has LSN `first_lsn`.
    #[must_use]
    pub fn new(chunk: B, salt: Salt, first_lsn: Lsn) -> Frames<B> {
        Frames::resume(chunk, salt, 0, first_lsn)
    }

    /// A scan of `chunk` resumed at a known frame boundary `offset` (from an index), where the
    /// next record has LSN `next_lsn`. A misaligned offset makes the first step an error.
    #[must_use]
    pub fn resume(chunk: B, salt: Salt, offset: usize, next_lsn: Lsn) -> Frames<B> {
        let hasher = FrameHasher::new(salt);
        Frames { buf: chunk, cursor: Cursor { hasher, offset, next_lsn, skipped: 0, stop: None } }
    }

    /// Offset just past the last valid frame: where the next frame starts or would be written.
    /// After an error or a padding frame, the offset of that frame.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.cursor.offset
    }

    /// The LSN the next record must have.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.cursor.next_lsn
    }

    /// How many unknown skippable frames were passed over.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.cursor.skipped
    }

    /// Why the scan ended, once it has.
    #[must_use]
    pub fn stop(&self) -> Option<Stop> {
        self.cursor.stop
    }
}

impl Cursor {
    /// The next record of `buf`, or `None` once the scan has stopped.
    #[inline]
    fn step<'b>(&mut self, buf: &'b [u8]) -> Option<Result<RecordRef<'b>, Error>> {
        loop {
            if self.stop.is_some() {
                return None;
            }
            match buf.len().checked_sub(self.offset) {
                Some(0) => self.stop = Some(Stop::ChunkEnd),
                Some(remaining) if remaining < HEADER_SIZE_BYTES => {
                    self.stop = Some(Stop::ChunkTail);
                }
                _ => match decode_at(buf, self.offset, &self.hasher, self.next_lsn) {
                    Ok((Decoded::Record(record), len)) => {
                        self.advance(len);
                        return Some(Ok(record));
                    }
                    Ok((Decoded::Skipped { .. }, len)) => {
                        self.skipped += 1;
                        self.advance(len);
                    }
                    Ok((Decoded::Padding { .. }, _)) => self.stop = Some(Stop::Padding),
                    Err(error) => {
                        self.stop = Some(Stop::Error);
                        return Some(Err(error));
                    }
                },
            }
        }
    }

    fn advance(&mut self, frame_len: usize) {
        self.offset += frame_len;
        // decode_at never accepts a record with LSN u64::MAX, so this cannot overflow.
        self.next_lsn = Lsn(self.next_lsn.0 + 1);
    }
}

impl<'a> Iterator for Frames<&'a [u8]> {
    type Item = Result<RecordRef<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.step(self.buf)
    }
}

impl Iterator for Frames<Bytes> {
    type Item = Result<RecordBytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.cursor.step(&self.buf)?;
        Some(result.map(|record| RecordBytes {
            offset: record.offset,
            lsn: record.lsn,
            tag: record.tag,
            payload: self.buf.slice_ref(record.payload),
        }))
    }
}
