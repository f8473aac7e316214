//! Segment options, validated once so the rest of the crate can rely on them.

use crate::chunk_header::{CHUNK_HEADER_BYTES, MAX_CHUNK_SIZE_LOG2, MIN_CHUNK_SIZE_LOG2};
use crate::error::{Error, RecordLimit};
use crate::storage::SpaceFill;

/// Smallest chunk: 64 KiB.
pub const MIN_CHUNK_BYTES: usize = 1 << MIN_CHUNK_SIZE_LOG2;
/// Largest chunk: 1 GiB.
pub const MAX_CHUNK_BYTES: usize = 1 << MAX_CHUNK_SIZE_LOG2;
/// The default chunk: 16 MiB, which holds the largest frame four times over.
pub const DEFAULT_CHUNK_BYTES: usize = 16 << 20;
/// The default number of chunks per segment (a 64 MiB segment with the default chunk).
pub const DEFAULT_CHUNKS_PER_SEGMENT: u32 = 4;

const _: () = assert!(DEFAULT_CHUNK_BYTES >= wal_format::MAX_FRAME_BYTES + CHUNK_HEADER_BYTES);
const _: () = assert!(MIN_CHUNK_BYTES.is_power_of_two() && MAX_CHUNK_BYTES.is_power_of_two());
const _: () = assert!(MIN_CHUNK_BYTES > CHUNK_HEADER_BYTES + wal_format::HEADER_SIZE_BYTES);
// The smallest chunk holds its header, the seal's frame it keeps room for, and a frame with a
// payload: `max_payload_bytes` never underflows.
const _: () = assert!(
    MIN_CHUNK_BYTES
        > CHUNK_HEADER_BYTES + crate::seal::SEAL_FRAME_BYTES + 2 * wal_format::HEADER_SIZE_BYTES
);
// Offsets in a chunk are stored as u32 (index entries, `RecordPositions`).
const _: () = assert!(MAX_CHUNK_BYTES <= u32::MAX as usize);
// The seal's frame is whole frames of the format's alignment.
const _: () = assert!(crate::seal::SEAL_FRAME_BYTES.is_multiple_of(wal_format::ALIGNMENT_BYTES));

/// Where the next chunk is reserved and mapped while the current one fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChunkPreparation {
    /// On a short-lived thread started when a chunk starts, so the append that crosses into
    /// the next chunk finds it ready (about 22 ms of work per 16 MiB, off the append path).
    #[default]
    Background,
    /// In the appending thread, when a chunk starts: no threads, and every step in a fixed
    /// order (what fault-injection tests need), at the cost of that pause in one append.
    Inline,
}

/// How segments are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Bytes per chunk: a power of two from [`MIN_CHUNK_BYTES`] to [`MAX_CHUNK_BYTES`].
    pub chunk_bytes: usize,
    /// Chunks per segment, at least 1.
    pub chunks_per_segment: u32,
    /// Where the next chunk is prepared.
    pub preparation: ChunkPreparation,
    /// How a chunk's space is made ready.
    pub space_fill: SpaceFill,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        SegmentOptions {
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            chunks_per_segment: DEFAULT_CHUNKS_PER_SEGMENT,
            preparation: ChunkPreparation::Background,
            space_fill: SpaceFill::Reserved,
        }
    }
}

impl SegmentOptions {
    /// Checks the options.
    ///
    /// # Errors
    /// `InvalidOptions` naming the rule broken.
    pub fn validate(&self) -> Result<(), Error> {
        if !self.chunk_bytes.is_power_of_two()
            || !(MIN_CHUNK_BYTES..=MAX_CHUNK_BYTES).contains(&self.chunk_bytes)
        {
            return Err(Error::InvalidOptions {
                reason: "chunk_bytes must be a power of two from 64 KiB to 1 GiB",
            });
        }
        if self.chunks_per_segment == 0 {
            return Err(Error::InvalidOptions { reason: "chunks_per_segment must be at least 1" });
        }
        Ok(())
    }

    /// log2 of the chunk size, as stored in chunk headers.
    #[must_use]
    pub fn chunk_size_log2(&self) -> u8 {
        // A power of two of at most 2^30: its exponent fits in a u8.
        u8::try_from(self.chunk_bytes.trailing_zeros()).expect("validated chunk size")
    }

    /// The largest payload a record may have in a segment of these options: what one chunk
    /// holds beside its header, the frame's header and the room it keeps for a seal record
    /// (`chunk_bytes` - 136), or the format's [`wal_format::MAX_PAYLOAD_BYTES`] if smaller
    /// (the case from 8 MiB chunks up: 4 MiB - 24 bytes).
    #[must_use]
    pub fn max_payload_bytes(&self) -> usize {
        chunk_room_bytes(self.chunk_bytes).min(wal_format::MAX_PAYLOAD_BYTES)
    }

    /// What sets [`SegmentOptions::max_payload_bytes`]: the chunk, or the format.
    #[must_use]
    pub fn record_limit(&self) -> RecordLimit {
        if chunk_room_bytes(self.chunk_bytes) < wal_format::MAX_PAYLOAD_BYTES {
            RecordLimit::Chunk { chunk_bytes: self.chunk_bytes }
        } else {
            RecordLimit::Format
        }
    }
}

/// The largest payload a chunk of `chunk_bytes` holds, whatever the format's limit: the chunk
/// less its header, a frame header and the room every chunk keeps for a seal record (see
/// `SegmentWriter`). `chunk_bytes` is at least [`MIN_CHUNK_BYTES`].
pub(crate) fn chunk_room_bytes(chunk_bytes: usize) -> usize {
    chunk_bytes - CHUNK_OVERHEAD_BYTES
}

/// Bytes a chunk gives up beside the largest payload it holds: what format.md's "Seal record"
/// section states (136).
pub const CHUNK_OVERHEAD_BYTES: usize =
    CHUNK_HEADER_BYTES + wal_format::HEADER_SIZE_BYTES + crate::seal::SEAL_FRAME_BYTES;
const _: () = assert!(CHUNK_OVERHEAD_BYTES == 136);
// From 8 MiB chunks up, the format's frame limit, not the chunk, caps a record.
const _: () = assert!((8 << 20) - CHUNK_OVERHEAD_BYTES >= wal_format::MAX_PAYLOAD_BYTES);
const _: () = assert!((4 << 20) - CHUNK_OVERHEAD_BYTES < wal_format::MAX_PAYLOAD_BYTES);
