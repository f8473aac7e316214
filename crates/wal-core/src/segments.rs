//! The log's segment list: the closed segments in LSN order, the one being written, the next
//! one being prepared, and everything that adds to or removes from that list (starting a
//! segment, retiring one, pruning from the front, deleting released files).
//!
//! Everything here runs under the state lock (`Shared::state`) and needs only the log's files
//! ([`Files`]): no method sees the write path, group commit or the handles' registry, so the
//! list can be read and tested on its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use wal_format::Lsn;
use wal_segment::SegmentId;
use wal_segment::{ChunkPreparation, ChunkRef, PreparedSegment, RecordPositions, SegmentWriter};
use wal_segment::{Storage, delete_segment};
use wal_telemetry::{HeldBack, Ledger, Retirement, SegmentLife};

use crate::anchor::Anchor;
use crate::cuts::CutLink;
use crate::error::Error;
use crate::live_txns::LiveTxns;
use crate::options::Options;
use crate::stats::Appended;

/// Where the log's files are and how they are laid out: all the segment list needs.
pub(crate) struct Files<S: Storage> {
    pub(crate) storage: S,
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    /// Chunk mappings, and the segments retired but still viewed.
    pub(crate) ledger: Arc<Ledger>,
}

/// The segments: the closed ones in LSN order, and the one being written.
pub(crate) struct State<S: Storage> {
    /// The segment being written; `None` only after creating the next one failed (a full
    /// disk): the next append tries again.
    pub(crate) active: Option<SegmentWriter<S>>,
    pub(crate) closed: Vec<ClosedSegment<S>>,
    pub(crate) next_segment_id: SegmentId,
    /// Where the next segment starts, when there is no active one.
    pub(crate) next_first_lsn: Lsn,
    pub(crate) anchor: Anchor<S>,
    /// Pruning by size never removes records at or after this LSN (unless forced).
    pub(crate) retention_floor: Option<Lsn>,
    /// The transactions begun and not yet ended: their begin records are a floor too.
    pub(crate) live_txns: LiveTxns,
    /// The newest `truncate_after` of this process (see `cuts.rs`): a reader that read past
    /// a cut learns of it.
    pub(crate) latest_cut: Arc<CutLink>,
    /// The next segment (id `next_segment_id`), being prepared on a background thread.
    pub(crate) preparing: Option<JoinHandle<Result<PreparedSegment<S>, wal_segment::Error>>>,
    /// The seal LSN of the last segment removed from the front, if it ends where the log now
    /// starts: a reader waiting there has read everything before the start.
    pub(crate) seal_before_start: Option<Lsn>,
    /// Segments retired while handles still viewed them: their files stay until released.
    pub(crate) held_back: Vec<Arc<SegmentLife>>,
    /// Released segments whose files are still to be deleted (a deletion failed).
    pub(crate) to_delete: Vec<SegmentId>,
    /// Records and bytes appended since the log was opened.
    pub(crate) appended: Appended,
}

/// A segment that receives no more records, readable through its mapped chunks.
pub(crate) struct ClosedSegment<S: Storage> {
    pub(crate) id: SegmentId,
    pub(crate) first: Lsn,
    /// The LSN after its last record that counts: a later segment may have cut it shorter.
    pub(crate) end: Lsn,
    pub(crate) chunks: Vec<ChunkRef<S>>,
    pub(crate) index: RecordPositions,
    /// Bytes of its file (its chunks).
    pub(crate) bytes: u64,
    /// Whether its last record is a seal (at `end - 1`).
    pub(crate) sealed: bool,
    /// What its chunk mappings hold: retired, its file goes once they are all gone.
    pub(crate) life: Arc<SegmentLife>,
}

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Segments removed from the log whose files were deleted (or, if a deletion failed, are
    /// queued for the housekeeper to retry). Those still viewed are in `held_back` instead.
    pub segments_deleted: usize,
    /// Bytes of the segment files counted in `segments_deleted`.
    pub bytes_freed: u64,
    /// The log's first LSN afterwards.
    pub start: Lsn,
    /// Bytes the log still holds.
    pub bytes_held: u64,
    /// The retention floor stopped the prune before the budget was met.
    pub held_by_floor: Option<Lsn>,
    /// Segments removed from the log whose files stay on disk because handles still view
    /// them, with those handles; each file goes when its last view drops.
    pub held_back: Vec<HeldBack>,
}

/// Whether a prune may pass the retention floor and open transactions' begin records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Force {
    /// Stop at the floor and at the oldest open transaction's begin record.
    No,
    /// Go on to the budget: open transactions passed can no longer commit.
    Yes,
}

/// What a prune of the segment list did, before the log reports who holds what back.
pub(crate) struct Pruned {
    /// Segments removed from the list (their files deleted, queued, or held back).
    pub(crate) removed: usize,
    /// Bytes of the segments removed and not held back.
    pub(crate) bytes_freed: u64,
    /// Bytes the log still holds.
    pub(crate) bytes_held: u64,
    /// The floor that stopped the prune before the budget was met.
    pub(crate) held_by_floor: Option<Lsn>,
    /// The segments removed but still viewed.
    pub(crate) held: Vec<Arc<SegmentLife>>,
}

