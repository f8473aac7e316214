//! Unit tests of the registry, the leak checks and the metrics export, against a debugging
//! recorder.

use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::*;

#[test]
fn registrations_count_and_describe_their_handles() {
    let registry = Registry::with_capacity(2);
    let first = registry.register(Kind::Reader);
    let line = line!() - 1;
    let second = registry.register(Kind::Reader);
    let third = registry.register(Kind::Reader); // beyond the table: counted only
    registry.pin(&second, Some(7), 4096);
    let counts = registry.counts(Kind::Reader);
    assert_eq!((counts.created, counts.dropped, counts.live, counts.untracked), (3, 0, 3, 1));
    assert_eq!((counts.pinned_chunks, counts.pinned_bytes), (1, 4096));
    let handles = registry.handles(Kind::Reader);
    assert_eq!(handles.len(), 2);
    let site = handles.iter().find_map(|h| h.site.filter(|s| s.line() == line));
    assert!(site.is_some_and(|s| s.file().ends_with("tests.rs")), "{handles:?}");
    assert_eq!(registry.counts(Kind::Tail).live, 0);
    registry.deregister(second);
    let counts = registry.counts(Kind::Reader);
    assert_eq!((counts.live, counts.dropped, counts.pinned_bytes), (2, 1, 0));
    // The freed slot is taken by the next registration.
    let fourth = registry.register(Kind::Reader);
    assert_eq!(registry.handles(Kind::Reader).len(), 2);
    for registration in [first, third, fourth] {
        registry.deregister(registration);
    }
    let counts = registry.counts(Kind::Reader);
    assert_eq!((counts.created, counts.live, counts.untracked), (4, 0, 0));
    assert!(registry.handles(Kind::Reader).is_empty());
}

#[test]
fn the_oldest_handle_is_reported() {
    let registry = Registry::new();
    let old = registry.register(Kind::Transaction);
    // sleep: the two handles must differ in age; only time does that
    std::thread::sleep(Duration::from_millis(30));
    let young = registry.register(Kind::Transaction);
    let oldest = registry.counts(Kind::Transaction).oldest.expect("two live");
    assert!(oldest.age >= Duration::from_millis(20), "{oldest:?}");
    registry.deregister(old);
    let oldest = registry.counts(Kind::Transaction).oldest.expect("one live");
    assert!(oldest.age < Duration::from_millis(25), "{oldest:?}");
    registry.deregister(young);
}

#[test]
fn a_segment_is_released_once_retired_and_unheld() {
    let ledger = Ledger::new();
    let life = SegmentLife::new(&ledger, 3);
    let (a, b) = (life.hold(100), life.hold(50));
    let copy = a.clone();
    assert_eq!(ledger.counts().chunks_mapped, 2);
    assert_eq!(ledger.counts().mapped_bytes, 150);
    assert_eq!(life.retire(), Retirement::HeldBack { chunks: 3 });
    assert_eq!(life.retire(), Retirement::AlreadyRetired);
    let counts = ledger.counts();
    assert_eq!((counts.held_back_segments, counts.held_back_bytes), (1, 150));
    drop((a, b));
    assert!(ledger.take_released().is_empty(), "a clone still holds it");
    assert!(!life.is_released());
    drop(copy);
    assert!(life.is_released());
    assert_eq!(ledger.take_released(), vec![3]);
    let counts = ledger.counts();
    assert_eq!((counts.chunks_unmapped, counts.mapped_bytes), (2, 0));
    assert_eq!((counts.held_back_segments, counts.held_back_bytes), (0, 0));
    assert_eq!(counts.held_back_bytes_total, 150);

    let unheld = SegmentLife::new(&ledger, 4);
    drop(unheld.hold(10));
    assert_eq!(unheld.retire(), Retirement::Released);
    assert_eq!(ledger.take_released(), vec![4]);
    let counts = ledger.counts();
    assert_eq!((counts.held_back_bytes, counts.held_back_bytes_total), (0, 150));
}

