//! Segment files of the write-ahead log, and the [`Storage`] every layer does its file I/O
//! through (the only layer that maps files).
//!
//! A segment is a file of fixed-size chunks (16 MiB by default). Each chunk starts with a
//! 64-byte header (magic, version, segment id, chunk index, a fresh salt, first LSN) followed by
//! frames encoded by `wal-format` straight into the chunk's memory map. A chunk's space is
//! reserved with `fallocate` before it is mapped, so a full disk is an [`Error::OutOfSpace`] when
//! a chunk is prepared, never a SIGBUS. [`SegmentWriter`] appends and syncs; [`scan_segment`]
//! reads a segment back and reports exactly where and why its data ends. [`Storage`] abstracts
//! the files so that tests can run the same code on [`SimStorage`], which models the page cache
//! and can be crashed.
//!
//! Each segment has a sidecar index of record positions, written after the sync that made them
//! durable; [`recover_segment`] checks it against the data, uses it to tell damage from a torn
//! tail, and rebuilds it when it is missing or wrong.
//!
//! A finished segment ends with a `SEAL` record ([`SegmentWriter::seal`]); a segment can be cut
//! back to a record boundary ([`SegmentWriter::truncate`]) or deleted ([`delete_segment`]).
//! [`segment_file_name`] and [`index_file_name`] are the one source of the files' names.

mod chunk_header;
mod claim;
mod error;
mod files;
mod index;
mod index_tail;
mod live;
mod lock;
mod mapping;
mod options;
mod positions;
mod prepare;
mod publish;
mod recover;
mod reservation;
mod scan;
mod seal;
mod segment_id;
mod space;
pub mod storage;
mod supply;
mod sync_plan;
#[cfg(feature = "testing")]
pub mod testing;
mod writer;

pub use chunk_header::{
    CHUNK_HEADER_BYTES, CHUNK_MAGIC, ChunkHeader, ChunkIdentity, HeaderProblem,
    MAX_CHUNK_SIZE_LOG2, MIN_CHUNK_SIZE_LOG2, SEGMENT_FORMAT_VERSION, chunk_size_supported,
};
pub use claim::FileId;
pub use error::{Error, RecordLimit};
pub use files::{
    SegmentId, delete_segment, index_file_name, index_id_of, segment_file_name, segment_id_of,
};
pub use index::{
    INDEX_CHUNK_MARK, INDEX_ENTRY_BYTES, INDEX_FORMAT_VERSION, INDEX_HEADER_BYTES, INDEX_MAGIC,
    INDEX_SKIP_MARK, INDEX_WORD_BYTES, IndexEntry, IndexEntryBytes, IndexHeader, SegmentIndex,
};
pub use index_tail::IndexAppend;
pub use live::{ChunkRef, LiveChunk, MapOf};
pub use lock::DirLock;
pub use options::{
    CHUNK_OVERHEAD_BYTES, ChunkPreparation, DEFAULT_CHUNK_BYTES, DEFAULT_CHUNKS_PER_SEGMENT,
    MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, SegmentOptions,
};
pub use positions::RecordPositions;
pub use prepare::PreparedSegment;
pub use recover::{
    IndexStatus, Opened, RecoveredSegment, SegmentCheck, SegmentLayout, check_segment_bytes,
    index_entry_count, open_segment, read_segment_layout, recover_segment, salvage_segment,
    segment_first_lsn, segment_layout,
};
pub use reservation::Reservation;
pub use scan::{SegmentEnd, SegmentRecord, SegmentScan, scan_chunks, scan_segment};
pub use seal::{SEAL_PAYLOAD_BYTES, SealInfo, SealPayload};
pub use storage::{RealStorage, SimStorage, SpaceFill, Storage};
pub use sync_plan::SyncPlan;
pub use writer::{Sealed, SegmentWriter};
