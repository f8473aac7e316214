//! What every handle of the log shares, and the write path through it: reserving, copying and
//! publishing records, rolling to the next segment, and durability through group commit.
//!
//! Threads and locks. `state` (a mutex) guards the segment list and the active segment's
//! writer; it is held only to reserve LSNs and space, to look a position up, or to note what a
//! sync covers, never while bytes are copied or synced. Copies run in the appending threads
//! after the lock is released, and publish in LSN order (`wal_segment::Reservation`). The group
//! commit (`GroupCommit`) has a lock of its own, taken after `state` when both are held and
//! never across a sync; syncs run in its slots, and its exclusive role (no sync running) is what
//! rolling to a new segment, cutting, pruning and closing take.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use wal_format::{Lsn, Record};
use wal_segment::{SegmentId, SegmentWriter, Storage, SyncPlan};
use wal_telemetry::{
    HeldBack, Kind, LeakWatch, LogMetrics, RecoveryFigures, Registration, Registry, SegmentLife,
};

use crate::background::{Lazy, Signal};
use crate::entry::TxnId;
use crate::error::Error;
use crate::group_commit::{GroupCommit, Syncer, WaitError, Waited};
use crate::mutex::lock;
use crate::options::Durability;
use crate::segments::{ClosedSegment, Files, Force, PruneReport, State, life_of};
use crate::stats::Stats;
use crate::tail::TailSignal;

/// Everything the log's handles share.
pub(crate) struct Shared<S: Storage> {
    /// Where the files are and how they are laid out.
    pub(crate) files: Files<S>,

    // The write path.
    /// The segment list and the active writer (see `segments`).
    pub(crate) state: Mutex<State<S>>,
    /// The sync role and the durable watermark.
    pub(crate) commit: GroupCommit,
    pub(crate) tail: TailSignal,
    /// Bumped whenever records are removed (a truncation or a prune): readers re-locate.
    pub(crate) epoch: AtomicU64,
    pub(crate) next_txn: AtomicU64,
    pub(crate) closed: AtomicBool,

    // Health: why the log refuses writes, once it does.
    poison: Mutex<Option<Error>>,
    poisoned: AtomicBool,

    // What the log tells about itself.
    pub(crate) stats: Stats,
    /// The live readers, tailing readers and transactions.
    pub(crate) registry: Arc<Registry>,
    pub(crate) leaks: LeakWatch,
    /// This log's series (its `log` label).
    pub(crate) metrics: LogMetrics,
    pub(crate) recovery: RecoveryFigures,
    /// Wakes the housekeeper (a segment was released).
    pub(crate) housekeeping: Arc<Signal>,
    /// The thread that leads syncs for futures (`durable.rs`), started at the first one.
    pub(crate) task_syncer: Lazy,
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

impl<S: Storage> Shared<S> {
    /// The shared part of a log recovered into `state`, whose next transaction id is
    /// `next_txn`.
    pub(crate) fn new(
        files: Files<S>,
        state: State<S>,
        next_txn: TxnId,
        recovery: RecoveryFigures,
    ) -> Shared<S> {
        let housekeeping = Arc::new(Signal::default());
        let waking = Arc::clone(&housekeeping);
        files.ledger.set_waker(move || waking.wake());
        let commit = GroupCommit::new(state.next_first_lsn.0, files.options.syncs_in_flight);
        let metrics = LogMetrics::new(&files.options.metrics_label_for(&files.dir));
        Shared {
            files,
            commit,
            state: Mutex::new(state),
            tail: TailSignal::new(),
            epoch: AtomicU64::new(0),
            next_txn: AtomicU64::new(next_txn),
            closed: AtomicBool::new(false),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            stats: Stats::default(),
            registry: Registry::new(),
            leaks: LeakWatch::default(),
            metrics,
            recovery,
            housekeeping,
            task_syncer: Lazy::default(),
        }
    }

