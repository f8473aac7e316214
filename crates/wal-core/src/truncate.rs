//! Removing records, never in the middle of one: history before an LSN, the tail after one,
//! and whole segments beyond a byte budget.
//!
//! Crash safety. `truncate_before` and pruning first make the new logical start durable in the
//! anchor, then delete the segment files wholly before it; recovery finishes an interrupted
//! deletion. `truncate_after` syncs everything, then creates the next segment starting right
//! after the kept records and makes its first chunk header durable: from that moment recovery's
//! rule "a later segment cuts earlier ones at its first LSN" applies, so the cut is durable
//! without rewriting the old files, which readers may still be viewing. Segments wholly after
//! the cut are deleted last (recovery deletes them too if a crash interrupts).

use std::sync::atomic::Ordering;

use wal_format::Lsn;
use wal_segment::Storage;
use wal_telemetry::HeldBack;

use crate::anchor::Cut;
use crate::error::Error;
use crate::wal::{ClosedSegment, Shared, State, Wal, lock_state, shared_life};

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

impl<S: Storage> Wal<S> {
    /// Drops every record before `lsn`, which becomes the log's first LSN (durably, before this
    /// returns); segment files wholly before it are deleted.
    ///
    /// # Errors
    /// `OutOfRange` if `lsn` is below the start or after the last record;
    /// `HeldByTransaction` if an open transaction began before `lsn` (its commit could never
    /// be replayed); I/O errors.
    pub fn truncate_before(&self, lsn: Lsn) -> Result<(), Error> {
        let shared = &*self.shared;
        shared.check_usable()?;
        shared.commit.with_role(|| {
            let mut state = lock_state(shared);
            let (start, end) = (state.anchor.start(), state.published_lsn());
            if lsn < start || lsn > end {
                return Err(Error::OutOfRange { lsn, start, end });
            }
            if let Some(begin) = state.live_txns.floor().filter(|&begin| begin < lsn) {
                return Err(Error::HeldByTransaction { lsn, begin });
            }
            state.anchor.set_start(lsn)?;
            let doomed = state.closed.iter().take_while(|segment| segment.end <= lsn).count();
            remove_front(shared, &mut state, doomed);
            Ok(())
        })
    }

    /// Drops every record after `lsn` (as a Raft follower must when its log conflicts with the
    /// leader's); the next record gets LSN `lsn + 1`. Durable before it returns. Commits still
    /// waiting on dropped records must not be in flight: the caller orders the two.
    ///
    /// # Errors
    /// `OutOfRange` if `lsn + 1` is below the start or `lsn` after the last record; I/O errors
    /// (which poison the log).
    pub fn truncate_after(&self, lsn: Lsn) -> Result<(), Error> {
        let shared = &*self.shared;
        shared.check_usable()?;
        let keep_below = Lsn(lsn.0.saturating_add(1));
        shared.commit.with_role(|| {
            let mut state = lock_state(shared);
            let (start, end) = (state.anchor.start(), state.next_lsn());
            if keep_below < start || lsn >= end {
                return Err(Error::OutOfRange { lsn, start, end });
            }
            cut_tail(shared, &mut state, keep_below).map_err(|error| {
                shared.commit.fail();
                shared.poison_with(error)
            })
        })
    }

    /// Sets the retention floor: pruning by size never removes records at or after `lsn`
    /// (the oldest record the last checkpoint still needs). `None` removes the floor.
    pub fn set_retention_floor(&self, lsn: Option<Lsn>) {
        lock_state(&self.shared).retention_floor = lsn;
    }

    /// Deletes whole segments, oldest first, until the log holds at most `budget` bytes; stops
    /// at the retention floor and at the begin record of the oldest open transaction unless
    /// `force`. The active segment is never deleted. A forced prune past an open transaction's
    /// begin makes its deltas and its commit fail (`TransactionPruned`).
    ///
    /// # Errors
    /// I/O errors.
    pub fn prune(&self, budget: u64, force: bool) -> Result<PruneReport, Error> {
        let shared = &*self.shared;
        shared.commit.with_role(|| {
            let mut state = lock_state(shared);
            prune_locked(shared, &mut state, budget, force)
        })
    }
}

