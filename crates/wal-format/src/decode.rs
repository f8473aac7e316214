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
use crate::limits::{ALIGNMENT_BYTES, HEADER_SIZE_BYTES, MAX_PAYLOAD_BYTES, align_up};
use crate::lsn::Lsn;
use crate::tag::{Tag, TagClass};

/// A record borrowed from the buffer it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The record's LSN.
    pub lsn: Lsn,
    /// Its tag: a known system tag or a user tag.
    pub tag: Tag,
    /// Its payload, inside the decoded buffer.
    pub payload: &'a [u8],
}

/// A record whose payload is a zero-copy slice of a shared buffer (such as a mapped chunk).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
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
    Record(FrameRef<'a>),
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
/// For one random-access read. A scan through a chunk should use [`Frames`] or
/// [`FrameDecoder`], which hash the salt once.
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
    if payload_len > MAX_PAYLOAD_BYTES {
        return Err(Error::ImpossibleLength { offset, len });
    }
    let frame_len = align_up(HEADER_SIZE_BYTES + payload_len);
    let Some(frame) = rest.get(..frame_len) else {
        return Err(Error::Truncated { offset, needed: frame_len, available: rest.len() });
    };
    let computed = hasher.checksum(frame);
    let stored = header.checksum.get();
    if computed != stored {
        return Err(Error::ChecksumMismatch { offset, stored, computed });
    }
    let found = Lsn(header.lsn.get());
    if found != expected {
        return Err(Error::LsnOutOfSequence { offset, expected, found });
    }
    let tag = Tag::from_byte(header.tag);
    let decoded = match tag.class() {
        TagClass::Known if tag == Tag::PADDING => Decoded::Padding { next_lsn: found },
        TagClass::Known | TagClass::User => Decoded::Record(FrameRef {
            lsn: found,
            tag,
            payload: &frame[HEADER_SIZE_BYTES..HEADER_SIZE_BYTES + payload_len],
        }),
        TagClass::UnknownSkippable => Decoded::Skipped { lsn: found, tag },
        TagClass::UnknownCritical => return Err(Error::UnsupportedTag { offset, lsn: found, tag }),
    };
    Ok((decoded, frame_len))
}

/// Where a sequential scan stands: the state shared by [`Frames`] and [`FrameDecoder`].
#[derive(Clone, Debug)]
struct Cursor {
    hasher: FrameHasher,
    offset: usize,
    next_lsn: Lsn,
    skipped: u64,
    stop: Option<Stop>,
}

/// Why a scan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The last frame ended exactly at the end of the buffer.
    EndOfBuffer,
    /// A padding frame at [`Frames::offset`] closed the chunk.
    Padding,
    /// A record with the largest LSN was read; no record can follow it.
    LsnExhausted,
    /// The scan returned an error for the frame at [`Frames::offset`].
    Error,
}

impl Cursor {
    fn new(salt: Salt, first_lsn: Lsn) -> Cursor {
        Cursor {
            hasher: FrameHasher::new(salt),
            offset: 0,
            next_lsn: first_lsn,
            skipped: 0,
            stop: None,
        }
    }

    #[inline]
    fn next<'a>(&mut self, buf: &'a [u8]) -> Option<Result<FrameRef<'a>, Error>> {
        loop {
            if self.stop.is_some() {
                return None;
            }
            if self.offset == buf.len() {
                self.stop = Some(Stop::EndOfBuffer);
                return None;
            }
            match decode_at(buf, self.offset, &self.hasher, self.next_lsn) {
                Ok((Decoded::Record(frame), len)) => {
                    self.advance(len);
                    return Some(Ok(frame));
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
            }
        }
    }

    fn advance(&mut self, frame_len: usize) {
        self.offset += frame_len;
        match self.next_lsn.next() {
            Some(next) => self.next_lsn = next,
            None => self.stop = Some(Stop::LsnExhausted),
        }
    }
}

/// Scans the frames of a borrowed buffer from its start, yielding borrowed records.
///
/// The iterator ends at the end of the buffer or at a padding frame, and after yielding an error.
/// Unknown skippable frames are verified, counted and passed over.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    cursor: Cursor,
}

impl<'a> Frames<'a> {
    /// A scan of `buf` (a chunk, or a prefix of one) whose first record has LSN `first_lsn`.
    #[must_use]
    pub fn new(buf: &'a [u8], salt: Salt, first_lsn: Lsn) -> Frames<'a> {
        Frames { buf, cursor: Cursor::new(salt, first_lsn) }
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

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameRef<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor.next(self.buf)
    }
}

/// Scans the frames of a shared buffer, yielding records whose payloads are zero-copy slices of it.
///
/// Same rules as [`Frames`]; each payload keeps the buffer (for example a mapped chunk) alive.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    buf: Bytes,
    cursor: Cursor,
}

impl FrameDecoder {
    /// A scan of `buf` whose first record has LSN `first_lsn`.
    #[must_use]
    pub fn new(buf: Bytes, salt: Salt, first_lsn: Lsn) -> FrameDecoder {
        FrameDecoder { buf, cursor: Cursor::new(salt, first_lsn) }
    }

    /// See [`Frames::offset`].
    #[must_use]
    pub fn offset(&self) -> usize {
        self.cursor.offset
    }

    /// See [`Frames::next_lsn`].
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.cursor.next_lsn
    }

    /// See [`Frames::skipped`].
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.cursor.skipped
    }

    /// See [`Frames::stop`].
    #[must_use]
    pub fn stop(&self) -> Option<Stop> {
        self.cursor.stop
    }
}

impl Iterator for FrameDecoder {
    type Item = Result<Frame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.cursor.next(&self.buf)?;
        Some(result.map(|frame| Frame {
            lsn: frame.lsn,
            tag: frame.tag,
            payload: self.buf.slice_ref(frame.payload),
        }))
    }
}
