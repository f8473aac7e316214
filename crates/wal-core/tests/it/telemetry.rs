//! Telemetry: registered handles, held-back segments, leak warnings, and the exported metrics.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Every metric a recorder holds. (Taking a snapshot resets its values: take one per check.)
type Metrics = Vec<(metrics_util::CompositeKey, DebugValue)>;

fn metrics_of(snapshotter: &Snapshotter) -> Metrics {
    snapshotter.snapshot().into_vec().into_iter().map(|(key, _, _, value)| (key, value)).collect()
}
use wal_core::{Durability, Force, Kind, LeakThresholds, LeakWarning, Options, SimStorage, Wal};

use crate::support::{TAG, open_sim, segment_files, small};

/// Options for these tests: small segments, housekeeping only when the test asks.
fn options() -> Options {
    small(Durability::Commit).with_housekeeping(None)
}

/// Appends `count` records of 1 KiB.
fn fill(wal: &Wal<SimStorage>, count: usize) {
    for i in 0..count {
        wal.append(TAG, &[u8::try_from(i % 251).unwrap(); 1024]).expect("append");
    }
}

/// What `tracing` printed while `run` ran on this thread.
fn traced<T>(run: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber =
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let result = tracing::subscriber::with_default(subscriber, run);
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

/// The value of metric `name` (with `kind="<kind>"` if given).
fn metric<'m>(metrics: &'m Metrics, name: &str, kind: Option<&str>) -> Option<&'m DebugValue> {
    metrics.iter().find_map(|(key, value)| {
        let key = key.key();
        let label = key.labels().find(|l| l.key() == "kind").map(|l| l.value().to_owned());
        (key.name() == name && label.as_deref() == kind).then_some(value)
    })
}

#[test]
fn a_leaked_reader_is_warned_about_and_holds_its_segment_back_until_dropped() {
    let storage = SimStorage::new();
    let thresholds = LeakThresholds::disabled()
        .with_max_age(Some(Duration::from_millis(50)))
        .with_max_held_back_bytes(Some(1));
    let (wal, _) = open_sim(&storage, options().with_leak_thresholds(thresholds));
    fill(&wal, 400); // a few segments of 128 KiB
    let segments_before = segment_files(&storage);
    assert!(segments_before.len() >= 3, "{segments_before:?}");

    // The leak: a reader positioned in the first segment, never dropped (until the end).
    let mut leaked = wal.read_from(wal.start_lsn()).expect("reader");
    let site_line = line!() - 1;
    leaked.next().expect("a record").expect("readable");
    let telemetry = wal.telemetry();
    let readers = telemetry.kind(Kind::Reader);
    assert_eq!((readers.live, readers.pinned_chunks), (1, 1));
    let oldest = readers.oldest.expect("the reader");
    assert_eq!(oldest.pinned_segment, Some(0));
    let site = oldest.site.expect("a site");
    assert!(site.file().ends_with("telemetry.rs") && site.line() == site_line, "{site}");

    // Past the age threshold: one warning naming it, and the counter.
    // sleep: the reader must grow older than the age threshold; only time does that
    std::thread::sleep(Duration::from_millis(60));
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (warnings, printed) =
        traced(|| metrics::with_local_recorder(&recorder, || wal.housekeep().expect("housekeep")));
    assert!(
        matches!(&warnings[..], [LeakWarning::OldHandle(handle)] if handle.kind == Kind::Reader),
        "{warnings:?}"
    );
    println!("leak warning: {}", printed.trim());
    assert!(printed.contains("WARN") && printed.contains("a reader created at"), "{printed}");
    assert!(printed.contains(&format!("telemetry.rs:{site_line}")), "{printed}");
    let metrics = metrics_of(&snapshotter);
    let warned = metric(&metrics, "wal_leak_warnings_total", Some("reader"));
    assert_eq!(warned, Some(&DebugValue::Counter(1)));
    let age = metric(&metrics, "wal_oldest_reference_age_seconds", Some("reader"));
    assert!(matches!(age, Some(&DebugValue::Gauge(age)) if age.0 >= 0.05), "{age:?}");

    // A prune removes every closed segment from the log; the one the reader views stays on
    // disk, reported with its holder.
    let report = wal.prune(0, Force::Yes).expect("prune");
    assert_eq!(report.segments_deleted, segments_before.len() - 2, "one is held back");
    assert_eq!(report.held_back.len(), 1, "{report:?}");
    let held = &report.held_back[0];
    assert_eq!(held.segment, 0);
    assert_eq!(held.holders.len(), 1);
    assert_eq!(held.holders[0].kind, Kind::Reader);
    let files = segment_files(&storage);
    assert_eq!(files.len(), 2, "the held-back segment and the active one: {files:?}");
    assert_eq!(files[0], segments_before[0]);
    let telemetry = wal.telemetry();
    assert_eq!(telemetry.chunks.held_back_segments, 1);
    assert_eq!(telemetry.chunks.held_back_bytes, held.bytes);
    println!(
        "held back after prune: segment {} ({} bytes, {} chunk mappings) by {:?}",
        held.segment,
        held.bytes,
        held.chunks_mapped,
        held.holders.iter().map(|h| h.site_name()).collect::<Vec<_>>()
    );

    // Over the held-back threshold: warned once, naming the reader.
    let (warnings, printed) = traced(|| wal.housekeep().expect("housekeep"));
    assert!(matches!(&warnings[..], [LeakWarning::HeldBack { holders, .. }] if holders.len() == 1));
    assert!(printed.contains("stay on disk because handles still view them"), "{printed}");
    assert!(wal.housekeep().expect("housekeep").is_empty(), "each crossing is reported once");

    drop(leaked);
    wal.housekeep().expect("housekeep");
    assert_eq!(segment_files(&storage).len(), 1, "deleted once the reader was dropped");
    let telemetry = wal.telemetry();
    assert_eq!((telemetry.chunks.held_back_segments, telemetry.chunks.held_back_bytes), (0, 0));
    assert!(telemetry.held_back.is_empty());
    assert_eq!(telemetry.kind(Kind::Reader).live, 0);
    assert_eq!(telemetry.leak_warnings, 2);
}