impl<S: Storage> ClosedSegment<S> {
    /// The closed segment `id`, whose records `first..end` are at `index` in `chunks`.
    pub(crate) fn new(
        id: SegmentId,
        first: Lsn,
        end: Lsn,
        chunks: Vec<ChunkRef<S>>,
        index: RecordPositions,
        sealed: bool,
        life: Arc<SegmentLife>,
    ) -> ClosedSegment<S> {
        let bytes = chunks.iter().map(|chunk| chunk.len_bytes() as u64).sum();
        ClosedSegment { id, first, end, chunks, index, bytes, sealed, life }
    }
}

impl<S: Storage> State<S> {
    /// The segment list recovery found: `closed` ends at `end`, the next segment gets
    /// `next_segment_id`.
    pub(crate) fn recovered(
        closed: Vec<ClosedSegment<S>>,
        anchor: Anchor<S>,
        next_segment_id: SegmentId,
        end: Lsn,
    ) -> State<S> {
        State {
            active: None,
            closed,
            next_segment_id,
            next_first_lsn: end,
            anchor,
            retention_floor: None,
            live_txns: LiveTxns::default(),
            latest_cut: CutLink::origin(),
            appended: Appended::default(),
            preparing: None,
            seal_before_start: None,
            held_back: Vec::new(),
            to_delete: Vec::new(),
        }
    }

    /// Everything below this LSN is published.
    pub(crate) fn published_lsn(&self) -> Lsn {
        self.active.as_ref().map_or(self.next_first_lsn, SegmentWriter::published_lsn)
    }

    /// The LSN the next record gets.
    pub(crate) fn next_lsn(&self) -> Lsn {
        self.active.as_ref().map_or(self.next_first_lsn, SegmentWriter::next_lsn)
    }

    /// The active writer, starting the next segment if there is none: the one prepared ahead
    /// if that worked, else one prepared here (where a full disk is reported).
    pub(crate) fn writer(&mut self, files: &Files<S>) -> Result<&mut SegmentWriter<S>, Error> {
        if self.active.is_none() {
            let ahead = self.preparing.take().and_then(|preparing| preparing.join().ok());
            let prepared = match ahead {
                Some(Ok(prepared)) => prepared,
                // A failed preparation removed its files: the same id is tried again here.
                Some(Err(_)) | None => SegmentWriter::prepare(
                    &files.storage,
                    &files.dir,
                    self.next_segment_id,
                    files.options.segment(),
                )?,
            };
            let mut writer = SegmentWriter::start(prepared, self.next_first_lsn);
            writer.track(SegmentLife::new(&files.ledger, writer.segment_id().0));
            self.active = Some(writer);
            // Recovery refuses a log whose next id is `u64::MAX`; one id per segment after that
            // cannot run out.
            self.next_segment_id = self.next_segment_id.next().unwrap_or(SegmentId(u64::MAX));
            self.prepare_next(files);
        }
        Ok(self.active.as_mut().expect("started above"))
    }

    /// Prepares segment `next_segment_id` on a background thread, so that starting it later
    /// costs no file creation, reservation or pre-faulting on an appending thread. Only with
    /// `ChunkPreparation::Background`: `Inline` keeps every storage step in the caller's order.
    pub(crate) fn prepare_next(&mut self, files: &Files<S>) {
        if files.options.preparation != ChunkPreparation::Background || self.preparing.is_some() {
            return;
        }
        let (storage, dir) = (files.storage.clone(), files.dir.clone());
        let (id, options) = (self.next_segment_id, files.options.segment());
        self.preparing = std::thread::Builder::new()
            .name("wal-segment-prepare".into())
            .spawn(move || SegmentWriter::prepare(&storage, &dir, id, options))
            .ok();
    }

    /// Waits for a segment being prepared and deletes it (the log is closing).
    pub(crate) fn discard_prepared(&mut self, files: &Files<S>) {
        if let Some(Ok(Ok(prepared))) = self.preparing.take().map(JoinHandle::join) {
            let id = prepared.segment_id();
            drop(prepared);
            let _ = delete_segment(&files.storage, &files.dir, id);
        }
    }

    /// Moves the active segment, which the caller stopped writing (sealed or closed), to the
    /// closed ones; the next segment starts at its end.
    pub(crate) fn push_closed(&mut self, segment: ClosedSegment<S>) {
        self.next_first_lsn = segment.end;
        self.closed.push(segment);
    }

    /// Stops writing the active segment (once the appends in flight are published) and keeps
    /// it readable among the closed ones. Nothing is synced.
    pub(crate) fn retire_active(&mut self, files: &Files<S>) -> Result<(), Error> {
        let Some(writer) = self.active.take() else { return Ok(()) };
        let (id, first) = (writer.segment_id(), writer.first_lsn());
        let index = writer.positions().clone();
        let end = writer.next_lsn();
        let life = life_of(files, &writer);
        let chunks = writer.close()?;
        self.push_closed(ClosedSegment::new(id, first, end, chunks, index, false, life));
        Ok(())
    }

