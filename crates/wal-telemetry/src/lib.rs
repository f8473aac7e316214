//! Lifecycle tracking for every long-lived handle onto the log, leak warnings, and metrics.
//!
//! A write-ahead log hands out references that pin memory or disk: zero-copy payload views
//! into mapped chunks, readers, tailing iterators, open transactions, snapshots in progress.
//! A leaked one is silent until the disk fills. This crate makes each of them visible:
//!
//! - [`Registry`]: every handle registers when created (kind, creation site, birth time) and
//!   deregisters when dropped; a few atomic operations, no lock, no allocation.
//! - [`SegmentLife`] and [`Hold`]: every mapped chunk holds its segment; a segment the log
//!   retires is released (its file deleted) exactly once, when the last hold drops. Until then
//!   it is *held back*, counted in the [`Ledger`], and the report says by whom.
//! - [`Telemetry`]: a plain snapshot; [`LogMetrics::export`] sends it through the `metrics`
//!   facade under the names in [`METRICS`], each series labelled with its log ([`LOG_LABEL`]); [`LeakWatch`] warns through `tracing` when a handle outlives
//!   [`LeakThresholds::max_age`] or held-back bytes pass [`LeakThresholds::max_held_back_bytes`].
//!
//! This crate is a leaf: the log (`wal-core`) fills the snapshot and owns the files.

mod clock;
mod export;
mod kind;
mod leaks;
mod life;
mod log_metrics;
mod registry;
mod report;
mod sync;

pub use export::{KIND_LABEL, LOG_LABEL, METRICS, MetricInfo, describe};
pub use kind::Kind;
pub use leaks::{LeakThresholds, LeakWarning, LeakWatch};
pub use life::{Hold, Ledger, LedgerCounts, Retirement, SegmentLife};
pub use log_metrics::LogMetrics;
pub use registry::{KindCounts, LiveHandle, Registration, Registry, TRACKED_PER_KIND};
pub use report::{EngineFigures, HeldBack, RecoveryFigures, Telemetry};

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, not(loom)))]
mod tests;
