//! Opening you can watch: a snapshot that fails its checks warns, naming it and what the state
//! falls back to; a clean open says, once, how the state was rebuilt; the report's `Display`,
//! pinned.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use wal_core::SimStorage;

use crate::support::{Model, execute, open, options};

/// One event as the subscriber saw it: level, target, message and the other fields as text.
#[derive(Clone, Debug)]
struct Caught {
    level: Level,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Visit for Caught {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A layer that keeps every event.
#[derive(Clone, Default)]
struct Catcher(Arc<Mutex<Vec<Caught>>>);

impl<S: Subscriber> Layer<S> for Catcher {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let metadata = event.metadata();
        let mut caught = Caught {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut caught);
        caught.message = caught.fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(caught);
    }
}

/// Runs `run` on this thread; returns its result and the events at `level` or more severe.
fn caught<T>(level: Level, run: impl FnOnce() -> T) -> (T, Vec<Caught>) {
    let catcher = Catcher::default();
    let result = tracing::subscriber::with_default(
        tracing_subscriber::registry().with(catcher.clone()),
        || {
            every_callsite_interesting();
            run()
        },
    );
    let events = catcher.0.lock().unwrap().iter().filter(|e| e.level <= level).cloned().collect();
    (result, events)
}

/// Makes every callsite interesting to some dispatcher for the rest of this test binary: a
/// global subscriber that keeps nothing. Without it, a callsite first hit by another test's
/// thread while no capture is live caches "never", and a capture running at the same moment
/// misses its events (a race in `tracing`'s interest cache between threads; seen as a flaky
/// missing event).
fn every_callsite_interesting() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    tracing::callsite::rebuild_interest_cache();
}

#[test]
fn a_damaged_newest_snapshot_warns_naming_it_and_the_fallback() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    let mut model = Model::default();
    execute(&durable, &mut model, 0..80);
    let older = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 80..160);
    let newer = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 160..170);
    drop(durable);
    storage.edit_file(&newer.path, |bytes| bytes[100] ^= 0x10);
    let ((_durable, report), warns) = caught(Level::WARN, || open(&storage, options()));
    assert_eq!(warns.len(), 1, "{warns:#?}");
    let warn = &warns[0];
    assert_eq!(warn.target, "wal::snapshot");
    assert_eq!(warn.message, "snapshot failed its checks; falling back");
    assert_eq!(warn.fields["path"], newer.path.display().to_string());
    assert_eq!(warn.fields["fallback"], older.path.display().to_string());
    assert_eq!(warn.fields["reason"], report.skipped[0].1);
    let mut report = report;
    report.elapsed = Duration::from_millis(4);
    report.wal.elapsed = Duration::from_millis(3);
    insta::assert_snapshot!(report, @r"
    restored the snapshot /state/snapshot-00000000000000000401.snap (80 units, commits below LSN 401), then applied 90 units committed after it, in 4.0 ms
    passed over the damaged snapshot /state/snapshot-00000000000000000801.snap: body checksum 0x271dec9d, computed 0x8a59b6ed
    log: found 450 records in 2 segments (LSNs 401 to 851), transactions: 90 committed, 0 aborted, 0 left open by a crash, in 3.0 ms; changed nothing
    ");
}

#[test]
fn a_clean_open_says_once_how_the_state_was_rebuilt() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    execute(&durable, &mut Model::default(), 0..30);
    drop(durable);
    let ((_durable, report), infos) = caught(Level::INFO, || open(&storage, options()));
    let targets: Vec<&str> = infos.iter().map(|event| event.target.as_str()).collect();
    // The log's recovery, then the state's open; no warning.
    assert_eq!(targets, ["wal::recovery", "wal::snapshot"], "{infos:#?}");
    assert_eq!(infos[1].message, "state opened");
    assert_eq!(infos[1].fields["snapshot"], "none");
    assert_eq!(infos[1].fields["replayed"], "30");
    assert_eq!(infos[1].fields["report"], report.to_string());
    let mut report = report;
    report.elapsed = Duration::from_millis(2);
    report.wal.elapsed = Duration::from_millis(1);
    insta::assert_snapshot!(report, @r"
    rebuilt the state from the log's beginning: applied 30 units, in 2.0 ms
    log: found 150 records in 1 segment (LSNs 1 to 150), transactions: 30 committed, 0 aborted, 0 left open by a crash, in 1.0 ms; changed nothing
    ");
}

#[test]
fn damage_below_the_newest_snapshot_warns_of_the_front_cut_and_the_lost_fallback() {
    let storage = SimStorage::new();
    let (durable, _) = open(&storage, options());
    let mut model = Model::default();
    execute(&durable, &mut model, 0..80);
    let older = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 80..560);
    let newer = durable.checkpoint().expect("checkpoint");
    execute(&durable, &mut model, 560..570);
    drop(durable);
    let inspector = wal_core::inspect::Inspector::open_in(storage.clone(), crate::support::dir())
        .expect("inspect");
    let kept = inspector.plan().expect("plan").plan.kept;
    let damaged = kept[1];
    assert!(damaged.cap.is_some_and(|cap| cap <= newer.header.replay_from), "{kept:?}");
    storage.edit_file(&inspector.segment_path(damaged.id), |bytes| bytes[30_000] ^= 0x10);
    let ((durable, report), warns) = caught(Level::WARN, || open(&storage, options()));
    assert!(durable.read(|kv| model.matches(kv)));
    let ours: Vec<&Caught> = warns.iter().filter(|warn| warn.target == "wal::snapshot").collect();
    assert_eq!(ours.len(), 2, "{warns:#?}");
    let cut = report.front_cut.as_ref().expect("reported");
    assert_eq!(
        ours[0].message,
        "damage below the newest snapshot's point: the log's start moved past it"
    );
    assert_eq!(ours[0].fields["from"], older.header.replay_from.0.to_string());
    assert_eq!(ours[0].fields["to"], damaged.cap.expect("capped").0.to_string());
    assert_eq!(ours[0].fields["snapshot"], newer.path.display().to_string());
    assert_eq!(ours[0].fields["damage"], cut.damage[0].to_string());
    assert_eq!(
        ours[1].message,
        "snapshot no longer a fallback: the log no longer holds the history it needs"
    );
    assert_eq!(ours[1].fields["path"], older.path.display().to_string());
}
