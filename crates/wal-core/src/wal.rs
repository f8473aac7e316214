//! The log handle: opening (recovery, then the first writes), appending, durability, and
//! closing. The write path itself is `shared.rs`; the segment list is `segments.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wal_format::{Lsn, Record, Tag};
use wal_segment::{DirLock, RealStorage, Storage};
use wal_telemetry::{EngineFigures, Ledger, RecoveryFigures};

use crate::background::{Background, Signal};
use crate::directory::{self, IfMissing};
use crate::entry::is_record_tag;
use crate::error::Error;
use crate::options::{Durability, Options};
use crate::recovery;
use crate::report::RecoveryReport;
use crate::segments::Files;
use crate::shared::{Shared, lock_state};

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

impl Wal<RealStorage> {
    /// Opens (or creates) the log in `dir`, recovering it as `options.recovery` says.
    ///
    /// A log keeps the layout it was created with: each segment is read with the chunk size
    /// its chunk headers state, and new segments take the newest segment's, whatever
    /// `options.chunk_bytes` says (that applies to a log without segments). `chunks_per_segment`
    /// applies to new segments. [`Wal::chunk_bytes`] tells which size the log has.
    ///
    /// # Errors
    /// `NotADirectory` if `dir` (or a directory above it) is a file; `Segment(Locked)` if
    /// another handle, in this process or another, has the directory; damage as the recovery
    /// mode decides; I/O errors.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<(Self, RecoveryReport), Error> {
        Wal::open_in(RealStorage, dir, options)
    }

    /// Opens the log in `dir` as [`Wal::open`] does, but only if there is one: a directory
    /// holding the anchor file or a segment file. Nothing is created otherwise.
    ///
    /// # Errors
    /// `NotFound` if `dir` does not exist, `NotADirectory` if it is a file, `NotALog` if it
    /// holds no log; otherwise as [`Wal::open`].
    pub fn open_existing(
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Self, RecoveryReport), Error> {
        Wal::open_existing_in(RealStorage, dir, options)
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
    /// Checks the options and the directory, locks it and recovers the log in it.
    fn recover(
        storage: S,
        dir: &Path,
        options: Options,
        if_missing: IfMissing,
    ) -> Result<Opening<S>, Error> {
        options.validate()?;
        directory::prepare(&storage, dir, if_missing)?;
        let lock = DirLock::acquire(&storage, dir)?;
        let ledger = Ledger::new();
        let recovered = recovery::recover(&storage, dir, &options, &ledger)?;
        let options = directory::adopt_layout(dir, options, recovered.chunk_bytes);
        Ok(Opening { storage, dir: dir.to_owned(), options, lock, ledger, recovered })
    }

    /// What recovery found and did.
    #[must_use]
    pub fn report(&self) -> &RecoveryReport {
        &self.recovered.report
    }

    /// Starts the log: performs recovery's writes (a cut made durable, the transactions a
    /// crash left open closed) and hands the log out.
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
        let files = Files { storage, dir, options, ledger };
        let shared = Arc::new(Shared::new(files, recovered.state, recovered.next_txn, recovery));
        let report = recovered.report;
        // A log whose durability needs a thread that cannot start must not open without it.
        // (Started first: a failure then leaves nothing behind; a thread already started
        // stops once `shared` is gone.)
        let syncer = start_syncer(&shared)?;
        let housekeeper = start_housekeeper(&shared)?;
        let wal = Wal { syncer, housekeeper, shared, lock: Some(lock) };
        lock_state(&wal.shared).prepare_next(&wal.shared.files);
        // On an error the `Wal` is dropped as any other: the segment prepared ahead is
        // discarded and the directory released.
        recovered.deferred.perform(&wal.shared)?;
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

    /// Opens the existing log in `dir` on `storage`: [`Wal::open_existing`].
    ///
    /// # Errors
    /// As [`Wal::open_existing`].
    pub fn open_existing_in(
        storage: S,
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<(Self, RecoveryReport), Error> {
        Wal::recover_existing_in(storage, dir, options)?.finish()
    }

    /// As [`Wal::recover_in`], for an existing log only: [`Wal::open_existing`].
    ///
    /// # Errors
    /// As [`Wal::open_existing`].
    pub fn recover_existing_in(
        storage: S,
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<Opening<S>, Error> {
        Opening::recover(storage, dir.as_ref(), options, IfMissing::Refuse)
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
        Opening::recover(storage, dir.as_ref(), options, IfMissing::Create)
    }

    /// Appends one self-contained record with `tag` (a user tag or `Tag::ENTRY`) and returns
    /// its LSN. Under `Durability::Commit` it is durable on return.
    ///
    /// Under `Durability::Commit` this blocks the calling thread until the record is durable
    /// (it may lead the sync itself); in async code use [`Wal::append_durable`].
    ///
    /// # Errors
    /// `NotAnApplicationTag`; `Segment(RecordTooLarge)` for a payload larger than
    /// [`Wal::max_record_bytes`]; `Segment(OutOfSpace)` when the disk is full (nothing is written; retry once space
    /// is freed); `Poisoned` after a failed write or sync.
    pub fn append(&self, tag: Tag, payload: &[u8]) -> Result<Lsn, Error> {
        if !is_record_tag(tag) {
            return Err(Error::NotAnApplicationTag { tag });
        }
        let lsn = self.shared.write(&[Record { tag, payload }])?;
        self.shared.committed(lsn.next())?;
        Ok(lsn)
    }

    /// Appends self-contained records in one call (LSNs in order, all or nothing) and returns
    /// the first LSN. Under `Durability::Commit` all are durable on return (blocking the
    /// calling thread, as [`Wal::append`]).
    ///
    /// # Errors
    /// As [`Wal::append`]; also `Segment(SegmentFull)` for a batch larger than a segment.
    pub fn append_batch(&self, records: &[Record<'_>]) -> Result<Lsn, Error> {
        if let Some(record) = records.iter().find(|record| !is_record_tag(record.tag)) {
            return Err(Error::NotAnApplicationTag { tag: record.tag });
        }
        let first = self.shared.write(records)?;
        self.shared.committed(first.plus(records.len() as u64))?;
        Ok(first)
    }

    /// Returns once the record at `lsn` (a commit written by [`crate::Txn::commit_unsynced`])
    /// is as durable as [`Options::durability`] asks of a commit: durable under
    /// `Durability::Commit`, at once otherwise.
    ///
    /// Under `Durability::Commit` this blocks the calling thread until the sync is done; in
    /// async code use [`Wal::wait_durable`].
    ///
    /// # Errors
    /// `Poisoned`, or the I/O error of the sync (which poisons the log).
    pub fn wait_commit(&self, lsn: Lsn) -> Result<(), Error> {
        self.shared.committed(lsn.next())
    }

    /// Makes everything written so far durable, whatever the durability setting.
    ///
    /// Blocks the calling thread until the sync is done (it may run it itself); in async code
    /// use [`Wal::wait_durable`] with the LSN of the last record to cover.
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
    /// Blocks the calling thread until the sync is done; in async code use
    /// [`Wal::wait_durable`].
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
        lock_state(&self.shared).next_lsn()
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
        &self.shared.files.dir
    }

    /// The log's chunk size: the one its segments were written with, or for a log that had
    /// none when opened, [`Options::chunk_bytes`].
    #[must_use]
    pub fn chunk_bytes(&self) -> usize {
        self.shared.files.options.chunk_bytes
    }

    /// The largest payload [`Wal::append`] takes in this log: what a chunk holds beside its
    /// header, a frame header and the room it keeps for a seal (`chunk_bytes` - 136), capped
    /// by the format's limit, 4 MiB - 24 bytes (from 8 MiB chunks up). A transaction's delta
    /// takes [`Wal::max_delta_bytes`]. A larger payload is `Segment(RecordTooLarge)`, which
    /// states this figure.
    #[must_use]
    pub fn max_record_bytes(&self) -> usize {
        self.shared.files.options.max_record_bytes()
    }

    /// The largest payload [`crate::Txn::delta`] takes: [`Wal::max_record_bytes`] less the 9
    /// bytes a delta record adds (its transaction id and the application's tag).
    #[must_use]
    pub fn max_delta_bytes(&self) -> usize {
        self.shared.files.options.max_delta_bytes()
    }

    /// Counters of what the log has done since it was opened, what opening recovered, and
    /// where the log stands (segments, their bytes, next and durable LSNs, poisoned): the same
    /// figures [`Wal::telemetry`] reports as `engine`.
    #[must_use]
    pub fn stats(&self) -> EngineFigures {
        self.shared.engine_figures()
    }
}

impl<S: Storage> Drop for Wal<S> {
    /// Stops the background syncer and wakes tailing readers. Nothing is synced: under
    /// `Buffered` or `Periodic`, call [`Wal::sync`] first to keep the last writes. A commit
    /// still waiting for its sync on another thread, or in a future, gets `Closed` (it is
    /// never acknowledged without a sync covering it).
    fn drop(&mut self) {
        for mut thread in [self.syncer.take(), self.housekeeper.take()].into_iter().flatten() {
            thread.stop();
        }
        // Futures waiting now get `Closed` below, once `closed` is set.
        self.shared.task_syncer.stop();
        // No write starts after this (they check `closed` under the state lock), and the
        // writer goes once the ones in flight are published; then the lock is released.
        self.shared.commit.with_role(|| {
            let mut state = lock_state(&self.shared);
            self.shared.closed.store(true, Ordering::Release);
            // Readers that outlive the `Wal` keep reading what was written.
            let _ = state.retire_active(&self.shared.files);
            state.discard_prepared(&self.shared.files);
            // Files of segments released later stay until the next open deletes them (they
            // lie before the start, or were cut away): only the lock holder may delete.
            let _ = state.delete_released(&self.shared.files);
        });
        self.shared.commit.close_tasks();
        self.shared.tail.notify();
        drop(self.lock.take());
    }
}

/// Starts the periodic syncer if the options ask for one.
///
/// # Errors
/// `Io` if the thread cannot be started.
fn start_syncer<S: Storage>(shared: &Arc<Shared<S>>) -> Result<Option<Background>, Error> {
    let Durability::Periodic { interval } = shared.files.options.durability else {
        return Ok(None);
    };
    let signal = Arc::new(Signal::default());
    let started = Background::start("wal-syncer", interval, shared, signal, |shared| {
        // A failure poisons the log; appenders see it. The syncer stops.
        shared.wait_durable(shared.published_lsn()).is_ok()
    });
    thread_started(started, "start the syncer thread for", shared)
}

/// Starts the housekeeper if the options ask for one: it deletes released segments' files,
/// exports metrics and checks for leaks.
///
/// # Errors
/// `Io` if the thread cannot be started.
fn start_housekeeper<S: Storage>(shared: &Arc<Shared<S>>) -> Result<Option<Background>, Error> {
    let Some(interval) = shared.files.options.housekeeping else { return Ok(None) };
    let signal = Arc::clone(&shared.housekeeping);
    let started = Background::start("wal-housekeeper", interval, shared, signal, |shared| {
        // A failed deletion is retried on the next round.
        let _ = shared.housekeep();
        true
    });
    thread_started(started, "start the housekeeper thread for", shared)
}

fn thread_started<S: Storage>(
    started: std::io::Result<Background>,
    what: &'static str,
    shared: &Shared<S>,
) -> Result<Option<Background>, Error> {
    started.map(Some).map_err(|error| wal_segment::Error::io(what, &shared.files.dir, error).into())
}
