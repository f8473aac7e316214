//! Syncing a segment in three steps, so the slow one needs no lock: [`SyncProgress::plan`]
//! notes under the writer's lock what a sync covers (every published byte no earlier plan
//! covers); [`SyncPlan::run`] makes those ranges durable with `msync`, without the lock;
//! [`SyncProgress::record`] records the outcome (and the writer then hands out the index
//! entries of the records that became durable, see `index_tail`).
//!
//! Several plans may be in flight at once (the engine's group commit overlaps syncs of
//! consecutive ranges: the disk serves concurrent syncs faster than the same syncs one after
//! the other). Plans are numbered in the order they were made, each starts where the one before
//! it ended, and they may finish in any order; what is durable is the prefix of plans that all
//! finished: the durable LSN is the target of the newest plan with no unfinished plan before
//! it. One more rule, for errors: Linux reports a failed write-back once per open file, to
//! whichever sync of the file looks first, and every chunk is mapped from one file, so a sync
//! running beside another can take the error that belongs to the other's pages, and the other
//! then returns success for pages that never reached the disk. So a finished plan is trusted
//! only once every plan that was still running when it finished has finished too (a failure
//! poisons the writer, and nothing is recorded after that). Index entries are made only for
//! records below that durable LSN, so an entry never
//! vouches for a record whose sync is still running (an earlier plan's range could still be
//! in flight when a later one finishes).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wal_format::Lsn;

use crate::error::Error;
use crate::live::Live;
use crate::storage::Storage;

/// What one sync covers, noted under the caller's lock and run without it.
pub struct SyncPlan<S: Storage> {
    path: PathBuf,
    target: Lsn,
    /// Each chunk with published bytes no earlier plan covers, and the range to sync.
    ranges: Vec<(Live<S>, usize, usize)>,
    /// The plan's number: plans are made in this order.
    sequence: u64,
    /// What `run` returned; `None` until it has run.
    outcome: Option<Result<(), Error>>,
}

/// What the writer knows to be durable, and the plans still running.
pub(crate) struct SyncProgress {
    durable_lsn: Lsn,
    /// Where the next plan starts: the chunk and the offset the newest plan ended at.
    planned: (usize, usize),
    /// The number the next plan gets.
    next_sequence: u64,
    /// Plans made and not yet part of the durable prefix, oldest first.
    flights: VecDeque<Flight>,
}

/// A plan in flight, as its writer tracks it.
struct Flight {
    sequence: u64,
    target: Lsn,
    finished: bool,
    /// The plans still running when this one finished: it is trusted once they have finished
    /// (any of them could have taken an error that belongs to this one's pages).
    overlapped: Vec<u64>,
}

impl<S: Storage> SyncPlan<S> {
    /// The LSN below which everything is durable once this plan, and every plan made before
    /// it, has run.
    #[must_use]
    pub fn target(&self) -> Lsn {
        self.target
    }

    /// Makes the planned ranges durable.
    ///
    /// # Errors
    /// `Poisoned` if an `msync` fails (the `Io` error itself is what
    /// [`crate::SegmentWriter::finish_sync`] returns).
    pub fn run(&mut self) -> Result<(), Error> {
        let outcome = self.sync_ranges();
        let reported = match &outcome {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::Poisoned { path: self.path.clone() }),
        };
        self.outcome = Some(outcome);
        reported
    }

    /// What `run` returned: `Poisoned` for a plan that never ran.
    pub(crate) fn take_outcome(&mut self) -> Result<(), Error> {
        self.outcome.take().unwrap_or_else(|| Err(Error::Poisoned { path: self.path.clone() }))
    }

    fn sync_ranges(&self) -> Result<(), Error> {
        for (chunk, start, end) in &self.ranges {
            chunk
                .map
                .sync(*start, *end)
                .map_err(|error| Error::io("msync", &self.path, error).in_chunk(chunk.index()))?;
        }
        Ok(())
    }
}

impl SyncProgress {
    /// A segment whose records from `first_lsn` on are not durable yet.
    pub(crate) fn new(first_lsn: Lsn) -> Self {
        SyncProgress {
            durable_lsn: first_lsn,
            planned: (0, 0),
            next_sequence: 0,
            flights: VecDeque::new(),
        }
    }

    /// Every record below this LSN is durable.
    pub(crate) fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// Plans a sync up to `target` (the published LSN, read before the chunks' offsets, so the
    /// offsets read here cover at least its records) of `chunks`, from where the newest plan
    /// ended.
    pub(crate) fn plan<S: Storage>(
        &mut self,
        path: &Path,
        chunks: &[Live<S>],
        target: Lsn,
    ) -> SyncPlan<S> {
        let mut ranges = Vec::new();
        let (first_chunk, first_offset) = self.planned;
        for (at, chunk) in chunks.iter().enumerate().skip(first_chunk) {
            let start = if at == first_chunk { first_offset } else { 0 };
            let published = chunk.published();
            if start < published {
                ranges.push((Arc::clone(chunk), start, published));
                self.planned = (at, published);
            }
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.flights.push_back(Flight {
            sequence,
            target,
            finished: false,
            overlapped: Vec::new(),
        });
        SyncPlan { path: path.to_path_buf(), target, ranges, sequence, outcome: None }
    }

    /// Records a plan that ran and succeeded; the durable LSN moves to the target of the newest
    /// plan with no unfinished plan before it.
    pub(crate) fn record<S: Storage>(&mut self, plan: &SyncPlan<S>) {
        let running: Vec<u64> = (self.flights.iter())
            .filter(|flight| !flight.finished && flight.sequence != plan.sequence)
            .map(|flight| flight.sequence)
            .collect();
        if let Some(flight) = self.flights.iter_mut().find(|f| f.sequence == plan.sequence) {
            flight.finished = true;
            flight.overlapped = running;
        }
        while self.flights.front().is_some_and(|flight| self.trusted(flight)) {
            let flight = self.flights.pop_front().expect("checked above");
            self.durable_lsn = self.durable_lsn.max(flight.target);
        }
    }

    /// Whether `flight` finished, and every plan running when it did has finished since.
    fn trusted(&self, flight: &Flight) -> bool {
        let finished = |sequence: &u64| {
            // Plans leave the queue only in order, finished.
            self.flights.iter().find(|f| f.sequence == *sequence).is_none_or(|f| f.finished)
        };
        flight.finished && flight.overlapped.iter().all(finished)
    }

    /// Whether a plan is still running.
    pub(crate) fn in_flight(&self) -> bool {
        !self.flights.is_empty()
    }

    /// Whether `plan` is the only plan not yet recorded.
    pub(crate) fn only<S: Storage>(&self, plan: &SyncPlan<S>) -> bool {
        self.flights.len() == 1 && self.flights[0].sequence == plan.sequence
    }
}
