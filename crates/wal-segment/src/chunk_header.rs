//! The 64-byte header at the start of every chunk (`docs/format.md`, "Chunk header").
//!
//! It names the chunk (segment id, chunk index), says how to read its frames (salt, first LSN),
//! and carries its own checksum, so each chunk can be mapped, checked and scanned on its own.
//! Validation tells apart a chunk never started (all zero) from a damaged or foreign header.

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use wal_format::{Lsn, Salt};

use crate::segment_id::SegmentId;

/// Size of the chunk header; frames start right after it.
pub const CHUNK_HEADER_BYTES: usize = 64;
/// The magic bytes that open every chunk.
pub const CHUNK_MAGIC: [u8; 8] = *b"WALCHUNK";
/// The segment format version this code writes and reads.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;

/// The chunk header, exactly as it lies on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct ChunkHeader {
    /// [`CHUNK_MAGIC`].
    pub magic: [u8; 8],
    /// [`SEGMENT_FORMAT_VERSION`].
    pub format_version: U32,
    /// log2 of the chunk size in bytes.
    pub chunk_size_log2: u8,
    /// Written as zero.
    pub reserved_a: [u8; 3],
    /// The segment this chunk belongs to.
    pub segment_id: U64,
    /// The chunk's index within its segment.
    pub chunk_index: U32,
    /// The salt of every frame checksum in this chunk; new for every use of the space.
    pub salt: U32,
    /// LSN of the chunk's first record (the next LSN, if the chunk holds none).
    pub first_lsn: U64,
    /// Written as zero.
    pub reserved_b: [u8; 20],
    /// CRC-32 of the 60 bytes before it.
    pub checksum: U32,
}

const _: () = assert!(size_of::<ChunkHeader>() == CHUNK_HEADER_BYTES);
const _: () = assert!(CHUNK_HEADER_BYTES.is_multiple_of(wal_format::ALIGNMENT_BYTES));

/// Where a chunk is and what it holds, as its header states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkIdentity {
    /// log2 of the chunk size.
    pub chunk_size_log2: u8,
    /// The segment.
    pub segment_id: SegmentId,
    /// The chunk's index in the segment.
    pub chunk_index: u32,
    /// Its salt.
    pub salt: Salt,
    /// Its first LSN.
    pub first_lsn: Lsn,
}

/// Why a chunk header was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// All zero: the chunk was reserved but never started.
    Unstarted,
    /// Bad magic or checksum: torn, damaged, or not a chunk.
    Damaged,
    /// A valid header of another version.
    UnsupportedVersion(u32),
    /// A valid header that names another segment or chunk index.
    Misplaced,
    /// A valid header of this segment and chunk, written with another chunk size: `log2` is
    /// the one it states. Not damage by itself: a log written with other options.
    OtherChunkSize {
        /// log2 of the chunk size the header states.
        log2: u8,
    },
    /// A valid header stating a chunk size no version of this format writes (log2 `log2`).
    UnsupportedChunkSize {
        /// log2 of the chunk size the header states.
        log2: u8,
    },
}

/// What a human reads, for a message naming the segment and chunk.
impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderProblem::Unstarted => f.write_str("the chunk header is all zero (never started)"),
            HeaderProblem::Damaged => {
                f.write_str("the chunk header fails its checks (bad magic or checksum)")
            }
            HeaderProblem::UnsupportedVersion(version) => {
                write!(f, "chunk header of unsupported segment format version {version}")
            }
            HeaderProblem::Misplaced => f.write_str("chunk header of another segment or chunk"),
            HeaderProblem::OtherChunkSize { log2 } => {
                write!(f, "chunk header written with chunks of 2^{log2} bytes")
            }
            HeaderProblem::UnsupportedChunkSize { log2 } => {
                write!(f, "chunk header states an unsupported chunk size (2^{log2} bytes)")
            }
        }
    }
}

/// log2 of the smallest chunk the format allows (64 KiB).
pub const MIN_CHUNK_SIZE_LOG2: u8 = 16;
/// log2 of the largest chunk the format allows (1 GiB).
pub const MAX_CHUNK_SIZE_LOG2: u8 = 30;

/// Whether `log2` is the exponent of a chunk size this format allows (64 KiB to 1 GiB).
#[must_use]
pub fn chunk_size_supported(log2: u8) -> bool {
    (MIN_CHUNK_SIZE_LOG2..=MAX_CHUNK_SIZE_LOG2).contains(&log2)
}

