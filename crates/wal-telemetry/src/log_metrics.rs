//! One log's series: [`LogMetrics`] sends every metric of [`crate::METRICS`] with the log's
//! [`LOG_LABEL`], so two logs in one process are two series, never one overwritten by both.
//!
//! Counters and gauges are set from the log's own figures by [`LogMetrics::export`], which the
//! log calls periodically (its housekeeper) and on request: the append path pays nothing for
//! metrics. The two histograms (sync latency, group-commit batch) are recorded per sync through
//! keys built once per log, so a sync costs one lookup in the recorder, as it did before the
//! label: a few hundred nanoseconds that vanish in the sync's hundred microseconds. This module
//! does not choose the label's value; the log does, when it opens.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, SharedString, counter, gauge};

use crate::export::{KIND_LABEL, LOG_LABEL};
use crate::kind::Kind;
use crate::report::Telemetry;

/// What the `metrics` macros would pass for a metric recorded in this module.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The `kind` value of `wal_leak_warnings_total` besides the handle kinds: the warning about
/// held-back bytes.
pub(crate) const HELD_BACK: &str = "held_back";

/// The metrics of one log, labelled `log="<name>"`.
#[derive(Clone, Debug)]
pub struct LogMetrics {
    log: SharedString,
    sync_duration: Key,
    batch_size: Key,
}

impl LogMetrics {
    /// The metrics of the log named `log` (the value of its [`LOG_LABEL`]).
    #[must_use]
    pub fn new(log: &str) -> Self {
        let log = SharedString::from(Arc::<str>::from(log));
        let key =
            |name: &'static str| Key::from_parts(name, vec![Label::new(LOG_LABEL, log.clone())]);
        LogMetrics {
            sync_duration: key("wal_sync_duration_seconds"),
            batch_size: key("wal_group_commit_batch_size"),
            log,
        }
    }

    /// The value of this log's [`LOG_LABEL`].
    #[must_use]
    pub fn log(&self) -> &str {
        &self.log
    }

    /// Sets every counter and gauge of this log from `telemetry`.
    pub fn export(&self, telemetry: &Telemetry) {
        self.export_handles(telemetry);
        let log = || self.log.clone();
        let chunks = &telemetry.chunks;
        gauge!("wal_payload_views", LOG_LABEL => log()).set(as_f64(telemetry.payload_views));
        counter!("wal_chunks_mapped_total", LOG_LABEL => log()).absolute(chunks.chunks_mapped);
        counter!("wal_chunks_unmapped_total", LOG_LABEL => log()).absolute(chunks.chunks_unmapped);
        gauge!("wal_mapped_bytes", LOG_LABEL => log()).set(as_f64(chunks.mapped_bytes));
        gauge!("wal_held_back_segments", LOG_LABEL => log()).set(as_f64(chunks.held_back_segments));
        gauge!("wal_held_back_bytes", LOG_LABEL => log()).set(as_f64(chunks.held_back_bytes));
        counter!("wal_held_back_bytes_total", LOG_LABEL => log())
            .absolute(chunks.held_back_bytes_total);
        self.export_engine(telemetry);
    }

