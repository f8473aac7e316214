//! A state kept durable by the log: open (recover), execute transactions, checkpoint.
//!
//! Threads and locks. Any number of threads execute transactions. A transaction's begin record
//! is written under the `open` lock (which records its begin LSN), its deltas under no lock,
//! and its commit record under the `applied` lock, which also applies it to the state: so
//! units are applied in the order of their commit records, exactly the order replay will use.
//! The wait for durability happens after both locks are released, so commits still share
//! syncs. A checkpoint holds `applied` (then `open`) only to fix its point and take the
//! state's image; the image is written while transactions go on. Lock order: `applied`, then
//! `open`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wal_core::{Kind, Lsn, RealStorage, Storage, TxnId, Wal};

use crate::error::{Error, io_error};
use crate::events;
use crate::file::{self, SnapshotHeader};
use crate::log::Log;
use crate::machine::{Change, StateMachine, Unit};
use crate::opening::LogOpening;
use crate::rebuild;
use crate::report::OpenReport;

/// Options of a [`Durable`] state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotOptions {
    /// The log's options.
    pub wal: wal_core::Options,
    /// How many snapshots to keep, newest first (at least 1; 2 by default). The log is kept
    /// back to what the oldest of them needs, so a newest snapshot found damaged falls back to
    /// the one before.
    pub keep: usize,
    /// Whether a checkpoint moves the log's start up to what the kept snapshots need (true by
    /// default). Off, the log keeps its whole history (for audit, or to check that replaying
    /// it from the beginning gives the same state as the snapshots), except that damage below
    /// the newest valid snapshot's point still moves the start past it at open (a front cut).
    pub prune: bool,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions { wal: wal_core::Options::default(), keep: 2, prune: true }
    }
}

impl SnapshotOptions {
    /// Sets [`SnapshotOptions::wal`].
    #[must_use]
    pub fn with_wal(mut self, wal: wal_core::Options) -> Self {
        self.wal = wal;
        self
    }

    /// Sets [`SnapshotOptions::keep`].
    #[must_use]
    pub fn with_keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }

    /// Sets [`SnapshotOptions::prune`].
    #[must_use]
    pub fn with_prune(mut self, prune: bool) -> Self {
        self.prune = prune;
        self
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointReport {
    /// The snapshot written.
    pub path: PathBuf,
    /// Its header.
    pub header: SnapshotHeader,
    /// How long transactions were held back while the point was fixed and the image taken.
    pub paused: Duration,
    /// The whole checkpoint.
    pub elapsed: Duration,
    /// Snapshots deleted: those older than the newest `keep` with sound headers, and those
    /// with damaged headers.
    pub snapshots_deleted: usize,
    /// The log's first LSN before and after pruning.
    pub log_start: (Lsn, Lsn),
}

/// The state and what it covers.
struct Applied<M> {
    machine: M,
    last_commit_lsn: Lsn,
    units: u64,
}

/// An application's state kept durable by the log: every transaction executed is in the log
/// before it is acknowledged, checkpoints write snapshots, and opening rebuilds the state from
/// the newest valid snapshot and the transactions committed after it.
pub struct Durable<M: StateMachine, S: Storage = RealStorage> {
    wal: Wal<S>,
    storage: S,
    dir: PathBuf,
    options: SnapshotOptions,
    applied: Mutex<Applied<M>>,
    /// Transactions begun and not yet committed or aborted, with their begin LSNs.
    open: Mutex<BTreeMap<TxnId, Lsn>>,
    /// One checkpoint at a time.
    checkpointing: Mutex<()>,
    /// Set when `StateMachine::apply` panics: the live state may hold part of a unit.
    apply_panicked: AtomicBool,
    /// Snapshots recovery passed over as damaged: never among those kept.
    damaged: Mutex<BTreeSet<PathBuf>>,
}

/// Deletes the temporary files of interrupted checkpoints, durably; returns how many.
fn remove_temporary<S: Storage>(storage: &S, dir: &Path) -> Result<usize, Error> {
    let (_, temporary) = file::list(storage, dir)?;
    for path in &temporary {
        storage.remove(path).map_err(|e| io_error("remove", path, e))?;
        events::temporary_deleted(path);
    }
    if !temporary.is_empty() {
        storage.sync_dir(dir).map_err(|e| io_error("sync directory", dir, e))?;
    }
    Ok(temporary.len())
}

/// Marks the state as poisoned if `apply` unwinds through it.
struct ApplyGuard<'a>(&'a AtomicBool);

