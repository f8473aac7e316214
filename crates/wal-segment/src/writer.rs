//! Appending to one segment through its mapped chunks, from one thread or many.
//!
//! Data flow: [`SegmentWriter::reserve`] (the caller's short critical section) assigns LSNs and
//! byte ranges, closing a full chunk with padding and starting the next, which was reserved and
//! mapped when the previous chunk started, and whose header it writes first. The returned
//! [`Reservation`] is then completed without the writer: it encodes its frames into its own
//! ranges (one memcpy per payload, no syscall), waits until every earlier reservation is
//! published, and publishes its own (see `publish.rs`). [`SegmentWriter::append`] does both in
//! one call.
//!
//! A sync has three steps so the slow one needs no lock: [`SegmentWriter::begin_sync`] notes
//! what is published and not yet durable; [`SyncPlan::run`] makes those ranges durable with
//! `msync` and then appends their records' positions to the sidecar index (not synced itself:
//! it is a hint, checked on open); [`SegmentWriter::finish_sync`] records the result. A failed
//! sync poisons the writer: the data it covered is in an unknown state, and a later sync could
//! report success without it. (A failed reservation or map is not poisonous: nothing written is
//! in doubt.)

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{HEADER_SIZE_BYTES, Lsn, Record, Tag, batch_len, frame_len};

use crate::chunk_header::{CHUNK_HEADER_BYTES, ChunkIdentity};
use crate::error::Error;
use crate::index::{IndexEntry, encode_entry, write_index_file};
use crate::live::{ChunkRef, Live, LiveChunk};
use crate::options::SegmentOptions;
use crate::positions::RecordPositions;
use crate::prepare::PreparedSegment;
use crate::publish::Publication;
use crate::reservation::Piece;
use crate::reservation::Reservation;
use crate::seal::{SEAL_FRAME_BYTES, SealInfo};
use crate::storage::{SegmentFile, Storage};
use crate::supply::{ChunkSupply, Map};
use crate::sync_plan::SyncPlan;

/// Whether an append may use the room kept for the seal record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Room {
    KeepForSeal,
    All,
}

/// Appends records to one segment file.
pub struct SegmentWriter<S: Storage> {
    path: PathBuf,
    options: SegmentOptions,
    segment_id: u64,
    /// Every chunk started so far, by index; the last is the current one.
    chunks: Vec<Live<S>>,
    /// Chunks before this one are closed and durable.
    first_unsynced: usize,
    /// Bytes of the current chunk reserved so far.
    reserved: usize,
    /// The next chunk, reserved and mapped ahead of need.
    supply: ChunkSupply<S>,
    /// The LSN the next reservation gets.
    next_lsn: Lsn,
    durable_lsn: Lsn,
    publication: Arc<Publication>,
    poisoned: bool,
    /// Incremented by every `begin_sync`: only the newest plan may be finished.
    sync_generation: u64,
    index_file: Arc<S::File>,
    /// Bytes of the index file written so far.
    index_len: u64,
    /// Positions of every record reserved in the segment.
    positions: RecordPositions,
    /// How many of them are durable (and appended to the index file).
    durable_records: usize,
    /// A buffer for index entries, reused by every sync.
    index_buffer: Vec<u8>,
    first_lsn: Lsn,
    /// An index write failed: stop writing it; the next open rebuilds it from the data.
    index_broken: bool,
    /// The segment's life, which every chunk mapped from now on holds (see `track`).
    life: Option<Arc<wal_telemetry::SegmentLife>>,
}

/// A sealed segment, ready for reading.
pub struct Sealed<S: Storage> {
    /// What the seal states.
    pub info: SealInfo,
    /// Every chunk, closed.
    pub chunks: Vec<ChunkRef<S>>,
    /// Every record's position, the seal's included.
    pub positions: RecordPositions,
    /// Writing or syncing the index failed (a full disk): the seal stands, and the next open
    /// rebuilds the index from the data. For the caller to report.
    pub index_failure: Option<Error>,
}