#[test]
fn a_payload_view_holds_its_segment_back_and_the_housekeeper_deletes_it_when_dropped() {
    let storage = SimStorage::new();
    let options = options().with_housekeeping(Some(Duration::from_secs(60)));
    let (wal, _) = open_sim(&storage, options);
    fill(&wal, 300);
    let entry = wal.get(wal.start_lsn()).expect("get").expect("a record");
    let report = wal.prune(0, Force::Yes).expect("prune");
    assert_eq!(report.held_back.len(), 1);
    assert!(report.held_back[0].holders.is_empty(), "a payload view is not registered");
    assert!(wal.telemetry().payload_views == 0, "its chunk left the log's lists");
    let files = segment_files(&storage);
    assert!(files.iter().any(|file| file.ends_with("00000000000000000000.wal")), "{files:?}");
    let files = files.len();
    assert_eq!(entry.payload.len(), 1024, "the view still reads");
    drop(entry);
    // The release wakes the housekeeper at once, long before its 60 s interval.
    let started = Instant::now();
    while segment_files(&storage).len() == files && started.elapsed() < Duration::from_secs(5) {
        // sleep: polls for the housekeeper's deletion, which signals nothing outside the log
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(segment_files(&storage).len(), files - 1);
    println!("housekeeper deleted the released segment {:?} after the drop", started.elapsed());
}

#[test]
fn exported_metrics_match_the_log() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, options());
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (readers, txn) = metrics::with_local_recorder(&recorder, || {
        wal_core::METRICS.iter().for_each(|info| assert!(info.name.starts_with("wal_")));
        fill(&wal, 200);
        for _ in 0..5 {
            let mut txn = wal.begin().expect("begin");
            txn.delta(TAG, b"change").expect("delta");
            txn.commit().expect("commit");
        }
        let readers: Vec<_> = (0..3).map(|_| wal.read_from(wal.start_lsn()).unwrap()).collect();
        let txn = wal.begin().expect("begin");
        wal.housekeep().expect("housekeep");
        (readers, txn)
    });
    let stats = wal.stats();
    let telemetry = wal.telemetry();
    let metrics = metrics_of(&snapshotter);
    let counter = |name| metric(&metrics, name, None);
    assert_eq!(counter("wal_appended_records_total"), Some(&DebugValue::Counter(stats.records)));
    assert_eq!(counter("wal_appended_bytes_total"), Some(&DebugValue::Counter(stats.bytes)));
    assert_eq!(counter("wal_syncs_total"), Some(&DebugValue::Counter(stats.syncs)));
    assert_eq!(
        counter("wal_segments_rolled_total"),
        Some(&DebugValue::Counter(stats.segments_rolled))
    );
    let mapped = telemetry.chunks.chunks_mapped;
    assert!(mapped >= 4, "{telemetry:?}");
    assert_eq!(counter("wal_chunks_mapped_total"), Some(&DebugValue::Counter(mapped)));
    let live = |kind| metric(&metrics, "wal_live_references", Some(kind));
    assert_eq!(live("reader"), Some(&DebugValue::Gauge(3.0.into())));
    assert_eq!(live("transaction"), Some(&DebugValue::Gauge(1.0.into())));
    assert_eq!(live("tail"), Some(&DebugValue::Gauge(0.0.into())));
    let created = metric(&metrics, "wal_references_created_total", Some("transaction"));
    assert_eq!(created, Some(&DebugValue::Counter(6)));
    let syncs = metric(&metrics, "wal_sync_duration_seconds", None);
    let Some(DebugValue::Histogram(latencies)) = syncs else { panic!("{syncs:?}") };
    assert_eq!(latencies.len() as u64, stats.syncs, "one latency per sync");
    let batches = metric(&metrics, "wal_group_commit_batch_size", None);
    assert!(matches!(batches, Some(DebugValue::Histogram(b)) if !b.is_empty()), "{batches:?}");
    println!(
        "exported: {} records, {} syncs, {} chunks mapped, {} readers and 1 transaction live",
        stats.records,
        stats.syncs,
        mapped,
        readers.len()
    );
    drop((readers, txn));
    let telemetry = wal.telemetry();
    assert_eq!(telemetry.kind(Kind::Reader).live, 0);
    assert_eq!(telemetry.kind(Kind::Transaction).live, 0);
    assert_eq!(telemetry.kind(Kind::Transaction).dropped, 6);
}

