//! The log handle: appending, durability, segment rollover.
//!
//! Threads and locks. `state` (a mutex) guards the segment list and the active segment's
//! writer; it is held only to reserve LSNs and space, to look a position up, or to note what a
//! sync covers, never while bytes are copied or synced. Copies run in the appending threads
//! after the lock is released, and publish in LSN order (`wal_segment::Reservation`). The sync
//! role (`GroupCommit`) is a second mutex, always taken before `state`: whoever holds it may
//! sync, roll to a new segment, or cut the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wal_format::{Lsn, Record, Tag};
use wal_segment::{
    ChunkPreparation, ChunkRef, DirLock, PreparedSegment, RealStorage, RecordPositions,
    SegmentWriter, Storage,
};

use wal_telemetry::{
    Kind, LeakWatch, Ledger, RecoveryFigures, Registration, Registry, SegmentLife,
};

use crate::anchor::Anchor;
use crate::background::{Background, Signal};
use crate::entry::{TxnId, is_record_tag};
use crate::error::Error;
use crate::group_commit::{GroupCommit, WaitError, Waited};
use crate::live_txns::LiveTxns;
use crate::options::{Durability, Options};
use crate::recovery::{self, RecoveryReport};
use crate::stats::Stats;

/// A write-ahead log. `Send + Sync`: share it by reference or in an `Arc`; appends from many
/// threads run in parallel.
///
/// ```
/// use wal_core::{Options, Tag, Wal};
///
/// let dir = tempfile::tempdir()?;
/// let (wal, report) = Wal::open(dir.path(), Options::default())?;
/// assert_eq!(report.records, 0);
/// let tag = Tag::user(0x40).expect("a user tag");
/// let lsn = wal.append(tag, b"hello")?; // durable on return (Durability::Commit)
///
/// let mut txn = wal.begin()?;
/// txn.delta(tag, b"set x = 1")?;
/// txn.delta(tag, b"set y = 2")?;
/// txn.commit()?;
///
/// assert_eq!(wal.get(lsn)?.expect("written").payload.as_ref(), b"hello");
/// let committed: Vec<_> = wal.replay()?.collect::<Result<_, _>>()?;
/// assert_eq!(committed.len(), 2); // the record, then the transaction
/// assert_eq!(committed[1].changes.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Wal<S: Storage = RealStorage> {
    pub(crate) shared: Arc<Shared<S>>,
    syncer: Option<Background>,
    housekeeper: Option<Background>,
    /// The directory lock belongs to this handle, not to readers or transactions that outlive
    /// it: dropping the `Wal` stops all writing and releases the directory.
    lock: Option<DirLock<S>>,
}

/// Everything the log's handles share.
pub(crate) struct Shared<S: Storage> {
    pub(crate) storage: S,
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) state: Mutex<State<S>>,
    pub(crate) commit: GroupCommit,
    pub(crate) tail: TailSignal,
    /// Bumped whenever records are removed (a truncation or a prune): readers re-locate.
    pub(crate) epoch: AtomicU64,
    pub(crate) next_txn: AtomicU64,
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    pub(crate) stats: Stats,
    pub(crate) closed: AtomicBool,
    /// The live readers, tailing readers and transactions.
    pub(crate) registry: Arc<Registry>,
    /// Chunk mappings, and the segments retired but still viewed.
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) leaks: LeakWatch,
    pub(crate) recovery: RecoveryFigures,
    /// Wakes the housekeeper (a segment was released).
    pub(crate) housekeeping: Arc<Signal>,
}

/// The segments: the closed ones in LSN order, and the one being written.
pub(crate) struct State<S: Storage> {
    /// The segment being written; `None` only after creating the next one failed (a full
    /// disk): the next append tries again.
    pub(crate) active: Option<SegmentWriter<S>>,
    pub(crate) closed: Vec<ClosedSegment<S>>,
    pub(crate) next_segment_id: u64,
    /// Where the next segment starts, when there is no active one.
    pub(crate) next_first_lsn: Lsn,
    pub(crate) anchor: Anchor<S>,
    /// Pruning by size never removes records at or after this LSN (unless forced).
    pub(crate) retention_floor: Option<Lsn>,
    /// The transactions begun and not yet ended: their begin records are a floor too.
    pub(crate) live_txns: LiveTxns,
    /// Every `truncate_after` of this process: the epoch it set and the first LSN it cut, so a
    /// reader that read past a cut learns of it.
    pub(crate) cuts: Vec<(u64, Lsn)>,
    /// The next segment (id `next_segment_id`), being prepared on a background thread.
    pub(crate) preparing: Option<JoinHandle<Result<PreparedSegment<S>, wal_segment::Error>>>,
    /// The seal LSN of the last segment removed from the front, if it ends where the log now
    /// starts: a reader waiting there has read everything before the start.
    pub(crate) seal_before_start: Option<Lsn>,
    /// Segments retired while handles still viewed them: their files stay until released.
    pub(crate) held_back: Vec<Arc<SegmentLife>>,
    /// Released segments whose files are still to be deleted (a deletion failed).
    pub(crate) to_delete: Vec<u64>,
}