impl Drop for ApplyGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<M: StateMachine, S: Storage> Durable<M, S> {
    /// Refuses once the state machine panicked while applying a unit: then the live state
    /// may hold part of that unit, and building on it (or writing it to a snapshot) would
    /// make it durable. (A panic elsewhere, in a `read` closure say, changes no state.)
    fn check_state(&self) -> Result<(), Error> {
        if self.apply_panicked.load(Ordering::Acquire) {
            return Err(Error::StatePoisoned);
        }
        Ok(())
    }

    /// The state to change or capture, unless `apply` has panicked.
    fn state(&self) -> Result<MutexGuard<'_, Applied<M>>, Error> {
        let applied = lock(&self.applied);
        self.check_state()?;
        Ok(applied)
    }
}

impl<M: StateMachine> Durable<M, RealStorage> {
    /// Opens (or creates) the state's log and snapshots in `dir`, and rebuilds the state.
    ///
    /// # Errors
    /// As [`Durable::open_in`].
    pub fn open(
        dir: impl AsRef<Path>,
        options: SnapshotOptions,
    ) -> Result<(Self, OpenReport), Error> {
        Durable::open_in(RealStorage, dir, options)
    }
}

impl<M: StateMachine, S: Storage> Durable<M, S> {
    /// Opens the state in `dir` on `storage`: recovers the log, deletes the temporary files of
    /// interrupted checkpoints, restores the newest snapshot that passes its checks, and
    /// applies the units committed after it.
    ///
    /// Damage in the log below the newest valid snapshot's `replay_from` (history kept only for
    /// older snapshots) does not stop the open: the log's start moves past it, durably, and
    /// the report says so ([`OpenReport::front_cut`]; [`crate::recover_log`]). Not under
    /// `RecoveryMode::AbsoluteConsistency`, which refuses any damage.
    ///
    /// # Errors
    /// The log's recovery errors; `MissingHistory` when the log no longer holds what the
    /// snapshot (or, without one, the beginning) needs, naming the gap; `AheadOfLog`;
    /// `Restore`; I/O errors. No partial state is ever returned.
    pub fn open_in(
        storage: S,
        dir: impl AsRef<Path>,
        options: SnapshotOptions,
    ) -> Result<(Self, OpenReport), Error> {
        if options.keep == 0 {
            return Err(Error::InvalidOptions { reason: "keep at least one snapshot" });
        }
        let started = Instant::now();
        let dir = dir.as_ref().to_owned();
        let span = events::open_span(&dir);
        let _entered = span.enter();
        // Decide from the recovered log's bounds whether a snapshot and the log make a state,
        // before the log is written to (a cut made durable, aborts of unfinished
        // transactions): an open that fails leaves the log as it found it (but for a front
        // cut past damage the newest snapshot covers, `opening.rs`).
        let LogOpening { opening, choice, front_cut } =
            crate::opening::recover_log(storage.clone(), &dir, options.wal)?;
        let fallback = choice.snapshot.as_ref().map(|(path, _)| path.as_path());
        for (path, reason) in &choice.skipped {
            events::fell_back(path, reason, fallback);
        }
        let (wal, wal_report) = opening.finish()?;
        let temporary_removed = remove_temporary(&storage, &dir)?;
        let rebuilt = rebuild::rebuild_from::<M, S>(Log::new(&wal), &storage, choice, None)?;
        // Snapshots needing history before the log's start (a front cut, now or at an earlier
        // open, removed it) are no fallbacks: never among those kept.
        let unusable = crate::opening::unusable(&storage, &dir, wal.start_lsn())?;
        let report = OpenReport {
            wal: wal_report,
            snapshot: rebuilt.snapshot,
            skipped: rebuilt.skipped,
            front_cut,
            replayed: rebuilt.replayed,
            already_applied: rebuilt.already_applied,
            temporary_removed,
            elapsed: started.elapsed(),
        };
        events::opened(&dir, &report);
        let durable = Durable {
            wal,
            storage,
            dir,
            options,
            applied: Mutex::new(Applied {
                machine: rebuilt.machine,
                last_commit_lsn: rebuilt.last_commit_lsn,
                units: rebuilt.units,
            }),
            open: Mutex::new(BTreeMap::new()),
            checkpointing: Mutex::new(()),
            apply_panicked: AtomicBool::new(false),
            // Passed over, or needing history the log no longer holds: never among those kept.
            damaged: Mutex::new(
                report.skipped.iter().map(|(path, _)| path.clone()).chain(unusable).collect(),
            ),
        };
        durable.set_floor(&report)?;
        Ok((durable, report))
    }