    /// The metrics kept per kind of handle.
    fn export_handles(&self, telemetry: &Telemetry) {
        let log = || self.log.clone();
        for kind in Kind::ALL {
            let counts = telemetry.kind(kind);
            let k = kind.name();
            gauge!("wal_live_references", LOG_LABEL => log(), KIND_LABEL => k)
                .set(as_f64(counts.live));
            counter!("wal_references_created_total", LOG_LABEL => log(), KIND_LABEL => k)
                .absolute(counts.created);
            counter!("wal_references_dropped_total", LOG_LABEL => log(), KIND_LABEL => k)
                .absolute(counts.dropped);
            gauge!("wal_pinned_bytes", LOG_LABEL => log(), KIND_LABEL => k)
                .set(as_f64(counts.pinned_bytes));
            gauge!("wal_pinned_chunks", LOG_LABEL => log(), KIND_LABEL => k)
                .set(as_f64(counts.pinned_chunks));
            let oldest = counts.oldest.map_or(0.0, |handle| handle.age.as_secs_f64());
            gauge!("wal_oldest_reference_age_seconds", LOG_LABEL => log(), KIND_LABEL => k)
                .set(oldest);
        }
        // Leak warnings are counted when they fire; these make every series exist from the
        // first export, at 0, so a query sees "no warning" rather than "no data".
        for k in Kind::ALL.map(Kind::name).into_iter().chain([HELD_BACK]) {
            counter!("wal_leak_warnings_total", LOG_LABEL => log(), KIND_LABEL => k).increment(0);
        }
    }

    /// What the engine did, and where the log stands.
    fn export_engine(&self, telemetry: &Telemetry) {
        let log = || self.log.clone();
        let engine = &telemetry.engine;
        counter!("wal_appended_records_total", LOG_LABEL => log()).absolute(engine.records);
        counter!("wal_appended_bytes_total", LOG_LABEL => log()).absolute(engine.bytes);
        counter!("wal_syncs_total", LOG_LABEL => log()).absolute(engine.syncs);
        counter!("wal_group_commit_syncs_total", LOG_LABEL => log()).absolute(engine.group_syncs);
        counter!("wal_group_commit_waiters_total", LOG_LABEL => log())
            .absolute(engine.group_waiters);
        counter!("wal_segments_rolled_total", LOG_LABEL => log()).absolute(engine.segments_rolled);
        gauge!("wal_segments", LOG_LABEL => log()).set(as_f64(engine.segments));
        gauge!("wal_segment_bytes", LOG_LABEL => log()).set(as_f64(engine.segment_bytes));
        let unsynced = engine.next_lsn.saturating_sub(engine.durable_lsn);
        gauge!("wal_unsynced_records", LOG_LABEL => log()).set(as_f64(unsynced));
        gauge!("wal_poisoned", LOG_LABEL => log()).set(if engine.poisoned { 1.0 } else { 0.0 });
        let recovery = &engine.recovery;
        gauge!("wal_recovery_segments", LOG_LABEL => log()).set(as_f64(recovery.segments));
        gauge!("wal_recovery_records", LOG_LABEL => log()).set(as_f64(recovery.records));
        gauge!("wal_recovery_duration_seconds", LOG_LABEL => log())
            .set(recovery.elapsed.as_secs_f64());
    }

    /// Records one sync's latency.
    pub fn record_sync(&self, took: Duration) {
        metrics::with_recorder(|recorder| {
            recorder.register_histogram(&self.sync_duration, &METADATA).record(took.as_secs_f64());
        });
    }

    /// Records how many waiting commits one sync served.
    pub fn record_group_commit(&self, waiters: u64) {
        metrics::with_recorder(|recorder| {
            recorder.register_histogram(&self.batch_size, &METADATA).record(as_f64(waiters));
        });
    }

    /// Reports recovery progress: `done` of `found` segments opened.
    pub fn recovery_progress(&self, done: u64, found: u64) {
        gauge!("wal_recovery_segments", LOG_LABEL => self.log.clone()).set(as_f64(done));
        gauge!("wal_recovery_segments_found", LOG_LABEL => self.log.clone()).set(as_f64(found));
    }

    /// Counts one leak warning about `what` (a handle kind, or `held_back`).
    pub(crate) fn count_leak_warning(&self, what: &'static str) {
        counter!("wal_leak_warnings_total", LOG_LABEL => self.log.clone(), KIND_LABEL => what)
            .increment(1);
    }
}

/// Gauges are `f64`: exact up to 2^53, far beyond any count or size here.
#[allow(clippy::cast_precision_loss)] // see above
fn as_f64(value: u64) -> f64 {
    value as f64
}
