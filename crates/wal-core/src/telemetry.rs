//! What the log tells about itself: the telemetry snapshot, and housekeeping (deleting released
//! segments, exporting metrics, leak checks). Retiring segments is the segment list's
//! (`segments.rs`); this module reports who holds retired segments back.
//!
//! Life of a chunk. A chunk is mapped when its segment's writer starts it (or when recovery
//! opens the segment); its mapping holds the segment's `SegmentLife`. The log's segment list,
//! readers positioned in the chunk, and zero-copy payloads all keep the mapping alive. When a
//! prune or a truncation removes the segment, the log drops its own references and *retires*
//! the segment. If nothing else views it, it is released at once; otherwise it is *held back*
//! (its file stays, counted and reported) until the last view drops, which releases it. Either
//! way the segment's id lands on the ledger's queue and the files are deleted under the state
//! lock, by the operation that retired it or by the housekeeper, which every release wakes.

use std::sync::Arc;

use wal_segment::{RealStorage, Storage};
use wal_telemetry::{
    EngineFigures, HeldBack, Kind, LeakWarning, Registration, SegmentLife, Telemetry,
};

use crate::error::Error;
use crate::shared::{Shared, lock_state};
use crate::wal::Wal;

/// A handle of the application's own registered in the log's telemetry (a snapshot being
/// written, a long scan) while this guard lives: counted, aged and named in leak warnings like
/// the log's readers. See [`Wal::track`].
pub struct Tracked<S: Storage = RealStorage> {
    shared: Arc<Shared<S>>,
    registration: Option<Registration>,
}

impl<S: Storage> Drop for Tracked<S> {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            self.shared.registry.deregister(registration);
        }
    }
}

impl<S: Storage> Wal<S> {
    /// Registers a handle of `kind`, created by the caller, until the guard is dropped.
    #[track_caller]
    #[must_use = "the handle is registered while the guard lives"]
    pub fn track(&self, kind: Kind) -> Tracked<S> {
        Tracked { shared: Arc::clone(&self.shared), registration: self.shared.register(kind) }
    }

    /// A snapshot of the log's handles, mappings, held-back segments and work.
    #[must_use]
    pub fn telemetry(&self) -> Telemetry {
        self.shared.telemetry()
    }

    /// Deletes the files of segments released since the last round, exports the telemetry
    /// through the `metrics` facade, and checks the leak thresholds (warning through
    /// `tracing`). The housekeeping thread calls this every [`crate::Options::housekeeping`];
    /// call it yourself when that is `None`.
    ///
    /// # Errors
    /// The I/O error of a failed deletion (retried on the next round).
    pub fn housekeep(&self) -> Result<Vec<LeakWarning>, Error> {
        self.shared.housekeep()
    }

    /// Exports the telemetry through the `metrics` facade now, as housekeeping does: every
    /// series labelled `log` with [`crate::Options::metrics_label`] ([`Wal::metrics_label`]).
    /// For a scrape that must see the latest figures; the housekeeping thread does it every
    /// [`crate::Options::housekeeping`]. Appends never export.
    pub fn export_metrics(&self) {
        self.shared.metrics.export(&self.shared.telemetry());
    }

    /// The value of the `log` label on this log's metrics.
    #[must_use]
    pub fn metrics_label(&self) -> &str {
        self.shared.metrics.log()
    }
}

impl<S: Storage> Shared<S> {
    pub(crate) fn housekeep(&self) -> Result<Vec<LeakWarning>, Error> {
        let deleted = lock_state(self).delete_released(&self.files);
        let telemetry = self.telemetry();
        self.metrics.export(&telemetry);
        let thresholds = &self.files.options.leak_thresholds;
        let warnings = self.leaks.check(&self.registry, &telemetry, thresholds, &self.metrics);
        deleted.map(|()| warnings)
    }

    pub(crate) fn telemetry(&self) -> Telemetry {
        let mut telemetry = Telemetry::default();
        telemetry.handles = Kind::ALL.map(|kind| (kind, self.registry.counts(kind))).to_vec();
        {
            let state = lock_state(self);
            let active = state.active.iter().flat_map(|writer| writer.chunks());
            let closed = state.closed.iter().flat_map(|segment| segment.chunks.iter().cloned());
            telemetry.payload_views = active.chain(closed).map(|chunk| chunk.views() as u64).sum();
            telemetry.held_back = self.held_back_report(&state.held_back);
        }
        telemetry.chunks = self.files.ledger.counts();
        telemetry.leak_warnings = self.leaks.warnings();
        telemetry.engine = self.engine_figures();
        telemetry
    }

    /// The engine's counters, and where the log stands: its segments, their bytes, the next and
    /// durable LSNs, whether it is poisoned. Read under one short hold of the state lock, when
    /// asked (by a scrape, the housekeeper or the caller): the append path keeps no gauge.
    pub(crate) fn engine_figures(&self) -> EngineFigures {
        let (mut figures, segments, segment_bytes, next_lsn) = {
            let state = lock_state(self);
            let segments = state.closed.len() + usize::from(state.active.is_some());
            let figures = self.stats.figures(state.appended, self.recovery);
            (figures, segments as u64, state.bytes_held(), state.next_lsn())
        };
        figures.segments = segments;
        figures.segment_bytes = segment_bytes;
        figures.next_lsn = next_lsn.0;
        figures.durable_lsn = self.commit.durable();
        figures.poisoned = self.is_poisoned();
        figures
    }

    /// Who holds each of `lives` (the registered handles positioned in it).
    pub(crate) fn held_back_report(&self, lives: &[Arc<SegmentLife>]) -> Vec<HeldBack> {
        let lives: Vec<&Arc<SegmentLife>> = lives.iter().filter(|l| !l.is_released()).collect();
        if lives.is_empty() {
            return Vec::new();
        }
        let handles: Vec<_> =
            Kind::ALL.into_iter().flat_map(|k| self.registry.handles(k)).collect();
        lives
            .into_iter()
            .map(|life| {
                let mut held = HeldBack::default();
                held.segment = life.segment();
                held.bytes = life.bytes();
                held.chunks_mapped = life.holds();
                held.held_for = life.retired_for();
                held.holders = handles
                    .iter()
                    .filter(|handle| handle.pinned_segment == Some(life.segment()))
                    .cloned()
                    .collect();
                held
            })
            .collect()
    }
}
