//! The one place that touches mapped memory: a chunk's mapping, split into a written part that
//! is shared read-only (as zero-copy `Bytes`) and an unwritten part owned by its single writer.
//!
//! Rule that makes this sound: bytes below the *published* offset are never written again while
//! any `Bytes` of them may exist, and each range above it is written by the one reservation that
//! owns it (see `live.rs`). Nothing outside this
//! crate ever sees a raw mapping.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use wal_telemetry::{Hold, SegmentLife};

use crate::storage::MappedRegion;

/// A mapped chunk, shared between its writer and the `Bytes` handed to readers.
#[derive(Debug)]
pub(crate) struct ChunkMap<M> {
    map: Arc<Mapped<M>>,
}

/// The mapping, and its share in the segment's life: when the last view of the chunk goes,
/// the region is unmapped first, then the hold drops (which may release the segment).
#[derive(Debug)]
struct Mapped<M> {
    region: M,
    hold: OnceLock<Hold>,
}

impl<M: MappedRegion> std::ops::Deref for Mapped<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.region
    }
}

/// Keeps a mapping alive for as long as a `Bytes` of part of it exists.
struct MapSlice<M> {
    map: Arc<Mapped<M>>,
    start: usize,
    len: usize,
}

impl<M: MappedRegion> AsRef<[u8]> for MapSlice<M> {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start + len <= map.len()` was checked in `ChunkMap::bytes`, the mapping lives
        // as long as `self`, and the range is below the published offset, which is never written
        // again while it can be read (module rule).
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.start), self.len) }
    }
}

impl<M: MappedRegion> ChunkMap<M> {
    pub(crate) fn new(map: M) -> ChunkMap<M> {
        ChunkMap { map: Arc::new(Mapped { region: map, hold: OnceLock::new() }) }
    }

    /// Makes the mapping hold `life`'s segment until the last view of it is gone; once.
    pub(crate) fn hold(&self, life: &Arc<SegmentLife>) {
        if self.map.hold.get().is_none() {
            let _ = self.map.hold.set(life.hold(self.map.len_bytes() as u64));
        }
    }

    /// How many `Bytes` views of the mapping are alive.
    pub(crate) fn views(&self) -> usize {
        Arc::strong_count(&self.map) - 1
    }

    pub(crate) fn len_bytes(&self) -> usize {
        self.map.len_bytes()
    }

    /// A zero-copy view of `[start, end)`, which the caller has published (fully written).
    ///
    /// # Panics
    /// If the range is outside the mapping: a bug in the caller.
    pub(crate) fn bytes(&self, start: usize, end: usize) -> Bytes {
        assert!(start <= end && end <= self.map.len_bytes(), "{start}..{end} outside the chunk");
        Bytes::from_owner(MapSlice { map: Arc::clone(&self.map), start, len: end - start })
    }

    /// The writable range `[start, start + len)`, for the one thread that owns it.
    ///
    /// # Safety
    /// The caller owns the range exclusively until it publishes it: no other reference into it
    /// exists or is formed meanwhile, and no `Bytes` handed out covers any of it. The writer
    /// guarantees this by handing each unpublished range to exactly one reservation.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn region(&self, start: usize, len: usize) -> &mut [u8] {
        let end = start.checked_add(len);
        assert!(end.is_some_and(|end| end <= self.map.len_bytes()), "{start}+{len} outside");
        // SAFETY: in bounds (checked above); exclusive per the function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_ptr().add(start), len) }
    }

    /// Overwrites `[offset, offset + bytes.len())` of already written space, without forming a
    /// reference to anything else in the mapping.
    ///
    /// # Safety
    /// No `Bytes` or other reference covers the range. Frame and chunk headers qualify: only
    /// payloads are handed out while a writer lives.
    pub(crate) unsafe fn overwrite(&self, offset: usize, bytes: &[u8]) {
        let end = offset.checked_add(bytes.len());
        assert!(end.is_some_and(|end| end <= self.map.len_bytes()), "{offset} outside the chunk");
        // SAFETY: in bounds (checked above); nobody references the range (the contract).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_ptr().add(offset),
                bytes.len(),
            )
        };
    }

    /// Whether no `Bytes` view of the mapping is alive.
    pub(crate) fn unshared(&self) -> bool {
        Arc::strong_count(&self.map) == 1
    }

    /// Takes the write faults of the whole chunk now (see `MappedRegion::prefault_for_write`).
    pub(crate) fn prefault_for_write(&self) {
        self.map.prefault_for_write();
    }

    /// Makes `[start, end)` durable.
    pub(crate) fn sync(&self, start: usize, end: usize) -> std::io::Result<()> {
        self.map.sync(start, end - start)
    }
}
