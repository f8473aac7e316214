//! Leak warnings: a handle alive for too long, or too many bytes held back.
//!
//! Each crossing is reported once, as a `tracing` warning at target `wal::leak` naming the kind,
//! the age and the creation site, and as an increment of `wal_leak_warnings_total`. A handle is
//! named once in its life; the held-back threshold warns again only after falling below it.

use std::time::Duration;

use crate::log_metrics::{HELD_BACK, LogMetrics};
use crate::registry::Registry;
use crate::report::Telemetry;
use crate::sync::{AtomicU64, Ordering};
use crate::{Kind, LiveHandle};

/// When to warn. `None` disables a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakThresholds {
    /// A handle alive longer than this is reported (a tailing reader is exempt: it is meant to
    /// live as long as the log; it is reported through what it holds back instead).
    pub max_age: Option<Duration>,
    /// Held-back bytes above this are reported, with the handles holding them.
    pub max_held_back_bytes: Option<u64>,
}

impl Default for LeakThresholds {
    /// Ten minutes for a handle; 1 GiB held back.
    fn default() -> Self {
        LeakThresholds {
            max_age: Some(Duration::from_secs(600)),
            max_held_back_bytes: Some(1 << 30),
        }
    }
}

impl LeakThresholds {
    /// No checks.
    #[must_use]
    pub fn disabled() -> Self {
        LeakThresholds { max_age: None, max_held_back_bytes: None }
    }

    /// Sets [`LeakThresholds::max_age`].
    #[must_use]
    pub fn with_max_age(mut self, age: Option<Duration>) -> Self {
        self.max_age = age;
        self
    }

    /// Sets [`LeakThresholds::max_held_back_bytes`].
    #[must_use]
    pub fn with_max_held_back_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_held_back_bytes = bytes;
        self
    }
}

/// One warning, as emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeakWarning {
    /// A handle outlived [`LeakThresholds::max_age`].
    OldHandle(LiveHandle),
    /// Held-back bytes exceeded [`LeakThresholds::max_held_back_bytes`].
    HeldBack {
        /// Bytes held back.
        bytes: u64,
        /// The registered handles holding them.
        holders: Vec<LiveHandle>,
    },
}

/// Remembers what was reported, so each crossing is reported once.
#[derive(Debug)]
pub struct LeakWatch {
    warnings: AtomicU64,
    over_held_back: AtomicU64,
}

impl Default for LeakWatch {
    fn default() -> Self {
        LeakWatch { warnings: AtomicU64::new(0), over_held_back: AtomicU64::new(0) }
    }
}

impl LeakWatch {
    /// Warnings emitted so far.
    #[must_use]
    pub fn warnings(&self) -> u64 {
        self.warnings.load(Ordering::Relaxed)
    }

    /// Checks `telemetry` (just taken from `registry`'s log) against `thresholds`, emits a
    /// warning for each new crossing, counts it in the log's `metrics`, and returns them.
    pub fn check(
        &self,
        registry: &Registry,
        telemetry: &Telemetry,
        thresholds: &LeakThresholds,
        metrics: &LogMetrics,
    ) -> Vec<LeakWarning> {
        let mut emitted = Vec::new();
        if let Some(max_age) = thresholds.max_age {
            for kind in Kind::ALL.into_iter().filter(|&kind| kind != Kind::Tail) {
                for handle in registry.handles(kind) {
                    if handle.age > max_age && registry.mark_warned(&handle) {
                        tracing::warn!(
                            target: "wal::leak",
                            kind = kind.name(),
                            age_secs = handle.age.as_secs_f64(),
                            site = %handle.site_name(),
                            pinned_segment = handle.pinned_segment,
                            "a {kind} created at {} has been alive for {:.3} s (threshold {:.3} s); \
                             a leaked handle keeps what it views on disk and in memory",
                            handle.site_name(),
                            handle.age.as_secs_f64(),
                            max_age.as_secs_f64(),
                        );
                        self.count(metrics, kind.name());
                        emitted.push(LeakWarning::OldHandle(handle));
                    }
                }
            }
        }
        if let Some(max) = thresholds.max_held_back_bytes {
            let bytes = telemetry.chunks.held_back_bytes;
            let over = u64::from(bytes > max);
            let was = self.over_held_back.swap(over, Ordering::Relaxed);
            if over == 1 && was == 0 {
                let holders: Vec<LiveHandle> =
                    telemetry.held_back.iter().flat_map(|held| held.holders.clone()).collect();
                let segments: Vec<u64> = telemetry.held_back.iter().map(|h| h.segment).collect();
                let names: Vec<String> = holders
                    .iter()
                    .map(|h| {
                        format!(
                            "{} created at {} ({:.1} s old)",
                            h.kind,
                            h.site_name(),
                            h.age.as_secs_f64()
                        )
                    })
                    .collect();
                tracing::warn!(
                    target: "wal::leak",
                    held_back_bytes = bytes,
                    threshold = max,
                    ?segments,
                    "{bytes} bytes of retired segments {segments:?} stay on disk because handles \
                     still view them: {}",
                    if names.is_empty() { "payload views only".to_owned() } else { names.join(", ") },
                );
                self.count(metrics, HELD_BACK);
                emitted.push(LeakWarning::HeldBack { bytes, holders });
            }
        }
        emitted
    }

    fn count(&self, metrics: &LogMetrics, what: &'static str) {
        self.warnings.fetch_add(1, Ordering::Relaxed);
        metrics.count_leak_warning(what);
    }
}
