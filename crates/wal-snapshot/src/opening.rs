//! The log of a state, recovered and judged against its snapshots before anything is written
//! to it ([`recover_log`]): where `Durable::open` and the `wal recover` command start.
//!
//! Snapshot-aware recovery. The log keeps history back to what the oldest kept snapshot needs
//! only so that a damaged newest snapshot can fall back to an older one. Damage in that
//! *fallback range* (below the newest valid snapshot's `replay_from`) must not stop an open:
//! the newest snapshot and the log after it hold every unit. So when the log's recovery fails
//! on damage in a segment wholly below that point (or on history missing before it), the log's
//! start is moved past the damaged segment, durably in the anchor as pruning does
//! (`Wal::truncate_before_closed`), and the log is recovered again; the next recovery deletes
//! the segments wholly before the new start without reading them. Each cut is reported
//! ([`FrontCut`]) and warned about. Damage at or after that point, or in the segment holding it,
//! fails as before: nothing the snapshot does not cover is ever cut. Not done here: reading a
//! snapshot's body and replaying (`rebuild.rs`).

use std::path::{Path, PathBuf};

use wal_core::inspect::{AnchorState, Inspector};
use wal_core::{Lsn, Opening, RecoveryMode, RecoveryReport, Storage, Wal};

use crate::error::Error;
use crate::events;
use crate::file::{self, SnapshotHeader};
use crate::rebuild::{self, Choice};
use crate::report::FrontCut;

/// The log of a state, recovered, locked, judged against the snapshots, and not yet written
/// to: what [`recover_log`] returns.
pub struct LogOpening<S: Storage> {
    pub(crate) opening: Opening<S>,
    pub(crate) choice: Choice,
    pub(crate) front_cut: Option<FrontCut>,
}

impl<S: Storage> LogOpening<S> {
    /// What the log's recovery found and did (its last run, after any front cut).
    #[must_use]
    pub fn report(&self) -> &RecoveryReport {
        self.opening.report()
    }

    /// How the log's start was moved past damage the newest snapshot covers, if it was.
    #[must_use]
    pub fn front_cut(&self) -> Option<&FrontCut> {
        self.front_cut.as_ref()
    }

    /// The snapshot a state would be restored from, if any (the newest that passes its
    /// checks; the log holds what it needs).
    #[must_use]
    pub fn snapshot(&self) -> Option<(&Path, &SnapshotHeader)> {
        self.choice.snapshot.as_ref().map(|(path, header)| (path.as_path(), header))
    }

    /// Starts the log ([`Opening::finish`]).
    ///
    /// # Errors
    /// As [`Opening::finish`].
    pub fn finish(self) -> Result<(Wal<S>, RecoveryReport), Error> {
        Ok(self.opening.finish()?)
    }
}

/// Recovers the log of the state in `dir` as [`crate::Durable::open`] does, without a state
/// machine: the log's recovery in `options.recovery`'s mode, with a front cut past damage the
/// newest valid snapshot covers (the module's documentation), then the snapshots judged against
/// the log's bounds (no front cut under `RecoveryMode::AbsoluteConsistency`, which refuses any
/// damage). Nothing is written to the log but recovery's repairs and the front cut,
/// until [`LogOpening::finish`]. A front cut is durable once made, even if what follows fails:
/// it only drops history the newest valid snapshot holds.
///
/// # Errors
/// The log's recovery errors (damage the snapshots do not cover); `MissingHistory` and
/// `AheadOfLog` when the log cannot serve the newest valid snapshot (or, without one, the
/// beginning); I/O errors.
pub fn recover_log<S: Storage>(
    storage: S,
    dir: &Path,
    options: wal_core::Options,
) -> Result<LogOpening<S>, Error> {
    let (opening, mut front_cut) = recover_past_front_damage(&storage, dir, options)?;
    let (start, end) = (opening.report().start, opening.report().end);
    let choice = rebuild::choose(&storage, dir, start, end, None)?;
    if let Some(cut) = front_cut.as_mut() {
        cut.unusable = unusable(&storage, dir, cut.to)?;
        for path in &cut.unusable {
            events::no_longer_fallback(path, cut.to);
        }
    }
    Ok(LogOpening { opening, choice, front_cut })
}

