//! Exporting through the `metrics` facade. Names follow Prometheus conventions: a `wal_`
//! prefix, base units in the name (`_bytes`, `_seconds`), `_total` on counters.
//!
//! Counters and gauges are exported from the log's own atomics by [`export`], which the log
//! calls periodically and on request: the append path pays nothing for metrics. Histograms
//! (sync latency, group-commit batch) are recorded per sync, where a few hundred nanoseconds
//! vanish in the sync's hundred microseconds.

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::kind::Kind;
use crate::report::Telemetry;

/// One exported metric: its name, its type, its unit and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// The metric's name.
    pub name: &'static str,
    /// `"counter"`, `"gauge"` or `"histogram"`.
    pub kind: &'static str,
    /// Whether it carries a `kind` label (the kind of handle).
    pub by_handle_kind: bool,
    /// What it counts.
    pub help: &'static str,
}

const fn metric(
    name: &'static str,
    kind: &'static str,
    by_handle_kind: bool,
    help: &'static str,
) -> MetricInfo {
    MetricInfo { name, kind, by_handle_kind, help }
}

/// Every metric the log exports.
pub const METRICS: &[MetricInfo] = &[
    metric("wal_live_references", "gauge", true, "Handles alive now."),
    metric("wal_references_created_total", "counter", true, "Handles created."),
    metric("wal_references_dropped_total", "counter", true, "Handles dropped."),
    metric("wal_pinned_bytes", "gauge", true, "Bytes of chunks kept mapped by handles."),
    metric("wal_pinned_chunks", "gauge", true, "Chunks kept mapped by handles."),
    metric("wal_oldest_reference_age_seconds", "gauge", true, "Age of the oldest live handle."),
    metric("wal_payload_views", "gauge", false, "Zero-copy payload views alive."),
    metric("wal_chunks_mapped_total", "counter", false, "Chunks mapped."),
    metric("wal_chunks_unmapped_total", "counter", false, "Chunks unmapped."),
    metric("wal_mapped_bytes", "gauge", false, "Bytes of chunks mapped now."),
    metric("wal_held_back_segments", "gauge", false, "Retired segments still held by handles."),
    metric("wal_held_back_bytes", "gauge", false, "Bytes of retired segments still on disk."),
    metric("wal_held_back_bytes_total", "counter", false, "Bytes ever held back at retirement."),
    metric(
        "wal_leak_warnings_total",
        "counter",
        true,
        "Leak warnings emitted; kind is a handle kind, or held_back for the held-back bytes.",
    ),
    metric("wal_appended_records_total", "counter", false, "Records appended."),
    metric("wal_appended_bytes_total", "counter", false, "Payload bytes appended."),
    metric("wal_syncs_total", "counter", false, "Syncs run."),
    metric("wal_group_commit_syncs_total", "counter", false, "Syncs run for waiting commits."),
    metric("wal_group_commit_waiters_total", "counter", false, "Commits those syncs served."),
    metric("wal_segments_rolled_total", "counter", false, "Segments sealed and replaced."),
    metric("wal_sync_duration_seconds", "histogram", false, "Latency of one sync."),
    metric("wal_group_commit_batch_size", "histogram", false, "Commits served by one sync."),
    metric("wal_recovery_segments", "gauge", false, "Segments the last recovery opened so far."),
    metric("wal_recovery_segments_found", "gauge", false, "Segments the last recovery found."),
    metric("wal_recovery_records", "gauge", false, "Records the last recovery found."),
    metric("wal_recovery_duration_seconds", "gauge", false, "Time the last recovery took."),
];

/// Registers the help text and units of every metric with the installed recorder.
pub fn describe() {
    for info in METRICS {
        let unit = if info.name.ends_with("_bytes") || info.name.ends_with("_bytes_total") {
            Unit::Bytes
        } else if info.name.contains("_seconds") {
            Unit::Seconds
        } else {
            Unit::Count
        };
        match info.kind {
            "counter" => describe_counter!(info.name, unit, info.help),
            "gauge" => describe_gauge!(info.name, unit, info.help),
            _ => describe_histogram!(info.name, unit, info.help),
        }
    }
}

/// Sets every counter and gauge from `telemetry`.
#[allow(clippy::cast_precision_loss)] // gauges are f64; exact up to 2^53
pub fn export(telemetry: &Telemetry) {
    for kind in Kind::ALL {
        let counts = telemetry.kind(kind);
        let label = kind.name();
        gauge!("wal_live_references", "kind" => label).set(counts.live as f64);
        counter!("wal_references_created_total", "kind" => label).absolute(counts.created);
        counter!("wal_references_dropped_total", "kind" => label).absolute(counts.dropped);
        gauge!("wal_pinned_bytes", "kind" => label).set(counts.pinned_bytes as f64);
        gauge!("wal_pinned_chunks", "kind" => label).set(counts.pinned_chunks as f64);
        let oldest = counts.oldest.map_or(0.0, |handle| handle.age.as_secs_f64());
        gauge!("wal_oldest_reference_age_seconds", "kind" => label).set(oldest);
    }
    gauge!("wal_payload_views").set(telemetry.payload_views as f64);
    let chunks = &telemetry.chunks;
    counter!("wal_chunks_mapped_total").absolute(chunks.chunks_mapped);
    counter!("wal_chunks_unmapped_total").absolute(chunks.chunks_unmapped);
    gauge!("wal_mapped_bytes").set(chunks.mapped_bytes as f64);
    gauge!("wal_held_back_segments").set(chunks.held_back_segments as f64);
    gauge!("wal_held_back_bytes").set(chunks.held_back_bytes as f64);
    counter!("wal_held_back_bytes_total").absolute(chunks.held_back_bytes_total);
    let engine = &telemetry.engine;
    counter!("wal_appended_records_total").absolute(engine.records);
    counter!("wal_appended_bytes_total").absolute(engine.bytes);
    counter!("wal_syncs_total").absolute(engine.syncs);
    counter!("wal_group_commit_syncs_total").absolute(engine.group_syncs);
    counter!("wal_group_commit_waiters_total").absolute(engine.group_waiters);
    counter!("wal_segments_rolled_total").absolute(engine.segments_rolled);
    let recovery = &engine.recovery;
    gauge!("wal_recovery_segments").set(recovery.segments as f64);
    gauge!("wal_recovery_records").set(recovery.records as f64);
    gauge!("wal_recovery_duration_seconds").set(recovery.elapsed.as_secs_f64());
}

/// Records one sync's latency.
pub fn record_sync(took: std::time::Duration) {
    histogram!("wal_sync_duration_seconds").record(took.as_secs_f64());
}

/// Records how many waiting commits one sync served.
#[allow(clippy::cast_precision_loss)]
pub fn record_group_commit(waiters: u64) {
    histogram!("wal_group_commit_batch_size").record(waiters as f64);
}

/// Reports recovery progress: `done` of `found` segments opened.
#[allow(clippy::cast_precision_loss)]
pub fn recovery_progress(done: u64, found: u64) {
    gauge!("wal_recovery_segments").set(done as f64);
    gauge!("wal_recovery_segments_found").set(found as f64);
}

pub(crate) fn count_leak_warning(what: &'static str) {
    counter!("wal_leak_warnings_total", "kind" => what).increment(1);
}