    /// Sets the log's retention floor at open: what every snapshot recovery could fall back to
    /// needs, and what this one used (nothing is cut here: a newer snapshot may have been
    /// passed over as damaged).
    fn set_floor(&self, report: &OpenReport) -> Result<(), Error> {
        let start = self.wal.start_lsn();
        let used = report.snapshot.as_ref().map_or(start, |(_, header)| header.replay_from);
        let (kept, _) = self.kept_snapshots(None)?;
        let floor = kept.iter().map(|header| header.replay_from).fold(used, Lsn::min);
        let floor = if self.options.prune { floor } else { start };
        self.wal.set_retention_floor(Some(floor));
        Ok(())
    }

    /// Executes one transaction of `changes`: appends it to the log, applies it to the state
    /// (in commit order), and returns its commit LSN once it is as durable as the log's
    /// `Durability` asks.
    ///
    /// # Errors
    /// The log's errors. After an error the log refuses writes (it is poisoned) and the state
    /// may hold a unit whose durability is unknown: reopen to rebuild the state from what is
    /// on disk. `StatePoisoned` once [`StateMachine::apply`] has panicked.
    #[track_caller]
    pub fn execute(&self, changes: &[Change<'_>]) -> Result<Lsn, Error> {
        self.check_state()?;
        let mut txn = {
            let mut open = lock(&self.open);
            let txn = self.wal.begin()?;
            open.insert(txn.id(), txn.begin_lsn());
            txn
        };
        let id = txn.id();
        for change in changes {
            if let Err(error) = txn.delta(change.tag, change.payload) {
                lock(&self.open).remove(&id);
                return Err(error.into()); // dropping `txn` appends its abort
            }
        }
        let lsn = {
            let mut applied = lock(&self.applied);
            if let Err(poisoned) = self.check_state() {
                lock(&self.open).remove(&id);
                return Err(poisoned); // dropping `txn` appends its abort
            }
            let written = txn.commit_unsynced();
            lock(&self.open).remove(&id);
            let lsn = written?;
            let guard = ApplyGuard(&self.apply_panicked);
            applied.machine.apply(&Unit { commit_lsn: lsn, txn: Some(id), changes });
            drop(guard);
            applied.last_commit_lsn = lsn;
            applied.units += 1;
            lsn
        };
        self.wal.wait_commit(lsn)?;
        Ok(lsn)
    }

    /// Reads the state. (After a panic in [`StateMachine::apply`] this still reads it, as the
    /// panic left it; [`Durable::execute`] and [`Durable::checkpoint`] refuse.)
    pub fn read<R>(&self, read: impl FnOnce(&M) -> R) -> R {
        read(&lock(&self.applied).machine)
    }

    /// The point the state has reached (every unit committed before the LSN is in it, none
    /// after), its unit count, and its image, taken together.
    pub(crate) fn point(&self) -> Result<(Lsn, u64, M::Image), Error> {
        let applied = self.state()?;
        Ok((self.wal.next_lsn(), applied.units, applied.machine.image()))
    }

    pub(crate) fn storage(&self) -> &S {
        &self.storage
    }

    /// The log, for reading: writes go through [`Durable::execute`] and checkpoints only.
    #[must_use]
    pub fn wal(&self) -> Log<'_, S> {
        Log::new(&self.wal)
    }

    /// The directory of the log and its snapshots.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The commit LSN of the last unit applied, and how many units the state holds.
    #[must_use]
    pub fn applied(&self) -> (Lsn, u64) {
        let applied = lock(&self.applied);
        (applied.last_commit_lsn, applied.units)
    }