#[test]
fn the_waker_runs_on_every_release() {
    let ledger = Ledger::new();
    let woken = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = Arc::clone(&woken);
    ledger.set_waker(move || {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let life = SegmentLife::new(&ledger, 1);
    let hold = life.hold(1);
    life.retire();
    assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(hold);
    assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[test]
fn leak_checks_warn_once_per_crossing() {
    let registry = Registry::new();
    let watch = LeakWatch::default();
    let metrics = LogMetrics::new("test");
    let thresholds = LeakThresholds::disabled()
        .with_max_age(Some(Duration::ZERO))
        .with_max_held_back_bytes(Some(100));
    let _reader = registry.register(Kind::Reader);
    let _tail = registry.register(Kind::Tail); // exempt from the age check
    // sleep: the reader must be older than the zero age threshold
    std::thread::sleep(Duration::from_millis(5));
    let mut telemetry = Telemetry::default();
    let warned = watch.check(&registry, &telemetry, &thresholds, &metrics);
    assert!(matches!(&warned[..], [LeakWarning::OldHandle(h)] if h.kind == Kind::Reader));
    assert!(watch.check(&registry, &telemetry, &thresholds, &metrics).is_empty(), "named once");
    telemetry.chunks.held_back_bytes = 101;
    let warned = watch.check(&registry, &telemetry, &thresholds, &metrics);
    assert!(matches!(&warned[..], [LeakWarning::HeldBack { bytes: 101, .. }]));
    assert!(watch.check(&registry, &telemetry, &thresholds, &metrics).is_empty(), "still over");
    telemetry.chunks.held_back_bytes = 0;
    assert!(watch.check(&registry, &telemetry, &thresholds, &metrics).is_empty());
    telemetry.chunks.held_back_bytes = 500;
    assert_eq!(watch.check(&registry, &telemetry, &thresholds, &metrics).len(), 1, "crossed again");
    assert_eq!(watch.warnings(), 3);
}

#[test]
fn export_sets_every_metric_of_each_log_under_its_label() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let mut telemetry = Telemetry::default();
    let mut reader = KindCounts::default();
    (reader.created, reader.dropped, reader.live) = (5, 3, 2);
    telemetry.handles = vec![(Kind::Reader, reader)];
    telemetry.chunks.held_back_bytes = 4096;
    telemetry.engine.records = 42;
    (telemetry.engine.next_lsn, telemetry.engine.durable_lsn) = (10, 7);
    telemetry.engine.poisoned = true;
    let mut other = Telemetry::default();
    other.engine.records = 3;
    let (one, two) = (LogMetrics::new("one"), LogMetrics::new("two"));
    metrics::with_local_recorder(&recorder, || {
        describe();
        for (log, telemetry) in [(&one, &telemetry), (&two, &other)] {
            log.recovery_progress(1, 1);
            log.export(telemetry);
            log.record_sync(Duration::from_micros(100));
            log.record_group_commit(3);
        }
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, log: &str, kind: Option<&str>| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let label = |name| key.labels().find(|l| l.key() == name).map(|l| l.value().to_owned());
            let found = (label(LOG_LABEL), label(KIND_LABEL));
            let wanted = (Some(log.to_owned()), kind.map(str::to_owned));
            (key.name() == name && found == wanted).then_some(value)
        })
    };
    let gauge = |v: f64| DebugValue::Gauge(v.into());
    assert_eq!(value("wal_live_references", "one", Some("reader")), Some(&gauge(2.0)));
    assert_eq!(
        value("wal_references_created_total", "one", Some("reader")),
        Some(&DebugValue::Counter(5))
    );
    assert_eq!(value("wal_held_back_bytes", "one", None), Some(&gauge(4096.0)));
    assert_eq!(value("wal_unsynced_records", "one", None), Some(&gauge(3.0)));
    assert_eq!(value("wal_poisoned", "one", None), Some(&gauge(1.0)));
    assert_eq!(value("wal_poisoned", "two", None), Some(&gauge(0.0)));
    // Two logs, two series: neither count overwrites the other.
    assert_eq!(value("wal_appended_records_total", "one", None), Some(&DebugValue::Counter(42)));
    assert_eq!(value("wal_appended_records_total", "two", None), Some(&DebugValue::Counter(3)));
    let syncs = value("wal_sync_duration_seconds", "two", None);
    assert!(matches!(syncs, Some(DebugValue::Histogram(h)) if h.len() == 1), "{syncs:?}");
    // Every documented metric is exported for each log, with the documented labels.
    for info in METRICS {
        let kind = info.labels.contains(&KIND_LABEL).then_some("reader");
        for log in ["one", "two"] {
            assert!(
                value(info.name, log, kind).is_some(),
                "{} of {log} was not exported",
                info.name
            );
        }
    }
    let held_back_warnings = value("wal_leak_warnings_total", "one", Some("held_back"));
    assert_eq!(held_back_warnings, Some(&DebugValue::Counter(0)), "exported before any warning");
}
