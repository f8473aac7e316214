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

/// Rebuilds the state of every unit committed before `until` (all of them if `None`).
pub(crate) fn rebuild<M: StateMachine, S: Storage>(
    wal: Log<'_, S>,
    storage: &S,
    dir: &Path,
    from: From,
    until: Option<Lsn>,
) -> Result<Rebuilt<M>, Error> {
    let start = wal.start_lsn();
    let mut rebuilt = Rebuilt {
        machine: M::empty(),
        last_commit_lsn: Lsn(0),
        units: 0,
        snapshot: None,
        skipped: Vec::new(),
        replayed: 0,
        already_applied: 0,
    };
    if from == From::NewestSnapshot {
        let (found, _) = file::list(storage, dir)?;
        for candidate in found.iter().filter(|f| until.is_none_or(|until| f.next_lsn <= until)) {
            let header = match file::check(storage, &candidate.path)? {
                Ok(header) if header.next_lsn == candidate.next_lsn => header,
                Ok(header) => {
                    let reason = format!(
                        "its header covers LSN {}, its name says otherwise",
                        header.next_lsn
                    );
                    rebuilt.skipped.push((candidate.path.clone(), reason));
                    continue;
                }
                Err(reason) => {
                    rebuilt.skipped.push((candidate.path.clone(), reason));
                    continue;
                }
            };
            // A sound snapshot that the log cannot serve is an error, not a reason to fall
            // back: an older snapshot needs still older history (`replay_from` only grows),
            // and a snapshot ahead of the log means the log lost synced records or belongs
            // to another state; rebuilding from an older snapshot would quietly drop the
            // units this one holds.
            if header.replay_from < start {
                return Err(missing(header.replay_from, start, Some(&candidate.path), &rebuilt));
            }
            let log_end = wal.next_lsn();
            if header.next_lsn > log_end {
                return Err(Error::AheadOfLog {
                    path: candidate.path.clone(),
                    next_lsn: header.next_lsn,
                    log_end,
                });
            }
            let restored = file::read_body(storage, &candidate.path, &header, |input| {
                M::restore(&mut Body::new(input, header.body_len))
            })?;
            rebuilt.machine = restored
                .map_err(|source| Error::Restore { path: candidate.path.clone(), source })?;
            rebuilt.last_commit_lsn = header.last_commit_lsn;
            rebuilt.units = header.units;
            rebuilt.snapshot = Some((candidate.path.clone(), header));
            break;
        }
    }
    let (replay_from, apply_from) = match &rebuilt.snapshot {
        Some((_, header)) => (header.replay_from, header.next_lsn),
        None if start == FIRST_LSN => (start, start),
        None => return Err(missing(FIRST_LSN, start, None, &rebuilt)),
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

fn missing<M>(needed: Lsn, start: Lsn, from: Option<&Path>, rebuilt: &Rebuilt<M>) -> Error {
    Error::MissingHistory {
        needed,
        start,
        from: from.map(Path::to_owned),
        skipped: rebuilt
            .skipped
            .iter()
            .map(|(path, reason)| format!("{}: {reason}", path.display()))
            .collect(),
    }
}