impl<S: Storage> SegmentWriter<S> {
    /// Creates segment `segment_id` in `dir` (whose lock the caller holds), whose first record
    /// will have LSN `first_lsn`, and makes its directory entry durable.
    ///
    /// # Errors
    /// `OutOfSpace` if the first chunk cannot be reserved, `Io` for other failures. The files a
    /// failed call made are removed, so the same id can be created once space is freed.
    pub fn create(
        storage: &S,
        dir: &Path,
        segment_id: u64,
        first_lsn: Lsn,
        options: SegmentOptions,
    ) -> Result<SegmentWriter<S>, Error> {
        Ok(SegmentWriter::start(
            SegmentWriter::prepare(storage, dir, segment_id, options)?,
            first_lsn,
        ))
    }

    /// The slow part of [`SegmentWriter::create`], which can run ahead of need (on another
    /// thread): see [`PreparedSegment::create`].
    ///
    /// # Errors
    /// As [`SegmentWriter::create`].
    pub fn prepare(
        storage: &S,
        dir: &Path,
        segment_id: u64,
        options: SegmentOptions,
    ) -> Result<PreparedSegment<S>, Error> {
        PreparedSegment::create(storage, dir, segment_id, options)
    }

    /// Starts a prepared segment: its first record will have LSN `first_lsn`. Writes the first
    /// chunk's header (durable with the first sync) and begins preparing the next chunk.
    #[must_use]
    pub fn start(prepared: PreparedSegment<S>, first_lsn: Lsn) -> SegmentWriter<S> {
        let PreparedSegment {
            path,
            file,
            claim,
            index_file,
            index_len,
            options,
            segment_id,
            first_map,
        } = prepared;
        let supply = ChunkSupply::new(file, path.clone(), options);
        let mut writer = SegmentWriter {
            path,
            options,
            segment_id,
            chunks: Vec::new(),
            first_unsynced: 0,
            reserved: 0,
            supply,
            next_lsn: first_lsn,
            durable_lsn: first_lsn,
            publication: Arc::new(Publication::claiming(first_lsn.0, claim)),
            poisoned: false,
            sync_generation: 0,
            index_file,
            index_len,
            positions: RecordPositions::new(first_lsn),
            durable_records: 0,
            index_buffer: Vec::new(),
            first_lsn,
            index_broken: false,
            life: None,
        };
        writer.start_chunk(0, first_map, true);
        writer
    }

    /// The segment file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's id.
    #[must_use]
    pub fn segment_id(&self) -> u64 {
        self.segment_id
    }

    /// The LSN of the segment's first record.
    #[must_use]
    pub fn first_lsn(&self) -> Lsn {
        self.first_lsn
    }

