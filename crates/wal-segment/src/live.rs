//! A chunk as the writer, the threads filling reservations, and readers share it.
//!
//! The chunk's bytes below `published` are complete frames that are never written again; a
//! reader may view them as zero-copy `Bytes`. Above it, each reserved range belongs to exactly
//! one reservation until that reservation publishes it. `closed` says the chunk will receive no
//! more bytes: a reader that has read up to `published` of a closed chunk moves to the next one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use wal_format::{FrameEncoder, Lsn, Salt};

use crate::chunk_header::CHUNK_HEADER_BYTES;
use crate::mapping::ChunkMap;
use crate::storage::{MappedRegion, SegmentFile, Storage};

/// The mapping type of a storage's files.
pub type MapOf<S> = <<S as Storage>::File as SegmentFile>::Map;

/// A shared handle on one mapped chunk of a segment.
pub type ChunkRef<S> = Arc<LiveChunk<MapOf<S>>>;

/// One mapped chunk, shared by its writer, the appenders filling it, and its readers.
#[derive(Debug)]
pub struct LiveChunk<M> {
    pub(crate) map: ChunkMap<M>,
    index: u32,
    salt: Salt,
    first_lsn: Lsn,
    pub(crate) encoder: FrameEncoder,
    published: AtomicUsize,
    closed: AtomicBool,
}

impl<M: MappedRegion> LiveChunk<M> {
    /// A chunk just started: only its header is written.
    pub(crate) fn started(map: ChunkMap<M>, index: u32, salt: Salt, first_lsn: Lsn) -> Self {
        LiveChunk {
            map,
            index,
            salt,
            first_lsn,
            encoder: FrameEncoder::new(salt),
            published: AtomicUsize::new(CHUNK_HEADER_BYTES),
            closed: AtomicBool::new(false),
        }
    }

    /// A chunk read back from disk, complete up to `end`, which nothing will write again.
    pub(crate) fn recovered(
        map: ChunkMap<M>,
        index: u32,
        salt: Salt,
        first_lsn: Lsn,
        end: usize,
    ) -> Self {
        let chunk = LiveChunk::started(map, index, salt, first_lsn);
        chunk.published.store(end, Ordering::Relaxed);
        chunk.closed.store(true, Ordering::Relaxed);
        chunk
    }

    /// The chunk's index in its segment.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The salt of the chunk's frames.
    #[must_use]
    pub fn salt(&self) -> Salt {
        self.salt
    }

    /// The LSN of the chunk's first record.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        self.first_lsn
    }

    /// Whether the chunk will receive no more bytes. Read this *before*
    /// [`LiveChunk::published_bytes`]: a closed chunk's published bytes are final.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The complete frames of the chunk so far, from its start (header included), as a
    /// zero-copy view. A scan of it ends at the last published frame.
    #[must_use]
    pub fn published_bytes(&self) -> Bytes {
        let end = self.published.load(Ordering::Acquire);
        self.map.bytes(0, end)
    }

    /// Makes the chunk's mapping hold `life`'s segment until the mapping goes (the last view
    /// of the chunk dropped). Only the first call has an effect.
    pub fn hold(&self, life: &std::sync::Arc<wal_telemetry::SegmentLife>) {
        self.map.hold(life);
    }

    /// Zero-copy views of the chunk alive (payloads, readers' scans).
    #[must_use]
    pub fn views(&self) -> usize {
        self.map.views()
    }

    /// Bytes of the chunk's mapping.
    #[must_use]
    pub fn mapped_bytes(&self) -> usize {
        self.map.len_bytes()
    }

    /// Bytes below this are published.
    pub(crate) fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Makes `[.., end)` visible; the caller holds the publication turn, and everything below
    /// `end` is written. A plain store: publication runs in LSN order, one turn at a time, so
    /// the offsets a chunk is published to only grow (checked in debug builds).
    pub(crate) fn publish_to(&self, end: usize) {
        debug_assert!(self.published.load(Ordering::Relaxed) <= end, "published out of order");
        self.published.store(end, Ordering::Release);
    }

    /// Marks the chunk final, once everything in it is published.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Bytes of the chunk.
    pub fn len_bytes(&self) -> usize {
        self.map.len_bytes()
    }
}

/// A chunk handle for the crate's own use, with the mapping type named by the storage.
pub(crate) type Live<S> = Arc<LiveChunk<MapOf<S>>>;
