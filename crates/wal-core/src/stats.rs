//! Counters of what the engine does. Appends are counted in [`Appended`], plain numbers under
//! the state lock the append already holds (no atomic instruction on the append path); the
//! rarer events (syncs, rolls) in relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wal_telemetry::{EngineFigures, RecoveryFigures};

/// Records and payload bytes appended, counted under the state lock when they are reserved
/// (a reservation that then fails poisons the log, so the count can exceed what landed only
/// in a log that refuses every later write).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Appended {
    records: u64,
    bytes: u64,
}

impl Appended {
    pub(crate) fn add(&mut self, records: &[wal_format::Record<'_>]) {
        self.records += records.len() as u64;
        self.bytes += records.iter().map(|record| record.payload.len() as u64).sum::<u64>();
    }
}

/// Live counters of the rarer events.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
    group_syncs: AtomicU64,
    group_waiters: AtomicU64,
    segments_rolled: AtomicU64,
}

impl Stats {
    pub(crate) fn synced(&self, took: Duration) {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sync_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn group(&self, waiters: u64) {
        self.group_syncs.fetch_add(1, Ordering::Relaxed);
        self.group_waiters.fetch_add(waiters, Ordering::Relaxed);
    }

    pub(crate) fn rolled(&self) {
        self.segments_rolled.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as the telemetry's figures, with the appends and what the opening
    /// recovery did.
    pub(crate) fn figures(&self, appended: Appended, recovery: RecoveryFigures) -> EngineFigures {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut figures = EngineFigures::default();
        figures.records = appended.records;
        figures.bytes = appended.bytes;
        figures.syncs = get(&self.syncs);
        figures.sync_time = Duration::from_nanos(get(&self.sync_nanos));
        figures.group_syncs = get(&self.group_syncs);
        figures.group_waiters = get(&self.group_waiters);
        figures.segments_rolled = get(&self.segments_rolled);
        figures.recovery = recovery;
        figures
    }
}