    /// The LSN the next reserved record gets.
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.next_lsn
    }

    /// Every record below this LSN is written and visible to readers of the chunks.
    #[must_use]
    pub fn published_lsn(&self) -> Lsn {
        Lsn(self.publication.lsn())
    }

    /// Every record below this LSN is durable.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// Makes every chunk of the segment, mapped so far and from now on, hold `life` until its
    /// mapping goes: the owner of the log learns when the segment's file is no longer viewed.
    pub fn track(&mut self, life: Arc<wal_telemetry::SegmentLife>) {
        for chunk in &self.chunks {
            chunk.hold(&life);
        }
        self.life = Some(life);
    }

    /// The life its chunks hold, if [`SegmentWriter::track`] set one.
    #[must_use]
    pub fn life(&self) -> Option<&Arc<wal_telemetry::SegmentLife>> {
        self.life.as_ref()
    }

    /// Handles on every chunk started so far, by index.
    #[must_use]
    pub fn chunks(&self) -> Vec<ChunkRef<S>> {
        self.chunks.clone()
    }

    /// The chunk with this index, if started.
    #[must_use]
    pub fn chunk(&self, index: u32) -> Option<&ChunkRef<S>> {
        self.chunks.get(index as usize)
    }

    /// Where the record with this LSN lies, if it was reserved in this segment.
    #[must_use]
    pub fn position(&self, lsn: Lsn) -> Option<IndexEntry> {
        self.positions.get(lsn)
    }

    /// The positions of every record reserved in this segment so far.
    #[must_use]
    pub fn positions(&self) -> &RecordPositions {
        &self.positions
    }

    /// Appends `records`, in order, and returns the LSN of the first. They are visible in the
    /// mapping at once and durable after the next successful [`SegmentWriter::sync`].
    ///
    /// # Errors
    /// As [`SegmentWriter::reserve`]; nothing is appended on error.
    pub fn append(&mut self, records: &[Record<'_>]) -> Result<Lsn, Error> {
        self.reserve(records)?.complete()
    }

    /// Reserves LSNs and space for `records`, all or nothing, for the caller to complete
    /// (write and publish) without the writer, possibly on another thread.
    ///
    /// # Errors
    /// `RecordTooLarge`, `Format` (a reserved tag, `SEAL` included: only
    /// [`SegmentWriter::seal`] writes one; or no LSN left), `SegmentFull` (the batch does not fit
    /// in the chunks left), `OutOfSpace` or `Io` (a chunk could not be prepared), `Poisoned`.
    pub fn reserve<'r>(&mut self, records: &'r [Record<'r>]) -> Result<Reservation<'r, S>, Error> {
        if let Some(seal) = records.iter().find(|record| record.tag == Tag::SEAL) {
            return Err(wal_format::Error::ReservedTag { tag: seal.tag }.into());
        }
        self.reserve_records(records, Room::KeepForSeal)
    }

    fn reserve_records<'r>(
        &mut self,
        records: &'r [Record<'r>],
        room: Room,
    ) -> Result<Reservation<'r, S>, Error> {
        self.check_usable()?;
        let max = self.options.max_payload_bytes();
        if let Some(record) = records.iter().find(|record| record.payload.len() > max) {
            return Err(Error::RecordTooLarge { len: record.payload.len(), max });
        }
        let total = batch_len(records)?;
        // LSN u64::MAX is never assigned: check the whole batch before reserving any of it.
        let end_lsn = self
            .next_lsn
            .checked_add(records.len() as u64)
            .ok_or(Error::Format(wal_format::Error::LsnExhausted))?;
        let first_lsn = self.next_lsn;
        // The common case: the whole batch fits in the current chunk.
        if total <= self.room_left(self.reserved, room) {
            let first = self.take_piece(records, 0..records.len(), total, None);
            return Ok(self.reservation(records, first, Vec::new(), end_lsn));
        }
        // Otherwise lay the batch out over the chunks it needs, and get them all before
        // reserving anything, so a full disk or a full segment leaves nothing half done.
        let layout = self.layout(records, room)?;
        let mut maps = Vec::new();
        for (step, _) in layout.iter().enumerate().skip(1) {
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
        let mut pieces = pieces.into_iter();
        let first = pieces.next().expect("a layout has a piece");
        debug_assert_eq!(first.first_lsn, first_lsn);
        Ok(self.reservation(records, first, pieces.collect(), end_lsn))
    }

    fn reservation<'r>(
        &self,
        records: &'r [Record<'r>],
        first: Piece<S>,
        more: Vec<Piece<S>>,
        end_lsn: Lsn,
    ) -> Reservation<'r, S> {
        Reservation {
            records,
            first_lsn: first.first_lsn,
            end_lsn,
            first,
            more,
            publication: Arc::clone(&self.publication),
            completed: false,
        }
    }

    /// Reserves `len` bytes of the current chunk for `records[range]`.
    fn take_piece(
        &mut self,
        records: &[Record<'_>],
        range: std::ops::Range<usize>,
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
        self.reserved += len;
        self.next_lsn = Lsn(first_lsn.0 + range.len() as u64);
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

    /// Makes every appended record durable. It first waits until every reservation is
    /// published: a thread must not call it while it holds an uncompleted reservation itself.
    ///
    /// # Errors
    /// `Io` if a sync fails; the writer is then poisoned.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.wait_published()?;
        let mut plan = self.begin_sync()?;
        // The outcome is kept in the plan; `finish_sync` reports it.
        let _ = plan.run();
        self.finish_sync(plan)
    }

    /// Notes what a sync now would cover: every published byte not yet durable.
    ///
    /// One plan at a time: a newer plan makes an older one stale (finishing it is an error).
    ///
    /// # Errors
    /// `Poisoned`.
    pub fn begin_sync(&mut self) -> Result<SyncPlan<S>, Error> {
        self.check_usable()?;
        // Read the watermark first: the chunk offsets read after it cover at least its records.
        let target = self.published_lsn();
        let mut ranges = Vec::new();
        for chunk in &self.chunks[self.first_unsynced..] {
            let synced = chunk.synced.load(std::sync::atomic::Ordering::Relaxed);
            let published = chunk.published();
            if synced < published {
                ranges.push((Arc::clone(chunk), synced, published));
            }
        }
        let upto = usize::try_from(target.0 - self.first_lsn.0).expect("records fit in memory");
        let mut index_bytes = std::mem::take(&mut self.index_buffer);
        index_bytes.clear();
        let fresh = self.positions.entries(self.durable_records..upto);
        index_bytes.extend(fresh.flat_map(|entry| encode_entry(&entry)));
        let index_file = (!self.index_broken && upto > self.durable_records)
            .then(|| (Arc::clone(&self.index_file), self.index_len));
        self.sync_generation += 1;
        Ok(SyncPlan {
            path: self.path.clone(),
            target,
            ranges,
            upto,
            index_bytes,
            index_file,
            index_written: false,
            generation: self.sync_generation,
            outcome: None,
        })
    }

    /// Records the outcome of `plan`, which [`SyncPlan::run`] ran. A plan that failed, or never
    /// ran, poisons the writer: its data is in an unknown state.
    ///
    /// # Errors
    /// The error `run` returned; `Poisoned` for a plan that did not run; `StaleSync` for a plan
    /// older than the newest one (nothing is recorded).
    pub fn finish_sync(&mut self, mut plan: SyncPlan<S>) -> Result<(), Error> {
        if plan.generation != self.sync_generation {
            return Err(Error::StaleSync);
        }
        match plan.outcome.take() {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                self.poisoned = true;
                return Err(error);
            }
            None => {
                self.poisoned = true;
                return Err(Error::Poisoned { path: self.path.clone() });
            }
        }
        for (chunk, _, end) in &plan.ranges {
            chunk.synced.store(*end, std::sync::atomic::Ordering::Relaxed);
        }
        self.durable_lsn = self.durable_lsn.max(plan.target);
        if plan.index_written {
            self.index_len += plan.index_bytes.len() as u64;
        } else if plan.index_file.is_some() {
            // The data is durable; only the hint is lost. The next open rebuilds it.
            self.index_broken = true;
        }
        self.durable_records = self.durable_records.max(plan.upto);
        self.index_buffer = plan.index_bytes;
        let current = self.chunks.len() - 1;
        while self.first_unsynced < current {
            let chunk = &self.chunks[self.first_unsynced];
            let done = chunk.is_closed()
                && chunk.synced.load(std::sync::atomic::Ordering::Relaxed) == chunk.published();
            if !done {
                break;
            }
            self.first_unsynced += 1;
        }
        Ok(())
    }

    /// Waits until every reservation made so far is published.
    fn wait_published(&self) -> Result<(), Error> {
        self.publication
            .wait_turn(self.next_lsn.0)
            .map_err(|_| Error::Poisoned { path: self.path.clone() })
    }

    /// Finishes the segment: waits for every reservation, makes everything durable, appends a
    /// `SEAL` record stating the record count and the index checksum, and makes the seal and the
    /// whole index durable. Every chunk is closed afterwards.
    ///
    /// # Errors
    /// As [`SegmentWriter::append`] and [`SegmentWriter::sync`].
    pub fn seal(self) -> Result<SealInfo, Error> {
        self.finish().map(|sealed| sealed.info)
    }

    /// Seals the segment as [`SegmentWriter::seal`] does and hands back what a reader needs:
    /// every chunk (closed) and the position of every record, the seal's included.
    ///
    /// # Errors
    /// As [`SegmentWriter::seal`].
    pub fn finish(mut self) -> Result<Sealed<S>, Error> {
        self.sync()?;
        let index = self.positions.to_index(self.durable_records);
        let info = SealInfo::for_index(self.next_lsn, &index, self.segment_id);
        drop(index);
        let payload = info.encode();
        let seal = [Record { tag: Tag::SEAL, payload: &payload }];
        self.reserve_records(&seal, Room::All)?.complete()?;
        self.sync()?;
        // The index is a hint: the seal stands on the data alone (its sync above), so a
        // failure to write or sync the index (a full disk) never fails the seal. Recovery
        // checks the index against the data and rebuilds one that is short or torn. The syncs
        // above appended every entry; only a broken index is written anew.
        let index = if self.index_broken {
            self.rewrite_index()
        } else {
            self.index_file
                .sync_data()
                .map_err(|error| Error::io("sync index of", &self.path, error))
        };
        let index_failure = index.err();
        self.close_chunks();
        let positions = std::mem::take(&mut self.positions);
        Ok(Sealed { info, chunks: self.chunks.clone(), positions, index_failure })
    }

    /// Marks every chunk final: nothing more will be written through this writer.
    fn close_chunks(&self) {
        for chunk in &self.chunks {
            chunk.close();
        }
    }

    /// Ends the segment before LSN `keep_below`: records from it on are cut and can never
    /// reappear. The log continues in a new segment starting at `keep_below`.
    ///
    /// Order, so a crash at any step leaves either the old or the cut segment, never damage:
    /// first the index is rewritten without the cut records and made durable (it must never
    /// vouch for them again), then the header of the first cut frame is zeroed and made durable,
    /// so every scan ends there. Only frame headers are written, so this needs the writer's
    /// chunks to be unshared: no handle from [`SegmentWriter::chunks`] and no view of one alive.
    ///
    /// # Errors
    /// `TruncateOutOfRange` if `keep_below` is not between the first and the next LSN; `InUse`
    /// if a chunk is shared; I/O errors as [`SegmentWriter::sync`].
    pub fn truncate(mut self, keep_below: Lsn) -> Result<(), Error> {
        self.sync()?;
        if keep_below < self.first_lsn || keep_below > self.next_lsn {
            return Err(Error::TruncateOutOfRange {
                requested: keep_below,
                first: self.first_lsn,
                next: self.next_lsn,
            });
        }
        let kept = usize::try_from(keep_below.0 - self.first_lsn.0).expect("records fit in memory");
        if kept >= self.durable_records {
            return Ok(()); // nothing after keep_below
        }
        let cut = self.positions.entry(kept);
        let chunk = Arc::clone(&self.chunks[cut.chunk as usize]);
        // Unshared: this writer holds the only handle (and `chunk`, its clone), so no other
        // thread can make a view.
        if Arc::strong_count(&chunk) != 2 || !chunk.map.unshared() {
            return Err(Error::InUse { path: self.path.clone() });
        }
        self.positions.truncate(kept);
        self.durable_records = kept;
        self.rewrite_index()?;
        let offset = cut.offset as usize;
        // SAFETY: the chunk and its mapping are unshared (checked above), so no reference or
        // `Bytes` covers the header, and `&mut self` keeps it so.
        unsafe { chunk.map.overwrite(offset, &[0; HEADER_SIZE_BYTES]) };
        chunk
            .map
            .sync(offset, offset + HEADER_SIZE_BYTES)
            .map_err(|error| Error::io("msync", &self.path, error).in_chunk(cut.chunk))
    }

    /// Stops writing this segment, once every reservation is published, and hands back its
    /// chunks (all closed) for reading. Nothing is synced: the caller does that first if needed.
    ///
    /// # Errors
    /// `Poisoned` if a reservation was abandoned.
    pub fn close(self) -> Result<Vec<ChunkRef<S>>, Error> {
        self.wait_published()?;
        self.close_chunks();
        Ok(self.chunks.clone())
    }

    /// Replaces the index file with the durable entries and makes it durable.
    fn rewrite_index(&mut self) -> Result<(), Error> {
        let index = self.positions.to_index(self.durable_records);
        self.index_len = write_index_file(&*self.index_file, &index, self.segment_id)
            .map_err(|error| Error::io("rewrite index of", &self.path, error))?;
        self.index_broken = false;
        Ok(())
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.poisoned || self.publication.is_poisoned() {
            Err(Error::Poisoned { path: self.path.clone() })
        } else {
            Ok(())
        }
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

/// A salt for a new use of a chunk's space: random per process and call, so a stale frame of
/// an earlier use (or of another chunk) fails its checksum with certainty unless the salts
/// collide, a 2^-32 chance.
fn fresh_salt(segment_id: u64, chunk_index: u32) -> wal_format::Salt {
    let mut hasher = std::hash::RandomState::new().build_hasher();
    hasher.write_u64(segment_id);
    hasher.write_u32(chunk_index);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    hasher.write_u128(nanos);
    let [a, b, c, d, e, f, g, h] = hasher.finish().to_le_bytes();
    wal_format::Salt(u32::from_le_bytes([a, b, c, d]) ^ u32::from_le_bytes([e, f, g, h]))
}