    /// Bytes of every segment file of the log, the active one's included.
    pub(crate) fn bytes_held(&self) -> u64 {
        let active = self.active.as_ref().map_or(0, |writer| {
            writer.chunks().iter().map(|chunk| chunk.len_bytes() as u64).sum::<u64>()
        });
        active + self.closed.iter().map(|segment| segment.bytes).sum::<u64>()
    }

    /// Removes whole closed segments, oldest first, until the log holds at most `budget`
    /// bytes, stopping at the retention floor and the oldest open transaction's begin unless
    /// `force`. The new start is durable in the anchor before any file is deleted.
    pub(crate) fn prune(
        &mut self,
        files: &Files<S>,
        budget: u64,
        force: Force,
    ) -> Result<Pruned, Error> {
        let mut held = self.bytes_held();
        let mut pruned = Pruned {
            removed: 0,
            bytes_freed: 0,
            bytes_held: 0,
            held_by_floor: None,
            held: Vec::new(),
        };
        // The retention floor, and the begin record of the oldest open transaction.
        let floor = match (self.retention_floor, self.live_txns.floor()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for segment in &self.closed {
            if held <= budget {
                break;
            }
            if let Some(floor) = floor.filter(|&floor| force == Force::No && segment.end > floor) {
                pruned.held_by_floor = Some(floor);
                break;
            }
            held -= segment.bytes;
            pruned.bytes_freed += segment.bytes;
            pruned.removed += 1;
        }
        if pruned.removed > 0 {
            // Never backwards: a segment kept by recovery may end below the start already.
            let start = self.closed[pruned.removed - 1].end.max(self.anchor.start());
            // A forced prune may pass open transactions' begin records: they can never commit.
            // Marked before the anchor is written: a failed sync may leave the new start in the
            // page cache, to reach the disk later, so those transactions are lost either way.
            self.live_txns.start_moved(start);
            self.anchor.set_start(start)?;
            pruned.held = self.remove_front(files, pruned.removed);
            pruned.bytes_freed -= pruned.held.iter().map(|life| life.bytes()).sum::<u64>();
        }
        pruned.bytes_held = held;
        Ok(pruned)
    }

    /// Removes the first `count` closed segments (the start already moved past them), deleting
    /// their files unless handles hold them back; returns those held back. The caller tells
    /// readers (the epoch).
    pub(crate) fn remove_front(&mut self, files: &Files<S>, count: usize) -> Vec<Arc<SegmentLife>> {
        let doomed: Vec<ClosedSegment<S>> = self.closed.drain(..count).collect();
        crate::events::front_removed(count, self.anchor.start());
        // A reader caught up at the last deleted segment's seal lost nothing: it goes on at the
        // start (see `locate`).
        if let Some(last) = doomed.last().filter(|segment| segment.sealed) {
            self.seal_before_start = Some(last.end.before());
        }
        self.retire(files, doomed)
    }

    /// Retires `segments`, which the log no longer needs (they are out of its segment list),
    /// deletes the files of those nothing views, and returns the ones held back.
    pub(crate) fn retire(
        &mut self,
        files: &Files<S>,
        segments: Vec<ClosedSegment<S>>,
    ) -> Vec<Arc<SegmentLife>> {
        let mut held = Vec::new();
        for segment in segments {
            let life = Arc::clone(&segment.life);
            // The log's own views go first: only other holders can hold the segment back.
            drop(segment);
            if let Retirement::HeldBack { .. } = life.retire() {
                held.push(life);
            }
        }
        self.held_back.extend(held.iter().cloned());
        // The retirement has taken effect (the anchor or the chain excludes these segments),
        // so a failed deletion does not fail the operation that retired them: the files stay
        // queued, the housekeeper retries them and reports the error, and the next open
        // deletes them in any case.
        if let Err(error) = self.delete_released(files) {
            tracing::warn!(
                target: "wal::housekeeping",
                %error,
                "deleting a retired segment failed; it will be retried"
            );
        }
        held
    }

    /// Deletes the files of every released segment. A failed deletion stays queued, and does
    /// not stop the others; the first error is returned.
    pub(crate) fn delete_released(&mut self, files: &Files<S>) -> Result<(), Error> {
        self.to_delete.extend(files.ledger.take_released().into_iter().map(SegmentId));
        self.held_back.retain(|life| !life.is_released());
        let mut first_error = None;
        self.to_delete.retain(|&id| match delete_segment(&files.storage, &files.dir, id) {
            Ok(()) => false,
            Err(error) => {
                first_error.get_or_insert(error);
                true
            }
        });
        first_error.map_or(Ok(()), |error| Err(error.into()))
    }
}

/// The life a writer's chunks hold (set when the log started it).
pub(crate) fn life_of<S: Storage>(files: &Files<S>, writer: &SegmentWriter<S>) -> Arc<SegmentLife> {
    writer.life().cloned().unwrap_or_else(|| SegmentLife::new(&files.ledger, writer.segment_id().0))
}