/// Prunes with the sync role and the state lock held.
pub(crate) fn prune_locked<S: Storage>(
    shared: &Shared<S>,
    state: &mut State<S>,
    budget: u64,
    force: bool,
) -> Result<PruneReport, Error> {
    let active_bytes = state
        .active
        .as_ref()
        .map_or(0, |writer| writer.chunks().len() as u64 * shared.options.chunk_bytes as u64);
    let mut held = active_bytes + state.closed.iter().map(|segment| segment.bytes).sum::<u64>();
    let mut report = PruneReport::default();
    let mut doomed = 0;
    // The retention floor, and the begin record of the oldest open transaction.
    let floor = match (state.retention_floor, state.live_txns.floor()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    for segment in &state.closed {
        if held <= budget {
            break;
        }
        if let Some(floor) = floor.filter(|&floor| !force && segment.end > floor) {
            report.held_by_floor = Some(floor);
            break;
        }
        held -= segment.bytes;
        report.bytes_freed += segment.bytes;
        doomed += 1;
    }
    if doomed > 0 {
        // Never backwards: a segment kept by recovery may end below the start already.
        let start = state.closed[doomed - 1].end.max(state.anchor.start());
        // A forced prune may pass open transactions' begin records: they can never commit.
        // Marked before the anchor is written: a failed sync may leave the new start in the
        // page cache, to reach the disk later, so those transactions are lost either way.
        state.live_txns.start_moved(start);
        state.anchor.set_start(start)?;
        report.held_back = remove_front(shared, state, doomed);
        report.bytes_freed -= report.held_back.iter().map(|held| held.bytes).sum::<u64>();
    }
    report.segments_deleted = doomed - report.held_back.len();
    report.start = state.anchor.start();
    report.bytes_held = held;
    Ok(report)
}

/// Removes the first `count` closed segments (the start already moved past them), deleting
/// their files unless handles hold them back; returns those held back.
fn remove_front<S: Storage>(
    shared: &Shared<S>,
    state: &mut State<S>,
    count: usize,
) -> Vec<HeldBack> {
    let doomed: Vec<ClosedSegment<S>> = state.closed.drain(..count).collect();
    // A reader caught up at the last deleted segment's seal lost nothing: it goes on at the
    // start (see `locate`).
    if let Some(last) = doomed.last().filter(|segment| segment.sealed) {
        state.seal_before_start = Some(Lsn(last.end.0 - 1));
    }
    shared.epoch.fetch_add(1, Ordering::AcqRel);
    state.retire(shared, doomed)
}

/// Cuts the log so that `keep_below` is the next LSN, with the sync role and the lock held.
fn cut_tail<S: Storage>(
    shared: &Shared<S>,
    state: &mut State<S>,
    keep_below: Lsn,
) -> Result<(), Error> {
    // Everything before the cut must be durable before the next segment can vouch for it.
    if let Some(writer) = state.active.as_mut() {
        writer.sync()?;
    }
    state.retire_active(shared)?;
    // The cut, durable in the anchor: every segment so far ends at `keep_below`. (The next
    // segment's durable header says the same, below; this copy survives losing that header
    // while the segment is still empty.)
    let cut = Cut { below_segment: state.next_segment_id, at: keep_below };
    state.anchor.set_cut(cut)?;
    let mut superseded = Vec::new();
    while state.closed.last().is_some_and(|segment| segment.first >= keep_below) {
        superseded.push(state.closed.pop().expect("checked"));
    }
    if let Some(segment) = state.closed.last_mut().filter(|segment| segment.end > keep_below) {
        // Its seal (at `end - 1`) is among the records cut: it no longer ends sealed, so a
        // reader waiting at its end is never moved past a record by a later prune.
        segment.end = keep_below;
        segment.sealed = false;
    }
    // Open transactions with records from `keep_below` on can never commit whole.
    state.live_txns.cut(keep_below);
    let epoch = shared.epoch.fetch_add(1, Ordering::AcqRel) + 1;
    state.cuts.push((epoch, keep_below));
    state.next_first_lsn = keep_below;
    // The commit point: the next segment's first chunk header, durable.
    state.writer(shared)?.sync()?;
    shared.commit.reset(keep_below.0);
    state.retire(shared, superseded);
    Ok(())
}

impl<S: Storage> State<S> {
    /// Stops writing the active segment (once the appends in flight are published) and keeps
    /// it readable among the closed ones. Nothing is synced.
    pub(crate) fn retire_active(&mut self, shared: &Shared<S>) -> Result<(), Error> {
        let Some(writer) = self.active.take() else { return Ok(()) };
        let (id, first) = (writer.segment_id(), writer.first_lsn());
        let index = writer.positions().clone();
        let end = writer.next_lsn();
        let life = shared_life(shared, &writer);
        let chunks = writer.close()?;
        let bytes = chunks.len() as u64 * shared.options.chunk_bytes as u64;
        let sealed = false;
        self.closed.push(ClosedSegment { id, first, end, chunks, index, bytes, sealed, life });
        self.next_first_lsn = end;
        Ok(())
    }

    /// Everything below this LSN is published.
    pub(crate) fn published_lsn(&self) -> Lsn {
        self.active.as_ref().map_or(self.next_first_lsn, |writer| writer.published_lsn())
    }

    /// The LSN the next record gets.
    pub(crate) fn next_lsn(&self) -> Lsn {
        self.active.as_ref().map_or(self.next_first_lsn, |writer| writer.next_lsn())
    }
}
