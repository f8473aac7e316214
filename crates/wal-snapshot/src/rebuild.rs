//! Rebuilding a state from the log: the newest valid snapshot, then the units committed after
//! it. Used by recovery and by the determinism check.

use std::path::{Path, PathBuf};

use wal_core::{EntryKind, FIRST_LSN, Lsn, Storage};

use crate::error::Error;
use crate::file::{self, SnapshotHeader};
use crate::log::Log;
use crate::machine::{Body, Change, StateMachine, Unit};

/// A state rebuilt from the log, and how.
pub(crate) struct Rebuilt<M> {
    pub(crate) machine: M,
    pub(crate) last_commit_lsn: Lsn,
    pub(crate) units: u64,
    /// The snapshot it started from.
    pub(crate) snapshot: Option<(PathBuf, SnapshotHeader)>,
    /// Newer snapshots that failed their checks, and why.
    pub(crate) skipped: Vec<(PathBuf, String)>,
    /// Units applied from the log.
    pub(crate) replayed: u64,
    /// Units the log holds that the snapshot already had (read, not applied).
    pub(crate) already_applied: u64,
}

/// Where to start.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum From {
    /// The newest snapshot that passes its checks (at or before `until`), else the beginning.
    NewestSnapshot,
    /// The beginning of the log, ignoring snapshots.
    Beginning,
}

/// The snapshot a rebuild starts from, chosen before the log is read (or even written: a
/// recovery decides from the log's start and end alone whether it can go on).
pub(crate) struct Choice {
    /// The newest snapshot that passes its checks, if any.
    pub(crate) snapshot: Option<(PathBuf, SnapshotHeader)>,
    /// Newer snapshots that failed their checks, and why.
    pub(crate) skipped: Vec<(PathBuf, String)>,
}

/// Chooses the snapshot to rebuild from for a log holding `[start, log_end)`: the newest that
/// passes its checks (at or before `until`), which the log must be able to serve.
///
/// # Errors
/// `MissingHistory` if the log lacks what that snapshot (or, without one, the beginning)
/// needs; `AheadOfLog`; I/O errors.
pub(crate) fn choose<S: Storage>(
    storage: &S,
    dir: &Path,
    start: Lsn,
    log_end: Lsn,
    until: Option<Lsn>,
) -> Result<Choice, Error> {
    let mut choice = Choice { snapshot: None, skipped: Vec::new() };
    let (found, _) = file::list(storage, dir)?;
    for candidate in found.iter().filter(|f| until.is_none_or(|until| f.next_lsn <= until)) {
        let header = match file::check(storage, &candidate.path)? {
            Ok(header) if header.next_lsn == candidate.next_lsn => header,
            Ok(header) => {
                let reason =
                    format!("its header covers LSN {}, its name says otherwise", header.next_lsn);
                choice.skipped.push((candidate.path.clone(), reason));
                continue;
            }
            Err(reason) => {
                choice.skipped.push((candidate.path.clone(), reason));
                continue;
            }
        };
        // A sound snapshot that the log cannot serve is an error, not a reason to fall back:
        // an older snapshot needs still older history (`replay_from` only grows), and a
        // snapshot ahead of the log means the log lost synced records or belongs to another
        // state; rebuilding from an older snapshot would quietly drop the units this one holds.
        if header.replay_from < start {
            return Err(missing(header.replay_from, start, Some(&candidate.path), &choice));
        }
        if header.next_lsn > log_end {
            return Err(Error::AheadOfLog {
                path: candidate.path.clone(),
                next_lsn: header.next_lsn,
                log_end,
            });
        }
        choice.snapshot = Some((candidate.path.clone(), header));
        return Ok(choice);
    }
    if start != FIRST_LSN {
        return Err(missing(FIRST_LSN, start, None, &choice));
    }
    Ok(choice)
}

/// Rebuilds the state of every unit committed before `until` (all of them if `None`).
pub(crate) fn rebuild<M: StateMachine, S: Storage>(
    wal: Log<'_, S>,
    storage: &S,
    dir: &Path,
    from: From,
    until: Option<Lsn>,
) -> Result<Rebuilt<M>, Error> {
    let choice = match from {
        From::NewestSnapshot => choose(storage, dir, wal.start_lsn(), wal.next_lsn(), until)?,
        From::Beginning if wal.start_lsn() != FIRST_LSN => {
            let choice = Choice { snapshot: None, skipped: Vec::new() };
            return Err(missing(FIRST_LSN, wal.start_lsn(), None, &choice));
        }
        From::Beginning => Choice { snapshot: None, skipped: Vec::new() },
    };
    rebuild_from(wal, storage, choice, until)
}

/// Restores the chosen snapshot (if any) and applies the units the log holds after it.
pub(crate) fn rebuild_from<M: StateMachine, S: Storage>(
    wal: Log<'_, S>,
    storage: &S,
    choice: Choice,
    until: Option<Lsn>,
) -> Result<Rebuilt<M>, Error> {
    let start = wal.start_lsn();
    let mut rebuilt = Rebuilt {
        machine: M::empty(),
        last_commit_lsn: Lsn(0),
        units: 0,
        snapshot: None,
        skipped: choice.skipped,
        replayed: 0,
        already_applied: 0,
    };
    if let Some((path, header)) = choice.snapshot {
        let restored = file::read_body(storage, &path, &header, |input| {
            M::restore(&mut Body::new(input, header.body_len))
        })?;
        rebuilt.machine =
            restored.map_err(|source| Error::Restore { path: path.clone(), source })?;
        rebuilt.last_commit_lsn = header.last_commit_lsn;
        rebuilt.units = header.units;
        rebuilt.snapshot = Some((path, header));
    }
    let (replay_from, apply_from) = match &rebuilt.snapshot {
        Some((_, header)) => (header.replay_from, header.next_lsn),
        None => (start, start),
    };
    for unit in wal.replay_from(replay_from)? {
        let unit = unit?;
        if until.is_some_and(|until| unit.commit_lsn >= until) {
            break;
        }
        if unit.commit_lsn < apply_from {
            rebuilt.already_applied += 1;
            continue;
        }
        let changes: Vec<Change<'_>> = unit
            .changes
            .iter()
            .filter_map(|entry| match entry.kind {
                EntryKind::Record { tag } | EntryKind::Delta { tag, .. } => {
                    Some(Change { tag, payload: &entry.payload })
                }
                _ => None,
            })
            .collect();
        let applied = Unit { commit_lsn: unit.commit_lsn, txn: unit.txn, changes: &changes };
        rebuilt.machine.apply(&applied);
        rebuilt.last_commit_lsn = unit.commit_lsn;
        rebuilt.units += 1;
        rebuilt.replayed += 1;
    }
    Ok(rebuilt)
}

fn missing(needed: Lsn, start: Lsn, from: Option<&Path>, choice: &Choice) -> Error {
    Error::MissingHistory {
        needed,
        start,
        from: from.map(Path::to_owned),
        skipped: choice
            .skipped
            .iter()
            .map(|(path, reason)| format!("{}: {reason}", path.display()))
            .collect(),
    }
}