/// A segment that receives no more records, readable through its mapped chunks.
pub(crate) struct ClosedSegment<S: Storage> {
    pub(crate) id: u64,
    pub(crate) first: Lsn,
    /// The LSN after its last record that counts: a later segment may have cut it shorter.
    pub(crate) end: Lsn,
    pub(crate) chunks: Vec<ChunkRef<S>>,
    pub(crate) index: RecordPositions,
    pub(crate) bytes: u64,
    /// Whether its last record is a seal (at `end - 1`).
    pub(crate) sealed: bool,
    /// What its chunk mappings hold: retired, its file goes once they are all gone.
    pub(crate) life: Arc<SegmentLife>,
}

/// What a write is, for the live transactions.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    /// A self-contained record (or the engine's own).
    Plain,
    /// The begin record of transaction `TxnId`.
    Begin(TxnId),
    /// A delta or the commit of transaction `TxnId`, which must still be whole.
    Continue(TxnId),
}

/// Wakes tailing readers when records are published.
pub(crate) struct TailSignal {
    lock: Mutex<()>,
    condvar: Condvar,
    waiters: AtomicU64,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another thread while it held the lock left the state consistent: every
    // mutation under it is a single assignment or a push after the fallible work.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Wal<RealStorage> {
    /// Opens (or creates) the log in `dir`, recovering it as `options.recovery` says.
    ///
    /// # Errors
    /// `Segment(Locked)` if another handle, in this process or another, has the directory;
    /// damage as the recovery mode decides; I/O errors.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<(Self, RecoveryReport), Error> {
        Wal::open_in(RealStorage, dir, options)
    }

    /// Recovers the log in `dir` without writing to it yet, for a caller that decides from
    /// the [`RecoveryReport`] whether to go on ([`Opening::finish`]) or to give up (drop the
    /// `Opening`: the log holds nothing it did not hold before, beyond recovery's repairs).
    ///
    /// # Errors
    /// As [`Wal::open`].
    pub fn recover(dir: impl AsRef<Path>, options: Options) -> Result<Opening, Error> {
        Wal::recover_in(RealStorage, dir, options)
    }
}

/// A log recovered and locked, not yet written to: what [`Wal::recover_in`] returns.
///
/// Recovery itself only repairs (it deletes files the log no longer includes, rewrites an
/// index, makes durable what it found); the writes that change the log (the new segment that
/// makes a cut permanent, the aborts that close transactions a crash left open) wait for
/// [`Opening::finish`]. So a caller that refuses the log after looking at it (a snapshot
/// ahead of it, say) leaves it as it was.
pub struct Opening<S: Storage = RealStorage> {
    storage: S,
    dir: PathBuf,
    options: Options,
    lock: DirLock<S>,
    ledger: Arc<Ledger>,
    recovered: recovery::Recovered<S>,
}

impl<S: Storage> Opening<S> {
    /// What recovery found and did.
    #[must_use]
    pub fn report(&self) -> &RecoveryReport {
        &self.recovered.report
    }

