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
//! what is published and no earlier plan covers; [`SyncPlan::run`] makes those ranges durable
//! with `msync`; [`SegmentWriter::finish_sync`] records the result and hands back the positions
//! of the records that became durable, for the caller to append to the sidecar index once it
//! holds no lock (not synced itself: it is a hint, checked on open). Several plans may run at
//! once (`sync_plan.rs` says when one is trusted). A failed
//! sync poisons the writer: the data it covered is in an unknown state, and a later sync could
//! report success without it. (A failed reservation or map is not poisonous: nothing written is
//! in doubt.)

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::{HEADER_SIZE_BYTES, Lsn, Record, Tag};

use crate::error::Error;
use crate::index::IndexEntry;
use crate::index_tail::{IndexAppend, IndexTail};
use crate::live::ChunkRef;
use crate::options::SegmentOptions;
use crate::positions::RecordPositions;
use crate::prepare::PreparedSegment;
use crate::publish::Publication;
use crate::reservation::Reservation;
use crate::seal::SealInfo;
use crate::segment_id::SegmentId;
use crate::space::{ChunkSpace, Room};
use crate::storage::Storage;
use crate::supply::ChunkSupply;
use crate::sync_plan::{SyncPlan, SyncProgress};

/// Appends records to one segment file. Its state is split by what each part owns: the
/// chunks and what is reserved in them (`space.rs`), what is durable (`sync_plan.rs`), the
/// index file's tail (`index_tail.rs`), and the publication watermark (`publish.rs`).
pub struct SegmentWriter<S: Storage> {
    path: PathBuf,
    segment_id: SegmentId,
    first_lsn: Lsn,
    space: ChunkSpace<S>,
    progress: SyncProgress,
    index: IndexTail<S::File>,
    publication: Arc<Publication>,
    poisoned: bool,
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
        segment_id: SegmentId,
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
        segment_id: SegmentId,
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
        SegmentWriter {
            space: ChunkSpace::start(
                path.clone(),
                options,
                segment_id,
                supply,
                first_map,
                first_lsn,
            ),
            path,
            segment_id,
            first_lsn,
            progress: SyncProgress::new(first_lsn),
            index: IndexTail::new(index_file, segment_id, index_len),
            publication: Arc::new(Publication::claiming(first_lsn.0, claim)),
            poisoned: false,
        }
    }

    /// The segment file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The segment's id.
    #[must_use]
    pub fn segment_id(&self) -> SegmentId {
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
        self.space.next_lsn()
    }

    /// Every record below this LSN is written and visible to readers of the chunks.
    #[must_use]
    pub fn published_lsn(&self) -> Lsn {
        Lsn(self.publication.lsn())
    }

    /// Every record below this LSN is durable.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.progress.durable_lsn()
    }

    /// Makes every chunk of the segment, mapped so far and from now on, hold `life` until its
    /// mapping goes: the owner of the log learns when the segment's file is no longer viewed.
    pub fn track(&mut self, life: Arc<wal_telemetry::SegmentLife>) {
        self.space.track(life);
    }

    /// The life its chunks hold, if [`SegmentWriter::track`] set one.
    #[must_use]
    pub fn life(&self) -> Option<&Arc<wal_telemetry::SegmentLife>> {
        self.space.life()
    }

    /// Handles on every chunk started so far, by index.
    #[must_use]
    pub fn chunks(&self) -> Vec<ChunkRef<S>> {
        self.space.chunks().to_vec()
    }

    /// The chunk with this index, if started.
    #[must_use]
    pub fn chunk(&self, index: u32) -> Option<&ChunkRef<S>> {
        self.space.chunks().get(index as usize)
    }

    /// Where the record with this LSN lies, if it was reserved in this segment.
    #[must_use]
    pub fn position(&self, lsn: Lsn) -> Option<IndexEntry> {
        self.space.positions().get(lsn)
    }

    /// The positions of every record reserved in this segment so far.
    #[must_use]
    pub fn positions(&self) -> &RecordPositions {
        self.space.positions()
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
        self.check_usable()?;
        self.space.reserve(records, Room::KeepForSeal, &self.publication)
    }

    /// Makes every appended record durable. It first waits until every reservation is
    /// published: a thread must not call it while it holds an uncompleted reservation itself.
    ///
    /// # Errors
    /// `Io` if a sync fails; the writer is then poisoned.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.wait_published()?;
        let mut plan = self.begin_sync()?;
        // Seals, cuts and recovery sync this way: with every other sync finished first.
        debug_assert!(!self.progress.in_flight() || self.progress.only(&plan), "a sync is running");
        // The outcome is kept in the plan; `finish_sync` reports it.
        let _ = plan.run();
        self.finish_sync(plan)?.write();
        Ok(())
    }

    /// Notes what a sync now would cover: every published byte no earlier plan covers.
    ///
    /// Several plans may be in flight; each must be handed to [`SegmentWriter::finish_sync`]
    /// once it has run, in any order. A plan never finished holds the durable LSN back.
    ///
    /// # Errors
    /// `Poisoned`.
    pub fn begin_sync(&mut self) -> Result<SyncPlan<S>, Error> {
        self.check_usable()?;
        // Read the watermark first: the chunk offsets read after it cover at least its records.
        let target = self.published_lsn();
        debug_assert!(self.durable_lsn() <= target && target <= self.next_lsn());
        Ok(self.progress.plan(&self.path, self.space.chunks(), target))
    }

    /// Records the outcome of `plan`, which [`SyncPlan::run`] ran: the durable LSN moves to the
    /// target of the newest plan with no unfinished plan before it. Returns the index entries
    /// of the records that became durable, for the caller to write once it holds no lock
    /// (dropping the append writes it). A plan that failed, or never ran, poisons the writer:
    /// its data is in an unknown state.
    ///
    /// # Errors
    /// The error `run` returned; `Poisoned` for a plan that did not run.
    pub fn finish_sync(&mut self, mut plan: SyncPlan<S>) -> Result<IndexAppend<S::File>, Error> {
        if let Err(error) = plan.take_outcome() {
            self.poisoned = true;
            return Err(error);
        }
        // A sync that ran beside a failed one may have been spared the error that belongs to
        // its own pages (see `sync_plan`): after a failure, nothing is recorded.
        self.check_usable()?;
        self.progress.record(&plan);
        let durable = self.records_below(self.progress.durable_lsn());
        debug_assert!(self.durable_lsn() <= self.published_lsn());
        Ok(self.index.durable_up_to(self.space.positions(), durable))
    }

    /// How many of the segment's records lie below `lsn`.
    fn records_below(&self, lsn: Lsn) -> usize {
        usize::try_from(lsn.0 - self.first_lsn.0).expect("records fit in memory")
    }

    /// Waits until every reservation made so far is published.
    fn wait_published(&self) -> Result<(), Error> {
        self.publication
            .wait_turn(self.next_lsn().0)
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
        let durable = 0..self.index.durable_records();
        let entries = self.space.positions().entries(durable);
        let info = SealInfo::for_entries(self.next_lsn(), entries, self.segment_id);
        let payload = info.encode();
        let seal = [Record { tag: Tag::SEAL, payload: &payload }];
        self.check_usable()?;
        self.space.reserve(&seal, Room::All, &self.publication)?.complete()?;
        self.sync()?;
        // The index is a hint: the seal stands on the data alone (its sync above), so a
        // failure to write or sync the index (a full disk) never fails the seal. Recovery
        // checks the index against the data and rebuilds one that is short or torn. The syncs
        // above appended every entry; only a broken index is written anew.
        let index_failure = self.index.make_durable(self.space.positions(), &self.path).err();
        self.close_chunks();
        let positions = self.space.take_positions();
        Ok(Sealed { info, chunks: self.chunks(), positions, index_failure })
    }

    /// Marks every chunk final: nothing more will be written through this writer.
    fn close_chunks(&self) {
        for chunk in self.space.chunks() {
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
        if keep_below < self.first_lsn || keep_below > self.next_lsn() {
            return Err(Error::TruncateOutOfRange {
                requested: keep_below,
                first: self.first_lsn,
                next: self.next_lsn(),
            });
        }
        let kept = self.records_below(keep_below);
        if kept >= self.index.durable_records() {
            return Ok(()); // nothing after keep_below
        }
        let cut = self.space.positions().entry(kept);
        let chunk = Arc::clone(&self.space.chunks()[cut.chunk as usize]);
        // Unshared: this writer holds the only handle (and `chunk`, its clone), so no other
        // thread can make a view.
        if Arc::strong_count(&chunk) != 2 || !chunk.map.unshared() {
            return Err(Error::InUse { path: self.path.clone() });
        }
        self.space.forget_from(kept);
        self.index.cut(self.space.positions(), kept, &self.path)?;
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
        Ok(self.chunks())
    }

    fn check_usable(&self) -> Result<(), Error> {
        if self.poisoned || self.publication.is_poisoned() {
            Err(Error::Poisoned { path: self.path.clone() })
        } else {
            Ok(())
        }
    }
}
