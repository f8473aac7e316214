//! The `tracing` events of opening and recovering a log and of poisoning it: every target,
//! level and field in one place (the crate documentation's table lists them). Recovery calls
//! these as it finds each fact; nothing here runs on the append or commit path, whose successes
//! emit nothing.

use std::path::Path;
use std::time::Duration;

use tracing::field::Empty;
use wal_format::Lsn;
use wal_segment::{IndexStatus, RecoveredSegment, SegmentId};

use crate::damage::{EndReason, TornTail};
use crate::error::Error;
use crate::options::RecoveryMode;
use crate::report::{Dropped, RecoveryReport};

/// The target of recovery's span and events.
pub(crate) const RECOVERY: &str = "wal::recovery";
/// The target of the event a failed write or sync poisoning the log emits.
pub(crate) const POISON: &str = "wal::poison";

/// The span recovery runs in; [`recovered`] records its totals.
pub(crate) fn recovery_span(dir: &Path, mode: RecoveryMode) -> tracing::Span {
    tracing::info_span!(
        target: RECOVERY,
        "wal.recover",
        dir = %dir.display(),
        mode = ?mode,
        segments = Empty,
        records = Empty,
        bytes_cut = Empty,
    )
}

/// Info: the log was written with another chunk size than the options ask for; it keeps its
/// own (the options' size applies only to a new log).
pub(crate) fn layout_adopted(dir: &Path, requested: usize, on_disk: usize) {
    tracing::info!(
        target: RECOVERY,
        dir = %dir.display(),
        requested,
        on_disk,
        "the log keeps the chunk size it was written with",
    );
}

/// Debug: one segment opened and scanned (before recovery decides what it keeps of it).
pub(crate) fn segment_scanned(id: SegmentId, first: Lsn, recovered: &RecoveredSegment) {
    let scan = &recovered.scan;
    tracing::debug!(
        target: RECOVERY,
        segment = %id,
        first = %first,
        next = %scan.next_lsn,
        frames = scan.records.len(),
        end_chunk = scan.end_chunk,
        end_offset = scan.end_offset,
        end = %EndReason(&scan.end),
        index_confirmed = recovered.index_status == IndexStatus::Confirmed,
        sealed = recovered.sealed.is_some(),
        "segment scanned",
    );
}

/// Warn: the last segment ended in a torn write, cut after its last whole record.
pub(crate) fn torn_tail_cut(id: SegmentId, torn: &TornTail, bytes_cut: u64, chunk_bytes: usize) {
    let file_offset = u64::from(torn.at.chunk) * chunk_bytes as u64 + torn.at.offset as u64;
    tracing::warn!(
        target: RECOVERY,
        segment = %id,
        path = %torn.path.display(),
        chunk = torn.at.chunk,
        offset = torn.at.offset,
        file_offset,
        bytes_cut,
        reason = %EndReason(&torn.at.end),
        "torn tail cut after the last whole record",
    );
}

/// Warn: a segment's sidecar index was missing, stale or damaged, and was rewritten.
pub(crate) fn index_rebuilt(id: SegmentId, status: IndexStatus, records: usize) {
    let kept = match status {
        IndexStatus::Rebuilt { kept } => kept,
        IndexStatus::Confirmed => records,
    };
    tracing::warn!(target: RECOVERY, segment = %id, kept, records, "index rebuilt from the data");
}

/// Warn: point-in-time recovery dropped everything from the first damage on.
pub(crate) fn records_dropped(id: SegmentId, dropped: &Dropped) {
    tracing::warn!(
        target: RECOVERY,
        segment = %id,
        path = %dropped.path.display(),
        from = %dropped.from,
        later_segments = dropped.later_segments,
        damage = %dropped.damage,
        "records dropped at damage (point-in-time recovery)",
    );
}

/// Warn: recovery deleted a file the log no longer includes.
pub(crate) fn file_deleted(path: &Path, reason: &'static str) {
    tracing::warn!(target: RECOVERY, path = %path.display(), reason, "file deleted");
}

/// Info: the log is recovered (once per open); records the span's totals.
pub(crate) fn recovered(
    span: &tracing::Span,
    dir: &Path,
    mode: RecoveryMode,
    report: &RecoveryReport,
) {
    span.record("segments", report.segments);
    span.record("records", report.records);
    span.record("bytes_cut", report.bytes_cut);
    tracing::info!(
        target: RECOVERY,
        dir = %dir.display(),
        mode = ?mode,
        segments = report.segments,
        records = report.records,
        start = %report.start,
        end = %report.end,
        elapsed_ms = millis(report.elapsed),
        report = %report,
        "log recovered",
    );
}

/// Warn: recovery refused the log (damage its mode does not accept) or failed.
pub(crate) fn recovery_failed(dir: &Path, mode: RecoveryMode, error: &Error) {
    tracing::warn!(target: RECOVERY, dir = %dir.display(), mode = ?mode, %error,
        "recovery failed");
}

/// Warn: a failed write or sync poisoned the log: it refuses writes until reopened.
pub(crate) fn poisoned(dir: &Path, cause: &Error) {
    tracing::warn!(target: POISON, dir = %dir.display(), %cause,
        "log poisoned: writes fail until it is reopened");
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The target of the segment list's events outside recovery (seals, removals, cuts).
pub(crate) const SEGMENT: &str = "wal::segment";

/// Debug: whole segments removed from the front (a prune or `truncate_before`).
pub(crate) fn front_removed(segments: usize, start: Lsn) {
    tracing::debug!(target: SEGMENT, segments, start = %start, "segments removed from the front");
}

/// Info: `truncate_after` cut the log: the next record gets `keep_below`.
pub(crate) fn tail_cut(keep_below: Lsn, superseded: usize) {
    tracing::info!(target: SEGMENT, next = %keep_below, superseded, "log cut (truncate_after)");
}