impl ChunkIdentity {
    /// The header bytes for this chunk.
    #[must_use]
    pub fn encode(&self) -> [u8; CHUNK_HEADER_BYTES] {
        let mut header = ChunkHeader {
            magic: CHUNK_MAGIC,
            format_version: SEGMENT_FORMAT_VERSION.into(),
            chunk_size_log2: self.chunk_size_log2,
            reserved_a: [0; 3],
            segment_id: self.segment_id.0.into(),
            chunk_index: self.chunk_index.into(),
            salt: self.salt.0.into(),
            first_lsn: self.first_lsn.0.into(),
            reserved_b: [0; 20],
            checksum: 0.into(),
        };
        header.checksum = crc32fast::hash(&header.as_bytes()[..CHUNK_HEADER_BYTES - 4]).into();
        let mut bytes = [0u8; CHUNK_HEADER_BYTES];
        bytes.copy_from_slice(header.as_bytes());
        bytes
    }

    /// Reads and checks the header at the start of `chunk`, which must be chunk `expected`'s
    /// (same segment, index and size; salt and first LSN are what the header says). A header
    /// of the right segment and chunk that states another chunk size is `OtherChunkSize`
    /// (checked after the placement, so a misplaced header is `Misplaced` whatever its size).
    ///
    /// # Errors
    /// The [`HeaderProblem`] that rules the header out.
    pub fn decode(chunk: &[u8], expected: &ChunkIdentity) -> Result<ChunkIdentity, HeaderProblem> {
        let Ok((header, _)) = ChunkHeader::ref_from_prefix(chunk) else {
            return Err(HeaderProblem::Damaged);
        };
        let bytes = header.as_bytes();
        if bytes.iter().all(|&byte| byte == 0) {
            return Err(HeaderProblem::Unstarted);
        }
        if header.magic != CHUNK_MAGIC
            || crc32fast::hash(&bytes[..CHUNK_HEADER_BYTES - 4]) != header.checksum.get()
        {
            return Err(HeaderProblem::Damaged);
        }
        if header.format_version.get() != SEGMENT_FORMAT_VERSION {
            return Err(HeaderProblem::UnsupportedVersion(header.format_version.get()));
        }
        let found = ChunkIdentity {
            chunk_size_log2: header.chunk_size_log2,
            segment_id: SegmentId(header.segment_id.get()),
            chunk_index: header.chunk_index.get(),
            salt: Salt(header.salt.get()),
            first_lsn: Lsn(header.first_lsn.get()),
        };
        if (found.segment_id, found.chunk_index) != (expected.segment_id, expected.chunk_index) {
            return Err(HeaderProblem::Misplaced);
        }
        if !chunk_size_supported(found.chunk_size_log2) {
            return Err(HeaderProblem::UnsupportedChunkSize { log2: found.chunk_size_log2 });
        }
        if found.chunk_size_log2 != expected.chunk_size_log2 {
            return Err(HeaderProblem::OtherChunkSize { log2: found.chunk_size_log2 });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ChunkIdentity {
        ChunkIdentity {
            chunk_size_log2: 16,
            segment_id: SegmentId(7),
            chunk_index: 3,
            salt: Salt(0xABCD),
            first_lsn: Lsn(1000),
        }
    }

    #[test]
    fn round_trip_and_every_bit_flip_is_rejected() {
        let bytes = identity().encode();
        assert_eq!(ChunkIdentity::decode(&bytes, &identity()), Ok(identity()));
        for bit in 0..CHUNK_HEADER_BYTES * 8 {
            let mut damaged = bytes;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(ChunkIdentity::decode(&damaged, &identity()).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn unstarted_misplaced_and_short_headers_are_told_apart() {
        assert_eq!(ChunkIdentity::decode(&[0; 64], &identity()), Err(HeaderProblem::Unstarted));
        assert_eq!(ChunkIdentity::decode(&[0; 10], &identity()), Err(HeaderProblem::Damaged));
        let other = ChunkIdentity { chunk_index: 4, ..identity() };
        assert_eq!(
            ChunkIdentity::decode(&other.encode(), &identity()),
            Err(HeaderProblem::Misplaced)
        );
        let misplaced_and_resized = ChunkIdentity { chunk_size_log2: 20, ..other };
        assert_eq!(
            ChunkIdentity::decode(&misplaced_and_resized.encode(), &identity()),
            Err(HeaderProblem::Misplaced)
        );
        let resized = ChunkIdentity { chunk_size_log2: 20, ..identity() };
        assert_eq!(
            ChunkIdentity::decode(&resized.encode(), &identity()),
            Err(HeaderProblem::OtherChunkSize { log2: 20 })
        );
        for log2 in [0, 15, 31, 255] {
            let strange = ChunkIdentity { chunk_size_log2: log2, ..identity() };
            assert_eq!(
                ChunkIdentity::decode(&strange.encode(), &identity()),
                Err(HeaderProblem::UnsupportedChunkSize { log2 })
            );
        }
    }
}
