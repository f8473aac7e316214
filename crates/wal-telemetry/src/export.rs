//! The names of the metrics exported through the `metrics` facade ([`METRICS`]), with their
//! types, labels and help texts, and their descriptions for the installed recorder. Names
//! follow Prometheus conventions: a `wal_` prefix, base units in the name (`_bytes`,
//! `_seconds`), `_total` on counters. Sending values is `log_metrics`'s, not this module's.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// One exported metric: its name, its type, its unit and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// The metric's name.
    pub name: &'static str,
    /// `"counter"`, `"gauge"` or `"histogram"`.
    pub kind: &'static str,
    /// The labels each of its series carries: always [`LOG_LABEL`], and `kind` for the
    /// metrics kept per kind of handle.
    pub labels: &'static [&'static str],
    /// What it counts.
    pub help: &'static str,
}

/// The label that names the log a series belongs to, so that two logs in one process are two
/// series. Its value is chosen when the log opens (`wal_core::Options::metrics_label`).
pub const LOG_LABEL: &str = "log";

/// The label that names a kind of handle ([`crate::Kind::name`]), or `held_back` for the leak
/// warning about held-back bytes.
pub const KIND_LABEL: &str = "kind";

const fn metric(
    name: &'static str,
    kind: &'static str,
    by_handle_kind: bool,
    help: &'static str,
) -> MetricInfo {
    let labels: &'static [&'static str] =
        if by_handle_kind { &[LOG_LABEL, KIND_LABEL] } else { &[LOG_LABEL] };
    MetricInfo { name, kind, labels, help }
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
    metric("wal_segments", "gauge", false, "Segments in the log, the active one included."),
    metric(
        "wal_segment_bytes",
        "gauge",
        false,
        "Bytes of the log's segment files, as the size limit counts them; retired files still \
         on disk are in wal_held_back_bytes.",
    ),
    metric(
        "wal_unsynced_records",
        "gauge",
        false,
        "Records reserved but not yet durable: the next LSN minus the durable LSN.",
    ),
    metric(
        "wal_poisoned",
        "gauge",
        false,
        "1 once a failed write or sync poisoned the log (it refuses writes until reopened), \
         else 0.",
    ),
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