/// The log's recovery, retried after each front cut past damage below the newest valid
/// snapshot's `replay_from`.
fn recover_past_front_damage<S: Storage>(
    storage: &S,
    dir: &Path,
    options: wal_core::Options,
) -> Result<(Opening<S>, Option<FrontCut>), Error> {
    let mut front_cut: Option<FrontCut> = None;
    // Looked up at the first failure only: a log that opens pays nothing.
    let mut newest: Option<Option<(PathBuf, SnapshotHeader)>> = None;
    // Each cut moves the start strictly up, to a segment's first LSN: at most one per segment.
    let mut cuts_left: Option<usize> = None;
    loop {
        let error = match Wal::recover_in(storage.clone(), dir, options) {
            Ok(opening) => return Ok((opening, front_cut)),
            Err(error) => error,
        };
        // `AbsoluteConsistency` refuses any damage, this too.
        let strict = options.recovery == RecoveryMode::AbsoluteConsistency;
        let coverable = matches!(
            error,
            wal_core::Error::Damaged { .. } | wal_core::Error::MissingHistory { .. }
        );
        if strict || !coverable {
            return Err(error.into());
        }
        if newest.is_none() {
            newest = Some(newest_valid(storage, dir)?);
        }
        let Some(Some((snapshot, header))) = &newest else { return Err(error.into()) };
        let inspector = Inspector::open_in(storage.clone(), dir)?;
        let left = cuts_left.get_or_insert(inspector.segment_ids().len());
        let point = cut_point(&inspector, &error, header.replay_from)?;
        let Some(to) = point.filter(|_| *left > 0) else { return Err(error.into()) };
        *left -= 1;
        let from = Wal::truncate_before_closed(storage, dir, to)?;
        events::front_cut(dir, from, to, &error, snapshot);
        let cut = front_cut.get_or_insert_with(|| FrontCut {
            from,
            to,
            damage: Vec::new(),
            snapshot: snapshot.clone(),
            unusable: Vec::new(),
        });
        cut.to = to;
        cut.damage.push(error);
    }
}

/// Where the log's start must move for recovery to pass `error`, if that is at most `ceiling`
/// (the newest valid snapshot's `replay_from`) and above the current start: the first LSN
/// after a damaged segment (its records' end in recovery's plan), or the first segment's first
/// LSN when history is missing before it. `None` for damage the snapshot does not cover, in
/// the newest segment, or in a first chunk header (every segment's is read at every open).
fn cut_point<S: Storage>(
    inspector: &Inspector<S>,
    error: &wal_core::Error,
    ceiling: Lsn,
) -> Result<Option<Lsn>, Error> {
    let AnchorState::Found { start, .. } = inspector.anchor() else { return Ok(None) };
    let past = match error {
        wal_core::Error::MissingHistory { first, .. } => Some(*first),
        wal_core::Error::Damaged { path, .. } => {
            let inspected = inspector.plan()?;
            let segment = inspected
                .plan
                .kept
                .iter()
                .find(|segment| inspector.segment_path(segment.id) == *path);
            segment.and_then(|segment| segment.cap)
        }
        _ => None,
    };
    Ok(past.filter(|&past| past > start && past <= ceiling))
}

/// The newest snapshot that passes every check (header, length, body checksum, name), as
/// [`rebuild::choose`] picks it.
fn newest_valid<S: Storage>(
    storage: &S,
    dir: &Path,
) -> Result<Option<(PathBuf, SnapshotHeader)>, Error> {
    let (found, _) = file::list(storage, dir)?;
    for candidate in found {
        if let Ok(header) = file::check(storage, &candidate.path)?
            && header.next_lsn == candidate.next_lsn
        {
            return Ok(Some((candidate.path, header)));
        }
    }
    Ok(None)
}

/// The snapshots whose headers say their replay needs the log before `start`.
pub(crate) fn unusable<S: Storage>(
    storage: &S,
    dir: &Path,
    start: Lsn,
) -> Result<Vec<PathBuf>, Error> {
    let (found, _) = file::list(storage, dir)?;
    let mut unusable = Vec::new();
    for candidate in found {
        if let Ok(header) = file::check_header(storage, &candidate.path)?
            && header.replay_from < start
        {
            unusable.push(candidate.path);
        }
    }
    Ok(unusable)
}