    /// Starts the log: makes a cut durable, closes transactions a crash left open, and hands
    /// the log out.
    ///
    /// # Errors
    /// I/O errors of those writes (a full disk is not one: the log opens for reading and
    /// pruning, and the next open does them again).
    pub fn finish(self) -> Result<(Wal<S>, RecoveryReport), Error> {
        let Opening { storage, dir, options, lock, ledger, recovered } = self;
        let report = &recovered.report;
        let mut recovery = RecoveryFigures::default();
        recovery.segments = report.segments as u64;
        recovery.records = report.records;
        recovery.elapsed = report.elapsed;
        let housekeeping = Arc::new(Signal::default());
        let waking = Arc::clone(&housekeeping);
        ledger.set_waker(move || waking.wake());
        let shared = Arc::new(Shared {
            storage,
            dir,
            options,
            commit: GroupCommit::new(recovered.state.next_first_lsn.0),
            state: Mutex::new(recovered.state),
            tail: TailSignal::new(),
            epoch: AtomicU64::new(0),
            next_txn: AtomicU64::new(recovered.next_txn),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            stats: Stats::default(),
            closed: AtomicBool::new(false),
            registry: Registry::new(),
            ledger,
            leaks: LeakWatch::default(),
            recovery,
            housekeeping,
        });
        let report = recovered.report;
        // The first segment of this run is created by the first append, so a log on a full
        // disk still opens for reading and pruning; unless recovery cut something (a torn
        // tail, or what point-in-time recovery dropped): then the next segment, starting right
        // after what was kept, makes the cut durable (recovery's chain rule), so a later open,
        // in any mode, finds the same log. On a full disk the cut stays in memory, and the next
        // open makes it again.
        lock_state(&shared).prepare_next(&shared);
        if report.torn_tail.is_some() || report.dropped.is_some() {
            let mut state = lock_state(&shared);
            match state.writer(&shared).and_then(|writer| Ok(writer.sync()?)) {
                Err(error) if error.is_out_of_space() => {}
                other => {
                    other?;
                }
            }
        }
        let wal = Wal {
            syncer: start_syncer(&shared),
            housekeeper: start_housekeeper(&shared),
            shared,
            lock: Some(lock),
        };
        // Transactions a crash left open can never finish: close them, so replay and the next
        // recovery need not carry them. On a full disk they stay open on disk (never visible:
        // replay yields only committed ones) and the next open closes them.
        if !recovered.unfinished.is_empty() {
            let ids: Vec<[u8; 8]> =
                recovered.unfinished.iter().map(|id| id.to_le_bytes()).collect();
            let aborts: Vec<Record<'_>> =
                ids.iter().map(|id| Record { tag: Tag::TXN_ABORT, payload: id }).collect();
            match wal.shared.write(&aborts).and_then(|_| wal.sync()) {
                Err(error) if error.is_out_of_space() => {
                    tracing::warn!(target: "wal::recovery", %error, unfinished = ids.len(),
                        "could not close the transactions a crash left open; the next open will");
                }
                other => other?,
            }
        }
        Ok((wal, report))
    }
}

impl<S: Storage> Wal<S> {
    /// Opens the log in `dir` on `storage` (a `SimStorage` in tests).
    ///
    /// # Errors
    /// As [`Wal::open`].
    pub fn open_in(
        storage: S,
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Self, RecoveryReport), Error> {
        Wal::recover_in(storage, dir, options)?.finish()
    }

