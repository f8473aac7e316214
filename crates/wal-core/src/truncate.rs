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

use std::path::Path;
use std::sync::atomic::Ordering;

use wal_format::Lsn;
use wal_segment::{DirLock, Storage};

use crate::anchor::{Anchor, Cut};
use crate::cuts::CutLink;
use crate::error::Error;
use crate::segments::{Force, PruneReport, State};
use crate::shared::{Shared, lock_state};
use crate::wal::Wal;

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
            let held = state.remove_front(&shared.files, doomed);
            shared.removed(&held);
            Ok(())
        })
    }

    /// Moves the logical start of the log in `dir`, which no handle has open, up to `lsn`
    /// (never down), durably in the anchor, under the directory lock; returns the start it
    /// had. What [`Wal::truncate_before`] does, for a log that does not open: damage before
    /// `lsn` stops recovery, and the caller knows nothing before `lsn` is needed (`wal-snapshot`
    /// when its newest snapshot covers the damaged history). The next open deletes the segment
    /// files wholly before the start without reading them; a segment holding `lsn` is still
    /// read whole, so damage in it still stops recovery.
    ///
    /// Nothing is checked against the segments: `lsn` should be a record boundary the log
    /// holds (a segment's first LSN, or a point recorded while the log was open); a start
    /// beyond the log's end leaves an empty log there, and a start before the first segment
    /// is `MissingHistory` at the next open.
    ///
    /// # Errors
    /// `Segment(Locked)` if the log is open; `AnchorDamaged`; I/O errors.
    pub fn truncate_before_closed(storage: &S, dir: &Path, lsn: Lsn) -> Result<Lsn, Error> {
        let _lock = DirLock::acquire(storage, dir)?;
        let mut anchor = Anchor::open(storage, dir, crate::FIRST_LSN)?;
        let before = anchor.start();
        if lsn > before {
            anchor.set_start(lsn)?;
        }
        Ok(before)
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
    /// [`Force::Yes`]. The active segment is never deleted. A forced prune past an open transaction's
    /// begin makes its deltas and its commit fail (`TransactionPruned`).
    ///
    /// # Errors
    /// I/O errors.
    pub fn prune(&self, budget: u64, force: Force) -> Result<PruneReport, Error> {
        let shared = &*self.shared;
        shared.commit.with_role(|| shared.prune_locked(&mut lock_state(shared), budget, force))
    }
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
    state.retire_active(&shared.files)?;
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
    // Linked before the epoch moves: a reader that sees the new epoch finds the cut.
    state.latest_cut = CutLink::link(&state.latest_cut, keep_below);
    shared.epoch.fetch_add(1, Ordering::AcqRel);
    state.next_first_lsn = keep_below;
    // The cut's second copy (the anchor holds the first): the next segment's first chunk
    // header, durable (recovery's chain rule).
    state.writer(&shared.files)?.sync()?;
    shared.commit.reset(keep_below.0);
    crate::events::tail_cut(keep_below, superseded.len());
    // Nobody is told who holds them back: `truncate_after` reports nothing.
    state.retire(&shared.files, superseded);
    Ok(())
}