#[test]
fn the_gauges_follow_segments_unsynced_records_and_poisoning() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, small(Durability::Buffered).with_housekeeping(None));
    fill(&wal, 300); // segments of 128 KiB: a few rolls, each sealed durable
    assert_eq!(wal.metrics_label(), "/log", "no name given: the directory");
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let exported = || {
        metrics::with_local_recorder(&recorder, || wal.export_metrics());
        let metrics = metrics_of(&snapshotter);
        let gauge = |name| match metric(&metrics, name, None) {
            Some(DebugValue::Gauge(value)) => value.0,
            other => panic!("{name}: {other:?}"),
        };
        let labelled = metrics.iter().all(|(key, _)| {
            key.key().labels().any(|label| label.key() == "log" && label.value() == "/log")
        });
        assert!(labelled, "every series is labelled log=\"/log\"");
        ["wal_segments", "wal_segment_bytes", "wal_unsynced_records", "wal_poisoned"].map(gauge)
    };

    let stats = wal.stats();
    let unsynced = stats.next_lsn - stats.durable_lsn;
    assert!(stats.segments >= 3 && unsynced > 0 && !stats.poisoned, "{stats:?}");
    #[allow(clippy::cast_precision_loss)] // small numbers
    let expected = [stats.segments, stats.segment_bytes, unsynced, 0].map(|n| n as f64);
    assert_eq!(exported(), expected);
    assert_eq!(wal.telemetry().engine, stats, "one set of figures");

    wal.sync().expect("sync");
    assert_eq!(exported()[2], 0.0, "nothing unsynced after a sync");

    wal.append(TAG, b"in doubt").expect("append");
    storage.fail_after(0, wal_core::storage::Fault::Io); // the sync's msync
    assert!(wal.sync().is_err());
    assert!(wal.stats().poisoned);
    let [segments, _, unsynced, poisoned] = exported();
    assert_eq!((unsynced, poisoned), (1.0, 1.0));
    #[allow(clippy::cast_precision_loss)] // small numbers
    let before = stats.segments as f64;
    assert_eq!(segments, before);
}

#[test]
fn untracked_handles_are_not_registered() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, options().with_track_handles(false));
    fill(&wal, 3);
    let reader = wal.read_from(wal.start_lsn()).unwrap();
    let txn = wal.begin().unwrap();
    let telemetry = wal.telemetry();
    assert_eq!(telemetry.kind(Kind::Reader).created, 0);
    assert_eq!(telemetry.kind(Kind::Transaction).created, 0);
    drop((reader, txn));
}

#[test]
fn segments_held_back_when_the_log_closes_are_deleted_by_the_next_open() {
    let storage = SimStorage::new();
    let (wal, _) = open_sim(&storage, options());
    fill(&wal, 300);
    let mut reader = wal.read_from(wal.start_lsn()).unwrap();
    reader.next().unwrap().unwrap();
    let report = wal.prune(0, Force::Yes).expect("prune");
    assert_eq!(report.held_back.len(), 1);
    let files = segment_files(&storage);
    drop(wal);
    drop(reader); // released after the log closed: nobody may delete it now
    assert_eq!(segment_files(&storage), files);
    let (wal, report) = open_sim(&storage, options());
    assert_eq!(segment_files(&storage).len(), files.len() - 1, "{report:?}");
    drop(wal);
}
