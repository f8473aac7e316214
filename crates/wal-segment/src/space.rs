//! The space of a segment being appended to: its started chunks, the bytes reserved in the
//! current one, the next LSN, and the position of every reserved record.
//!
//! Reserving a batch is all or nothing. The common case fits in the current chunk; otherwise
//! the batch is laid out over the chunks it needs and every one of them is obtained from the
//! supply before anything is reserved, so a full disk or a full segment leaves nothing half
//! done. Every chunk keeps room for the seal record, so sealing never needs a new chunk.

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use wal_format::{Lsn, Record, Tag, batch_len, frame_len};

use crate::chunk_header::{CHUNK_HEADER_BYTES, ChunkIdentity};
use crate::error::Error;
use crate::live::{Live, LiveChunk};
use crate::options::SegmentOptions;
use crate::positions::RecordPositions;
use crate::publish::Publication;
use crate::reservation::{Piece, Reservation};
use crate::seal::SEAL_FRAME_BYTES;
use crate::segment_id::SegmentId;
use crate::storage::Storage;
use crate::supply::{ChunkSupply, Map};

/// Whether an append may use the room kept for the seal record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    KeepForSeal,
    All,
}

/// The chunks of a segment and what is reserved in them.
pub(crate) struct ChunkSpace<S: Storage> {
    path: PathBuf,
    options: SegmentOptions,
    segment_id: SegmentId,
    /// Every chunk started so far, by index; the last is the current one.
    chunks: Vec<Live<S>>,
    /// Bytes of the current chunk reserved so far.
    reserved: usize,
    /// The chunks after the current one, prepared ahead of need.
    supply: ChunkSupply<S>,
    /// The LSN the next reservation gets.
    next_lsn: Lsn,
    /// Positions of every record reserved in the segment.
    positions: RecordPositions,
    /// The segment's life, which every chunk started from now on holds.
    life: Option<Arc<wal_telemetry::SegmentLife>>,
}

impl<S: Storage> ChunkSpace<S> {
    /// Starts the segment's first chunk in `first_map` with its first record at `first_lsn`.
    pub(crate) fn start(
        path: PathBuf,
        options: SegmentOptions,
        segment_id: SegmentId,
        supply: ChunkSupply<S>,
        first_map: Map<S>,
        first_lsn: Lsn,
    ) -> Self {
        let mut space = ChunkSpace {
            path,
            options,
            segment_id,
            chunks: Vec::new(),
            reserved: 0,
            supply,
            next_lsn: first_lsn,
            positions: RecordPositions::with_capacity(first_lsn, max_records(options)),
            life: None,
        };
        space.start_chunk(0, first_map, true);
        space
    }

    pub(crate) fn chunks(&self) -> &[Live<S>] {
        &self.chunks
    }

    pub(crate) fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    pub(crate) fn positions(&self) -> &RecordPositions {
        &self.positions
    }

    pub(crate) fn take_positions(&mut self) -> RecordPositions {
        let mut positions = std::mem::take(&mut self.positions);
        positions.shrink_to_fit();
        positions
    }

    /// Forgets every record from number `kept` on.
    pub(crate) fn forget_from(&mut self, kept: usize) {
        self.positions.truncate(kept);
    }

    pub(crate) fn life(&self) -> Option<&Arc<wal_telemetry::SegmentLife>> {
        self.life.as_ref()
    }

    /// Makes every chunk, started so far and from now on, hold `life`.
    pub(crate) fn track(&mut self, life: Arc<wal_telemetry::SegmentLife>) {
        for chunk in &self.chunks {
            chunk.hold(&life);
        }
        self.life = Some(life);
    }

