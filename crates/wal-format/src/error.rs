//! The one error type of the codec.
//!
//! Decoding errors are kept apart exactly as recovery must tell them apart: a torn tail
//! (`Truncated`, and usually `ChecksumMismatch` on the last frame), space never written
//! (`Zeroed`), damage (`ChecksumMismatch`, `ImpossibleLength`), a frame that does not belong
//! where it was found (`LsnOutOfSequence`), and a newer writer (`UnsupportedTag`). Which of those
//! is fatal depends on where in the log it happens; that decision belongs to the segment layer.
//! Offsets are byte positions inside the buffer handed to the decoder (the chunk).

use crate::lsn::Lsn;
use crate::tag::Tag;

/// Everything that can go wrong encoding or decoding a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes remain in the buffer than the frame needs: the buffer ends inside the frame.
    /// (A scan treats a chunk tail too short for a header as the chunk's end, not as this error.)
    #[error("frame at offset {offset}: needs {needed} bytes but only {available} remain")]
    Truncated {
        /// Start of the frame.
        offset: usize,
        /// Bytes the frame needs (the header alone if the length could not be read).
        needed: usize,
        /// Bytes present from `offset` to the end of the buffer.
        available: usize,
    },
    /// The header is all zero bytes: space that was prepared but never written.
    #[error("frame at offset {offset}: header is all zero (space never written)")]
    Zeroed {
        /// Start of the frame.
        offset: usize,
    },
    /// The stored checksum does not match the frame's bytes and the chunk's salt.
    #[error(
        "frame at offset {offset}: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    ChecksumMismatch {
        /// Start of the frame.
        offset: usize,
        /// The value in the header.
        stored: u32,
        /// The value computed from the bytes and the salt.
        computed: u32,
    },
    /// The header's payload length exceeds `MAX_PAYLOAD_BYTES`: no writer ever produced it.
    #[error("frame at offset {offset}: payload length {len} is larger than any valid frame")]
    ImpossibleLength {
        /// Start of the frame.
        offset: usize,
        /// The length found in the header.
        len: u32,
    },
    /// A valid frame whose LSN is not the one expected at this position.
    #[error("frame at offset {offset}: LSN {found} found where LSN {expected} was expected")]
    LsnOutOfSequence {
        /// Start of the frame.
        offset: usize,
        /// The LSN the reader expected next.
        expected: Lsn,
        /// The LSN in the frame.
        found: Lsn,
    },
    /// A valid frame with a system tag this version does not know and may not skip.
    #[error(
        "frame at offset {offset} (LSN {lsn}): unsupported critical tag {tag}; written by a newer version?"
    )]
    UnsupportedTag {
        /// Start of the frame.
        offset: usize,
        /// The frame's LSN.
        lsn: Lsn,
        /// The tag.
        tag: Tag,
    },
    /// A decode was asked to start at an offset that is not a multiple of `ALIGNMENT_BYTES`.
    #[error("offset {offset} is not a multiple of the frame alignment")]
    Misaligned {
        /// The requested offset.
        offset: usize,
    },
    /// The destination buffer cannot hold the frames to encode. Nothing was written.
    #[error("encoding needs {needed} bytes but the destination has {available}")]
    NoSpace {
        /// Bytes the frames need.
        needed: usize,
        /// Bytes in the destination.
        available: usize,
    },
    /// A payload larger than `MAX_PAYLOAD_BYTES`. Nothing was written.
    #[error("payload of {len} bytes is larger than the maximum of {max} bytes", max = crate::MAX_PAYLOAD_BYTES)]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
    },
    /// The tag may not be written by an application (see `Tag::is_writable`). Nothing was written.
    #[error("tag {tag} is reserved and cannot be written")]
    ReservedTag {
        /// The tag.
        tag: Tag,
    },
    /// Encoding would assign an LSN past `u64::MAX`. Nothing was written.
    #[error("LSN space exhausted")]
    LsnExhausted,
}
