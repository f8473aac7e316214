//! Counters of what the engine does, cheap enough for the append path (relaxed atomics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    records: AtomicU64,
    bytes: AtomicU64,
    syncs: AtomicU64,
    sync_nanos: AtomicU64,
    group_syncs: AtomicU64,
    group_waiters: AtomicU64,
    segments_rolled: AtomicU64,
}

/// What the log has done since it was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Records appended (transaction markers included).
    pub records: u64,
    /// Payload bytes appended.
    pub bytes: u64,
    /// Syncs run.
    pub syncs: u64,
    /// Time spent in syncs.
    pub sync_time: Duration,
    /// Syncs run on behalf of waiting committers.
    pub group_syncs: u64,
    /// Committers waiting when those syncs started, summed: divided by `group_syncs`, the mean
    /// number of commits one sync served.
    pub group_waiters: u64,
    /// Segments sealed and replaced.
    pub segments_rolled: u64,
}

impl Stats {
    pub(crate) fn appended(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

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

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            records: get(&self.records),
            bytes: get(&self.bytes),
            syncs: get(&self.syncs),
            sync_time: Duration::from_nanos(get(&self.sync_nanos)),
            group_syncs: get(&self.group_syncs),
            group_waiters: get(&self.group_waiters),
            segments_rolled: get(&self.segments_rolled),
        }
    }
}