    /// Recovers the log in `dir` on `storage` without writing to it yet: [`Wal::recover`].
    ///
    /// # Errors
    /// As [`Wal::open`].
    pub fn recover_in(
        storage: S,
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<Opening<S>, Error> {
        options.validate()?;
        let dir = dir.as_ref().to_owned();
        storage
            .create_dir_all(&dir)
            .map_err(|e| wal_segment::Error::io("create directory", &dir, e))?;
        let lock = DirLock::acquire(&storage, &dir)?;
        let ledger = Ledger::new();
        let recovered = recovery::recover(&storage, &dir, &options, &ledger)?;
        Ok(Opening { storage, dir, options, lock, ledger, recovered })
    }

    /// Appends one self-contained record with `tag` (a user tag or `Tag::ENTRY`) and returns
    /// its LSN. Under `Durability::Commit` it is durable on return.
    ///
    /// # Errors
    /// `NotAnApplicationTag`; `Segment(RecordTooLarge)` for a payload larger than a chunk
    /// holds; `Segment(OutOfSpace)` when the disk is full (nothing is written; retry once space
    /// is freed); `Poisoned` after a failed write or sync.
    pub fn append(&self, tag: Tag, payload: &[u8]) -> Result<Lsn, Error> {
        if !is_record_tag(tag) {
            return Err(Error::NotAnApplicationTag { tag });
        }
        let lsn = self.shared.write(&[Record { tag, payload }])?;
        self.shared.committed(Lsn(lsn.0 + 1))?;
        Ok(lsn)
    }

    /// Appends self-contained records in one call (LSNs in order, all or nothing) and returns
    /// the first LSN. Under `Durability::Commit` all are durable on return.
    ///
    /// # Errors
    /// As [`Wal::append`]; also `Segment(SegmentFull)` for a batch larger than a segment.
    pub fn append_batch(&self, records: &[Record<'_>]) -> Result<Lsn, Error> {
        if let Some(record) = records.iter().find(|record| !is_record_tag(record.tag)) {
            return Err(Error::NotAnApplicationTag { tag: record.tag });
        }
        let first = self.shared.write(records)?;
        self.shared.committed(Lsn(first.0 + records.len() as u64))?;
        Ok(first)
    }

    /// Returns once the record at `lsn` (a commit written by [`crate::Txn::commit_unsynced`])
    /// is as durable as [`Options::durability`] asks of a commit: durable under
    /// `Durability::Commit`, at once otherwise.
    ///
    /// # Errors
    /// `Poisoned`, or the I/O error of the sync (which poisons the log).
    pub fn wait_commit(&self, lsn: Lsn) -> Result<(), Error> {
        self.shared.committed(Lsn(lsn.0.saturating_add(1)))
    }

    /// Makes everything written so far durable, whatever the durability setting.
    ///
    /// # Errors
    /// `Poisoned`, or the I/O error of the sync (which poisons the log).
    pub fn sync(&self) -> Result<(), Error> {
        let published = self.shared.published_lsn();
        self.shared.wait_durable(published)
    }

    /// Returns once every record below `end` is durable, syncing if nobody else is; records
    /// reserved but still being written are waited for. A checkpoint uses it to make
    /// everything below the point it fixed durable, whatever the durability setting.
    ///
    /// # Errors
    /// `OutOfRange` if `end` is past [`Wal::next_lsn`] (nothing would ever fill the gap);
    /// `Poisoned`, or the I/O error of the sync (which poisons the log).
    pub fn sync_below(&self, end: Lsn) -> Result<(), Error> {
        let shared = &*self.shared;
        let check = || {
            shared.check_usable()?;
            let next = self.next_lsn();
            if end > next {
                return Err(Error::OutOfRange { lsn: end, start: self.start_lsn(), end: next });
            }
            Ok(())
        };
        // A sync covers only what is published: first wait for the writers still copying
        // records below `end` (publication wakes the tail signal; the timeout re-checks for a
        // poisoned log or a cut below `end`).
        while shared.published_lsn() < end {
            check()?;
            shared.tail.wait(Duration::from_millis(10), || shared.published_lsn() >= end);
        }
        while self.durable_lsn() < end {
            check()?;
            shared.wait_durable(end)?;
        }
        Ok(())
    }

    /// The LSN the next record will get (every record below it has been reserved).
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        let state = lock_state(&self.shared);
        state.active.as_ref().map_or(state.next_first_lsn, SegmentWriter::next_lsn)
    }

    /// Every record below this LSN is durable.
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.shared.commit.durable())
    }

    /// The first LSN the log holds (records before it were truncated or pruned).
    #[must_use]
    pub fn start_lsn(&self) -> Lsn {
        lock_state(&self.shared).anchor.start()
    }

    /// The log's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Counters of what the log has done since it was opened.
    #[must_use]
    pub fn stats(&self) -> crate::stats::StatsSnapshot {
        self.shared.stats.snapshot()
    }
}

impl<S: Storage> Drop for Wal<S> {
    /// Stops the background syncer and wakes tailing readers. Nothing is synced: under
    /// `Buffered` or `Periodic`, call [`Wal::sync`] first to keep the last writes. A commit
    /// still waiting for its sync on another thread gets `Closed` (it is never acknowledged
    /// without a sync covering it).
    fn drop(&mut self) {
        for mut thread in [self.syncer.take(), self.housekeeper.take()].into_iter().flatten() {
            thread.stop();
        }
        // No write starts after this (they check `closed` under the state lock), and the
        // writer goes once the ones in flight are published; then the lock is released.
        self.shared.commit.with_role(|| {
            let mut state = lock_state(&self.shared);
            self.shared.closed.store(true, Ordering::Release);
            // Readers that outlive the `Wal` keep reading what was written.
            let _ = state.retire_active(&self.shared);
            state.discard_prepared(&self.shared);
            // Files of segments released later stay until the next open deletes them (they
            // lie before the start, or were cut away): only the lock holder may delete.
            let _ = state.delete_released(&self.shared);
        });
        self.shared.tail.notify();
        drop(self.lock.take());
    }
}