    /// Reserves LSNs and space for `records`, all or nothing.
    pub(crate) fn reserve<'r>(
        &mut self,
        records: &'r [Record<'r>],
        room: Room,
        publication: &Arc<Publication>,
    ) -> Result<Reservation<'r, S>, Error> {
        let total = self.checked_len(records, room)?;
        // LSN u64::MAX is never assigned: check the whole batch before reserving any of it.
        let end_lsn = self
            .next_lsn
            .checked_add(records.len() as u64)
            .ok_or(Error::Format(wal_format::Error::LsnExhausted))?;
        let reservation = |first: Piece<S>, more| Reservation {
            records,
            first_lsn: first.first_lsn,
            end_lsn,
            first,
            more,
            publication: Arc::clone(publication),
            completed: false,
        };
        // The common case: the whole batch fits in the current chunk.
        if total <= self.room_left(self.reserved, room) {
            let first = self.take_piece(records, 0..records.len(), total, None);
            return Ok(reservation(first, Vec::new()));
        }
        let pieces = self.reserve_across_chunks(records, room)?;
        let mut pieces = pieces.into_iter();
        let first = pieces.next().expect("a layout has a piece");
        Ok(reservation(first, pieces.collect()))
    }

    /// The bytes `records`' frames take, after checking each one in a single pass: its size
    /// against what a chunk holds, and its tag (`SEAL` only for the seal itself, `Room::All`).
    fn checked_len(&self, records: &[Record<'_>], room: Room) -> Result<usize, Error> {
        let max = self.options.max_payload_bytes();
        let mut total = 0;
        for record in records {
            let len = record.payload.len();
            if len > max {
                return Err(Error::RecordTooLarge { len, max, limit: self.options.record_limit() });
            }
            let sealing = room == Room::All && record.tag == Tag::SEAL;
            if !record.tag.is_writable() || (record.tag == Tag::SEAL && !sealing) {
                return Err(wal_format::Error::ReservedTag { tag: record.tag }.into());
            }
            // `max` is below the format's largest payload, so the frame has a length.
            total += frame_len(len).expect("checked against the chunk size");
        }
        Ok(total)
    }

    /// Lays the batch out over the chunks it needs, gets them all, then reserves the pieces.
    fn reserve_across_chunks(
        &mut self,
        records: &[Record<'_>],
        room: Room,
    ) -> Result<Vec<Piece<S>>, Error> {
        let layout = self.layout(records, room)?;
        let mut maps = Vec::new();
        for step in 1..layout.len() {
            let index = self.current_index() + u32::try_from(step).expect("chunks fit in u32");
            maps.push(self.supply.take(index)?);
        }
        let mut pieces = Vec::new();
        let mut maps = maps.into_iter();
        let mut start = 0;
        for (step, &count) in layout.iter().enumerate() {
            // The chunk after the layout's last is prepared ahead; the others are in hand.
            let prepare_next = step + 1 == layout.len();
            let closes =
                if step == 0 { None } else { Some(self.roll_over(maps.next(), prepare_next)) };
            let range = start..start + count;
            let len = batch_len(&records[range.clone()])?;
            pieces.push(self.take_piece(records, range, len, closes));
            start += count;
        }
        debug_assert_eq!(start, records.len());
        Ok(pieces)
    }

    /// Reserves `len` bytes of the current chunk for `records[range]`.
    fn take_piece(
        &mut self,
        records: &[Record<'_>],
        range: Range<usize>,
        len: usize,
        closes: Option<Live<S>>,
    ) -> Piece<S> {
        let chunk = Arc::clone(self.chunks.last().expect("a writer always has a current chunk"));
        let (offset, first_lsn) = (self.reserved, self.next_lsn);
        let mut at = offset;
        for record in &records[range.clone()] {
            self.positions.push(u32::try_from(at).expect("chunks are at most 1 GiB"));
            at += frame_len(record.payload.len()).expect("checked against the chunk size");
        }
        debug_assert_eq!(at, offset + len, "the positions tile the piece");
        self.reserved += len;
        self.next_lsn = first_lsn.plus(range.len() as u64);
        Piece { chunk, offset, len, records: range, first_lsn, closes }
    }

    /// How many records go in each chunk, from the current one on.
    fn layout(&self, records: &[Record<'_>], room: Room) -> Result<Vec<usize>, Error> {
        let mut counts = vec![0usize];
        let mut chunk = self.chunks.len() - 1;
        let mut left = self.room_left(self.reserved, room);
        for record in records {
            let len = frame_len(record.payload.len()).expect("checked against the chunk size");
            // A record can skip a chunk: the last one keeps room for the seal.
            while len > left {
                chunk += 1;
                if chunk >= self.options.chunks_per_segment as usize {
                    return Err(Error::SegmentFull { path: self.path.clone() });
                }
                left = self.room_left(CHUNK_HEADER_BYTES, room);
                counts.push(0);
            }
            left -= len;
            *counts.last_mut().expect("pushed above") += 1;
        }
        Ok(counts)
    }

    /// Free bytes in a chunk after `used`, keeping room for the seal. Every chunk keeps it,
    /// so a segment can be sealed in the chunk it is in, whatever the next append needed:
    /// sealing never needs a new chunk, so a full disk cannot stop it.
    fn room_left(&self, used: usize, room: Room) -> usize {
        let keep = if room == Room::KeepForSeal { SEAL_FRAME_BYTES } else { 0 };
        (self.options.chunk_bytes - used).saturating_sub(keep)
    }

    fn current_index(&self) -> u32 {
        u32::try_from(self.chunks.len() - 1).expect("chunks fit in u32")
    }

    /// Closes the current chunk with padding and starts the next one in `map`. Returns the
    /// closed chunk, which the reservation that caused this publishes and closes.
    fn roll_over(&mut self, map: Option<Map<S>>, prepare_next: bool) -> Live<S> {
        let map = map.expect("a map was obtained for every chunk of the layout");
        let closed = Arc::clone(self.chunks.last().expect("a writer always has a current chunk"));
        let rest = closed.len_bytes() - self.reserved;
        // SAFETY: the range after the last reservation belongs to no reservation and is not
        // published; only this writer, under `&mut self`, writes it.
        let dst = unsafe { closed.map.region(self.reserved, rest) };
        self.reserved += closed.encoder.encode_padding(dst, self.next_lsn);
        let index = closed.index() + 1;
        self.start_chunk(index, map, prepare_next);
        closed
    }

    /// Writes chunk `index`'s header into `map`, makes it current, and prepares the chunk after.
    fn start_chunk(&mut self, index: u32, map: Map<S>, prepare_next: bool) {
        let identity = ChunkIdentity {
            chunk_size_log2: self.options.chunk_size_log2(),
            segment_id: self.segment_id,
            chunk_index: index,
            salt: fresh_salt(self.segment_id, index),
            first_lsn: self.next_lsn,
        };
        // SAFETY: the chunk was just mapped and nothing of it was handed out.
        let header = unsafe { map.region(0, CHUNK_HEADER_BYTES) };
        header.copy_from_slice(&identity.encode());
        let chunk = LiveChunk::started(map, index, identity.salt, identity.first_lsn);
        self.positions.start_chunk(identity.salt);
        if let Some(life) = &self.life {
            chunk.hold(life);
        }
        self.chunks.push(Arc::new(chunk));
        self.reserved = CHUNK_HEADER_BYTES;
        if prepare_next && index + 1 < self.options.chunks_per_segment {
            self.supply.prepare(index + 1);
        }
    }
}

/// The most records a segment can hold (every frame the smallest), capped at 16 Mi records
/// (64 MiB of positions reserved) for very large segments, which then grow as they fill.
fn max_records(options: SegmentOptions) -> usize {
    let smallest = wal_format::frame_len(0).expect("an empty payload has a frame");
    let per_chunk = (options.chunk_bytes - CHUNK_HEADER_BYTES) / smallest;
    per_chunk.saturating_mul(options.chunks_per_segment as usize).min(16 << 20)
}

/// A salt for a new use of a chunk's space: random per process and call, so a stale frame of
/// an earlier use (or of another chunk) fails its checksum with certainty unless the salts
/// collide, a 2^-32 chance.
fn fresh_salt(segment_id: SegmentId, chunk_index: u32) -> wal_format::Salt {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(segment_id.0);
    hasher.write_u32(chunk_index);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    let [a, b, c, d, e, f, g, h] = hasher.finish().to_le_bytes();
    wal_format::Salt(u32::from_le_bytes([a, b, c, d]) ^ u32::from_le_bytes([e, f, g, h]))
}