    /// Tells readers that records were removed, and reports who holds back the segments
    /// removed but still viewed (`held`). Called under the state lock.
    pub(crate) fn removed(&self, held: &[Arc<SegmentLife>]) -> Vec<HeldBack> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.held_back_report(held)
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
                let writer = state.writer(&self.files)?;
                let first = writer.next_lsn();
                match writer.reserve(records) {
                    Ok(reservation) => {
                        state.appended.add(records);
                        let last = first.plus(records.len() as u64).before();
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
                    // The writer refuses because a failed sync or an abandoned reservation
                    // poisoned it, which recorded the cause under this lock: name it.
                    Err(wal_segment::Error::Poisoned { .. }) => return Err(self.poisoned_error()),
                    Err(error) => return Err(error.into()),
                }
            };
            let first = reservation.complete().map_err(|error| self.poison_with(error.into()))?;
            self.tail.notify();
            return Ok(first);
        }
    }

    /// What `Durability` asks of a commit that ends below `end`.
    pub(crate) fn committed(&self, end: Lsn) -> Result<(), Error> {
        match self.files.options.durability {
            Durability::Commit => self.wait_durable(end),
            Durability::Buffered | Durability::Periodic { .. } => Ok(()),
        }
    }

    /// Returns once every record below `lsn` is durable, syncing if it is this thread's turn.
    pub(crate) fn wait_durable(&self, lsn: Lsn) -> Result<(), Error> {
        match self.commit.wait(lsn.0, self) {
            Ok(Waited::Covered) => Ok(()),
            Ok(Waited::Synced { waiters }) => {
                // The group commit's invariant, in the engine's terms: nothing is durable that
                // was not published.
                debug_assert!(
                    self.commit.durable() <= self.published_lsn().0,
                    "durable {} past published {}",
                    self.commit.durable(),
                    self.published_lsn()
                );
                self.stats.group(waiters as u64);
                self.metrics.record_group_commit(waiters as u64);
                Ok(())
            }
            Err(WaitError::Failed) => Err(self.poisoned_error()),
            Err(WaitError::Sync(error)) => Err(self.poison_with(error)),
            Err(WaitError::Short { target }) => Err(self.short_error(target)),
        }
    }

    /// Why no sync can cover a record beyond `target`: the log closed before it was made
    /// durable, or a cut removed it.
    pub(crate) fn short_error(&self, target: u64) -> Error {
        if self.closed.load(Ordering::Acquire) {
            Error::Closed
        } else {
            Error::Truncated { at: Lsn(target) }
        }
    }

    /// Seals the full segment `full` and starts the next one; another thread may have done it.
    fn roll(&self, full: SegmentId) -> Result<(), Error> {
        self.commit.with_role(|| {
            let mut state = lock_state(self);
            if state.active.as_ref().map(SegmentWriter::segment_id) != Some(full) {
                return Ok(());
            }
            let writer = state.active.take().expect("checked above");
            let (id, first) = (writer.segment_id(), writer.first_lsn());
            // Kept to stay readable if sealing fails.
            let (chunks, index) = (writer.chunks(), writer.positions().clone());
            let life = life_of(&self.files, &writer);
            // Sealing waits for every reservation in flight, which needs no lock to finish. It
            // never needs a new chunk (every chunk keeps the seal's room), so only an I/O error
            // can stop it, and that leaves the data in doubt: the log is poisoned, and what it
            // holds stays readable.
            let sealed = match writer.finish() {
                Ok(sealed) => sealed,
                Err(error) => {
                    let end = first.plus(index.len() as u64);
                    state.push_closed(ClosedSegment::new(
                        id, first, end, chunks, index, false, life,
                    ));
                    self.commit.fail();
                    return Err(self.poison_with(error.into()));
                }
            };
            if let Some(error) = &sealed.index_failure {
                tracing::warn!(target: "wal::segment", %error, segment = id.0,
                    "sealed; its index is left for the next open to rebuild");
            }
            let end = sealed.info.seal_lsn.next();
            let (chunks, index) = (sealed.chunks, sealed.positions);
            state.push_closed(ClosedSegment::new(id, first, end, chunks, index, true, life));
            self.commit.raise(end.0);
            self.stats.rolled();
            // The next segment is created by the next append (which reports a full disk).
            // A prune that fails (the anchor cannot be written on a full disk) removed nothing
            // and is tried again at the next roll; the append that rolled goes on.
            if let Some(limit) = self.files.options.size_limit_bytes
                && let Err(error) = self.prune_locked(&mut state, limit, Force::No)
            {
                tracing::warn!(target: "wal::prune", %error, "size-limit prune failed; retried at \
                    the next roll");
            }
            Ok(())
        })
    }

    /// Everything below this LSN is published (readable).
    pub(crate) fn published_lsn(&self) -> Lsn {
        lock_state(self).published_lsn()
    }

    /// Prunes with the sync role and the state lock held (see [`State::prune`]).
    pub(crate) fn prune_locked(
        &self,
        state: &mut State<S>,
        budget: u64,
        force: Force,
    ) -> Result<PruneReport, Error> {
        let pruned = state.prune(&self.files, budget, force)?;
        let held_back = if pruned.removed > 0 { self.removed(&pruned.held) } else { Vec::new() };
        Ok(PruneReport {
            segments_deleted: pruned.removed - pruned.held.len(),
            bytes_freed: pruned.bytes_freed,
            start: state.anchor.start(),
            bytes_held: pruned.bytes_held,
            held_by_floor: pruned.held_by_floor,
            held_back,
        })
    }

    pub(crate) fn check_usable(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) { Err(self.poisoned_error()) } else { Ok(()) }
    }

    /// Whether a failed write or sync poisoned the log.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn poisoned_error(&self) -> Error {
        // Every path that marks the log poisoned records its cause first.
        let cause = lock(&self.poison).clone();
        debug_assert!(cause.is_some(), "poisoned without a cause");
        Error::Poisoned { cause: Box::new(cause.unwrap_or(Error::Closed)) }
    }

    /// Records `error` as the reason the log refuses writes from now on, and returns it.
    pub(crate) fn poison_with(&self, error: Error) -> Error {
        let mut poison = lock(&self.poison);
        if poison.is_none() {
            crate::events::poisoned(&self.files.dir, &error);
        }
        poison.get_or_insert_with(|| error.clone());
        self.poisoned.store(true, Ordering::Release);
        error
    }

    /// A fresh transaction id.
    pub(crate) fn next_txn_id(&self) -> TxnId {
        self.next_txn.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a handle of `kind` created by the caller's caller, if handles are tracked.
    #[track_caller]
    pub(crate) fn register(&self, kind: Kind) -> Option<Registration> {
        // Not `bool::then`: a closure would become the caller.
        if self.files.options.track_handles { Some(self.registry.register(kind)) } else { None }
    }
}