pub(crate) fn lock_state<S: Storage>(shared: &Shared<S>) -> MutexGuard<'_, State<S>> {
    lock(&shared.state)
}

impl<S: Storage> Shared<S> {
    /// Reserves, writes and publishes `records`, rolling to a new segment when the current
    /// one is full. Returns the first LSN.
    pub(crate) fn write(&self, records: &[Record<'_>]) -> Result<Lsn, Error> {
        self.write_step(records, Step::Plain)
    }

    /// As [`Shared::write`], for a record of a transaction: under the same lock that reserves
    /// its LSNs, a begin enters the live transactions, and a delta or commit first checks that
    /// no removal took the transaction's records (see `live_txns`).
    pub(crate) fn write_step(&self, records: &[Record<'_>], step: Step) -> Result<Lsn, Error> {
        if records.is_empty() {
            return Ok(lock_state(self).next_lsn());
        }
        loop {
            self.check_usable()?;
            let reservation = {
                let mut state = lock_state(self);
                if self.closed.load(Ordering::Acquire) {
                    return Err(Error::Closed);
                }
                if let Step::Continue(id) = step {
                    state.live_txns.check(id)?;
                }
                let writer = state.writer(self)?;
                let first = writer.next_lsn();
                match writer.reserve(records) {
                    Ok(reservation) => {
                        let last = Lsn(first.0 + records.len() as u64 - 1);
                        match step {
                            Step::Plain => {}
                            Step::Begin(id) => state.live_txns.begun(id, first),
                            Step::Continue(id) => state.live_txns.wrote(id, last),
                        }
                        reservation
                    }
                    // A batch that does not fit in a fresh segment never will; otherwise the
                    // segment is full: roll, and try again (other threads may fill the next
                    // one first, so this can repeat).
                    Err(wal_segment::Error::SegmentFull { .. })
                        if writer.next_lsn() > writer.first_lsn() =>
                    {
                        let full = writer.segment_id();
                        drop(state);
                        self.roll(full)?;
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                }
            };
            let first = reservation.complete().map_err(|error| self.poison_with(error.into()))?;
            let bytes: usize = records.iter().map(|record| record.payload.len()).sum();
            self.stats.appended(records.len() as u64, bytes as u64);
            self.tail.notify();
            return Ok(first);
        }
    }

    /// What `Durability` asks of a commit that ends below `end`.
    pub(crate) fn committed(&self, end: Lsn) -> Result<(), Error> {
        match self.options.durability {
            Durability::Commit => self.wait_durable(end),
            Durability::Buffered | Durability::Periodic { .. } => Ok(()),
        }
    }

    /// Returns once every record below `lsn` is durable, syncing if nobody else is.
    pub(crate) fn wait_durable(&self, lsn: Lsn) -> Result<(), Error> {
        match self.commit.wait(lsn.0, || self.sync_published()) {
            Ok(Waited::Covered) => Ok(()),
            Ok(Waited::Synced { waiters }) => {
                self.stats.group(waiters as u64);
                wal_telemetry::record_group_commit(waiters as u64);
                Ok(())
            }
            Err(WaitError::Failed) => Err(self.poisoned_error()),
            Err(WaitError::Sync(error)) => Err(self.poison_with(error)),
            // No sync can cover it: the log closed before its record was made durable, or a
            // cut removed it.
            Err(WaitError::Short { .. }) if self.closed.load(Ordering::Acquire) => {
                Err(Error::Closed)
            }
            Err(WaitError::Short { target }) => Err(Error::Truncated { at: Lsn(target) }),
        }
    }

    /// Makes everything published durable; the caller holds the sync role. Returns the LSN
    /// below which everything is durable.
    fn sync_published(&self) -> Result<u64, Error> {
        let mut plan = {
            let mut state = lock_state(self);
            match state.active.as_mut() {
                Some(writer) => writer.begin_sync()?,
                // Closing retired the active segment unsynced: nothing more becomes durable,
                // and waiters beyond the watermark are told so (never acknowledged).
                None if self.closed.load(Ordering::Acquire) => return Ok(self.commit.durable()),
                // Every closed segment was sealed durable.
                None => return Ok(state.next_first_lsn.0),
            }
        };
        let started = Instant::now();
        // The outcome stays in the plan; `finish_sync` reports it.
        let _ = plan.run();
        let took = started.elapsed();
        self.stats.synced(took);
        wal_telemetry::record_sync(took);
        let target = plan.target();
        let mut state = lock_state(self);
        let writer = state.active.as_mut().expect("the sync role keeps the writer in place");
        writer.finish_sync(plan)?;
        Ok(target.0)
    }

    /// Seals the full segment `full` and starts the next one; another thread may have done it.
    fn roll(&self, full: u64) -> Result<(), Error> {
        self.commit.with_role(|| {
            let mut state = lock_state(self);
            if state.active.as_ref().map(SegmentWriter::segment_id) != Some(full) {
                return Ok(());
            }
            let writer = state.active.take().expect("checked above");
            let (id, first) = (writer.segment_id(), writer.first_lsn());
            let bytes = writer.chunks().len() as u64 * self.options.chunk_bytes as u64;
            // Kept to stay readable if sealing fails.
            let (chunks, index) = (writer.chunks(), writer.positions().clone());
            let life = shared_life(self, &writer);
            // Sealing waits for every reservation in flight, which needs no lock to finish. It
            // never needs a new chunk (every chunk keeps the seal's room), so only an I/O error
            // can stop it, and that leaves the data in doubt: the log is poisoned, and what it
            // holds stays readable.
            let sealed = match writer.finish() {
                Ok(sealed) => sealed,
                Err(error) => {
                    let end = Lsn(first.0 + index.len() as u64);
                    let sealed = false;
                    state.closed.push(ClosedSegment {
                        id,
                        first,
                        end,
                        chunks,
                        index,
                        bytes,
                        sealed,
                        life,
                    });
                    state.next_first_lsn = end;
                    self.commit.fail();
                    return Err(self.poison_with(error.into()));
                }
            };
            if let Some(error) = &sealed.index_failure {
                tracing::warn!(target: "wal::segment", %error, segment = id,
                    "sealed; its index is left for the next open to rebuild");
            }
            let end = Lsn(sealed.info.seal_lsn.0 + 1);
            let (chunks, index) = (sealed.chunks, sealed.positions);
            let sealed = true;
            state.closed.push(ClosedSegment { id, first, end, chunks, index, bytes, sealed, life });
            state.next_first_lsn = end;
            self.commit.raise(end.0);
            self.stats.rolled();
            // The next segment is created by the next append (which reports a full disk).
            // A prune that fails (the anchor cannot be written on a full disk) removed nothing
            // and is tried again at the next roll; the append that rolled goes on.
            if let Some(limit) = self.options.size_limit
                && let Err(error) = crate::truncate::prune_locked(self, &mut state, limit, false)
            {
                tracing::warn!(target: "wal::prune", %error, "size-limit prune failed; retried at \
                    the next roll");
            }
            Ok(())
        })
    }

    /// Everything below this LSN is published (readable).
    pub(crate) fn published_lsn(&self) -> Lsn {
        let state = lock_state(self);
        state.active.as_ref().map_or(state.next_first_lsn, SegmentWriter::published_lsn)
    }

    pub(crate) fn check_usable(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) { Err(self.poisoned_error()) } else { Ok(()) }
    }

    fn poisoned_error(&self) -> Error {
        let cause = lock(&self.poison).clone().unwrap_or_else(|| "an earlier failure".into());
        Error::Poisoned { cause }
    }

    /// Records `error` as the reason the log refuses writes from now on, and returns it.
    pub(crate) fn poison_with(&self, error: Error) -> Error {
        let mut poison = lock(&self.poison);
        poison.get_or_insert_with(|| error.to_string());
        self.poisoned.store(true, Ordering::Release);
        error
    }

    /// A fresh transaction id.
    pub(crate) fn next_txn_id(&self) -> TxnId {
        self.next_txn.fetch_add(1, Ordering::Relaxed)
    }
}

impl<S: Storage> State<S> {
    /// The active writer, starting the next segment if there is none: the one prepared ahead
    /// if that worked, else one prepared here (where a full disk is reported).
    pub(crate) fn writer(&mut self, shared: &Shared<S>) -> Result<&mut SegmentWriter<S>, Error> {
        if self.active.is_none() {
            let ahead = self.preparing.take().and_then(|preparing| preparing.join().ok());
            let prepared = match ahead {
                Some(Ok(prepared)) => prepared,
                // A failed preparation removed its files: the same id is tried again here.
                Some(Err(_)) | None => SegmentWriter::prepare(
                    &shared.storage,
                    &shared.dir,
                    self.next_segment_id,
                    shared.options.segment(),
                )?,
            };
            let mut writer = SegmentWriter::start(prepared, self.next_first_lsn);
            writer.track(SegmentLife::new(&shared.ledger, writer.segment_id()));
            self.active = Some(writer);
            // Recovery refuses a log whose next id is `u64::MAX`; one id per segment after that
            // cannot run out.
            self.next_segment_id = self.next_segment_id.saturating_add(1);
            self.prepare_next(shared);
        }
        Ok(self.active.as_mut().expect("started above"))
    }

    /// Prepares segment `next_segment_id` on a background thread, so that starting it later
    /// costs no file creation, reservation or pre-faulting on an appending thread. Only with
    /// `ChunkPreparation::Background`: `Inline` keeps every storage step in the caller's order.
    pub(crate) fn prepare_next(&mut self, shared: &Shared<S>) {
        if shared.options.preparation != ChunkPreparation::Background || self.preparing.is_some() {
            return;
        }
        let (storage, dir) = (shared.storage.clone(), shared.dir.clone());
        let (id, options) = (self.next_segment_id, shared.options.segment());
        self.preparing = std::thread::Builder::new()
            .name("wal-segment-prepare".into())
            .spawn(move || SegmentWriter::prepare(&storage, &dir, id, options))
            .ok();
    }

    /// Waits for a segment being prepared and deletes it (the log is closing).
    pub(crate) fn discard_prepared(&mut self, shared: &Shared<S>) {
        if let Some(Ok(Ok(prepared))) = self.preparing.take().map(JoinHandle::join) {
            let id = prepared.segment_id();
            drop(prepared);
            let _ = wal_segment::delete_segment(&shared.storage, &shared.dir, id);
        }
    }
}

impl TailSignal {
    fn new() -> TailSignal {
        TailSignal { lock: Mutex::new(()), condvar: Condvar::new(), waiters: AtomicU64::new(0) }
    }

    /// Wakes waiting readers, if any (one load when there are none).
    pub(crate) fn notify(&self) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.condvar.notify_all();
        }
    }