    /// Writes a snapshot of the state and prunes the log it makes unnecessary.
    ///
    /// Steps: (1) under the apply lock, fix the point (the log's next LSN: every unit committed
    /// before it is in the state, none after) and take the state's image, then let
    /// transactions go on; (2) make the log durable up to the point, so that nothing the
    /// snapshot covers can be lost from it; (3) write the snapshot to a temporary file, sync it, rename it into place,
    /// sync the directory; (4) delete snapshots beyond `keep`; (5) move the log's start to
    /// what the oldest kept snapshot needs (exactly, on a record boundary), deleting the
    /// segment files wholly before it once no reader holds them. A crash at any step leaves a
    /// state that recovers to every committed unit (`docs/format.md`, "What a crash leaves:
    /// checkpoints").
    ///
    /// # Errors
    /// I/O errors of the snapshot; the log's errors; `StatePoisoned` once
    /// [`StateMachine::apply`] has panicked (a state it left half-changed is never written).
    #[track_caller]
    pub fn checkpoint(&self) -> Result<CheckpointReport, Error> {
        let started = Instant::now();
        let _one = lock(&self.checkpointing);
        let _tracked = self.wal.track(Kind::Snapshot);
        let (image, header) = {
            let applied = self.state()?;
            let open = lock(&self.open);
            let next_lsn = self.wal.next_lsn();
            let oldest_open = open.values().min().copied().unwrap_or(next_lsn);
            let header = SnapshotHeader {
                next_lsn,
                replay_from: oldest_open.min(next_lsn),
                last_commit_lsn: applied.last_commit_lsn,
                units: applied.units,
                body_len: 0,
                body_crc: 0,
            };
            (applied.machine.image(), header)
        };
        let paused = started.elapsed();
        // Everything below the point, including records reserved by writers still copying
        // them: a snapshot must never claim more of the log than a crash leaves.
        self.wal.sync_below(header.next_lsn)?;
        let (path, header) = file::write(
            &self.storage,
            &self.dir,
            header,
            |out| M::write_image(&image, out),
            // A snapshot recovery passed over may have had this name (a checkpoint at the same
            // point): the file there now is the sound one just written, to be kept, not deleted
            // as damaged. Only after the rename: if the checkpoint fails before it, the damaged
            // file is still there and must stay out of those kept.
            |path| {
                lock(&self.damaged).remove(path);
            },
        )?;
        drop(image);
        let (kept, doomed) = self.kept_snapshots(Some(header.next_lsn))?;
        let snapshots_deleted = self.delete(&doomed)?;
        let before = self.wal.start_lsn();
        if let Some(floor) = kept.iter().map(|header| header.replay_from).min() {
            // Without pruning the whole log is kept, so the floor stays where open put it.
            if self.options.prune {
                self.wal.set_retention_floor(Some(floor));
                if floor > before {
                    self.wal.truncate_before(floor)?;
                }
            }
        }
        let log_start = (before, self.wal.start_lsn());
        Ok(CheckpointReport {
            path,
            header,
            paused,
            elapsed: started.elapsed(),
            snapshots_deleted,
            log_start,
        })
    }

    /// The headers of the snapshots to keep, newest first, and the paths of the others. Kept:
    /// the newest `keep` whose headers pass their checks and agree with their names, leaving
    /// out those recovery passed over as damaged and any named beyond `ceiling` (the snapshot
    /// a checkpoint just wrote is the newest there can be). Only headers are read here
    /// (reading every body at every checkpoint would cost as much as writing it); recovery
    /// checks bodies, and what it passes over is remembered.
    fn kept_snapshots(
        &self,
        ceiling: Option<Lsn>,
    ) -> Result<(Vec<SnapshotHeader>, Vec<PathBuf>), Error> {
        let (found, _) = file::list(&self.storage, &self.dir)?;
        let damaged = lock(&self.damaged);
        let (mut kept, mut doomed) = (Vec::new(), Vec::new());
        for snapshot in found {
            let eligible = kept.len() < self.options.keep
                && !damaged.contains(&snapshot.path)
                && ceiling.is_none_or(|ceiling| snapshot.next_lsn <= ceiling);
            if eligible
                && let Ok(header) = file::check_header(&self.storage, &snapshot.path)?
                && header.next_lsn == snapshot.next_lsn
            {
                kept.push(header);
                continue;
            }
            doomed.push(snapshot.path);
        }
        Ok((kept, doomed))
    }

    /// Deletes snapshot files, and makes the deletion durable.
    fn delete(&self, doomed: &[PathBuf]) -> Result<usize, Error> {
        for path in doomed {
            self.storage.remove(path).map_err(|e| io_error("remove", path, e))?;
            let damaged = lock(&self.damaged).remove(path);
            events::snapshot_deleted(path, damaged);
        }
        if !doomed.is_empty() {
            self.storage
                .sync_dir(&self.dir)
                .map_err(|e| io_error("sync directory", &self.dir, e))?;
        }
        Ok(doomed.len())
    }
}