/// What one sync of the group commit covers.
pub(crate) enum Planned<S: Storage> {
    /// Ranges of the active segment.
    Segment(SyncPlan<S>),
    /// Nothing to sync: everything below this LSN is already as durable as it will get
    /// (every closed segment was sealed durable, or the log closed).
    Nothing(u64),
}

impl<S: Storage> Syncer for Shared<S> {
    type Plan = Planned<S>;
    type Error = Error;

    /// Notes what the active segment has published and not yet planned; the group commit
    /// keeps the writer in place until the plan has run.
    fn plan(&self) -> Result<(Planned<S>, u64), Error> {
        let mut state = lock_state(self);
        match state.active.as_mut() {
            Some(writer) => {
                let plan = writer.begin_sync()?;
                let target = plan.target().0;
                Ok((Planned::Segment(plan), target))
            }
            // Closing retired the active segment unsynced: nothing more becomes durable,
            // and waiters beyond the watermark are told so (never acknowledged).
            None if self.closed.load(Ordering::Acquire) => {
                let durable = self.commit.durable();
                Ok((Planned::Nothing(durable), durable))
            }
            // Every closed segment was sealed durable.
            None => Ok((Planned::Nothing(state.next_first_lsn.0), state.next_first_lsn.0)),
        }
    }

    /// Runs the plan without the state lock, records it, then writes the index entries of what
    /// became durable (again without the lock). Returns the durable LSN.
    fn run(&self, plan: Planned<S>) -> Result<u64, Error> {
        let mut plan = match plan {
            Planned::Segment(plan) => plan,
            Planned::Nothing(durable) => return Ok(durable),
        };
        let started = Instant::now();
        // The outcome stays in the plan; `finish_sync` reports it.
        let _ = plan.run();
        let took = started.elapsed();
        self.stats.synced(took);
        self.metrics.record_sync(took);
        let target = plan.target();
        let mut state = lock_state(self);
        // What a sync covers was published, and nothing is published that was not reserved.
        debug_assert!(
            target <= state.published_lsn() && state.published_lsn() <= state.next_lsn(),
            "sync target {target}, published {}, next {}",
            state.published_lsn(),
            state.next_lsn()
        );
        let writer = state.active.as_mut().expect("a sync in flight keeps the writer in place");
        // A failed sync records its cause before the group commit marks the group failed, so
        // a waiter woken by that mark finds the cause (`poisoned_error`).
        let index = writer.finish_sync(plan).map_err(|error| self.poison_with(error.into()))?;
        debug_assert!(writer.durable_lsn() <= writer.published_lsn(), "durable past published");
        let durable = writer.durable_lsn();
        drop(state);
        index.write();
        Ok(durable.0)
    }
}