    /// Waits until `ready()` or `timeout`. Either the publisher sees this waiter, or the
    /// waiter sees the publication (both sides are sequentially consistent); the timeout
    /// bounds any wake-up that is missed anyway.
    pub(crate) fn wait(&self, timeout: Duration, ready: impl Fn() -> bool) {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        let guard = lock(&self.lock);
        if !ready() {
            let _ = self.condvar.wait_timeout(guard, timeout);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The life a writer's chunks hold (set when the log started it).
pub(crate) fn shared_life<S: Storage>(
    shared: &Shared<S>,
    writer: &SegmentWriter<S>,
) -> Arc<SegmentLife> {
    writer.life().cloned().unwrap_or_else(|| SegmentLife::new(&shared.ledger, writer.segment_id()))
}

impl<S: Storage> Shared<S> {
    /// Registers a handle of `kind` created by the caller's caller, if handles are tracked.
    #[track_caller]
    pub(crate) fn register(&self, kind: Kind) -> Option<Registration> {
        // Not `bool::then`: a closure would become the caller.
        if self.options.track_handles { Some(self.registry.register(kind)) } else { None }
    }
}

/// Starts the periodic syncer if the options ask for one.
fn start_syncer<S: Storage>(shared: &Arc<Shared<S>>) -> Option<Background> {
    let Durability::Periodic { interval } = shared.options.durability else { return None };
    let signal = Arc::new(Signal::default());
    Background::start("wal-syncer", interval, shared, signal, |shared| {
        // A failure poisons the log; appenders see it. The syncer stops.
        shared.wait_durable(shared.published_lsn()).is_ok()
    })
}

/// Starts the housekeeper if the options ask for one: it deletes released segments' files,
/// exports metrics and checks for leaks.
fn start_housekeeper<S: Storage>(shared: &Arc<Shared<S>>) -> Option<Background> {
    let interval = shared.options.housekeeping?;
    let signal = Arc::clone(&shared.housekeeping);
    Background::start("wal-housekeeper", interval, shared, signal, |shared| {
        // A failed deletion is retried on the next round.
        let _ = shared.housekeep();
        true
    })
}
