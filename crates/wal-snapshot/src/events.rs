//! The `tracing` events of opening a state and of deleting snapshots (target `wal::snapshot`):
//! every level and field in one place (the crate documentation's table lists them). The log's
//! own recovery events (`wal::recovery`) come from `wal-core`, inside the span opened here.

use std::path::Path;

use wal_core::Lsn;

use crate::report::OpenReport;

/// The target of this crate's span and events.
pub(crate) const SNAPSHOT: &str = "wal::snapshot";

/// The span opening a state runs in (the log's `wal.recover` nests in it).
pub(crate) fn open_span(dir: &Path) -> tracing::Span {
    tracing::info_span!(target: SNAPSHOT, "wal.snapshot.open", dir = %dir.display())
}

/// Warn: a snapshot failed its checks; the state falls back to `fallback` (an older snapshot,
/// or the log's beginning).
pub(crate) fn fell_back(path: &Path, reason: &str, fallback: Option<&Path>) {
    let fallback = fallback
        .map_or_else(|| "the log's beginning".to_owned(), |path| path.display().to_string());
    tracing::warn!(target: SNAPSHOT, path = %path.display(), reason, fallback,
        "snapshot failed its checks; falling back");
}

/// Warn: the log's recovery failed on `damage` below the newest valid snapshot's point, so the
/// log's start moved from `from` to `to`, past it.
pub(crate) fn front_cut(dir: &Path, from: Lsn, to: Lsn, damage: &wal_core::Error, snapshot: &Path) {
    tracing::warn!(target: SNAPSHOT, dir = %dir.display(), from = from.0, to = to.0,
        %damage, snapshot = %snapshot.display(),
        "damage below the newest snapshot's point: the log's start moved past it");
}

/// Warn: a snapshot needs history a front cut removed, so it is no longer a fallback.
pub(crate) fn no_longer_fallback(path: &Path, start: Lsn) {
    tracing::warn!(target: SNAPSHOT, path = %path.display(), start = start.0,
        "snapshot no longer a fallback: the log no longer holds the history it needs");
}

/// Warn: a temporary file of an interrupted checkpoint was deleted.
pub(crate) fn temporary_deleted(path: &Path) {
    tracing::warn!(target: SNAPSHOT, path = %path.display(),
        "temporary file of an interrupted checkpoint deleted");
}

/// Warn for a snapshot recovery had passed over as damaged, debug for one no longer kept.
pub(crate) fn snapshot_deleted(path: &Path, damaged: bool) {
    if damaged {
        tracing::warn!(target: SNAPSHOT, path = %path.display(), "damaged snapshot deleted");
    } else {
        tracing::debug!(target: SNAPSHOT, path = %path.display(), "snapshot deleted");
    }
}

/// Info: the state is open (once per open).
pub(crate) fn opened(dir: &Path, report: &OpenReport) {
    let snapshot = report.snapshot.as_ref().map(|(path, _)| path.display().to_string());
    tracing::info!(
        target: SNAPSHOT,
        dir = %dir.display(),
        snapshot = snapshot.as_deref().unwrap_or("none"),
        skipped = report.skipped.len(),
        replayed = report.replayed,
        elapsed_ms = report.elapsed.as_secs_f64() * 1000.0,
        report = %report,
        "state opened",
    );
}
