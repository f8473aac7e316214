//! Syncing a segment in three steps, so the slow one needs no lock: [`SyncProgress::plan`]
//! notes under the writer's lock what a sync covers (every published byte not yet durable,
//! and the index entries of its records); [`SyncPlan::run`] makes those ranges durable with
//! `msync` and then appends the entries, without the lock; [`SyncProgress::record`] records
//! the outcome. One plan at a time: a newer plan makes an older one stale.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wal_format::Lsn;

use crate::error::Error;
use crate::index_tail::IndexAppend;
use crate::live::Live;
use crate::storage::Storage;

/// What one sync covers, noted under the caller's lock and run without it.
pub struct SyncPlan<S: Storage> {
    path: PathBuf,
    target: Lsn,
    /// Each chunk with unsynced published bytes, and the range to sync.
    ranges: Vec<(Live<S>, usize, usize)>,
    pub(crate) index: IndexAppend<S::File>,
    generation: u64,
    /// What `run` returned; `None` until it has run.
    outcome: Option<Result<(), Error>>,
}

/// What the writer knows to be durable, and which plan is the newest.
pub(crate) struct SyncProgress {
    /// Chunks before this one are closed and durable.
    first_unsynced: usize,
    durable_lsn: Lsn,
    /// Incremented by every plan: only the newest plan may be recorded.
    generation: u64,
}

impl<S: Storage> SyncPlan<S> {
    /// The LSN below which everything is durable once this plan has run.
    #[must_use]
    pub fn target(&self) -> Lsn {
        self.target
    }

    /// Makes the planned ranges durable, then appends their index entries.
    ///
    /// # Errors
    /// `Poisoned` if an `msync` fails (the `Io` error itself is what
    /// [`crate::SegmentWriter::finish_sync`] returns).
    pub fn run(&mut self) -> Result<(), Error> {
        let outcome = self.sync_ranges();
        if outcome.is_ok() {
            self.index.write();
        }
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
        SyncProgress { first_unsynced: 0, durable_lsn: first_lsn, generation: 0 }
    }

    /// Every record below this LSN is durable.
    pub(crate) fn durable_lsn(&self) -> Lsn {
        self.durable_lsn
    }

    /// Plans a sync up to `target` (the published LSN, read before the chunks' offsets, so the
    /// offsets read here cover at least its records) of `chunks`, with the index entries in
    /// `index`.
    pub(crate) fn plan<S: Storage>(
        &mut self,
        path: &Path,
        chunks: &[Live<S>],
        target: Lsn,
        index: IndexAppend<S::File>,
    ) -> SyncPlan<S> {
        let mut ranges = Vec::new();
        for chunk in &chunks[self.first_unsynced..] {
            let synced = chunk.synced.load(Ordering::Relaxed);
            let published = chunk.published();
            if synced < published {
                ranges.push((Arc::clone(chunk), synced, published));
            }
        }
        self.generation += 1;
        SyncPlan {
            path: path.to_path_buf(),
            target,
            ranges,
            index,
            generation: self.generation,
            outcome: None,
        }
    }

    /// Whether `plan` is the newest plan (only it may be recorded).
    pub(crate) fn is_newest<S: Storage>(&self, plan: &SyncPlan<S>) -> bool {
        plan.generation == self.generation
    }

    /// Records a plan that ran and succeeded: its ranges and its target are durable.
    pub(crate) fn record<S: Storage>(&mut self, chunks: &[Live<S>], plan: &SyncPlan<S>) {
        for (chunk, _, end) in &plan.ranges {
            chunk.synced.store(*end, Ordering::Relaxed);
        }
        self.durable_lsn = self.durable_lsn.max(plan.target);
        let current = chunks.len() - 1;
        while self.first_unsynced < current {
            let chunk = &chunks[self.first_unsynced];
            let done =
                chunk.is_closed() && chunk.synced.load(Ordering::Relaxed) == chunk.published();
            if !done {
                break;
            }
            self.first_unsynced += 1;
        }
    }
}
