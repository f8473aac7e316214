//! The log under a [`crate::Durable`], for reading only.
//!
//! Writing to the log behind the state's back would break what recovery relies on: a record
//! appended outside [`crate::Durable::execute`] is replayed into a rebuilt state but was never
//! applied to the live one, and a truncation can cut history a snapshot needs. So the log is
//! lent out through this view, which offers reads, durability and telemetry only.

use std::path::Path;

use wal_core::{
    EngineFigures, Entry, Error, Kind, LeakWarning, Lsn, Reader, RealStorage, Replay, Storage,
    Tail, Telemetry, Tracked, Wal,
};

/// A read-only view of a [`crate::Durable`]'s log.
pub struct Log<'a, S: Storage = RealStorage> {
    wal: &'a Wal<S>,
}

// Not derived: a derive would ask `S: Copy`.
impl<S: Storage> Clone for Log<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Storage> Copy for Log<'_, S> {}

impl<'a, S: Storage> Log<'a, S> {
    pub(crate) fn new(wal: &'a Wal<S>) -> Self {
        Log { wal }
    }

    /// As [`Wal::get`].
    ///
    /// # Errors
    /// As [`Wal::get`].
    pub fn get(&self, lsn: Lsn) -> Result<Option<Entry>, Error> {
        self.wal.get(lsn)
    }

    /// As [`Wal::read_from`].
    ///
    /// # Errors
    /// As [`Wal::read_from`].
    #[track_caller]
    pub fn read_from(&self, lsn: Lsn) -> Result<Reader<S>, Error> {
        self.wal.read_from(lsn)
    }

    /// As [`Wal::tail_from`].
    ///
    /// # Errors
    /// As [`Wal::tail_from`].
    #[track_caller]
    pub fn tail_from(&self, lsn: Lsn) -> Result<Tail<S>, Error> {
        self.wal.tail_from(lsn)
    }

    /// As [`Wal::replay_from`].
    ///
    /// # Errors
    /// As [`Wal::replay_from`].
    #[track_caller]
    pub fn replay_from(&self, lsn: Lsn) -> Result<Replay<S>, Error> {
        self.wal.replay_from(lsn)
    }

    /// As [`Wal::sync`].
    ///
    /// # Errors
    /// As [`Wal::sync`].
    pub fn sync(&self) -> Result<(), Error> {
        self.wal.sync()
    }

    /// As [`Wal::start_lsn`].
    #[must_use]
    pub fn start_lsn(&self) -> Lsn {
        self.wal.start_lsn()
    }

    /// As [`Wal::next_lsn`].
    #[must_use]
    pub fn next_lsn(&self) -> Lsn {
        self.wal.next_lsn()
    }

    /// As [`Wal::durable_lsn`].
    #[must_use]
    pub fn durable_lsn(&self) -> Lsn {
        self.wal.durable_lsn()
    }

    /// As [`Wal::dir`].
    #[must_use]
    pub fn dir(&self) -> &'a Path {
        self.wal.dir()
    }

    /// As [`Wal::stats`].
    #[must_use]
    pub fn stats(&self) -> EngineFigures {
        self.wal.stats()
    }

    /// As [`Wal::telemetry`].
    #[must_use]
    pub fn telemetry(&self) -> Telemetry {
        self.wal.telemetry()
    }

    /// As [`Wal::housekeep`].
    ///
    /// # Errors
    /// As [`Wal::housekeep`].
    pub fn housekeep(&self) -> Result<Vec<LeakWarning>, Error> {
        self.wal.housekeep()
    }

    /// As [`Wal::track`].
    #[track_caller]
    pub fn track(&self, kind: Kind) -> Tracked<S> {
        self.wal.track(kind)
    }
}
