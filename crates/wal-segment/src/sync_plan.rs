//! A sync plan: what one sync covers, noted under the caller's lock by
//! `SegmentWriter::begin_sync` and run without it (`msync` of each range, then the index
//! entries appended); the writer records its outcome in `SegmentWriter::finish_sync`.

use std::path::PathBuf;
use std::sync::Arc;

use wal_format::Lsn;

use crate::error::Error;
use crate::live::Live;
use crate::storage::{SegmentFile, Storage};

/// What one sync covers, noted under the caller's lock and run without it.
pub struct SyncPlan<S: Storage> {
    pub(crate) path: PathBuf,
    pub(crate) target: Lsn,
    pub(crate) ranges: Vec<(Live<S>, usize, usize)>,
    /// The records below this number are durable once the plan has run.
    pub(crate) upto: usize,
    pub(crate) index_bytes: Vec<u8>,
    pub(crate) index_file: Option<(Arc<S::File>, u64)>,
    pub(crate) index_written: bool,
    pub(crate) generation: u64,
    /// What `run` returned; `None` until it has run.
    pub(crate) outcome: Option<Result<(), Error>>,
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
    /// `Io` if an `msync` fails.
    pub fn run(&mut self) -> Result<(), Error> {
        let outcome = self.sync_ranges();
        if outcome.is_ok()
            && let Some((file, at)) = &self.index_file
        {
            self.index_written = file.write_at(*at, &self.index_bytes).is_ok();
        }
        let reported = match &outcome {
            Ok(()) => Ok(()),
            Err(_) => Err(Error::Poisoned { path: self.path.clone() }),
        };
        self.outcome = Some(outcome);
        reported
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
